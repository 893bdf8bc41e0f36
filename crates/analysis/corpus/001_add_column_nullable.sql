-- add column nullable
ALTER TABLE orders ADD COLUMN note text;
