-- drop trigger
DROP TRIGGER orders_touch ON orders;
