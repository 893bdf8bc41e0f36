-- set expression
ALTER TABLE orders ALTER COLUMN total_cents SET EXPRESSION AS (total * 1000);
