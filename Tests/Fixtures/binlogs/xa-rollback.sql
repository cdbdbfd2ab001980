-- XA rolled back after its prepare (the prepared group and an XA ROLLBACK group are
-- binlogged), one rolled back before any prepare (nothing binlogged), then plain
-- transactions and a committed XA transaction on the same keys.
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
XA START 'cancel-1';
UPDATE shop.products SET stock = 0, updated_at = NOW(6) WHERE id = 1;
UPDATE shop.products SET stock = stock - 100, updated_at = NOW(6) WHERE id = 2;
INSERT INTO shop.products VALUES (7, 'chisel', 11, 6.50, NOW(6));
DELETE FROM shop.products WHERE id = 3;
XA END 'cancel-1';
XA PREPARE 'cancel-1';
XA ROLLBACK 'cancel-1';
XA START 'cancel-2';
UPDATE shop.products SET stock = 1, updated_at = NOW(6) WHERE id = 5;
XA END 'cancel-2';
XA ROLLBACK 'cancel-2';
SET timestamp = 1700000020;
UPDATE shop.products SET stock = stock - 1, updated_at = NOW(6) WHERE id = 1;
XA START 'keep-1';
UPDATE shop.products SET stock = stock - 10, updated_at = NOW(6) WHERE id = 2;
DELETE FROM shop.products WHERE id = 6;
XA END 'keep-1';
XA PREPARE 'keep-1';
XA COMMIT 'keep-1';
