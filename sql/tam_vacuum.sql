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
