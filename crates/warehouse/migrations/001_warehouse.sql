-- The warehouse: products on the shelf, orders sold from it, factory orders that refill it,
-- and the transactional outbox of stock-out events. MySQL 8 and MariaDB 10.11 both accept
-- every statement here. Times are UTC (the pool sets time_zone = '+00:00'). Ids are ASCII
-- compared byte for byte (ascii_bin): 'GLAZED' is not 'glazed', whatever the server's default
-- collation says.

CREATE TABLE IF NOT EXISTS products (
    product_id         VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    name               VARCHAR(128) NOT NULL,
    price_cents        BIGINT       NOT NULL,
    qty                INT UNSIGNED NOT NULL,
    reorder_point      INT UNSIGNED NOT NULL,
    reorder_qty        INT UNSIGNED NOT NULL,
    factory_product_id VARCHAR(64)  NOT NULL,
    PRIMARY KEY (product_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE IF NOT EXISTS orders (
    order_id       CHAR(36)     CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    product_id     VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    quantity       INT UNSIGNED NOT NULL,
    correlation_id VARCHAR(128) NOT NULL,
    created_at     DATETIME(6)  NOT NULL,
    PRIMARY KEY (order_id),
    KEY orders_by_product (product_id),
    CONSTRAINT orders_product FOREIGN KEY (product_id) REFERENCES products (product_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- open_product_id equals product_id until the order is fulfilled, then NULL: the unique key
-- lets the database itself refuse a second open factory order for one product.
CREATE TABLE IF NOT EXISTS factory_orders (
    factory_order_id   CHAR(36)     CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    product_id         VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    open_product_id    VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NULL,
    factory_product_id VARCHAR(64)  NOT NULL,
    quantity           INT UNSIGNED NOT NULL,
    status             VARCHAR(16)  NOT NULL,
    factory_request_id VARCHAR(128) NULL,
    request_attempts   INT UNSIGNED NOT NULL DEFAULT 0,
    -- While set and in the future, one consumer is calling the factory for this order.
    request_lease_until DATETIME(6) NULL,
    correlation_id     VARCHAR(128) NOT NULL,
    created_at         DATETIME(6)  NOT NULL,
    requested_at       DATETIME(6)  NULL,
    fulfilled_at       DATETIME(6)  NULL,
    PRIMARY KEY (factory_order_id),
    UNIQUE KEY one_open_order_per_product (open_product_id),
    KEY factory_orders_by_product (product_id, status),
    CONSTRAINT factory_orders_product FOREIGN KEY (product_id) REFERENCES products (product_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE IF NOT EXISTS outbox (
    id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    event_id        CHAR(36)        CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    correlation_id  VARCHAR(128)    NOT NULL,
    payload         TEXT            NOT NULL,
    created_at      DATETIME(6)     NOT NULL,
    published_at    DATETIME(6)     NULL,
    attempts        INT UNSIGNED    NOT NULL DEFAULT 0,
    next_attempt_at DATETIME(6)     NOT NULL,
    last_error      VARCHAR(512)    NULL,
    PRIMARY KEY (id),
    UNIQUE KEY outbox_event (event_id),
    KEY outbox_due (published_at, next_attempt_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
