-- Row images: a table with a PK and one without, int/varchar/blob/text columns.
SET time_zone = '+00:00';
SET timestamp = 1700000000;
CREATE DATABASE fx DEFAULT CHARACTER SET utf8mb4;
CREATE TABLE fx.img (id INT NOT NULL PRIMARY KEY, n INT, s VARCHAR(32), b BLOB, t TEXT) ENGINE=InnoDB;
CREATE TABLE fx.img_nopk (n INT, s VARCHAR(32), b BLOB) ENGINE=InnoDB;
INSERT INTO fx.img VALUES (1, 10, 'one', x'0101', 'text one'), (2, 20, 'two', x'0202', 'text two'),
  (3, 30, 'three', x'0303', 'text three');
INSERT INTO fx.img (id) VALUES (4);
INSERT INTO fx.img (id, s) VALUES (5, 'only s');
-- only the int changes
UPDATE fx.img SET n = n + 1 WHERE id = 1;
-- varchar changes, blob set to NULL
UPDATE fx.img SET s = 'changed', b = NULL WHERE id = 2;
-- only the blob changes
UPDATE fx.img SET b = x'DEADBEEF' WHERE id = 3;
-- only the text changes
UPDATE fx.img SET t = 'new text' WHERE id = 1;
-- primary key changes
UPDATE fx.img SET id = 30 WHERE id = 3;
-- no-op update (no row event: nothing changes)
UPDATE fx.img SET n = 20 WHERE id = 4 AND n = 20;
DELETE FROM fx.img WHERE id = 2;
INSERT INTO fx.img_nopk VALUES (1, 'a', x'AA'), (2, 'b', x'BB');
UPDATE fx.img_nopk SET s = 'bb' WHERE n = 2;
DELETE FROM fx.img_nopk WHERE n = 1;
