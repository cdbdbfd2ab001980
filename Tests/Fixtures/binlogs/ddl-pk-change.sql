-- shop.products: PK change, ALTER TABLE ADD COLUMN, rollbacks, mixed-engine transactions.
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
CREATE TABLE shop.audit_log (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, msg VARCHAR(100)) ENGINE=MyISAM;
CREATE TRIGGER shop.products_audit AFTER UPDATE ON shop.products FOR EACH ROW
  INSERT INTO shop.audit_log (msg) VALUES (CONCAT('trigger: product ', NEW.id, ' stock ', NEW.stock));
INSERT INTO shop.products VALUES (1, 'hammer', 10, 9.99, NOW(6)), (2, 'nails', 500, 0.05, NOW(6)),
  (3, 'saw', 3, 24.50, NOW(6)), (4, 'drill', 7, 89.00, NOW(6)), (5, 'glue', 42, 3.75, NOW(6)),
  (6, 'tape', 60, 2.00, NOW(6));
SET timestamp = 1700000010.000001;
-- the trigger writes shop.audit_log (MyISAM) too
UPDATE shop.products SET stock = stock - 1, updated_at = NOW(6) WHERE id = 1;
DROP TRIGGER shop.products_audit;
-- primary key change 5 -> 105
UPDATE shop.products SET id = 105, updated_at = NOW(6) WHERE id = 5;
-- new column before stock
SET timestamp = 1700000020;
ALTER TABLE shop.products ADD COLUMN category VARCHAR(32) NOT NULL DEFAULT 'misc' AFTER name;
UPDATE shop.products SET stock = stock + 10, category = 'tools', updated_at = NOW(6) WHERE id = 2;
UPDATE shop.products SET price = 4.10, updated_at = NOW(6) WHERE id = 105;
-- InnoDB-only transaction rolled back: leaves nothing in the binlog
BEGIN;
UPDATE shop.products SET stock = 0, updated_at = NOW(6) WHERE id = 3;
ROLLBACK;
-- mixed transaction (InnoDB + MyISAM statements) rolled back: the MyISAM insert
-- cannot be undone and is binlogged on its own; the InnoDB update is not
BEGIN;
UPDATE shop.products SET stock = 999, updated_at = NOW(6) WHERE id = 4;
INSERT INTO shop.audit_log (msg) VALUES ('mixed transaction, rolled back');
ROLLBACK;
-- one statement touching both engines (multi-table UPDATE) inside a rolled back
-- transaction: in ROW format only the MyISAM row change is binlogged, again as its
-- own group ending in a COMMIT query
BEGIN;
UPDATE shop.products p, shop.audit_log a SET p.stock = 777, p.updated_at = NOW(6), a.msg = 'multi-table, rolled back'
  WHERE p.id = 6 AND a.id = 1;
ROLLBACK;
-- multi-statement transaction
SET timestamp = 1700000030.5;
BEGIN;
UPDATE shop.products SET stock = stock - 2, updated_at = NOW(6) WHERE id = 1;
UPDATE shop.products SET stock = stock - 3, updated_at = NOW(6) WHERE id = 2;
INSERT INTO shop.products (id, name, category, stock, price, updated_at) VALUES (7, 'clamp', 'tools', 9, 6.60, NOW(6));
COMMIT;
DELETE FROM shop.products WHERE id = 3;
