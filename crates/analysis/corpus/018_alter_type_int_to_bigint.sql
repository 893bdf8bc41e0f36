-- alter type int to bigint
ALTER TABLE orders ALTER COLUMN id TYPE bigint;
