-- HOT updates: an UPDATE that changes no indexed column and fits on the
-- row's page adds no index entries; index, bitmap and sequential scans see
-- the same rows; pruning keeps a much-updated row on its page; VACUUM,
-- CREATE INDEX (plain and CONCURRENTLY), REINDEX and VACUUM FULL keep the
-- chains' index entries right (amcheck's heapallindexed checks them).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS amcheck;
RESET client_min_messages;
CREATE TABLE hot (id int PRIMARY KEY, k int, v int, pad text) USING aegis
	WITH (fillfactor = 50, autovacuum_enabled = off);
CREATE INDEX hot_k ON hot (k);
INSERT INTO hot SELECT g, g % 100, 0, repeat('p', 40) FROM generate_series(1, 5000) g;
SELECT pg_relation_size('hot_pkey') AS pkey_before, pg_relation_size('hot_k') AS k_before \gset
SELECT pg_stat_force_next_flush();
SELECT n_tup_upd AS upd0, n_tup_hot_upd AS hot0 FROM pg_stat_user_tables WHERE relname = 'hot' \gset

-- v is not indexed: every update fits beside its row (fillfactor 50) and is HOT
UPDATE hot SET v = v + 1;
SELECT pg_stat_force_next_flush();
SELECT n_tup_upd - :upd0 AS updated, n_tup_hot_upd - :hot0 AS hot_updated
FROM pg_stat_user_tables WHERE relname = 'hot';
-- more rounds: pruning makes room on the page again, the indexes do not grow
UPDATE hot SET v = v + 1;
UPDATE hot SET v = v + 1;
UPDATE hot SET v = v + 1;
SELECT pg_relation_size('hot_pkey') = :pkey_before AS pkey_same_size,
	pg_relation_size('hot_k') = :k_before AS k_same_size;

-- every access path returns the newest version, once
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT count(*), sum(v), min(v), max(v) FROM hot WHERE k = 7;
SELECT id, v FROM hot WHERE id IN (1, 2500, 5000) ORDER BY id;
SET enable_indexscan = off;
SET enable_bitmapscan = on;
SELECT count(*), sum(v), min(v), max(v) FROM hot WHERE k = 7;
SELECT id, v FROM hot WHERE id IN (1, 2500, 5000) ORDER BY id;
RESET ALL;
SELECT count(*), sum(v) FROM hot WHERE k = 7;

-- one row updated many times stays on its page: pruning redirects its root
SELECT ctid AS ctid_before FROM hot WHERE id = 42 \gset
DO $$ BEGIN FOR i IN 1..300 LOOP UPDATE hot SET v = v + 1 WHERE id = 42; COMMIT; END LOOP; END $$;
SELECT (ctid::text::point)[0] = (:'ctid_before'::text::point)[0] AS same_page, v
FROM hot WHERE id = 42;
SET enable_seqscan = off;
SELECT id, v FROM hot WHERE id = 42;
RESET ALL;

-- an aborted HOT update leaves the old version visible through the index
BEGIN;
UPDATE hot SET v = -1 WHERE id BETWEEN 10 AND 20;
SAVEPOINT s;
UPDATE hot SET v = -2 WHERE id BETWEEN 10 AND 20;
ROLLBACK TO s;
SET LOCAL enable_seqscan = off;
SELECT count(*) FILTER (WHERE v = -1) AS minus_one, count(*) FILTER (WHERE v = -2) AS minus_two
FROM hot WHERE id BETWEEN 10 AND 20;
ROLLBACK;
SET enable_seqscan = off;
SELECT count(*), min(v) FROM hot WHERE id BETWEEN 10 AND 20;
RESET ALL;

-- an indexed column changed: not HOT; the old key finds nothing
SELECT pg_stat_force_next_flush();
SELECT n_tup_hot_upd AS hot1 FROM pg_stat_user_tables WHERE relname = 'hot' \gset
UPDATE hot SET k = k + 1000 WHERE id <= 100;
SELECT pg_stat_force_next_flush();
SELECT n_tup_hot_upd - :hot1 AS hot_updated FROM pg_stat_user_tables WHERE relname = 'hot';
SET enable_seqscan = off;
SELECT count(*) FROM hot WHERE k = 1;
SELECT count(*) FROM hot WHERE k = 1001;
RESET ALL;

-- an index built after HOT updates changed its column indexes the newest
-- versions under their chains' roots
CREATE INDEX hot_v ON hot (v);
SET enable_seqscan = off;
SELECT count(*) FROM hot WHERE v = 4;
SELECT id FROM hot WHERE v > 4 ORDER BY id;
RESET ALL;
SELECT bt_index_check('hot_pkey', true), bt_index_check('hot_k', true),
	bt_index_check('hot_v', true);
SELECT bt_index_parent_check('hot_v', true);

-- VACUUM removes the dead versions of the chains, keeps the live ones
VACUUM hot;
SELECT bt_index_check('hot_pkey', true), bt_index_check('hot_v', true);
SET enable_seqscan = off;
SELECT count(*), sum(v) FROM hot WHERE id > 0;
RESET ALL;
SELECT count(*), sum(v) FROM hot;

-- concurrent builds and REINDEX after more HOT updates
UPDATE hot SET pad = repeat('q', 40) WHERE id % 3 = 0;
CREATE INDEX CONCURRENTLY hot_pad ON hot (pad);
SELECT bt_index_check('hot_pad', true);
SET enable_seqscan = off;
SELECT count(*) FROM hot WHERE pad = repeat('q', 40);
RESET ALL;
REINDEX TABLE CONCURRENTLY hot;
SELECT bt_index_check('hot_pkey', true), bt_index_check('hot_v', true),
	bt_index_check('hot_pad', true);
-- VACUUM FULL writes plain rows again
VACUUM FULL hot;
SELECT bt_index_check('hot_pkey', true), bt_index_check('hot_pad', true);
SET enable_seqscan = off;
SELECT count(*), sum(v) FROM hot WHERE id > 0;
RESET ALL;

-- a table without indexes updates by HOT too
CREATE TABLE hot_noidx (a int, b int) USING aegis WITH (fillfactor = 50);
INSERT INTO hot_noidx SELECT g, 0 FROM generate_series(1, 1000) g;
SELECT pg_stat_force_next_flush();
SELECT n_tup_hot_upd AS hot2 FROM pg_stat_user_tables WHERE relname = 'hot_noidx' \gset
UPDATE hot_noidx SET b = 1;
SELECT pg_stat_force_next_flush();
SELECT n_tup_hot_upd - :hot2 AS hot_updated FROM pg_stat_user_tables WHERE relname = 'hot_noidx';
SELECT count(*), sum(b) FROM hot_noidx;
-- versions that pruning removed no longer count as dead in pgstats, as with
-- heap: autovacuum is triggered by the dead tuples VACUUM would still find
CREATE TABLE hot_dead_aegis (id int PRIMARY KEY, v int) USING aegis
	WITH (autovacuum_enabled = off);
CREATE TABLE hot_dead_heap (id int PRIMARY KEY, v int) USING heap
	WITH (autovacuum_enabled = off);
INSERT INTO hot_dead_aegis VALUES (1, 0);
INSERT INTO hot_dead_heap VALUES (1, 0);
DO $$ BEGIN FOR i IN 1..300 LOOP
	UPDATE hot_dead_aegis SET v = v + 1 WHERE id = 1;
	UPDATE hot_dead_heap SET v = v + 1 WHERE id = 1;
	COMMIT;
END LOOP; END $$;
SELECT pg_stat_force_next_flush();
SELECT relname, n_tup_hot_upd, n_dead_tup < 150 AS pruned_not_dead
FROM pg_stat_user_tables WHERE relname LIKE 'hot_dead_%' ORDER BY relname;
DROP TABLE hot_dead_aegis, hot_dead_heap;

-- a scan that meets more versions deleted before its snapshot than live
-- ones asks for the page to be pruned, which the next reader does though
-- the page is far from full: a small, much-updated table read by
-- sequential scans keeps few dead versions (without the request: 42 here)
CREATE TABLE hot_scan (id int, v int) USING aegis WITH (autovacuum_enabled = off);
INSERT INTO hot_scan VALUES (1, 0), (2, 0);
DO $$ BEGIN FOR i IN 1..20 LOOP UPDATE hot_scan SET v = v + 1; COMMIT; END LOOP; END $$;
SELECT count(*) FILTER (WHERE lp_flags = 1) < 20 AS few_versions,
	count(*) FILTER (WHERE lp_flags = 1 AND xmax = '0') AS live
FROM aegis_page_items('hot_scan', 0);
SELECT count(*), sum(v) FROM hot_scan;
DROP TABLE hot_scan;

DROP TABLE hot, hot_noidx;
