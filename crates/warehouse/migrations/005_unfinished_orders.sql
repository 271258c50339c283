-- No factory order stays unfinished for good: the watchdog chases `open` orders too (their
-- stock-out published again when its message was dead-lettered, purged or expired), and ops
-- may re-request or cancel an order the watchdog gave up on (status 'cancelled' frees the
-- product's one open slot).
ALTER TABLE factory_orders ADD COLUMN chases INT UNSIGNED NOT NULL DEFAULT 0;
ALTER TABLE factory_orders ADD COLUMN chased_at DATETIME(6) NULL;
ALTER TABLE factory_orders ADD COLUMN cancelled_at DATETIME(6) NULL;
CREATE INDEX factory_orders_unfinished ON factory_orders (status, created_at);
