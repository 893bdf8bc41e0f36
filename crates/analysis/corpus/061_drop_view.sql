-- drop view
DROP VIEW recent_orders;
