-- The sale at the cost of the minimal purchase (conditional UPDATE + order row, one
-- transaction, one round trip). Measured against `donut_sell_v5` (migration 012), an unkeyed
-- sale paid on the server for
--   * the procedure's local variables: MariaDB builds every declared variable of a procedure
--     on each CALL, whether or not the call reaches its block (v5 declares 14, for the key,
--     the replay and the low shelf; an unkeyed sale above the reorder point uses two);
--   * the order's unit price read again: INSERT … SELECT price_cents FROM products, a second
--     read of the product's row inside the section its purchases serialise on;
--   * a twelve-column answer where one number says it all.
-- So the sale is now three procedures, none of them changing `donut_sell_v5`, which the
-- previous release's functions keep calling during a deploy:
--   * `donut_sell_v6` (no key): the conditional UPDATE hands back, through
--     LAST_INSERT_ID(expr), one number packing the price, the new stock and whether the shelf
--     is now low — price * 2^33 + stock * 2 + low (stock < 2^32; a price below 0 or from
--     2^30 - 1 up, which the catalogue never writes — it allows 0 to 10^8 cents — is read
--     from the row as before); the order row is an INSERT … VALUES; a sale that leaves the
--     shelf above its reorder point commits and answers one column, `stock`. Anything else
--     (refused, unknown, low shelf) goes on in `donut_sell_shelf_v6`, in the same transaction.
--   * `donut_sell_keyed_v6` (with a key): the key first, as `donut_sell_v5`, then the same
--     sale (the order row also names the key and the stock left, which a replay repeats); a
--     key that made a sale already answers from its row, read without local variables.
--   * `donut_sell_shelf_v6`: `donut_sell_v5`'s refusal and low-shelf steps, answering its
--     twelve columns (`step` 'decide' leaves the transaction open for the caller).
DROP PROCEDURE IF EXISTS donut_sell_shelf_v6;

CREATE PROCEDURE donut_sell_shelf_v6(
    IN p_product_id     VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin,
    IN p_sold           INT,
    IN p_key            VARCHAR(300) CHARACTER SET ascii COLLATE ascii_bin
)
MODIFIES SQL DATA
SQL SECURITY INVOKER
shelf: BEGIN
    DECLARE v_found       INT DEFAULT 0;
    DECLARE v_stock       INT UNSIGNED;
    DECLARE v_point       INT UNSIGNED;
    DECLARE v_reorder_qty INT UNSIGNED;
    DECLARE v_factory_pid VARCHAR(64)  CHARACTER SET utf8mb4;
    DECLARE v_open_id     CHAR(36)     CHARACTER SET ascii COLLATE ascii_bin;
    DECLARE v_open_status VARCHAR(16)  CHARACTER SET utf8mb4;
    -- The caller's transaction is open; its handler rolls back what fails here.
    IF p_sold = 0 THEN
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
            LEAVE shelf;
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
        IF p_sold = 1 THEN
            IF p_key IS NOT NULL THEN
                UPDATE idempotency_keys SET restock_id = v_open_id, restock_status = v_open_status
                 WHERE idem_key = p_key;
            END IF;
            COMMIT;
        ELSE
            ROLLBACK;
        END IF;
    END IF;
    SELECT 1 AS found, p_sold AS sold, v_stock AS stock,
           IF(v_open_id IS NULL, 'decide', 'done') AS step,
           v_point AS reorder_point, v_reorder_qty AS reorder_qty,
           v_factory_pid AS factory_product_id, v_open_id AS open_id, v_open_status AS open_status,
           NULL AS replay_order_id, NULL AS replay_fingerprint, 0 AS replay_opened_now;
END;

DROP PROCEDURE IF EXISTS donut_sell_v6;

CREATE PROCEDURE donut_sell_v6(
    IN p_product_id     VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin,
    IN p_quantity       INT UNSIGNED,
    IN p_order_id       CHAR(36)     CHARACTER SET ascii COLLATE ascii_bin,
    IN p_correlation_id VARCHAR(128) CHARACTER SET utf8mb4,
    IN p_buyer          VARCHAR(255) CHARACTER SET utf8mb4
)
MODIFIES SQL DATA
SQL SECURITY INVOKER
BEGIN
    DECLARE v_packed BIGINT UNSIGNED DEFAULT 0;
    DECLARE EXIT HANDLER FOR SQLEXCEPTION
    BEGIN
        ROLLBACK;
        RESIGNAL;
    END;

    START TRANSACTION;
    UPDATE products
       SET qty = (LAST_INSERT_ID(
                      IF(price_cents BETWEEN 0 AND 1073741822, price_cents, 1073741823) * 8589934592
                      + (qty - p_quantity) * 2 + (qty - p_quantity <= reorder_point)
                  ) DIV 2) & 4294967295
     WHERE product_id = p_product_id AND qty >= p_quantity AND retired_at IS NULL;
    IF ROW_COUNT() = 1 THEN
        SET v_packed = LAST_INSERT_ID();
        IF v_packed DIV 8589934592 < 1073741823 THEN
            INSERT INTO orders (order_id, product_id, quantity, correlation_id, created_at,
                   unit_price_cents, buyer)
            VALUES (p_order_id, p_product_id, p_quantity, p_correlation_id, UTC_TIMESTAMP(6),
                    v_packed DIV 8589934592, p_buyer);
        ELSE
            INSERT INTO orders (order_id, product_id, quantity, correlation_id, created_at,
                   unit_price_cents, buyer)
            SELECT p_order_id, p_product_id, p_quantity, p_correlation_id, UTC_TIMESTAMP(6),
                   price_cents, p_buyer
              FROM products WHERE product_id = p_product_id;
        END IF;
        IF v_packed MOD 2 = 0 THEN
            COMMIT;
            SELECT (v_packed DIV 2) & 4294967295 AS stock;
        ELSE
            CALL donut_sell_shelf_v6(p_product_id, 1, NULL);
        END IF;
    ELSE
        CALL donut_sell_shelf_v6(p_product_id, 0, NULL);
    END IF;
END;

DROP PROCEDURE IF EXISTS donut_sell_keyed_v6;

CREATE PROCEDURE donut_sell_keyed_v6(
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
    DECLARE v_packed    BIGINT UNSIGNED DEFAULT 0;
    DECLARE v_key_taken INT DEFAULT 0;
    DECLARE EXIT HANDLER FOR SQLEXCEPTION
    BEGIN
        ROLLBACK;
        RESIGNAL;
    END;

    START TRANSACTION;
    -- The key first, before the product's row is locked, as `donut_sell_v5`.
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
        -- Taken, but past its window (the sweep has not reached it): free again. Read
        -- without a lock first: the duplicate check left a shared lock on the key's row, and
        -- concurrent retries of a live key each asking for an exclusive one (a DELETE) would
        -- deadlock one another. (Two IFs: a condition's tables are opened whenever it is
        -- evaluated, so the read of the table waits for a key found taken.)
        IF v_key_taken = 1 THEN
            IF EXISTS (SELECT 1 FROM idempotency_keys
                        WHERE idem_key = p_key AND expires_at < UTC_TIMESTAMP(6)) THEN
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
        -- fingerprint: another request under the key is 422). 1205 or 1213: a purchase with
        -- the key is still in flight (its row is not visible yet): 'busy' (409).
        ROLLBACK;
        SELECT 1 AS found, 1 AS sold, COALESCE(o.remaining_after, k.remaining) AS stock,
               IF(v_key_taken = 1 AND k.order_id IS NOT NULL, 'replay', 'busy') AS step,
               NULL AS reorder_point, NULL AS reorder_qty, NULL AS factory_product_id,
               k.restock_id AS open_id, k.restock_status AS open_status,
               k.order_id AS replay_order_id, k.fingerprint AS replay_fingerprint,
               COALESCE(k.restock_opened_now, 0) AS replay_opened_now
          FROM (SELECT 1 AS one) AS answer
          LEFT JOIN idempotency_keys k ON k.idem_key = p_key
          LEFT JOIN orders o ON o.order_id = k.order_id;
        LEAVE sell;
    END IF;

    UPDATE products
       SET qty = (LAST_INSERT_ID(
                      IF(price_cents BETWEEN 0 AND 1073741822, price_cents, 1073741823) * 8589934592
                      + (qty - p_quantity) * 2 + (qty - p_quantity <= reorder_point)
                  ) DIV 2) & 4294967295
     WHERE product_id = p_product_id AND qty >= p_quantity AND retired_at IS NULL;
    IF ROW_COUNT() = 1 THEN
        SET v_packed = LAST_INSERT_ID();
        IF v_packed DIV 8589934592 < 1073741823 THEN
            INSERT INTO orders (order_id, product_id, quantity, correlation_id, created_at,
                   unit_price_cents, idempotency_key, remaining_after, buyer)
            VALUES (p_order_id, p_product_id, p_quantity, p_correlation_id, UTC_TIMESTAMP(6),
                    v_packed DIV 8589934592, p_key, (v_packed DIV 2) & 4294967295, p_buyer);
        ELSE
            INSERT INTO orders (order_id, product_id, quantity, correlation_id, created_at,
                   unit_price_cents, idempotency_key, remaining_after, buyer)
            SELECT p_order_id, p_product_id, p_quantity, p_correlation_id, UTC_TIMESTAMP(6),
                   price_cents, p_key, (v_packed DIV 2) & 4294967295, p_buyer
              FROM products WHERE product_id = p_product_id;
        END IF;
        IF v_packed MOD 2 = 0 THEN
            COMMIT;
            SELECT (v_packed DIV 2) & 4294967295 AS stock;
        ELSE
            CALL donut_sell_shelf_v6(p_product_id, 1, p_key);
        END IF;
    ELSE
        CALL donut_sell_shelf_v6(p_product_id, 0, p_key);
    END IF;
END;
