-- XA COMMIT ... ONE PHASE (no prepare): binlogged as a plain transaction.
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
XA START 'quick-1';
UPDATE shop.products SET stock = stock - 4, updated_at = NOW(6) WHERE id = 1;
INSERT INTO shop.products VALUES (7, 'chisel', 11, 6.50, NOW(6));
DELETE FROM shop.products WHERE id = 5;
XA END 'quick-1';
XA COMMIT 'quick-1' ONE PHASE;
SET timestamp = 1700000020;
XA START 'quick-2', 'b', 7;
UPDATE shop.products SET stock = stock - 25, updated_at = NOW(6) WHERE id = 2;
XA END 'quick-2', 'b', 7;
XA COMMIT 'quick-2', 'b', 7 ONE PHASE;
UPDATE shop.products SET stock = stock - 1, updated_at = NOW(6) WHERE id = 1;
