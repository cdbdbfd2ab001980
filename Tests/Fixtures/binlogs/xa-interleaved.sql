-- Prepared on one connection, other transactions, ended from another connection.
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
INSERT INTO shop.products VALUES (7, 'chisel', 11, 6.50, NOW(6)), (8, 'clamp', 9, 6.60, NOW(6));
-- @connection  (the order service: prepares txn-a, then disconnects)
SET time_zone = '+00:00';
SET timestamp = 1700000000;
SET timestamp = 1700000010;
XA START 'txn-a';
UPDATE shop.products SET stock = stock - 3, updated_at = NOW(6) WHERE id = 1;
UPDATE shop.products SET stock = stock - 20, updated_at = NOW(6) WHERE id = 2;
INSERT INTO shop.products VALUES (9, 'file', 14, 4.20, NOW(6));
DELETE FROM shop.products WHERE id = 8;
XA END 'txn-a';
XA PREPARE 'txn-a';
-- @connection  (other traffic while txn-a is prepared; txn-b prepared, then a disconnect)
SET time_zone = '+00:00';
SET timestamp = 1700000000;
SET timestamp = 1700000020;
UPDATE shop.products SET stock = stock - 1, updated_at = NOW(6) WHERE id = 3;
BEGIN;
UPDATE shop.products SET stock = stock + 10, updated_at = NOW(6) WHERE id = 4;
UPDATE shop.products SET price = 3.95, updated_at = NOW(6) WHERE id = 5;
COMMIT;
INSERT INTO shop.products VALUES (10, 'level', 12, 15.00, NOW(6));
XA START 'txn-b';
UPDATE shop.products SET stock = 0, updated_at = NOW(6) WHERE id = 6;
DELETE FROM shop.products WHERE id = 7;
XA END 'txn-b';
XA PREPARE 'txn-b';
-- @connection  (the transaction manager's recovery: rolls txn-b back, commits txn-a)
SET time_zone = '+00:00';
SET timestamp = 1700000000;
SET timestamp = 1700000030;
XA ROLLBACK 'txn-b';
XA COMMIT 'txn-a';
-- the keys both touched, after they ended
UPDATE shop.products SET stock = stock - 1, updated_at = NOW(6) WHERE id = 1;
UPDATE shop.products SET stock = stock - 2, updated_at = NOW(6) WHERE id = 6;
INSERT INTO shop.products VALUES (8, 'clamp', 5, 6.60, NOW(6));
