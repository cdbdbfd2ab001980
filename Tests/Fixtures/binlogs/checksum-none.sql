-- A small shop.products workload (server runs with binlog_checksum=NONE).
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
INSERT INTO shop.products VALUES (1, 'hammer', 10, 9.99, NOW(6)), (2, 'nails', 500, 0.05, NOW(6)),
  (3, 'saw', 3, 24.50, NOW(6)), (4, 'drill', 7, 89.00, NOW(6)), (5, 'glue', 42, 3.75, NOW(6));
SET timestamp = 1700000060.25;
UPDATE shop.products SET stock = stock - 1, updated_at = NOW(6) WHERE id = 1;
BEGIN;
UPDATE shop.products SET stock = stock - 100, updated_at = NOW(6) WHERE id = 2;
UPDATE shop.products SET price = 19.99, updated_at = NOW(6) WHERE id = 3;
COMMIT;
DELETE FROM shop.products WHERE id = 4;
