-- Purchases that survive retries: a buyer's `Idempotency-Key` is recorded in the sale's own
-- transaction, with what the sale answered, so a retry of a sale that committed answers the
-- same (same order id) and sells nothing; and an order can be looked up.
--
-- `idempotency_keys`: one row per key that made a sale, written only by a sale (a refused or
-- failed purchase records nothing: its retry is processed anew). Kept until `expires_at`
-- (the stage's `idempotencyKeyHours`), then swept by the scheduled relay; the primary key is the
-- key itself (no secondary unique index: see migration 006 on their duplicate-check locks).
CREATE TABLE IF NOT EXISTS idempotency_keys (
    idem_key           VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    -- What the request asked for, "<product_id> <quantity>": a repeat must ask the same.
    fingerprint        VARCHAR(96)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    order_id           CHAR(36)     CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    -- The answer's other fields, as the sale gave them.
    remaining          INT UNSIGNED NOT NULL,
    restock_id         CHAR(36)     CHARACTER SET ascii COLLATE ascii_bin NULL,
    restock_status     VARCHAR(16)  NULL,
    restock_opened_now TINYINT      NOT NULL DEFAULT 0,
    created_at         DATETIME(6)  NOT NULL,
    expires_at         DATETIME(6)  NOT NULL,
    PRIMARY KEY (idem_key),
    KEY idempotency_keys_expiry (expires_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- The order's unit price as sold, and the key it was made with. Orders sold before this
-- migration take their product's price now (the best known).
ALTER TABLE orders ADD COLUMN unit_price_cents BIGINT NULL;
ALTER TABLE orders ADD COLUMN idempotency_key VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NULL;
UPDATE orders o JOIN products p ON p.product_id = o.product_id
   SET o.unit_price_cents = p.price_cents
 WHERE o.unit_price_cents IS NULL;

-- `donut_sell_v2`: `donut_sell` (migration 007) with the key and the unit price. With a key
-- (`p_key` not NULL), a sale writes the key's row in its own transaction, right after the
-- conditional UPDATE, waiting at most 1 s for a purchase in flight with the same key:
--   * the key is taken (1062): the sale is rolled back and the stored answer is returned
--     (`step = 'replay'`; the caller compares the fingerprint: another request → 422);
--   * a purchase with the key is still in flight (1205 after 1 s): rolled back,
--     `step = 'busy'` (409 + Retry-After);
--   * a key past its window is deleted first, so it can be used again.
-- Without a key it is `donut_sell` plus the unit price. Result columns: those of `donut_sell`,
-- then the stored answer's order id, fingerprint and whether it opened its factory order.
DROP PROCEDURE IF EXISTS donut_sell_v2;

CREATE PROCEDURE donut_sell_v2(
    IN p_product_id     VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin,
    IN p_quantity       INT UNSIGNED,
    IN p_order_id       CHAR(36)     CHARACTER SET ascii COLLATE ascii_bin,
    IN p_correlation_id VARCHAR(128) CHARACTER SET utf8mb4,
    IN p_key            VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin,
    IN p_fingerprint    VARCHAR(96)  CHARACTER SET ascii COLLATE ascii_bin,
    IN p_key_seconds    INT UNSIGNED
)
MODIFIES SQL DATA
SQL SECURITY INVOKER
sell: BEGIN
    DECLARE v_found       INT DEFAULT 0;
    DECLARE v_sold        INT DEFAULT 0;
    DECLARE v_packed      BIGINT UNSIGNED;
    DECLARE v_stock       INT UNSIGNED;
    DECLARE v_point       INT UNSIGNED;
    DECLARE v_reorder_qty INT UNSIGNED;
    DECLARE v_factory_pid VARCHAR(64)  CHARACTER SET utf8mb4;
    DECLARE v_open_id     CHAR(36)     CHARACTER SET ascii COLLATE ascii_bin;
    DECLARE v_open_status VARCHAR(16)  CHARACTER SET utf8mb4;
    -- 1: the key made a sale already; 2: a purchase with the key is in flight.
    DECLARE v_key_taken   INT DEFAULT 0;
    DECLARE v_wait        INT;
    DECLARE v_replay_order       CHAR(36)    CHARACTER SET ascii COLLATE ascii_bin;
    DECLARE v_replay_fingerprint VARCHAR(96) CHARACTER SET ascii COLLATE ascii_bin;
    DECLARE v_replay_opened      INT DEFAULT 0;
    DECLARE EXIT HANDLER FOR SQLEXCEPTION
    BEGIN
        ROLLBACK;
        RESIGNAL;
    END;

    START TRANSACTION;
    UPDATE products
       SET qty = LAST_INSERT_ID((qty - p_quantity) * 2 + (qty - p_quantity <= reorder_point)) DIV 2
     WHERE product_id = p_product_id AND qty >= p_quantity;
    SET v_sold = ROW_COUNT();

    IF v_sold = 1 THEN
        SET v_packed = LAST_INSERT_ID();
        IF p_key IS NOT NULL THEN
            BEGIN
                DECLARE CONTINUE HANDLER FOR 1062 SET v_key_taken = 1;
                DECLARE CONTINUE HANDLER FOR 1205 SET v_key_taken = 2;
                SET v_wait = @@SESSION.innodb_lock_wait_timeout;
                SET SESSION innodb_lock_wait_timeout = 1;
                DELETE FROM idempotency_keys
                 WHERE idem_key = p_key AND expires_at < UTC_TIMESTAMP(6);
                IF v_key_taken = 0 THEN
                    INSERT INTO idempotency_keys (idem_key, fingerprint, order_id, remaining,
                           created_at, expires_at)
                    VALUES (p_key, p_fingerprint, p_order_id, v_packed DIV 2, UTC_TIMESTAMP(6),
                            UTC_TIMESTAMP(6) + INTERVAL p_key_seconds SECOND);
                END IF;
                SET SESSION innodb_lock_wait_timeout = v_wait;
            END;
            IF v_key_taken > 0 THEN
                ROLLBACK;
                SELECT k.order_id, k.fingerprint, k.remaining, k.restock_id, k.restock_status,
                       k.restock_opened_now
                  INTO v_replay_order, v_replay_fingerprint, v_stock, v_open_id, v_open_status,
                       v_replay_opened
                  FROM idempotency_keys k WHERE k.idem_key = p_key;
                SELECT 1 AS found, 1 AS sold, v_stock AS stock,
                       IF(v_key_taken = 1 AND v_replay_order IS NOT NULL, 'replay', 'busy') AS step,
                       NULL AS reorder_point, NULL AS reorder_qty, NULL AS factory_product_id,
                       v_open_id AS open_id, v_open_status AS open_status,
                       v_replay_order AS replay_order_id, v_replay_fingerprint AS replay_fingerprint,
                       v_replay_opened AS replay_opened_now;
                LEAVE sell;
            END IF;
        END IF;
        INSERT INTO orders (order_id, product_id, quantity, correlation_id, created_at,
               unit_price_cents, idempotency_key)
        SELECT p_order_id, p_product_id, p_quantity, p_correlation_id, UTC_TIMESTAMP(6),
               price_cents, p_key
          FROM products WHERE product_id = p_product_id;
        IF v_packed MOD 2 = 0 THEN
            COMMIT;
            SELECT 1 AS found, 1 AS sold, v_packed DIV 2 AS stock, 'done' AS step,
                   NULL AS reorder_point, NULL AS reorder_qty, NULL AS factory_product_id,
                   NULL AS open_id, NULL AS open_status,
                   NULL AS replay_order_id, NULL AS replay_fingerprint, 0 AS replay_opened_now;
            LEAVE sell;
        END IF;
    ELSE
        SELECT 1 INTO v_found FROM products WHERE product_id = p_product_id FOR UPDATE;
        IF v_found = 0 THEN
            ROLLBACK;
            SELECT 0 AS found, 0 AS sold, NULL AS stock, 'done' AS step,
                   NULL AS reorder_point, NULL AS reorder_qty, NULL AS factory_product_id,
                   NULL AS open_id, NULL AS open_status,
                   NULL AS replay_order_id, NULL AS replay_fingerprint, 0 AS replay_opened_now;
            LEAVE sell;
        END IF;
    END IF;

    -- The shelf is low: as `donut_sell`.
    SELECT p.qty, p.reorder_point, p.reorder_qty, p.factory_product_id,
           f.factory_order_id, f.status
      INTO v_stock, v_point, v_reorder_qty, v_factory_pid, v_open_id, v_open_status
      FROM products p LEFT JOIN factory_orders f ON f.factory_order_id = p.open_factory_order_id
       AND f.status IN ('open', 'requested')
     WHERE p.product_id = p_product_id;
    IF v_open_id IS NOT NULL THEN
        IF v_sold = 1 THEN
            IF p_key IS NOT NULL THEN
                UPDATE idempotency_keys SET restock_id = v_open_id, restock_status = v_open_status
                 WHERE idem_key = p_key;
            END IF;
            COMMIT;
        ELSE
            ROLLBACK;
        END IF;
    END IF;
    SELECT 1 AS found, v_sold AS sold, v_stock AS stock,
           IF(v_open_id IS NULL, 'decide', 'done') AS step,
           v_point AS reorder_point, v_reorder_qty AS reorder_qty,
           v_factory_pid AS factory_product_id, v_open_id AS open_id, v_open_status AS open_status,
           NULL AS replay_order_id, NULL AS replay_fingerprint, 0 AS replay_opened_now;
END;

-- `donut_open_factory_order` (migration 007), recording on the sale's key, if it has one, that
-- this sale opened the factory order.
DROP PROCEDURE IF EXISTS donut_open_factory_order_v2;

CREATE PROCEDURE donut_open_factory_order_v2(
    IN p_factory_order_id   CHAR(36)     CHARACTER SET ascii COLLATE ascii_bin,
    IN p_product_id         VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin,
    IN p_factory_product_id VARCHAR(64)  CHARACTER SET utf8mb4,
    IN p_quantity           INT UNSIGNED,
    IN p_correlation_id     VARCHAR(128) CHARACTER SET utf8mb4,
    IN p_event_id           CHAR(36)     CHARACTER SET ascii COLLATE ascii_bin,
    IN p_payload            TEXT         CHARACTER SET utf8mb4,
    IN p_key                VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin
)
MODIFIES SQL DATA
SQL SECURITY INVOKER
BEGIN
    DECLARE EXIT HANDLER FOR SQLEXCEPTION
    BEGIN
        ROLLBACK;
        RESIGNAL;
    END;
    INSERT INTO factory_orders (factory_order_id, product_id, factory_product_id,
           quantity, status, correlation_id, created_at)
    VALUES (p_factory_order_id, p_product_id, p_factory_product_id,
            p_quantity, 'open', p_correlation_id, UTC_TIMESTAMP(6));
    UPDATE products SET open_factory_order_id = p_factory_order_id
     WHERE product_id = p_product_id;
    INSERT INTO outbox (event_id, correlation_id, payload, created_at, next_attempt_at)
    VALUES (p_event_id, p_correlation_id, p_payload, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6));
    IF p_key IS NOT NULL THEN
        UPDATE idempotency_keys
           SET restock_id = p_factory_order_id, restock_status = 'open', restock_opened_now = 1
         WHERE idem_key = p_key;
    END IF;
    COMMIT;
END;
