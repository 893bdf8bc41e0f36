-- refresh materialized view concurrently
REFRESH MATERIALIZED VIEW CONCURRENTLY sales_summary;
