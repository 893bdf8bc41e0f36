-- add column bigserial
ALTER TABLE orders ADD COLUMN seq bigserial;
