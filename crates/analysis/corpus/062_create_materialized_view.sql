-- create materialized view
CREATE MATERIALIZED VIEW sales_summary AS SELECT customer_id, sum(total) AS total FROM orders GROUP BY customer_id;
