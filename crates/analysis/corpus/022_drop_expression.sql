-- drop expression
ALTER TABLE orders ALTER COLUMN total_cents DROP EXPRESSION;
