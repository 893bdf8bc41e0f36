-- drop table
DROP TABLE audit_log;
