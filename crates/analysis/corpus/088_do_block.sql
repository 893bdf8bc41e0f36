-- do block
DO $$
BEGIN
  EXECUTE 'ALTER TABLE orders ADD COLUMN c text';
END
$$;
