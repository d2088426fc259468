-- The extension installs, and its objects exist.
CREATE EXTENSION aegis_storage;
SELECT amname, amtype FROM pg_am WHERE amname = 'aegis';
SELECT proname FROM pg_proc WHERE proname LIKE 'aegis%' ORDER BY 1;
-- a table of each codec, used by later files
CREATE TABLE t_setup (id int) USING aegis;
INSERT INTO t_setup VALUES (1);
SELECT * FROM t_setup;
DROP TABLE t_setup;
