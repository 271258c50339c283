-- The factory-order watchdog: when ops were told about an order the factory never finished.
ALTER TABLE factory_orders ADD COLUMN surfaced_at DATETIME(6) NULL;
CREATE INDEX factory_orders_overdue ON factory_orders (status, requested_at);
