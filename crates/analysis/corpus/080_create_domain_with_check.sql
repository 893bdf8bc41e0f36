-- create domain with check
CREATE DOMAIN email_address AS text CHECK (VALUE LIKE '%@%');
