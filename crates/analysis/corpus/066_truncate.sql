-- truncate
TRUNCATE import_staging;
