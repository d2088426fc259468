-- B-tree indexes: build, scans, unique and primary keys, constraints.
CREATE TABLE ix (id int, k int, v text) USING aegis;
INSERT INTO ix SELECT g, g % 1000, 'v' || g FROM generate_series(1, 50000) g;
CREATE INDEX ix_k ON ix (k);
CREATE UNIQUE INDEX ix_id ON ix (id);
ANALYZE ix;

SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT * FROM ix WHERE id = 4242;
SELECT * FROM ix WHERE id = 4242;
SELECT count(*), min(id), max(id) FROM ix WHERE k = 7;
-- index-only scan falls back to table fetches (no visibility map)
EXPLAIN (COSTS OFF) SELECT id FROM ix WHERE id BETWEEN 100 AND 110;
SELECT id FROM ix WHERE id BETWEEN 100 AND 110;
RESET enable_bitmapscan;
SET enable_indexscan = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM ix WHERE k < 5;
SELECT count(*) FROM ix WHERE k < 5;
RESET ALL;

-- unique violations, before and after updates
INSERT INTO ix VALUES (4242, 0, 'dup');
UPDATE ix SET id = 4243 WHERE id = 4242;
-- a deleted key can be reused; an updated row's old key can be reused
DELETE FROM ix WHERE id = 10;
INSERT INTO ix VALUES (10, 10, 'again');
UPDATE ix SET id = -11 WHERE id = 11;
INSERT INTO ix VALUES (11, 11, 'again');
SELECT id, v FROM ix WHERE id IN (10, 11, -11) ORDER BY id;
-- the same key deleted and re-inserted in one transaction
BEGIN;
DELETE FROM ix WHERE id = 12;
INSERT INTO ix VALUES (12, 12, 'same xact');
COMMIT;
SELECT v FROM ix WHERE id = 12;
-- a unique index over existing duplicates fails
\set VERBOSITY terse
CREATE UNIQUE INDEX ix_k_unique ON ix (k);
\set VERBOSITY default

-- primary key, unique constraint, check, not null, foreign keys
CREATE TABLE parent (pid int PRIMARY KEY, name text UNIQUE) USING aegis;
CREATE TABLE child (cid serial PRIMARY KEY, pid int REFERENCES parent ON DELETE CASCADE,
                    qty int CHECK (qty > 0) NOT NULL) USING aegis;
INSERT INTO parent SELECT g, 'p' || g FROM generate_series(1, 100) g;
INSERT INTO child (pid, qty) SELECT g % 100 + 1, g FROM generate_series(1, 1000) g;
INSERT INTO parent VALUES (1, 'again');
INSERT INTO parent VALUES (1000, 'p1');
INSERT INTO child (pid, qty) VALUES (5000, 1);
INSERT INTO child (pid, qty) VALUES (1, 0);
INSERT INTO child (pid, qty) VALUES (1, NULL);
DELETE FROM parent WHERE pid <= 10;
SELECT count(*) FROM child;
-- foreign keys between aegis and heap tables
CREATE TABLE heap_child (pid int REFERENCES parent);
INSERT INTO heap_child VALUES (50);
INSERT INTO heap_child VALUES (5);
CREATE TABLE heap_parent (id int PRIMARY KEY);
INSERT INTO heap_parent VALUES (1);
CREATE TABLE aegis_child (id int REFERENCES heap_parent) USING aegis;
INSERT INTO aegis_child VALUES (1);
INSERT INTO aegis_child VALUES (2);

-- expression and partial indexes
CREATE INDEX ix_lower ON ix (lower(v));
CREATE INDEX ix_partial ON ix (k) WHERE k > 990;
SET enable_seqscan = off;
SELECT count(*) FROM ix WHERE lower(v) = 'v999';
SELECT count(*) FROM ix WHERE k > 995;
RESET enable_seqscan;
SELECT count(*) FROM ix WHERE k > 995;

-- index scans agree with a sequential scan after many updates
UPDATE ix SET k = k + 1 WHERE id % 3 = 0;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT count(*), sum(id) FROM ix WHERE k BETWEEN 10 AND 20;
RESET ALL;
SET enable_indexscan = off;
SET enable_bitmapscan = off;
SELECT count(*), sum(id) FROM ix WHERE k BETWEEN 10 AND 20;
RESET ALL;

-- REINDEX, CREATE INDEX CONCURRENTLY and REINDEX CONCURRENTLY (also with
-- parallel workers); the indexes are valid and hold every row (amcheck)
CREATE EXTENSION IF NOT EXISTS amcheck;
REINDEX TABLE ix;
SELECT count(*) FROM ix WHERE id > 49990;
CREATE INDEX CONCURRENTLY ix_conc ON ix (v);
CREATE UNIQUE INDEX CONCURRENTLY ix_conc_id ON ix (id);
ALTER TABLE ix SET (parallel_workers = 2);
SET max_parallel_maintenance_workers = 2;
CREATE INDEX CONCURRENTLY ix_conc_k ON ix (k, id);
RESET max_parallel_maintenance_workers;
REINDEX TABLE CONCURRENTLY ix;
SELECT c.relname, i.indisvalid, i.indisready FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE i.indrelid = 'ix'::regclass AND c.relname LIKE 'ix_conc%' ORDER BY 1;
SELECT bt_index_check('ix_conc', true), bt_index_check('ix_conc_id', true),
	bt_index_parent_check('ix_conc_k', true);
-- a unique index over duplicates fails and stays invalid, as on heap
INSERT INTO ix (id, k, v) SELECT id + 100000, k, v FROM ix WHERE id = 7;
CREATE UNIQUE INDEX CONCURRENTLY ix_conc_dup ON ix (k, v);
SELECT indisvalid FROM pg_index WHERE indexrelid = 'ix_conc_dup'::regclass;
DROP INDEX ix_conc_dup;

-- other index types over aegis tables
CREATE INDEX ix_hash ON ix USING hash (v);
CREATE INDEX ix_brin ON ix USING brin (id);
SET enable_seqscan = off;
SELECT count(*) FROM ix WHERE v = 'v77';
SELECT count(*) FROM ix WHERE id BETWEEN 1000 AND 1100;
RESET enable_seqscan;

DROP TABLE child, heap_child, aegis_child, heap_parent, parent, ix;
