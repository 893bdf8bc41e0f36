-- set fillfactor
ALTER TABLE orders SET (fillfactor = 80);
