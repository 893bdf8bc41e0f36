-- disable triggers
ALTER TABLE orders DISABLE TRIGGER ALL;
