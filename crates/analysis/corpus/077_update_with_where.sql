-- update with where
UPDATE orders SET status = 'new' WHERE id BETWEEN 1 AND 10000;
