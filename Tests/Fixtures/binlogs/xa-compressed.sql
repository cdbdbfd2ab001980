-- Two-phase XA with log_bin_compress=ON, log_bin_compress_min_len=10: committed,
-- rolled back after prepare, one phase.
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
  (3, 'saw', 3, 24.50, NOW(6)), (4, 'drill', 7, 89.00, NOW(6)), (5, 'glue', 42, 3.75, NOW(6)),
  (6, 'tape', 60, 2.00, NOW(6));
SET timestamp = 1700000010;
XA START 'zip-1';
UPDATE shop.products SET stock = stock - 2, name = 'hammer (claw, 16 oz)', updated_at = NOW(6) WHERE id = 1;
UPDATE shop.products SET stock = stock - 60, updated_at = NOW(6) WHERE id = 2;
INSERT INTO shop.products VALUES (7, 'screwdriver set, 12 pieces', 15, 29.90, NOW(6));
DELETE FROM shop.products WHERE id = 6;
XA END 'zip-1';
XA PREPARE 'zip-1';
-- @connection
SET time_zone = '+00:00';
SET timestamp = 1700000000;
SET timestamp = 1700000020;
UPDATE shop.products SET stock = stock - 1, updated_at = NOW(6) WHERE id = 3;
XA COMMIT 'zip-1';
XA START 'zip-2';
UPDATE shop.products SET stock = 0, updated_at = NOW(6) WHERE id BETWEEN 3 AND 5;
XA END 'zip-2';
XA PREPARE 'zip-2';
XA ROLLBACK 'zip-2';
XA START 'zip-3';
UPDATE shop.products SET stock = stock - 5, updated_at = NOW(6) WHERE id = 4;
XA END 'zip-3';
XA COMMIT 'zip-3' ONE PHASE;
