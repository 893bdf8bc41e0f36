ALTER TABLE selfservice_login_flows ADD COLUMN test_flow BOOL;
