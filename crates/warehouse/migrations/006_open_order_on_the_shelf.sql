-- One open factory order per product, kept by the product's own row instead of a unique key.
--
-- The unique key `one_open_order_per_product (open_product_id)` let two stock-outs of two
-- products deadlock: a fulfilled order's entry stays in the index, delete-marked, until purge,
-- and InnoDB's duplicate check on it takes a next-key lock (S) even at READ COMMITTED, so two
-- inserts of neighbouring products each waited for the other's gap (found by the relay race,
-- `crates/warehouse/tests/relay_race.rs`: 2 of 50 runs lost a purchase to 1213). MySQL 8.4
-- documents the same duplicate-check locking ("INSERT … sets a shared next-key lock on the
-- duplicate index record"). Now:
--   * products.open_factory_order_id points at the product's order; it counts as open only
--     while that order is `open` or `requested` (fulfilled and cancelled orders need no
--     clean-up, and functions of the previous release, which still clear open_product_id,
--     keep working during a deploy);
--   * the procedure decides and writes the pointer under the product's row lock, which every
--     stock-out of that product holds: one open order per product, without a unique index.
-- open_product_id is no longer read; a later migration drops it (expand, then contract).
ALTER TABLE products ADD COLUMN open_factory_order_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NULL;
UPDATE products p JOIN factory_orders f ON f.open_product_id = p.product_id
   SET p.open_factory_order_id = f.factory_order_id;
ALTER TABLE factory_orders DROP INDEX one_open_order_per_product;

-- The purchase procedure of migration 003, reading and writing the product's pointer, and run
-- with its caller's rights (SQL SECURITY INVOKER), not its definer's: the functions' user, which
-- may only SELECT, INSERT, UPDATE and EXECUTE, not the master user that created it.
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
SQL SECURITY INVOKER
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

    SELECT f.factory_order_id, f.status INTO v_open_id, v_open_status
      FROM products p JOIN factory_orders f ON f.factory_order_id = p.open_factory_order_id
       AND f.status IN ('open', 'requested')
     WHERE p.product_id = p_product_id;

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
          FROM products p LEFT JOIN factory_orders f ON f.factory_order_id = p.open_factory_order_id
           AND f.status IN ('open', 'requested')
         WHERE p.product_id = p_product_id;
        IF v_open_id IS NULL AND v_reorder_qty > 0 THEN
            INSERT INTO factory_orders (factory_order_id, product_id, factory_product_id,
                   quantity, status, correlation_id, created_at)
            VALUES (p_factory_order_id, p_product_id, v_factory_pid,
                    v_reorder_qty, 'open', p_correlation_id, UTC_TIMESTAMP(6));
            UPDATE products SET open_factory_order_id = p_factory_order_id
             WHERE product_id = p_product_id;
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
