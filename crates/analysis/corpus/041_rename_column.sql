-- rename column
ALTER TABLE customers RENAME COLUMN mail TO email;
