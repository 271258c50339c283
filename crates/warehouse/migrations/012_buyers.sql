-- Buyers with an identity (a stage's JWT authorizer: the token's `sub`):
--   * `orders.buyer`: who bought it (NULL: an anonymous buyer, a stage without the authorizer);
--     `GET /orders/{id}` shows an order to its buyer only;
--   * a buyer's `Idempotency-Key` is their own: it is stored under a scope made of the buyer
--     (`<32 hex of SHA-256(buyer)>:<key>`, `IdempotencyKey::stored`), so the same key from two
--     buyers is two purchases — the key columns widen to the scoped form (255 + 33);
--   * `donut_sell_v5`: `donut_sell_v4` (migration 010) with the buyer written on the order and
--     the wider key; `donut_open_factory_order_v3`: `_v2` (migration 008) with the wider key.
--     The previous release's functions keep calling `donut_sell_v4` and `_v2`, unchanged.
ALTER TABLE orders ADD COLUMN buyer VARCHAR(255) CHARACTER SET utf8mb4 NULL;

ALTER TABLE orders MODIFY idempotency_key VARCHAR(300) CHARACTER SET ascii COLLATE ascii_bin NULL;

ALTER TABLE idempotency_keys MODIFY idem_key VARCHAR(300) CHARACTER SET ascii COLLATE ascii_bin NOT NULL;

DROP PROCEDURE IF EXISTS donut_sell_v5;

CREATE PROCEDURE donut_sell_v5(
    IN p_product_id     VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin,
    IN p_quantity       INT UNSIGNED,
    IN p_order_id       CHAR(36)     CHARACTER SET ascii COLLATE ascii_bin,
    IN p_correlation_id VARCHAR(128) CHARACTER SET utf8mb4,
    IN p_key            VARCHAR(300) CHARACTER SET ascii COLLATE ascii_bin,
    IN p_fingerprint    VARCHAR(96)  CHARACTER SET ascii COLLATE ascii_bin,
    IN p_key_seconds    INT UNSIGNED,
    IN p_buyer          VARCHAR(255) CHARACTER SET utf8mb4
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
    DECLARE v_key_taken   INT DEFAULT 0;
    DECLARE v_expired     INT DEFAULT 0;
    DECLARE v_replay_order       CHAR(36)    CHARACTER SET ascii COLLATE ascii_bin;
    DECLARE v_replay_fingerprint VARCHAR(96) CHARACTER SET ascii COLLATE ascii_bin;
    DECLARE v_replay_opened      INT DEFAULT 0;
    DECLARE EXIT HANDLER FOR SQLEXCEPTION
    BEGIN
        ROLLBACK;
        RESIGNAL;
    END;

    START TRANSACTION;
    -- The key first, before the product's row is locked: a purchase in flight with the same
    -- key is waited for (the session's innodb_lock_wait_timeout, set by the pool) with no
    -- product lock held, and the key's write is outside the product's serialised section.
    IF p_key IS NOT NULL THEN
        BEGIN
            DECLARE CONTINUE HANDLER FOR 1062 SET v_key_taken = 1;
            DECLARE CONTINUE HANDLER FOR 1205 SET v_key_taken = 2;
            -- Two retries of an expired key deleting it at once: one is the victim (its
            -- transaction is rolled back) and is told the other is in flight.
            DECLARE CONTINUE HANDLER FOR 1213 SET v_key_taken = 2;
            INSERT INTO idempotency_keys (idem_key, fingerprint, order_id, remaining,
                   created_at, expires_at)
            VALUES (p_key, p_fingerprint, p_order_id, 0, UTC_TIMESTAMP(6),
                    UTC_TIMESTAMP(6) + INTERVAL p_key_seconds SECOND);
            IF v_key_taken = 1 THEN
                -- Taken, but past its window (the sweep has not reached it): free again. Read
                -- without a lock first: the duplicate check left a shared lock on the key's
                -- row, and concurrent retries of a live key each asking for an exclusive one
                -- (a DELETE) would deadlock one another.
                SELECT COUNT(*) INTO v_expired FROM idempotency_keys
                 WHERE idem_key = p_key AND expires_at < UTC_TIMESTAMP(6);
                IF v_expired = 1 THEN
                    DELETE FROM idempotency_keys
                     WHERE idem_key = p_key AND expires_at < UTC_TIMESTAMP(6);
                    IF ROW_COUNT() = 1 THEN
                        SET v_key_taken = 0;
                        INSERT INTO idempotency_keys (idem_key, fingerprint, order_id, remaining,
                               created_at, expires_at)
                        VALUES (p_key, p_fingerprint, p_order_id, 0, UTC_TIMESTAMP(6),
                                UTC_TIMESTAMP(6) + INTERVAL p_key_seconds SECOND);
                    END IF;
                END IF;
            END IF;
        END;
        IF v_key_taken > 0 THEN
            -- 1062: the key made a sale; its answer is returned (the caller compares the
            -- fingerprint: another request under the key is 422). 1205 or 1213: a purchase
            -- with the key is still in flight (its row is not visible yet): 'busy' (409).
            ROLLBACK;
            SELECT k.order_id, k.fingerprint, COALESCE(o.remaining_after, k.remaining), k.restock_id, k.restock_status,
                   k.restock_opened_now
              INTO v_replay_order, v_replay_fingerprint, v_stock, v_open_id, v_open_status,
                   v_replay_opened
              FROM idempotency_keys k LEFT JOIN orders o ON o.order_id = k.order_id
             WHERE k.idem_key = p_key;
            SELECT 1 AS found, 1 AS sold, v_stock AS stock,
                   IF(v_key_taken = 1 AND v_replay_order IS NOT NULL, 'replay', 'busy') AS step,
                   NULL AS reorder_point, NULL AS reorder_qty, NULL AS factory_product_id,
                   v_open_id AS open_id, v_open_status AS open_status,
                   v_replay_order AS replay_order_id, v_replay_fingerprint AS replay_fingerprint,
                   v_replay_opened AS replay_opened_now;
            LEAVE sell;
        END IF;
    END IF;

    UPDATE products
       SET qty = LAST_INSERT_ID((qty - p_quantity) * 2 + (qty - p_quantity <= reorder_point)) DIV 2
     WHERE product_id = p_product_id AND qty >= p_quantity AND retired_at IS NULL;
    SET v_sold = ROW_COUNT();

    IF v_sold = 1 THEN
        SET v_packed = LAST_INSERT_ID();
        INSERT INTO orders (order_id, product_id, quantity, correlation_id, created_at,
               unit_price_cents, idempotency_key, remaining_after, buyer)
        SELECT p_order_id, p_product_id, p_quantity, p_correlation_id, UTC_TIMESTAMP(6),
               price_cents, p_key, v_packed DIV 2, p_buyer
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
        -- Refused: the key records nothing (its retry is processed anew).
        IF p_key IS NOT NULL THEN
            DELETE FROM idempotency_keys WHERE idem_key = p_key;
        END IF;
        SELECT 1 INTO v_found FROM products
         WHERE product_id = p_product_id AND retired_at IS NULL FOR UPDATE;
        IF v_found = 0 THEN
            ROLLBACK;
            SELECT 0 AS found, 0 AS sold, NULL AS stock, 'done' AS step,
                   NULL AS reorder_point, NULL AS reorder_qty, NULL AS factory_product_id,
                   NULL AS open_id, NULL AS open_status,
                   NULL AS replay_order_id, NULL AS replay_fingerprint, 0 AS replay_opened_now;
            LEAVE sell;
        END IF;
    END IF;

    -- The shelf is low: as `donut_sell` (migration 007).
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

-- `donut_open_factory_order_v2` (migration 008) with the wider key.
DROP PROCEDURE IF EXISTS donut_open_factory_order_v3;

CREATE PROCEDURE donut_open_factory_order_v3(
    IN p_factory_order_id   CHAR(36)     CHARACTER SET ascii COLLATE ascii_bin,
    IN p_product_id         VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin,
    IN p_factory_product_id VARCHAR(64)  CHARACTER SET utf8mb4,
    IN p_quantity           INT UNSIGNED,
    IN p_correlation_id     VARCHAR(128) CHARACTER SET utf8mb4,
    IN p_event_id           CHAR(36)     CHARACTER SET ascii COLLATE ascii_bin,
    IN p_payload            TEXT         CHARACTER SET utf8mb4,
    IN p_key                VARCHAR(300) CHARACTER SET ascii COLLATE ascii_bin
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
