-- add column constrained domain
CREATE DOMAIN positive_int AS integer CHECK (VALUE > 0);
ALTER TABLE orders ADD COLUMN quantity positive_int;
