-- set access method
ALTER TABLE orders SET ACCESS METHOD heap;
