-- Two-phase XA, committed right after the prepare: stock decrements, an INSERT and
-- a DELETE in one XA transaction; a second one with a full xid (gtrid, bqual,
-- formatID); plain transactions on the same keys after each commit.
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
XA START 'order-1001';
UPDATE shop.products SET stock = stock - 2, updated_at = NOW(6) WHERE id = 1;
UPDATE shop.products SET stock = stock - 50, updated_at = NOW(6) WHERE id = 2;
INSERT INTO shop.products VALUES (7, 'chisel', 11, 6.50, NOW(6));
DELETE FROM shop.products WHERE id = 6;
XA END 'order-1001';
XA PREPARE 'order-1001';
XA COMMIT 'order-1001';
SET timestamp = 1700000020;
UPDATE shop.products SET stock = stock - 1, updated_at = NOW(6) WHERE id = 1;
XA START 'order-1002', 'branch-01', 4660;
UPDATE shop.products SET stock = stock - 3, updated_at = NOW(6) WHERE id = 3;
UPDATE shop.products SET stock = stock + 5, price = 92.50, updated_at = NOW(6) WHERE id = 4;
XA END 'order-1002', 'branch-01', 4660;
XA PREPARE 'order-1002', 'branch-01', 4660;
XA COMMIT 'order-1002', 'branch-01', 4660;
UPDATE shop.products SET stock = stock - 1, updated_at = NOW(6) WHERE id = 4;
