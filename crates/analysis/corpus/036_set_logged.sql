-- set logged
ALTER TABLE import_staging SET LOGGED;
