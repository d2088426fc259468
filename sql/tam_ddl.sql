-- Storage lifecycle: CREATE, TRUNCATE, DROP, rollback of each, rewrites.
CREATE TABLE d1 (id int, v text) USING aegis;
INSERT INTO d1 SELECT g, 'v' || g FROM generate_series(1, 1000) g;
SELECT count(*) FROM d1;

-- ROLLBACK of CREATE TABLE leaves no table and no storage entry
BEGIN;
CREATE TABLE d_rolled (id int) USING aegis;
INSERT INTO d_rolled SELECT generate_series(1, 100);
ROLLBACK;
SELECT to_regclass('d_rolled');

-- ROLLBACK of TRUNCATE brings the rows back
BEGIN;
TRUNCATE d1;
SELECT count(*) FROM d1;
ROLLBACK;
SELECT count(*), sum(id) FROM d1;

-- committed TRUNCATE: new relfilenode, empty, settings kept
CREATE TABLE d2 (id int) USING aegis WITH (compression = 'zstd');
INSERT INTO d2 SELECT generate_series(1, 500);
SELECT relfilenode AS old_node FROM pg_class WHERE relname = 'd2' \gset
TRUNCATE d2;
SELECT relfilenode <> :old_node AS new_node FROM pg_class WHERE relname = 'd2';
SELECT count(*) FROM d2;
SELECT compression, pages FROM aegis_table_stats('d2');
INSERT INTO d2 VALUES (7);
SELECT * FROM d2;

-- TRUNCATE of a table created in the same transaction (in place)
BEGIN;
CREATE TABLE d3 (id int) USING aegis;
INSERT INTO d3 SELECT generate_series(1, 300);
TRUNCATE d3;
INSERT INTO d3 VALUES (42);
SELECT * FROM d3;
COMMIT;
SELECT * FROM d3;

-- ROLLBACK of DROP TABLE keeps the rows
BEGIN;
DROP TABLE d1;
ROLLBACK;
SELECT count(*) FROM d1;

-- DROP inside a rolled-back savepoint
BEGIN;
SAVEPOINT s1;
DROP TABLE d1;
ROLLBACK TO s1;
COMMIT;
SELECT count(*) FROM d1;

-- TRUNCATE in a savepoint that rolls back, outer commit
BEGIN;
SAVEPOINT s1;
TRUNCATE d1;
ROLLBACK TO s1;
COMMIT;
SELECT count(*) FROM d1;

-- ALTER TABLE rewrite (column type change) keeps the rows
ALTER TABLE d1 ALTER COLUMN id TYPE bigint;
SELECT count(*), sum(id), pg_typeof(min(id)) FROM d1;
ALTER TABLE d1 ADD COLUMN w int DEFAULT 5;
SELECT count(*), sum(w) FROM d1;
ALTER TABLE d1 DROP COLUMN v;
SELECT * FROM d1 WHERE id = 10;
-- rewrites keep the table's codec and level (a transient table is built)
CREATE TABLE d4 (id int, v text) USING aegis WITH (compression = 'zstd', compression_level = 7);
INSERT INTO d4 SELECT g, 'v' || g FROM generate_series(1, 100) g;
ALTER TABLE d4 ALTER COLUMN id TYPE bigint;
SELECT compression, compression_level, (SELECT sum(id) FROM d4) FROM aegis_table_stats('d4');
ALTER TABLE d4 SET UNLOGGED;
ALTER TABLE d4 SET LOGGED;
SELECT compression, compression_level, (SELECT count(*) FROM d4) FROM aegis_table_stats('d4');
-- ALTER TABLE ... SET ACCESS METHOD converts between heap and aegis
ALTER TABLE d4 SET ACCESS METHOD heap;
SELECT amname, (SELECT sum(id) FROM d4) FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE relname = 'd4';
SET aegis.default_compression = 'none';
ALTER TABLE d4 SET ACCESS METHOD aegis;
RESET aegis.default_compression;
SELECT compression, (SELECT sum(id) FROM d4) FROM aegis_table_stats('d4');
DROP TABLE d4;

-- DROP SCHEMA CASCADE drops aegis tables in it
CREATE SCHEMA ds;
CREATE TABLE ds.x (a int) USING aegis;
INSERT INTO ds.x VALUES (1);
DROP SCHEMA ds CASCADE;

-- materialized view and CREATE TABLE AS on aegis
CREATE MATERIALIZED VIEW d_mv USING aegis AS SELECT id FROM d1 WHERE id <= 10;
SELECT count(*) FROM d_mv;
REFRESH MATERIALIZED VIEW d_mv;
SELECT count(*) FROM d_mv;

-- VACUUM FULL and CLUSTER rewrite the table (more in tam_rewrite)
VACUUM FULL d1;
CREATE INDEX d1_id ON d1 (id);
CLUSTER d1 USING d1_id;

-- relation size and planner estimates are realistic
ANALYZE d1;
-- pg_relation_size sees the storage stub: the logical size, rounded up to 1 MB
SELECT pg_relation_size('d1') >= pages * 8192 AND pg_relation_size('d1') < pages * 8192 + 1048576 AS size_ok
FROM aegis_table_stats('d1');
SELECT relpages > 0 AS has_pages, reltuples FROM pg_class WHERE relname = 'd1';

-- temporary and unlogged aegis tables
CREATE TEMP TABLE d_temp (a int) USING aegis;
INSERT INTO d_temp SELECT generate_series(1, 10);
SELECT sum(a) FROM d_temp;
CREATE UNLOGGED TABLE d_unlogged (a int) USING aegis;
INSERT INTO d_unlogged SELECT generate_series(1, 10);
SELECT sum(a) FROM d_unlogged;

DROP TABLE d1, d2, d3, d_temp, d_unlogged CASCADE;
