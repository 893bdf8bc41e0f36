-- drop database
DROP DATABASE analytics;
