
ALTER TABLE builds ALTER COLUMN id TYPE bigint;

