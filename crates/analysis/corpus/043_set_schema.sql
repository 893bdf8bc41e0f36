-- set schema
ALTER TABLE customers SET SCHEMA crm;
