-- ignore directive
SET lock_timeout = '2s';
-- autodb:ignore ban-drop-column
ALTER TABLE customers DROP COLUMN legacy_code;
