-- insert backfill
INSERT INTO order_totals (order_id, total) SELECT id, total FROM orders;
