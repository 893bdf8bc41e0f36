-- add column identity
ALTER TABLE orders ADD COLUMN n bigint GENERATED ALWAYS AS IDENTITY;
