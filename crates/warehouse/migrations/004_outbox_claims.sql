-- The outbox relay claims rows with a lease (claimed_by + next_attempt_at in the future), commits,
-- and only then publishes: no row lock is held while SNS is called.
ALTER TABLE outbox ADD COLUMN claimed_by CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NULL;
