-- INSERT, COPY, UPDATE, DELETE with the same statements on heap as oracle.
CREATE TABLE m_heap (id int, grp int, amount numeric, note text);
CREATE TABLE m_aegis (LIKE m_heap) USING aegis;

INSERT INTO m_heap SELECT g, g % 17, g * 1.5, 'note ' || g FROM generate_series(1, 20000) g;
INSERT INTO m_aegis SELECT g, g % 17, g * 1.5, 'note ' || g FROM generate_series(1, 20000) g;

-- COPY (multi-insert) round trip
\getenv abs_builddir PG_ABS_BUILDDIR
\set copyfile :abs_builddir '/results/tam_dml_copy.csv'
COPY (SELECT g, g % 5, g / 3.0, repeat('x', g % 50) FROM generate_series(20001, 30000) g) TO :'copyfile' CSV;
COPY m_heap FROM :'copyfile' CSV;
COPY m_aegis FROM :'copyfile' CSV;

CREATE FUNCTION m_diff() RETURNS TABLE (only_heap bigint, only_aegis bigint) LANGUAGE sql AS $$
  SELECT (SELECT count(*) FROM (SELECT * FROM m_heap EXCEPT ALL SELECT * FROM m_aegis) a),
         (SELECT count(*) FROM (SELECT * FROM m_aegis EXCEPT ALL SELECT * FROM m_heap) b)
$$;
SELECT * FROM m_diff();
SELECT count(*), sum(amount), count(DISTINCT note) FROM m_aegis;

-- single-row and multi-row updates; same page and page-changing updates
UPDATE m_heap SET amount = amount + 1 WHERE grp = 3;
UPDATE m_aegis SET amount = amount + 1 WHERE grp = 3;
UPDATE m_heap SET note = repeat('long', 200) WHERE id % 1000 = 0;
UPDATE m_aegis SET note = repeat('long', 200) WHERE id % 1000 = 0;
UPDATE m_heap SET id = -id WHERE id BETWEEN 100 AND 200;
UPDATE m_aegis SET id = -id WHERE id BETWEEN 100 AND 200;
SELECT * FROM m_diff();

-- the same row updated many times in one transaction (combo CIDs)
BEGIN;
UPDATE m_aegis SET amount = amount + 1 WHERE id = 5;
UPDATE m_aegis SET amount = amount + 1 WHERE id = 5;
UPDATE m_aegis SET amount = amount + 1 WHERE id = 5;
SELECT amount FROM m_aegis WHERE id = 5;
COMMIT;
UPDATE m_heap SET amount = amount + 3 WHERE id = 5;
SELECT * FROM m_diff();

-- rows inserted and updated/deleted in the same transaction
BEGIN;
INSERT INTO m_aegis VALUES (-1, 0, 0, 'tmp');
UPDATE m_aegis SET note = 'tmp2' WHERE id = -1;
DELETE FROM m_aegis WHERE id = -1;
SELECT count(*) FROM m_aegis WHERE id = -1;
COMMIT;

-- deletes
DELETE FROM m_heap WHERE grp IN (1, 2) OR id % 97 = 0;
DELETE FROM m_aegis WHERE grp IN (1, 2) OR id % 97 = 0;
SELECT * FROM m_diff();

-- RETURNING, and a command that sees its own earlier changes
UPDATE m_aegis SET grp = 100 WHERE id = 7 RETURNING id, grp, amount;
WITH moved AS (DELETE FROM m_aegis WHERE grp = 100 RETURNING *)
  INSERT INTO m_aegis SELECT id, 101, amount, note FROM moved RETURNING id, grp;
UPDATE m_heap SET grp = 101 WHERE id = 7;
SELECT * FROM m_diff();

-- a statement does not see its own inserts (Halloween problem)
INSERT INTO m_aegis SELECT id + 100000, grp, amount, note FROM m_aegis WHERE grp = 4;
INSERT INTO m_heap SELECT id + 100000, grp, amount, note FROM m_heap WHERE grp = 4;
SELECT * FROM m_diff();

-- ctid scans
SELECT id FROM m_aegis WHERE ctid = '(0,4)';
SELECT count(*) FROM m_aegis WHERE ctid >= '(0,1)';

-- cursors, forward and backward
BEGIN;
DECLARE c SCROLL CURSOR FOR SELECT id FROM m_aegis WHERE id BETWEEN 300 AND 305 ORDER BY id;
FETCH 2 FROM c;
FETCH BACKWARD 1 FROM c;
FETCH LAST FROM c;
COMMIT;
BEGIN;
DECLARE c2 SCROLL CURSOR FOR SELECT id FROM m_aegis WHERE grp = 6;
FETCH FORWARD 3 FROM c2;
FETCH BACKWARD 2 FROM c2;
COMMIT;

-- WHERE CURRENT OF
BEGIN;
DECLARE c3 CURSOR FOR SELECT id FROM m_aegis WHERE id = 301 FOR UPDATE;
FETCH c3;
UPDATE m_aegis SET note = 'via cursor' WHERE CURRENT OF c3;
COMMIT;
SELECT note FROM m_aegis WHERE id = 301;

-- SELECT FOR UPDATE / SHARE and NOWAIT in a single session
BEGIN;
SELECT id FROM m_aegis WHERE id = 302 FOR UPDATE;
SELECT id FROM m_aegis WHERE id = 302 FOR SHARE;
SELECT id FROM m_aegis WHERE id = 302 FOR KEY SHARE NOWAIT;
UPDATE m_aegis SET grp = 1 WHERE id = 302;
COMMIT;
SELECT grp FROM m_aegis WHERE id = 302;

-- TABLESAMPLE returns rows of the table
SELECT count(*) > 0 AS sampled FROM m_aegis TABLESAMPLE SYSTEM (50) REPEATABLE (1);
SELECT count(*) > 0 AS sampled FROM m_aegis TABLESAMPLE BERNOULLI (10) REPEATABLE (1);

-- parallel sequential scan gives the same answer
SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
EXPLAIN (COSTS OFF) SELECT count(*) FROM m_aegis;
SELECT count(*), sum(id) FROM m_aegis;
RESET ALL;
SELECT count(*), sum(id) FROM m_aegis;

-- SERIALIZABLE transactions read and write aegis tables (conflicts are in
-- test/specs/serializable.spec)
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT count(*) FROM m_aegis;
UPDATE m_aegis SET grp = grp WHERE id = 8;
COMMIT;

DROP TABLE m_heap, m_aegis;
DROP FUNCTION m_diff();
