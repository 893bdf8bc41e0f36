-- set statistics
ALTER TABLE orders ALTER COLUMN customer_id SET STATISTICS 1000;
