-- multiple alter table
SET lock_timeout = '2s';
ALTER TABLE orders ADD COLUMN a text;
ALTER TABLE orders ADD COLUMN b text;
