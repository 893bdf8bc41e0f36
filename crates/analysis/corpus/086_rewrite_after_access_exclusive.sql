-- rewrite after access exclusive
ALTER TABLE customers ADD COLUMN tier text;
ALTER TABLE orders ALTER COLUMN id TYPE bigint;
