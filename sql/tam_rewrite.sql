-- VACUUM FULL and CLUSTER: rows, indexes, TOAST values and the table's
-- storage choices survive; dead rows go; CLUSTER orders the rows.
CREATE TABLE rw (id int PRIMARY KEY, k int, v text, big text, gone int)
	USING aegis WITH (compression = zstd, compression_level = 5);
CREATE INDEX rw_k ON rw (k);
INSERT INTO rw SELECT g, (g * 7919) % 1000, 'v' || g,
	CASE WHEN g % 500 = 0 THEN repeat(md5(g::text), 300) END, g
FROM generate_series(1, 20000) g;
DELETE FROM rw WHERE id % 3 = 0;
UPDATE rw SET v = v || 'u' WHERE id % 5 = 0;
ALTER TABLE rw DROP COLUMN gone;
CREATE TEMP TABLE rw_before AS SELECT * FROM rw;
SELECT relfilenode AS fn_before FROM pg_class WHERE relname = 'rw' \gset
SELECT pages AS pages_before FROM aegis_table_stats('rw') \gset

VACUUM FULL rw;
-- a new relfilenode, fewer pages, the same rows and options
SELECT relfilenode <> :fn_before AS new_storage FROM pg_class WHERE relname = 'rw';
SELECT pages < :pages_before AS smaller FROM aegis_table_stats('rw');
SELECT storage_backend, compression, compression_level FROM aegis_tables
WHERE table_name = 'rw'::regclass;
SELECT count(*) AS missing FROM (SELECT * FROM rw_before EXCEPT SELECT * FROM rw) d;
SELECT count(*) AS extra FROM (SELECT * FROM rw EXCEPT SELECT * FROM rw_before) d;
SELECT count(*), sum(length(big)) FROM rw;
-- the rebuilt indexes agree with the table
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT count(*), sum(id) FROM rw WHERE k BETWEEN 100 AND 199;
SELECT v FROM rw WHERE id = 10;
RESET ALL;
SELECT count(*), sum(id) FROM rw WHERE k BETWEEN 100 AND 199;
-- the copy froze what it could: relfrozenxid is recent
SELECT age(relfrozenxid) < 100 AS frozen FROM pg_class WHERE relname = 'rw';

-- CLUSTER by sorting, then through the index: physical order = index order
SET enable_indexscan = off;
CLUSTER rw USING rw_k;
RESET enable_indexscan;
SELECT bool_and(ok) AS ordered FROM (
	SELECT k >= lag(k, 1, k) OVER (ORDER BY ctid) AS ok FROM rw) o;
SELECT count(*) AS missing FROM (SELECT * FROM rw_before EXCEPT SELECT * FROM rw) d;
UPDATE rw SET k = 999 - k;
SET enable_sort = off;
CLUSTER rw;
RESET enable_sort;
SELECT bool_and(ok) AS ordered FROM (
	SELECT k >= lag(k, 1, k) OVER (ORDER BY ctid) AS ok FROM rw) o;
SELECT count(*), sum(k) FROM rw;
SELECT indisclustered FROM pg_index WHERE indexrelid = 'rw_k'::regclass;
-- still a normal table afterwards
INSERT INTO rw (id, k, v) VALUES (30000, 1, 'new');
UPDATE rw SET v = 'changed' WHERE id = 1;
DELETE FROM rw WHERE id = 2;
SELECT id, k, v FROM rw WHERE id IN (1, 2, 30000) ORDER BY id;

-- rewrite inside a transaction that rolls back: the old storage stays
BEGIN;
VACUUM FULL rw;	-- not allowed in a transaction block, as on heap
ROLLBACK;
BEGIN;
CLUSTER rw;
INSERT INTO rw (id, k, v) VALUES (30001, 1, 'rolled back');
ROLLBACK;
SELECT count(*) FROM rw;

-- a GiST index orders CLUSTER through the index
CREATE TABLE rw_geo (id int, p point) USING aegis;
INSERT INTO rw_geo SELECT g, point(g % 100, g / 100) FROM generate_series(1, 3000) g;
CREATE INDEX rw_geo_p ON rw_geo USING gist (p);
CLUSTER rw_geo USING rw_geo_p;
SELECT count(*), sum(id) FROM rw_geo;
SET enable_seqscan = off;
SELECT count(*) FROM rw_geo WHERE p <@ box '((0,0),(10,10))';
RESET enable_seqscan;

-- unlogged and memory-backend tables keep their kind
CREATE UNLOGGED TABLE rw_unlogged (id int) USING aegis;
INSERT INTO rw_unlogged SELECT generate_series(1, 1000);
DELETE FROM rw_unlogged WHERE id > 500;
VACUUM FULL rw_unlogged;
SELECT relpersistence, (SELECT count(*) FROM rw_unlogged) FROM pg_class WHERE relname = 'rw_unlogged';
CREATE TABLE rw_mem (id int) USING aegis WITH (storage_backend = memory);
INSERT INTO rw_mem SELECT generate_series(1, 1000);
VACUUM FULL rw_mem;
SELECT storage_backend, (SELECT count(*) FROM rw_mem) FROM aegis_tables
WHERE table_name = 'rw_mem'::regclass;

-- a database-wide VACUUM FULL goes past aegis tables to the heap tables
CREATE TABLE rw_heap (id int) USING heap;
INSERT INTO rw_heap SELECT generate_series(1, 100);
SELECT relfilenode AS heap_fn FROM pg_class WHERE relname = 'rw_heap' \gset
SELECT relfilenode AS aegis_fn FROM pg_class WHERE relname = 'rw' \gset
VACUUM FULL;
SELECT relname, relfilenode <> CASE relname WHEN 'rw' THEN :aegis_fn ELSE :heap_fn END AS rewritten
FROM pg_class WHERE relname IN ('rw', 'rw_heap') ORDER BY relname;
SELECT count(*) FROM rw;

DROP TABLE rw, rw_geo, rw_unlogged, rw_mem, rw_heap;
