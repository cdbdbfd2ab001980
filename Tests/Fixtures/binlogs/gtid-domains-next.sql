-- Runs right after gtid-domains and a FLUSH BINARY LOGS: the file starts with a
-- GTID_LIST naming the last GTID of domains 0, 1 and 2.
SET time_zone = '+00:00';
SET timestamp = 1700000000;
SET timestamp = 1700000060;
SET gtid_domain_id = 2;
UPDATE shop.products SET stock = stock + 5, updated_at = NOW(6) WHERE id = 4;
SET gtid_domain_id = 1;
UPDATE shop.products SET price = 10.49, updated_at = NOW(6) WHERE id = 1;
