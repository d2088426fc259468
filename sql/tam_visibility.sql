-- The visibility map: VACUUM marks pages whose rows all transactions see;
-- index-only scans then skip the table (Heap Fetches: 0) and the planner
-- counts them (relallvisible).  Every change that could hide a row clears
-- the mark first, so index-only scans never return a row they should not.
CREATE TABLE vm (id int PRIMARY KEY, k int, pad text) USING aegis;
CREATE INDEX vm_k ON vm (k);
INSERT INTO vm SELECT g, g % 50, repeat('p', 60) FROM generate_series(1, 20000) g;
-- a function that runs a query and reports the index-only scan's heap fetches
CREATE FUNCTION vm_fetches(q text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	plan json;
BEGIN
	EXECUTE 'EXPLAIN (ANALYZE, FORMAT JSON, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || q INTO plan;
	RETURN (plan -> 0 -> 'Plan' -> 'Plans' -> 0 ->> 'Heap Fetches')::bigint;
END $$;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
-- before VACUUM nothing is all-visible
SELECT vm_fetches('SELECT count(id) FROM vm WHERE id <= 5000') AS fetches_before;
VACUUM vm;
SELECT relallvisible = relpages AND relpages > 0 AS all_pages_visible FROM pg_class WHERE relname = 'vm';
SELECT pg_relation_size('vm', 'vm') > 0 AS has_map;
SELECT vm_fetches('SELECT count(id) FROM vm WHERE id <= 5000') AS fetches_after_vacuum;
SELECT count(id) FROM vm WHERE id <= 5000;
-- a row lock hides no row: the pages stay all-visible
SELECT count(*) FROM (SELECT id FROM vm WHERE id <= 100 FOR KEY SHARE) l;
SELECT vm_fetches('SELECT count(id) FROM vm WHERE id <= 5000') AS fetches_after_lock;
-- DELETE, UPDATE, and an INSERT rolled back: the index-only scan sees
-- exactly what a sequential scan sees
DELETE FROM vm WHERE id % 100 = 1;
UPDATE vm SET k = k + 1 WHERE id % 100 = 2;
BEGIN;
INSERT INTO vm SELECT g, 7, 'rolled back' FROM generate_series(30001, 30100) g;
ROLLBACK;
SELECT count(id), sum(id) FROM vm WHERE id <= 40000;
SELECT count(k), sum(k) FROM vm WHERE k BETWEEN 0 AND 100;
SELECT vm_fetches('SELECT count(id) FROM vm WHERE id <= 40000') > 0 AS fetches_after_changes;
RESET enable_seqscan;
RESET enable_bitmapscan;
SET enable_indexscan = off;
SET enable_indexonlyscan = off;
SET enable_bitmapscan = off;
SELECT count(id), sum(id) FROM vm WHERE id <= 40000;
SELECT count(k), sum(k) FROM vm WHERE k BETWEEN 0 AND 100;
RESET ALL;
-- a second VACUUM removes the dead rows and marks their pages again
VACUUM vm;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT vm_fetches('SELECT count(id) FROM vm WHERE id <= 40000') AS fetches_after_second_vacuum;
SELECT count(id), sum(id) FROM vm WHERE id <= 40000;
RESET ALL;
SELECT relallvisible = relpages AS all_pages_visible FROM pg_class WHERE relname = 'vm';
-- SET TABLESPACE keeps the map with the pages
SET allow_in_place_tablespaces = on;
CREATE TABLESPACE vm_ts LOCATION '';
ALTER TABLE vm SET TABLESPACE vm_ts;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT vm_fetches('SELECT count(id) FROM vm WHERE id <= 40000') AS fetches_after_set_tablespace;
SELECT count(id), sum(id) FROM vm WHERE id <= 40000;
RESET ALL;
-- TRUNCATE in the transaction that moved the table empties the copied map
-- too: index-only scans then never trust marks of the old pages
CREATE TABLE vmt (id int PRIMARY KEY) USING aegis;
INSERT INTO vmt SELECT generate_series(1, 1000);
VACUUM vmt;
BEGIN;
ALTER TABLE vmt SET TABLESPACE vm_ts;
TRUNCATE vmt;
INSERT INTO vmt SELECT generate_series(1, 10);
COMMIT;
DELETE FROM vmt WHERE id <= 5;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT count(id), sum(id) FROM vmt WHERE id > 0;
RESET ALL;
DROP TABLE vmt;
-- moving back leaves nothing behind in the tablespace: it can be dropped
ALTER TABLE vm SET TABLESPACE pg_default;
DROP TABLESPACE vm_ts;
SELECT count(*) FROM vm;
-- a memory-backend table keeps no map (its pages vanish at a restart)
CREATE TABLE vm_mem (id int PRIMARY KEY) USING aegis WITH (storage_backend = memory);
INSERT INTO vm_mem SELECT generate_series(1, 1000);
VACUUM vm_mem;
SELECT relallvisible FROM pg_class WHERE relname = 'vm_mem';
DROP TABLE vm, vm_mem;
DROP FUNCTION vm_fetches(text);
