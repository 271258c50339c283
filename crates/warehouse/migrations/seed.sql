-- Dev-stack seed: a handful of donuts. Re-running it changes nothing.
INSERT INTO products (product_id, name, price_cents, qty, reorder_point, reorder_qty, factory_product_id)
VALUES
    ('original-glazed',   'Original Glazed',   150, 100, 10, 50, '1'),
    ('chocolate-frosted', 'Chocolate Frosted', 175,  80, 10, 40, '2'),
    ('boston-cream',      'Boston Cream',      200,  60,  5, 30, '3'),
    ('raspberry-jelly',   'Raspberry Jelly',   175,  50,  5, 25, '4'),
    ('maple-bar',         'Maple Bar',         225,  40,  5, 20, '5')
ON DUPLICATE KEY UPDATE product_id = product_id;
