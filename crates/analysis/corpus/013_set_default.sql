-- set default
ALTER TABLE orders ALTER COLUMN status SET DEFAULT 'pending';
