-- One transaction whose second row event is ~2 MiB (a LONGBLOB of 2,097,152 bytes).
SET time_zone = '+00:00';
SET timestamp = 1700000000;
CREATE DATABASE fx DEFAULT CHARACTER SET utf8mb4;
CREATE TABLE fx.big (id INT NOT NULL PRIMARY KEY, note VARCHAR(32), payload LONGBLOB) ENGINE=InnoDB;
BEGIN;
INSERT INTO fx.big VALUES (1, 'small', x'00');
INSERT INTO fx.big VALUES (2, '2 MiB', REPEAT('0123456789abcdef', 131072));
UPDATE fx.big SET note = 'updated' WHERE id = 1;
COMMIT;
