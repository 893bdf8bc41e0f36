-- truncate cascade
TRUNCATE customers CASCADE;
