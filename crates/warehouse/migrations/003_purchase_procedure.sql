-- One purchase in one round trip, the product's row lock held as briefly as the minimal
-- purchase holds it: a sale that leaves the shelf above its reorder point runs, under the lock,
-- only the conditional UPDATE, the order row's INSERT and the COMMIT.
--
-- It does what `donut_domain::purchase` decides, in one transaction:
--   1. sell `p_quantity` if the shelf has them (the UPDATE's row count is the decision); the
--      UPDATE also hands back the new stock and whether it is at or below the reorder point,
--      packed into one number (stock * 2 + low) through LAST_INSERT_ID(expr), so the row need
--      not be read again;
--   2. the order row when sold;
--   3. when the shelf is low (a refusal, or a sale at or below the point): the shelf read again
--      under the lock with its open factory order, and when `plan_reorder` would reorder — no
--      factory order open, a reorder quantity above 0 — the factory order and its outbox row
--      (the stock-out event, version 1).
-- The product's open factory order, for the buyer's answer, is read before the transaction:
-- outside the lock, as committed then. Only the low path decides on it, and it reads it again.
-- It answers with one row: found, sold, stock, the reorder quantity and factory product id
-- (NULL when the shelf was not read again),
-- the open factory order and whether it reordered. The caller passes every id and the time,
-- so the procedure generates nothing. The test `the_procedure_decides_like_the_domain` holds
-- its rule and its event to the domain's.
-- MariaDB writes a routine's variables into JSON as strings ("24"): the numbers are CAST.
-- Errors roll the transaction back and reach the caller unchanged (deadlocks are retried there).
DROP PROCEDURE IF EXISTS donut_purchase;

CREATE PROCEDURE donut_purchase(
    IN p_product_id       VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin,
    IN p_quantity         INT UNSIGNED,
    IN p_order_id         CHAR(36)     CHARACTER SET ascii COLLATE ascii_bin,
    IN p_correlation_id   VARCHAR(128) CHARACTER SET utf8mb4,
    IN p_factory_order_id CHAR(36)     CHARACTER SET ascii COLLATE ascii_bin,
    IN p_event_id         CHAR(36)     CHARACTER SET ascii COLLATE ascii_bin,
    IN p_occurred_at      VARCHAR(40)  CHARACTER SET ascii
)
MODIFIES SQL DATA
BEGIN
    DECLARE v_found       INT DEFAULT 0;
    DECLARE v_sold        INT DEFAULT 0;
    -- A refusal is low whatever the stock; a sale says so itself.
    DECLARE v_low         INT DEFAULT 1;
    DECLARE v_packed      BIGINT UNSIGNED;
    DECLARE v_reordered   INT DEFAULT 0;
    DECLARE v_stock       INT UNSIGNED;
    DECLARE v_point       INT UNSIGNED;
    DECLARE v_reorder_qty INT UNSIGNED;
    DECLARE v_factory_pid VARCHAR(64)  CHARACTER SET utf8mb4;
    DECLARE v_open_id     CHAR(36)     CHARACTER SET ascii COLLATE ascii_bin;
    DECLARE v_open_status VARCHAR(16)  CHARACTER SET utf8mb4;
    DECLARE EXIT HANDLER FOR SQLEXCEPTION
    BEGIN
        ROLLBACK;
        RESIGNAL;
    END;

    SELECT factory_order_id, status INTO v_open_id, v_open_status
      FROM factory_orders WHERE open_product_id = p_product_id;

    START TRANSACTION;
    UPDATE products
       SET qty = LAST_INSERT_ID((qty - p_quantity) * 2 + (qty - p_quantity <= reorder_point)) DIV 2
     WHERE product_id = p_product_id AND qty >= p_quantity;
    SET v_sold = ROW_COUNT();

    IF v_sold = 1 THEN
        SET v_packed = LAST_INSERT_ID();
        SET v_found = 1, v_stock = v_packed DIV 2, v_low = v_packed MOD 2;
        INSERT INTO orders (order_id, product_id, quantity, correlation_id, created_at)
        VALUES (p_order_id, p_product_id, p_quantity, p_correlation_id, UTC_TIMESTAMP(6));
    ELSE
        -- A refusal takes the row lock here: refusals of one product serialise too, so two
        -- cannot both open a factory order.
        SELECT 1 INTO v_found FROM products WHERE product_id = p_product_id FOR UPDATE;
    END IF;

    IF v_found = 1 AND v_low = 1 THEN
        -- The shelf as committed now (READ COMMITTED), its open factory order read without a
        -- lock: a restock holding that order waits for our product row.
        SET v_open_id = NULL, v_open_status = NULL;
        SELECT p.qty, p.reorder_point, p.reorder_qty, p.factory_product_id,
               f.factory_order_id, f.status
          INTO v_stock, v_point, v_reorder_qty, v_factory_pid, v_open_id, v_open_status
          FROM products p LEFT JOIN factory_orders f ON f.open_product_id = p.product_id
         WHERE p.product_id = p_product_id;
        IF v_open_id IS NULL AND v_reorder_qty > 0 THEN
            INSERT INTO factory_orders (factory_order_id, product_id, open_product_id,
                   factory_product_id, quantity, status, correlation_id, created_at)
            VALUES (p_factory_order_id, p_product_id, p_product_id, v_factory_pid,
                    v_reorder_qty, 'open', p_correlation_id, UTC_TIMESTAMP(6));
            INSERT INTO outbox (event_id, correlation_id, payload, created_at, next_attempt_at)
            VALUES (p_event_id, p_correlation_id,
                    JSON_OBJECT('version', 1, 'type', 'stock_out', 'event_id', p_event_id,
                                'correlation_id', p_correlation_id, 'product_id', p_product_id,
                                'factory_product_id', v_factory_pid,
                                'factory_order_id', p_factory_order_id,
                                'quantity', CAST(v_reorder_qty AS UNSIGNED),
                                'stock_left', CAST(v_stock AS UNSIGNED),
                                'occurred_at', p_occurred_at),
                    UTC_TIMESTAMP(6), UTC_TIMESTAMP(6));
            SET v_reordered = 1;
        END IF;
    END IF;

    IF v_found = 1 THEN
        COMMIT;
    ELSE
        ROLLBACK;
    END IF;

    SELECT v_found, v_sold, v_stock, v_reorder_qty, v_factory_pid,
           v_open_id, v_open_status, v_reordered;
END;
