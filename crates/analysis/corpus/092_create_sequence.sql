-- create sequence
CREATE SEQUENCE invoice_numbers START 1000;
