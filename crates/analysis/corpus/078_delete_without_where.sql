-- delete without where
DELETE FROM sessions;
