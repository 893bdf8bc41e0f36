-- drop materialized view
DROP MATERIALIZED VIEW sales_summary;
