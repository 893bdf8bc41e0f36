-- alter type varchar to text
ALTER TABLE customers ALTER COLUMN name TYPE text;
