-- set tablespace
ALTER TABLE orders SET TABLESPACE fast_ssd;
