-- comment and grant
COMMENT ON TABLE orders IS 'Customer orders';
GRANT SELECT ON orders TO reporting;
