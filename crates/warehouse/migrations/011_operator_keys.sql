-- Operators' changes that survive retries, and factory-order actions in the audit trail:
--   * `operator_keys`: one row per `Idempotency-Key` an operator's change was made under,
--     written in the change's own transaction with what it answered; the key is the
--     operator's own (keyed by a SHA-256 of the caller's IAM ARN and the key). A row past
--     `expires_at` (the stage's `idempotencyKeyHours`) is deleted by the next keyed change
--     that meets it (the operators' function sweeps its own keys: the app user, which sweeps
--     buyers' keys, has no right on this table).
--   * `catalogue_audit.factory_order_id`: the factory order a re-request or cancel acted on;
--     `catalogue_audit.reference`: what the operator sent as `x-correlation-id` (an incident's
--     or a ticket's id, cleaned: `ClientReference`), kept beside the server's correlation id.
-- Both are additions: the functions of the previous release run unchanged against them.
CREATE TABLE IF NOT EXISTS operator_keys (
    actor_sha   CHAR(64)     CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    idem_key    VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    -- What the change asked for (`donut_domain::catalogue::Write::fingerprint`).
    fingerprint TEXT         NOT NULL,
    -- What it answered (`CatalogueOutcome::kept`); written before the commit, never NULL after.
    answer      MEDIUMTEXT   NULL,
    created_at  DATETIME(6)  NOT NULL,
    expires_at  DATETIME(6)  NOT NULL,
    PRIMARY KEY (actor_sha, idem_key),
    KEY operator_keys_expiry (expires_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

ALTER TABLE catalogue_audit ADD COLUMN factory_order_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NULL;

ALTER TABLE catalogue_audit ADD COLUMN reference VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL;
