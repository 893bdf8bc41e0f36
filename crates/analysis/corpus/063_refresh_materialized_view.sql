-- refresh materialized view
REFRESH MATERIALIZED VIEW sales_summary;
