-- add column stable default now
ALTER TABLE orders ADD COLUMN seen_at timestamptz DEFAULT now();
