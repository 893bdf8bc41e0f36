-- add column required no default
ALTER TABLE orders ADD COLUMN region text NOT NULL;
