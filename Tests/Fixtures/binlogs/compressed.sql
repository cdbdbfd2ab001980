-- shop.products with log_bin_compress=ON, log_bin_compress_min_len=10: QUERY and
-- rows events whose payload is at least 10 bytes are written compressed.
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
INSERT INTO shop.products VALUES
  (1, 'hammer', 10, 9.99, NOW(6)), (2, 'nails', 500, 0.05, NOW(6)), (3, 'saw', 3, 24.50, NOW(6)),
  (4, 'drill', 7, 89.00, NOW(6)), (5, 'glue', 42, 3.75, NOW(6)), (6, 'screwdriver set, 12 pieces', 15, 29.90, NOW(6)),
  (7, 'tape measure', 60, 7.49, NOW(6)), (8, 'wrench', 25, 12.00, NOW(6)), (9, 'pliers', 30, 8.25, NOW(6)),
  (10, 'level', 12, 15.00, NOW(6));
SET timestamp = 1700000060.25;
UPDATE shop.products SET price = price + 1.00, updated_at = NOW(6) WHERE id <= 5;
UPDATE shop.products SET stock = 0, name = 'wrench (sold out)', updated_at = NOW(6) WHERE id = 8;
DELETE FROM shop.products WHERE id = 10;
