-- mixed non transactional
ALTER TABLE orders ADD COLUMN archived boolean;
CREATE INDEX CONCURRENTLY orders_archived_idx ON orders (archived);
