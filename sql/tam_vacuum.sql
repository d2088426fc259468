-- VACUUM removes dead rows and their index entries, frees space for reuse,
-- and freezes; ANALYZE gives the planner statistics.
CREATE TABLE vac (id int PRIMARY KEY, k int, pad text) USING aegis;
CREATE INDEX vac_k ON vac (k);
INSERT INTO vac SELECT g, g % 10, repeat('p', 100) FROM generate_series(1, 20000) g;
SELECT pages AS pages_full FROM aegis_table_stats('vac') \gset
DELETE FROM vac WHERE id % 2 = 0;
VACUUM vac;
SELECT n_live_tup, n_dead_tup FROM pg_stat_user_tables WHERE relname = 'vac';
-- the freed space is used again: re-inserting does not grow the table
INSERT INTO vac SELECT g, g % 10, repeat('p', 100) FROM generate_series(20001, 30000) g;
SELECT pages <= :pages_full AS reused_space FROM aegis_table_stats('vac');
-- index and sequential scans agree after vacuum and reuse of TIDs
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT count(*), sum(id) FROM vac WHERE k = 3;
SELECT count(*) FROM vac WHERE id BETWEEN 1 AND 30000;
RESET ALL;
SET enable_indexscan = off;
SET enable_bitmapscan = off;
SELECT count(*), sum(id) FROM vac WHERE k = 3;
RESET ALL;
-- VACUUM FREEZE advances relfrozenxid
SELECT relfrozenxid AS frozen_before FROM pg_class WHERE relname = 'vac' \gset
VACUUM FREEZE vac;
SELECT age(relfrozenxid) <= age(:'frozen_before'::xid) AS advanced FROM pg_class WHERE relname = 'vac';
-- ANALYZE fills pg_stats and pg_class
ANALYZE vac;
SELECT reltuples FROM pg_class WHERE relname = 'vac';
SELECT attname, n_distinct FROM pg_stats WHERE tablename = 'vac' AND attname = 'k';
VACUUM (ANALYZE, VERBOSE OFF) vac;
-- updated rows leave versions that VACUUM removes once nobody can see them
UPDATE vac SET k = k + 1;
VACUUM vac;
SELECT count(*) FROM vac;
SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'vac';
DROP TABLE vac;
-- opportunistic pruning: a row updated again and again in separate
-- transactions reuses the space of its dead versions without VACUUM
CREATE TABLE hotrow (id int PRIMARY KEY, v int, pad text) USING aegis WITH (compression = 'none');
ALTER TABLE hotrow SET (autovacuum_enabled = off);
INSERT INTO hotrow SELECT g, 0, repeat('h', 500) FROM generate_series(1, 10) g;
-- n single-row updates of 'tbl', each committed, cycling over nkeys ids from first
CREATE PROCEDURE churn(tbl regclass, first int, nkeys int, n int) LANGUAGE plpgsql AS $$
BEGIN
  FOR i IN 1 .. n LOOP
    EXECUTE format('UPDATE %s SET v = v + 1 WHERE id = $1', tbl) USING first + i % nkeys;
    COMMIT;
  END LOOP;
END $$;
CALL churn('hotrow', 1, 10, 3000);
-- 3000 versions of 530 bytes would need about 200 pages without pruning
SELECT pages < 30 AS pruned FROM aegis_table_stats('hotrow');
SELECT sum(v), count(*) FROM hotrow;
SET enable_seqscan = off;
SELECT sum(v), count(*) FROM hotrow WHERE id BETWEEN 1 AND 10;
RESET enable_seqscan;
-- VACUUM removes the index entries of pruned tuples and frees their TIDs
VACUUM hotrow;
SELECT sum(v), count(*) FROM hotrow;
SELECT pages < 30 AS still_small FROM aegis_table_stats('hotrow');
DROP TABLE hotrow;
-- pruned items on pages other than the first: VACUUM removes exactly their
-- index entries and TIDs, every live row stays (index and sequential scans)
CREATE TABLE pruned (id int PRIMARY KEY, v int, pad text) USING aegis WITH (compression = 'none');
ALTER TABLE pruned SET (autovacuum_enabled = off);
INSERT INTO pruned SELECT g, 0, repeat('q', 200) FROM generate_series(1, 2000) g;
CALL churn('pruned', 1000, 500, 2000);
VACUUM pruned;
CALL churn('pruned', 1000, 500, 1000);
VACUUM pruned;
SELECT count(*), sum(v), count(DISTINCT id) FROM pruned;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT count(*), sum(v) FROM pruned WHERE id BETWEEN 1 AND 2000;
RESET ALL;
DROP TABLE pruned;
DROP PROCEDURE churn(regclass, int, int, int);
-- dead rows few and far apart (index vacuuming then looks them up in
-- buckets of many pages) and two on one page: VACUUM removes exactly their
-- index entries; new rows that take their TIDs are found by their own keys
-- only, and every live row keeps its entry (amcheck)
CREATE TABLE sparse (id int PRIMARY KEY, pad text) USING aegis WITH (compression = 'none');
ALTER TABLE sparse SET (autovacuum_enabled = off);
INSERT INTO sparse SELECT g, (SELECT string_agg(md5(g::text || i::text), '') FROM generate_series(1, 55) i)
  FROM generate_series(1, 3000) g;
CREATE TEMP TABLE sparse_gone AS
  SELECT ctid AS t FROM sparse WHERE id % 250 = 0 OR id IN (1, 1001, 1002);
DELETE FROM sparse WHERE id % 250 = 0 OR id IN (1, 1001, 1002);
VACUUM sparse;
INSERT INTO sparse SELECT g, (SELECT string_agg(md5(g::text || i::text), '') FROM generate_series(1, 55) i)
  FROM generate_series(5001, 5015) g;
-- the new rows took the dead rows' TIDs (else this case tests nothing)
SELECT count(*) AS tids_reused FROM sparse WHERE id > 5000 AND ctid IN (SELECT t FROM sparse_gone);
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT count(*), sum(id) FROM sparse WHERE id <= 3000;
SELECT count(*), sum(id) FROM sparse WHERE id > 5000;
RESET ALL;
SET enable_indexscan = off;
SET enable_bitmapscan = off;
SELECT count(*), sum(id) FROM sparse WHERE id <= 3000;
RESET ALL;
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS amcheck;
RESET client_min_messages;
SELECT bt_index_check('sparse_pkey', true);
DROP TABLE sparse, sparse_gone;
-- fillfactor: inserts (and COPY's multi-insert) leave the room it asks for
CREATE TABLE ff100 (id int, pad text) USING aegis WITH (compression = 'none');
CREATE TABLE ff50 (id int, pad text) USING aegis WITH (compression = 'none', fillfactor = 50);
INSERT INTO ff100 SELECT g, repeat('f', 100) FROM generate_series(1, 5000) g;
INSERT INTO ff50 SELECT g, repeat('f', 100) FROM generate_series(1, 5000) g;
CREATE TABLE ff50c (id int, pad text DEFAULT repeat('c', 100)) USING aegis
	WITH (compression = 'none', fillfactor = 50);
COPY ff50c (id) FROM PROGRAM 'seq 1 5000';
SELECT (SELECT pages FROM aegis_table_stats('ff50c')) = (SELECT pages FROM aegis_table_stats('ff50'))
	AS copy_same_as_insert;
SELECT (SELECT pages FROM aegis_table_stats('ff50'))::float / (SELECT pages FROM aegis_table_stats('ff100'))
	BETWEEN 1.8 AND 2.2 AS half_full;
SELECT max(n) <= 38 AS per_page_ok FROM (SELECT count(*) n FROM ff50 GROUP BY (ctid::text::point)[0]) p;
-- an update may use the room fillfactor left
UPDATE ff50 SET pad = repeat('g', 100) WHERE id = 1;
SELECT (ctid::text::point)[0] = 0 AS same_page FROM ff50 WHERE id = 1;
-- VACUUM FULL keeps the room too
SELECT pages AS ff50_pages FROM aegis_table_stats('ff50') \gset
VACUUM FULL ff50;
SELECT pages BETWEEN :ff50_pages - 2 AND :ff50_pages AS rewrite_keeps_room FROM aegis_table_stats('ff50');
-- a large row still goes to a nearly empty page (hio.c's rule): space
-- VACUUM freed is used again whatever the fillfactor
CREATE TABLE ff10 (id int, pad text) USING aegis WITH (compression = 'none', fillfactor = 10);
INSERT INTO ff10 SELECT g, repeat('w', 1000) FROM generate_series(1, 50) g;
SELECT pages AS ff10_pages FROM aegis_table_stats('ff10') \gset
DELETE FROM ff10;
VACUUM ff10;
INSERT INTO ff10 SELECT g, repeat('w', 1000) FROM generate_series(1, 50) g;
SELECT pages = :ff10_pages AS reused FROM aegis_table_stats('ff10');
DROP TABLE ff100, ff50, ff50c, ff10;
-- VACUUM gives empty trailing pages back, as heap does: a table whose tail
-- was deleted keeps the pages of its rows, an emptied one shrinks to nothing
CREATE TABLE vtrunc (id int PRIMARY KEY, pad text) USING aegis WITH (compression = 'none');
CREATE TABLE vtrunc_heap (id int PRIMARY KEY, pad text) USING heap;
INSERT INTO vtrunc SELECT g, repeat('t', 100) FROM generate_series(1, 20000) g;
INSERT INTO vtrunc_heap SELECT g, repeat('t', 100) FROM generate_series(1, 20000) g;
SELECT pages AS vtrunc_pages FROM aegis_table_stats('vtrunc') \gset
DELETE FROM vtrunc WHERE id > 5000;
DELETE FROM vtrunc_heap WHERE id > 5000;
VACUUM vtrunc;
VACUUM vtrunc_heap;
SELECT pages < :vtrunc_pages / 2 AS shrunk, pages > 0 AS kept_rows,
	pages = (SELECT relpages FROM pg_class WHERE relname = 'vtrunc') AS relpages_agree,
	pg_relation_size('vtrunc') >= pages * 8192 AS stub_covers,
	pg_relation_size('vtrunc') < :vtrunc_pages * 8192 AS stub_shrunk
FROM aegis_table_stats('vtrunc');
SELECT count(*), sum(id) FROM vtrunc;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT count(*), sum(id) FROM vtrunc WHERE id > 0;
RESET enable_seqscan;
RESET enable_bitmapscan;
-- the cut pages come back as new ones
INSERT INTO vtrunc SELECT g, repeat('a', 100) FROM generate_series(20001, 40000) g;
SELECT count(*), sum(id), pg_relation_size('vtrunc') >= pages * 8192 AS stub_covers
FROM vtrunc, aegis_table_stats('vtrunc') GROUP BY pages;
-- an emptied table is 0 bytes, as heap's (the visibility map goes too)
VACUUM vtrunc;
DELETE FROM vtrunc;
DELETE FROM vtrunc_heap;
VACUUM vtrunc;
VACUUM vtrunc_heap;
SELECT pages, pg_relation_size('vtrunc') AS bytes, pg_relation_size('vtrunc', 'vm') AS vm_bytes,
	pg_relation_size('vtrunc_heap') AS heap_bytes
FROM aegis_table_stats('vtrunc');
INSERT INTO vtrunc VALUES (1, 'back');
SELECT id, pad FROM vtrunc;
SET enable_seqscan = off;
SELECT id, pad FROM vtrunc WHERE id = 1;
RESET enable_seqscan;
-- VACUUM (TRUNCATE false) and vacuum_truncate = off keep them
INSERT INTO vtrunc SELECT g, repeat('t', 100) FROM generate_series(2, 5000) g;
DELETE FROM vtrunc;
VACUUM (TRUNCATE false) vtrunc;
SELECT pages > 0 AS kept FROM aegis_table_stats('vtrunc');
ALTER TABLE vtrunc SET (vacuum_truncate = off);
VACUUM vtrunc;
SELECT pages > 0 AS kept FROM aegis_table_stats('vtrunc');
ALTER TABLE vtrunc RESET (vacuum_truncate);
VACUUM vtrunc;
SELECT pages AS cut FROM aegis_table_stats('vtrunc');
-- a few empty pages after many full ones stay (heap's thresholds)
INSERT INTO vtrunc SELECT g, repeat('t', 100) FROM generate_series(1, 20000) g;
SELECT pages AS vtrunc_pages FROM aegis_table_stats('vtrunc') \gset
DELETE FROM vtrunc WHERE id > 19900;
VACUUM vtrunc;
SELECT pages = :vtrunc_pages AS kept_few FROM aegis_table_stats('vtrunc');
DROP TABLE vtrunc, vtrunc_heap;
-- pg_relation_size is the table's pages x 8 kB, as heap's: inserts grow the
-- PostgreSQL stub by 1 MB chunks, the statement's end cuts it back
CREATE TABLE vsize (id int, pad text) USING aegis WITH (compression = 'none');
CREATE TABLE vsize_heap (id int, pad text) USING heap;
INSERT INTO vsize VALUES (1, 'x');
INSERT INTO vsize_heap VALUES (1, 'x');
SELECT pg_relation_size('vsize') AS aegis_bytes, pg_relation_size('vsize_heap') AS heap_bytes;
INSERT INTO vsize SELECT g, repeat('s', 200) FROM generate_series(2, 5000) g;
INSERT INTO vsize_heap SELECT g, repeat('s', 200) FROM generate_series(2, 5000) g;
SELECT pg_relation_size('vsize') = pages * 8192 AS exact,
	pg_relation_size('vsize') = pg_relation_size('vsize_heap') AS as_heap
FROM aegis_table_stats('vsize');
-- also inside a transaction, after each statement
BEGIN;
INSERT INTO vsize SELECT g, repeat('s', 200) FROM generate_series(1, 5000) g;
SELECT pg_relation_size('vsize') = pages * 8192 AS exact_in_transaction FROM aegis_table_stats('vsize');
COPY vsize (id) FROM PROGRAM 'seq 1 20000';
SELECT pg_relation_size('vsize') = pages * 8192 AS exact_after_copy FROM aegis_table_stats('vsize');
ROLLBACK;
SELECT pg_relation_size('vsize') = pages * 8192 AS exact_after_rollback FROM aegis_table_stats('vsize');
-- a statement that fails leaves its pages and a longer stub; VACUUM's commit cuts it
INSERT INTO vsize SELECT g, CASE WHEN g < 5000 THEN repeat('s', 200) ELSE (1 / (g - 5000))::text END
FROM generate_series(1, 5000) g;
SELECT pg_relation_size('vsize') > pages * 8192 AS longer FROM aegis_table_stats('vsize');
VACUUM (TRUNCATE false) vsize;
SELECT pg_relation_size('vsize') = pages * 8192 AS exact FROM aegis_table_stats('vsize');
-- a temporary table too
CREATE TEMP TABLE vsize_temp (id int, pad text) USING aegis;
INSERT INTO vsize_temp SELECT g, repeat('s', 200) FROM generate_series(1, 5000) g;
SELECT pg_relation_size('vsize_temp') = pages * 8192 AS exact FROM aegis_table_stats('vsize_temp');
DROP TABLE vsize, vsize_heap, vsize_temp;
-- VACUUM (PARALLEL n) of a temporary table warns as on heap
CREATE TEMP TABLE vtemp (a int PRIMARY KEY, b int) USING aegis;
CREATE INDEX ON vtemp (b);
INSERT INTO vtemp SELECT g, g FROM generate_series(1, 100) g;
VACUUM (PARALLEL 2) vtemp;
DROP TABLE vtemp;
