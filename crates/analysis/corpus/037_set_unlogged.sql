-- set unlogged
ALTER TABLE import_staging SET UNLOGGED;
