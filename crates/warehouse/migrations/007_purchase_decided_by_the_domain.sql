-- The purchase, with the reorder rule out of SQL: the database does the mechanics, the domain
-- (`donut_domain::purchase::plan_reorder`) decides whether a purchase opens a factory order,
-- and `StockOutEvent` makes the event's JSON.
--
-- `donut_sell` opens the transaction and sells (or refuses):
--   * a sale that leaves the shelf above its reorder point commits at once and answers
--     `step = 'done'`: the conditional UPDATE, the order row's INSERT and the COMMIT, what the
--     minimal purchase runs, in one round trip. The UPDATE hands back the new stock and whether
--     it is at or below the point, packed into one number (stock * 2 + low) through
--     LAST_INSERT_ID(expr), so the row is not read again;
--   * a sale or refusal that leaves the shelf low reads the shelf and its open factory order
--     under the product's row lock (a refusal takes the lock with SELECT … FOR UPDATE, so
--     refusals of one product serialise too). With an order already open there is nothing to
--     decide: it commits (a sale) or rolls back (a refusal) and answers `step = 'done'`.
--     Otherwise it answers `step = 'decide'` and leaves the transaction open, the row lock
--     held: once per stock-out episode the caller decides and ends the transaction in a second
--     round trip — `donut_open_factory_order`, or COMMIT / ROLLBACK.
-- `donut_open_factory_order` writes the factory order, points the product at it, writes the
-- outbox row with the event's JSON as the caller made it, and commits.
-- Every id and the time come from the caller. The test `the_procedure_decides_like_the_domain`
-- holds the mechanics to the rule over 60 shelf shapes. `donut_purchase` (migrations 003, 006)
-- stays for functions of the previous release during a deploy; a later migration drops it.
DROP PROCEDURE IF EXISTS donut_sell;

CREATE PROCEDURE donut_sell(
    IN p_product_id     VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin,
    IN p_quantity       INT UNSIGNED,
    IN p_order_id       CHAR(36)     CHARACTER SET ascii COLLATE ascii_bin,
    IN p_correlation_id VARCHAR(128) CHARACTER SET utf8mb4
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
        INSERT INTO orders (order_id, product_id, quantity, correlation_id, created_at)
        VALUES (p_order_id, p_product_id, p_quantity, p_correlation_id, UTC_TIMESTAMP(6));
        IF v_packed MOD 2 = 0 THEN
            COMMIT;
            SELECT 1 AS found, 1 AS sold, v_packed DIV 2 AS stock, 'done' AS step,
                   NULL AS reorder_point, NULL AS reorder_qty, NULL AS factory_product_id,
                   NULL AS open_id, NULL AS open_status;
            LEAVE sell;
        END IF;
    ELSE
        SELECT 1 INTO v_found FROM products WHERE product_id = p_product_id FOR UPDATE;
        IF v_found = 0 THEN
            ROLLBACK;
            SELECT 0 AS found, 0 AS sold, NULL AS stock, 'done' AS step,
                   NULL AS reorder_point, NULL AS reorder_qty, NULL AS factory_product_id,
                   NULL AS open_id, NULL AS open_status;
            LEAVE sell;
        END IF;
    END IF;

    -- The shelf is low. Its open factory order is read without a lock: a restock holding that
    -- order waits for our product row.
    SELECT p.qty, p.reorder_point, p.reorder_qty, p.factory_product_id,
           f.factory_order_id, f.status
      INTO v_stock, v_point, v_reorder_qty, v_factory_pid, v_open_id, v_open_status
      FROM products p LEFT JOIN factory_orders f ON f.factory_order_id = p.open_factory_order_id
       AND f.status IN ('open', 'requested')
     WHERE p.product_id = p_product_id;
    IF v_open_id IS NOT NULL THEN
        IF v_sold = 1 THEN
            COMMIT;
        ELSE
            ROLLBACK;
        END IF;
    END IF;
    SELECT 1 AS found, v_sold AS sold, v_stock AS stock,
           IF(v_open_id IS NULL, 'decide', 'done') AS step,
           v_point AS reorder_point, v_reorder_qty AS reorder_qty,
           v_factory_pid AS factory_product_id, v_open_id AS open_id, v_open_status AS open_status;
END;

DROP PROCEDURE IF EXISTS donut_open_factory_order;

CREATE PROCEDURE donut_open_factory_order(
    IN p_factory_order_id   CHAR(36)     CHARACTER SET ascii COLLATE ascii_bin,
    IN p_product_id         VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin,
    IN p_factory_product_id VARCHAR(64)  CHARACTER SET utf8mb4,
    IN p_quantity           INT UNSIGNED,
    IN p_correlation_id     VARCHAR(128) CHARACTER SET utf8mb4,
    IN p_event_id           CHAR(36)     CHARACTER SET ascii COLLATE ascii_bin,
    IN p_payload            TEXT         CHARACTER SET utf8mb4
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
    COMMIT;
END;
