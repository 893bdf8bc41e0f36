-- transaction nesting
BEGIN;
BEGIN;
ALTER TABLE orders ADD COLUMN note text;
COMMIT;
