-- Every column type of MariaDB 10.11, with min/max/zero/NULL/typical values.
SET time_zone = '+00:00';
SET timestamp = 1700000000;
SET sql_mode = 'STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION';
CREATE DATABASE fx DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;
CREATE TABLE fx.all_types (
  id INT NOT NULL PRIMARY KEY,
  c_tinyint TINYINT, c_tinyint_u TINYINT UNSIGNED,
  c_smallint SMALLINT, c_smallint_u SMALLINT UNSIGNED,
  c_mediumint MEDIUMINT, c_mediumint_u MEDIUMINT UNSIGNED,
  c_int INT, c_int_u INT UNSIGNED,
  c_bigint BIGINT, c_bigint_u BIGINT UNSIGNED,
  c_bool BOOLEAN,
  c_int_nn INT NOT NULL DEFAULT 7,
  c_float FLOAT, c_double DOUBLE,
  c_dec10_2 DECIMAL(10,2), c_dec65_30 DECIMAL(65,30), c_dec5_0 DECIMAL(5,0),
  c_dec18_9 DECIMAL(18,9), c_dec4_4 DECIMAL(4,4), c_dec12_4_u DECIMAL(12,4) UNSIGNED,
  c_year YEAR, c_date DATE,
  c_time0 TIME, c_time3 TIME(3), c_time6 TIME(6),
  c_dt0 DATETIME, c_dt3 DATETIME(3), c_dt6 DATETIME(6),
  c_ts0 TIMESTAMP NULL DEFAULT NULL, c_ts3 TIMESTAMP(3) NULL DEFAULT NULL, c_ts6 TIMESTAMP(6) NULL DEFAULT NULL,
  c_char10 CHAR(10),
  c_char255 CHAR(255) CHARACTER SET utf8mb4,
  c_varchar10 VARCHAR(10),
  c_varchar300 VARCHAR(300) CHARACTER SET utf8mb4,
  c_varchar_latin1 VARCHAR(40) CHARACTER SET latin1 COLLATE latin1_swedish_ci,
  c_vc_nn VARCHAR(8) NOT NULL DEFAULT '',
  c_binary4 BINARY(4), c_varbinary20 VARBINARY(20),
  c_tinyblob TINYBLOB, c_blob BLOB, c_mediumblob MEDIUMBLOB, c_longblob LONGBLOB,
  c_tinytext TINYTEXT, c_text TEXT, c_mediumtext MEDIUMTEXT, c_longtext LONGTEXT,
  c_enum ENUM('a','b','c'), c_enum300 ENUM('e001','e002','e003','e004','e005','e006','e007','e008','e009','e010','e011','e012','e013','e014','e015','e016','e017','e018','e019','e020','e021','e022','e023','e024','e025','e026','e027','e028','e029','e030','e031','e032','e033','e034','e035','e036','e037','e038','e039','e040','e041','e042','e043','e044','e045','e046','e047','e048','e049','e050','e051','e052','e053','e054','e055','e056','e057','e058','e059','e060','e061','e062','e063','e064','e065','e066','e067','e068','e069','e070','e071','e072','e073','e074','e075','e076','e077','e078','e079','e080','e081','e082','e083','e084','e085','e086','e087','e088','e089','e090','e091','e092','e093','e094','e095','e096','e097','e098','e099','e100','e101','e102','e103','e104','e105','e106','e107','e108','e109','e110','e111','e112','e113','e114','e115','e116','e117','e118','e119','e120','e121','e122','e123','e124','e125','e126','e127','e128','e129','e130','e131','e132','e133','e134','e135','e136','e137','e138','e139','e140','e141','e142','e143','e144','e145','e146','e147','e148','e149','e150','e151','e152','e153','e154','e155','e156','e157','e158','e159','e160','e161','e162','e163','e164','e165','e166','e167','e168','e169','e170','e171','e172','e173','e174','e175','e176','e177','e178','e179','e180','e181','e182','e183','e184','e185','e186','e187','e188','e189','e190','e191','e192','e193','e194','e195','e196','e197','e198','e199','e200','e201','e202','e203','e204','e205','e206','e207','e208','e209','e210','e211','e212','e213','e214','e215','e216','e217','e218','e219','e220','e221','e222','e223','e224','e225','e226','e227','e228','e229','e230','e231','e232','e233','e234','e235','e236','e237','e238','e239','e240','e241','e242','e243','e244','e245','e246','e247','e248','e249','e250','e251','e252','e253','e254','e255','e256','e257','e258','e259','e260','e261','e262','e263','e264','e265','e266','e267','e268','e269','e270','e271','e272','e273','e274','e275','e276','e277','e278','e279','e280','e281','e282','e283','e284','e285','e286','e287','e288','e289','e290','e291','e292','e293','e294','e295','e296','e297','e298','e299','e300'),
  c_set SET('x','y','z'), c_set12 SET('s1','s2','s3','s4','s5','s6','s7','s8','s9','s10','s11','s12'),
  c_bit1 BIT(1), c_bit17 BIT(17), c_bit64 BIT(64),
  c_json JSON,
  c_geometry GEOMETRY, c_point POINT,
  c_inet6 INET6, c_inet4 INET4, c_uuid UUID
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

-- row 1: minimum values
INSERT INTO fx.all_types SET id = 1,
  c_tinyint = -128, c_tinyint_u = 0, c_smallint = -32768, c_smallint_u = 0,
  c_mediumint = -8388608, c_mediumint_u = 0, c_int = -2147483648, c_int_u = 0,
  c_bigint = -9223372036854775808, c_bigint_u = 0, c_bool = 0, c_int_nn = -1,
  c_float = -3.402823466E+38, c_double = -1.7976931348623157E+308,
  c_dec10_2 = -99999999.99,
  c_dec65_30 = -99999999999999999999999999999999999.999999999999999999999999999999,
  c_dec5_0 = -99999, c_dec18_9 = -999999999.999999999, c_dec4_4 = -0.9999, c_dec12_4_u = 0,
  c_year = 1901, c_date = '1000-01-01',
  c_time0 = '-838:59:59', c_time3 = '-838:59:59.999', c_time6 = '-838:59:59.999999',
  c_dt0 = '1000-01-01 00:00:00', c_dt3 = '1000-01-01 00:00:00.001', c_dt6 = '1000-01-01 00:00:00.000001',
  c_ts0 = '1970-01-01 00:00:01', c_ts3 = '1970-01-01 00:00:01.001', c_ts6 = '1970-01-01 00:00:01.000001',
  c_char10 = 'a', c_char255 = 'b', c_varchar10 = 'c', c_varchar300 = 'd', c_varchar_latin1 = 'e',
  c_vc_nn = 'min', c_binary4 = x'00', c_varbinary20 = x'00',
  c_tinyblob = x'00', c_blob = x'00', c_mediumblob = x'00', c_longblob = x'00',
  c_tinytext = 'a', c_text = 'a', c_mediumtext = 'a', c_longtext = 'a',
  c_enum = 'a', c_enum300 = 'e001', c_set = 'x', c_set12 = 's1',
  c_bit1 = b'0', c_bit17 = b'0', c_bit64 = b'0',
  c_json = 'null', c_geometry = ST_GeomFromText('POINT(-1e300 -1.5)'),
  c_point = ST_PointFromText('POINT(-180 -90.5)'),
  c_inet6 = '::', c_inet4 = '0.0.0.0', c_uuid = '00000000-0000-0000-0000-000000000001';

-- row 2: maximum values (BLOB at its 65,535-byte maximum, MEDIUMBLOB ~70 KB)
INSERT INTO fx.all_types SET id = 2,
  c_tinyint = 127, c_tinyint_u = 255, c_smallint = 32767, c_smallint_u = 65535,
  c_mediumint = 8388607, c_mediumint_u = 16777215, c_int = 2147483647, c_int_u = 4294967295,
  c_bigint = 9223372036854775807, c_bigint_u = 18446744073709551615, c_bool = 1, c_int_nn = 2147483647,
  c_float = 3.402823466E+38, c_double = 1.7976931348623157E+308,
  c_dec10_2 = 99999999.99,
  c_dec65_30 = 99999999999999999999999999999999999.999999999999999999999999999999,
  c_dec5_0 = 99999, c_dec18_9 = 999999999.999999999, c_dec4_4 = 0.9999, c_dec12_4_u = 99999999.9999,
  c_year = 2155, c_date = '9999-12-31',
  c_time0 = '838:59:59', c_time3 = '838:59:59.999', c_time6 = '838:59:59.999999',
  c_dt0 = '9999-12-31 23:59:59', c_dt3 = '9999-12-31 23:59:59.999', c_dt6 = '9999-12-31 23:59:59.999999',
  c_ts0 = '2038-01-19 03:14:07', c_ts3 = '2038-01-19 03:14:07.999', c_ts6 = '2038-01-19 03:14:07.999999',
  c_char10 = 'abcdefghij', c_char255 = REPEAT('😀', 255), c_varchar10 = 'abcdefghij',
  c_varchar300 = REPEAT('中', 300), c_varchar_latin1 = REPEAT('ÿ', 40), c_vc_nn = 'max',
  c_binary4 = x'FFFFFFFF', c_varbinary20 = x'FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF',
  c_tinyblob = REPEAT(x'FF', 255), c_blob = REPEAT(x'A5', 65535),
  c_mediumblob = CONCAT(x'00FF7F80', REPEAT('binlog-', 9999)), c_longblob = REPEAT(x'5A', 300),
  c_tinytext = REPEAT('t', 255), c_text = REPEAT('文', 1000), c_mediumtext = REPEAT('m', 300),
  c_longtext = REPEAT('🎉', 100),
  c_enum = 'c', c_enum300 = 'e300', c_set = 'x,y,z', c_set12 = 's1,s2,s3,s4,s5,s6,s7,s8,s9,s10,s11,s12',
  c_bit1 = b'1', c_bit17 = b'11111111111111111', c_bit64 = x'FFFFFFFFFFFFFFFF',
  c_json = '{"k": [1, 2.5, "s", true, false, null, {"n": {}}], "u": "é 中文 😀"}',
  c_geometry = ST_GeomFromText('POLYGON((0 0,10 0,10 10,0 10,0 0),(2 2,4 2,4 4,2 2))'),
  c_point = ST_PointFromText('POINT(180 90)'),
  c_inet6 = 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', c_inet4 = '255.255.255.255',
  c_uuid = 'ffffffff-ffff-ffff-ffff-ffffffffffff';

-- row 3: zero / empty values (zero dates and the ENUM error value '' need a non-strict sql_mode)
SET sql_mode = 'NO_ENGINE_SUBSTITUTION';
INSERT INTO fx.all_types SET id = 3,
  c_tinyint = 0, c_tinyint_u = 0, c_smallint = 0, c_smallint_u = 0,
  c_mediumint = 0, c_mediumint_u = 0, c_int = 0, c_int_u = 0,
  c_bigint = 0, c_bigint_u = 0, c_bool = 0, c_int_nn = 0,
  c_float = 0, c_double = -0.0, c_dec10_2 = 0, c_dec65_30 = 0, c_dec5_0 = 0,
  c_dec18_9 = 0, c_dec4_4 = 0, c_dec12_4_u = 0,
  c_year = 0, c_date = '0000-00-00',
  c_time0 = '00:00:00', c_time3 = '00:00:00.000', c_time6 = '00:00:00.000000',
  c_dt0 = '0000-00-00 00:00:00', c_dt3 = '0000-00-00 00:00:00.000', c_dt6 = '0000-00-00 00:00:00.000000',
  c_ts0 = '0000-00-00 00:00:00', c_ts3 = '0000-00-00 00:00:00.000', c_ts6 = '0000-00-00 00:00:00.000000',
  c_char10 = '', c_char255 = '', c_varchar10 = '', c_varchar300 = '', c_varchar_latin1 = '',
  c_vc_nn = '', c_binary4 = '', c_varbinary20 = '',
  c_tinyblob = '', c_blob = '', c_mediumblob = '', c_longblob = '',
  c_tinytext = '', c_text = '', c_mediumtext = '', c_longtext = '',
  c_enum = '', c_enum300 = '', c_set = '', c_set12 = '',
  c_bit1 = b'0', c_bit17 = 0, c_bit64 = 0,
  c_json = '[]', c_geometry = ST_GeomFromText('GEOMETRYCOLLECTION EMPTY'),
  c_point = ST_PointFromText('POINT(0 0)'),
  c_inet6 = '::', c_inet4 = '0.0.0.0', c_uuid = '00000000-0000-0000-0000-000000000000';
SET sql_mode = 'STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION';

-- row 4: NULL in every nullable column
INSERT INTO fx.all_types (id) VALUES (4);

-- row 5: typical values, multibyte text, negative fractional TIME
SET timestamp = 1700000001.5;
INSERT INTO fx.all_types SET id = 5,
  c_tinyint = -5, c_tinyint_u = 200, c_smallint = -1234, c_smallint_u = 40000,
  c_mediumint = -70000, c_mediumint_u = 9000000, c_int = 123456789, c_int_u = 3000000000,
  c_bigint = -1234567890123456789, c_bigint_u = 12345678901234567890, c_bool = 1, c_int_nn = 5,
  c_float = 3.14159, c_double = 2.718281828459045, c_dec10_2 = -1234.56,
  c_dec65_30 = -12345678901234567890123456789012345.123456789012345678901234567890,
  c_dec5_0 = -7, c_dec18_9 = 123.000000001, c_dec4_4 = 0.0001, c_dec12_4_u = 1.5,
  c_year = 2024, c_date = '2024-02-29',
  c_time0 = '-12:34:56', c_time3 = '-00:00:00.500', c_time6 = '-01:02:03.000004',
  c_dt0 = '2024-02-29 12:34:56', c_dt3 = '2024-02-29 12:34:56.789', c_dt6 = '2024-02-29 12:34:56.789012',
  c_ts0 = NOW(), c_ts3 = NOW(3), c_ts6 = NOW(6),
  c_char10 = 'héllo', c_char255 = 'Zürich 東京 🚀', c_varchar10 = 'ok',
  c_varchar300 = '中文字符串 with emoji 😀🎉 and ascii', c_varchar_latin1 = 'Grüße aus Ærøskøbing, café',
  c_vc_nn = 'five', c_binary4 = x'01020304', c_varbinary20 = x'000102FEFF',
  c_tinyblob = x'00FF', c_blob = 'short blob', c_mediumblob = x'DEADBEEF', c_longblob = 'longblob',
  c_tinytext = 'tiny', c_text = REPEAT('text ', 100), c_mediumtext = 'ｍｅｄｉｕｍ', c_longtext = '長いテキスト',
  c_enum = 'b', c_enum300 = 'e256', c_set = 'x,z', c_set12 = 's2,s9,s12',
  c_bit1 = b'1', c_bit17 = b'10000000000000001', c_bit64 = x'8000000000000001',
  c_json = '{"id": 5, "tags": ["a", "b"], "price": 12.50}',
  c_geometry = ST_GeomFromText('LINESTRING(0 0,1 1,2 4)'), c_point = ST_PointFromText('POINT(1.5 -2.25)'),
  c_inet6 = '2001:db8::ff00:42:8329', c_inet4 = '192.0.2.1', c_uuid = '123e4567-e89b-12d3-a456-426614174000';

-- rows 6 and 7: one multi-row INSERT, other columns default/NULL
INSERT INTO fx.all_types (id, c_int, c_varchar10, c_enum, c_set) VALUES (6, 6, 'six', 'a', 'x'), (7, 7, 'seven', 'b', 'y,z');

SET timestamp = 1700000060;
-- values changed in place
UPDATE fx.all_types SET c_varchar300 = '更新された 😀', c_int = c_int + 1, c_dt6 = '2024-01-01 00:00:00.5',
  c_json = JSON_SET(c_json, '$.id', 55), c_ts6 = NOW(6), c_bit17 = b'1' WHERE id = 5;
-- NULL -> value
UPDATE fx.all_types SET c_int = 1, c_varchar10 = 'was null', c_dec65_30 = 0.000000000000000000000000000001,
  c_bit64 = b'1', c_enum = 'a', c_time6 = '-00:00:00.000001', c_uuid = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee' WHERE id = 4;
-- value -> NULL
UPDATE fx.all_types SET c_int = NULL, c_date = NULL, c_blob = NULL, c_inet6 = NULL, c_json = NULL WHERE id = 3;
-- one statement, several rows
UPDATE fx.all_types SET c_smallint = c_smallint + 1 WHERE id IN (1, 3, 6, 7);
-- multi-statement transaction
BEGIN;
UPDATE fx.all_types SET c_text = 'in a transaction' WHERE id = 6;
INSERT INTO fx.all_types (id, c_varchar10) VALUES (8, 'eight');
DELETE FROM fx.all_types WHERE id = 7;
COMMIT;
-- deletes: one statement / two rows, then one row
SET timestamp = 1700000120;
DELETE FROM fx.all_types WHERE id IN (1, 4);
DELETE FROM fx.all_types WHERE id = 6;
