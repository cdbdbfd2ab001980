-- Transactions in GTID domains 0 (DDL), 1 and 2 (SET gtid_domain_id per session).
SET time_zone = '+00:00';
SET timestamp = 1700000000;
CREATE DATABASE shop DEFAULT CHARACTER SET utf8mb4;
CREATE TABLE shop.products (
  id BIGINT NOT NULL PRIMARY KEY,
  name VARCHAR(64),
  stock INT,
  price DECIMAL(10,2),
  updated_at TIMESTAMP(6) NULL DEFAULT NULL
) ENGINE=InnoDB;
SET gtid_domain_id = 1;
INSERT INTO shop.products VALUES (1, 'hammer', 10, 9.99, NOW(6)), (2, 'nails', 500, 0.05, NOW(6));
SET gtid_domain_id = 2;
INSERT INTO shop.products VALUES (3, 'saw', 3, 24.50, NOW(6));
BEGIN;
UPDATE shop.products SET stock = stock + 1, updated_at = NOW(6) WHERE id = 3;
INSERT INTO shop.products VALUES (4, 'drill', 7, 89.00, NOW(6));
COMMIT;
SET gtid_domain_id = 1;
UPDATE shop.products SET stock = stock - 1, updated_at = NOW(6) WHERE id = 1;
SET gtid_domain_id = 0;
DELETE FROM shop.products WHERE id = 2;
