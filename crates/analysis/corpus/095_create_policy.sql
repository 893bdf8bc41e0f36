-- create policy
ALTER TABLE orders ENABLE ROW LEVEL SECURITY;
CREATE POLICY orders_owner ON orders USING (customer_id = current_setting('app.customer_id')::bigint);
