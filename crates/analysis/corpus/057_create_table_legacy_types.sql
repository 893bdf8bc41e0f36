-- create table legacy types
CREATE TABLE legacy (
    id serial PRIMARY KEY,
    code char(4),
    name varchar(100),
    created_at timestamp,
    payload json
);
