-- drop not null
ALTER TABLE orders ALTER COLUMN email DROP NOT NULL;
