-- INSERT ... ON CONFLICT and MERGE give heap's answers.
CREATE TABLE up_heap (k int PRIMARY KEY, v int, note text UNIQUE);
CREATE TABLE up_aegis (LIKE up_heap INCLUDING ALL) USING aegis;
CREATE FUNCTION up_diff() RETURNS TABLE (only_heap bigint, only_aegis bigint) LANGUAGE sql AS $$
  SELECT (SELECT count(*) FROM (SELECT * FROM up_heap EXCEPT ALL SELECT * FROM up_aegis) a),
         (SELECT count(*) FROM (SELECT * FROM up_aegis EXCEPT ALL SELECT * FROM up_heap) b)
$$;
INSERT INTO up_heap SELECT g, g, 'n' || g FROM generate_series(1, 1000) g;
INSERT INTO up_aegis SELECT g, g, 'n' || g FROM generate_series(1, 1000) g;

-- DO NOTHING: conflicting rows are skipped, new ones inserted
INSERT INTO up_aegis SELECT g, -g, 'x' || g FROM generate_series(990, 1010) g ON CONFLICT DO NOTHING;
INSERT INTO up_heap SELECT g, -g, 'x' || g FROM generate_series(990, 1010) g ON CONFLICT DO NOTHING;
SELECT * FROM up_diff();
SELECT count(*), sum(v) FROM up_aegis;
-- a conflict on the other unique index
INSERT INTO up_aegis VALUES (5000, 1, 'n7') ON CONFLICT DO NOTHING;
SELECT count(*) FROM up_aegis WHERE k = 5000;
-- DO UPDATE with EXCLUDED, a WHERE clause and RETURNING
INSERT INTO up_aegis SELECT g, g * 10, 'n' || g FROM generate_series(995, 1015) g
  ON CONFLICT (k) DO UPDATE SET v = up_aegis.v + EXCLUDED.v WHERE up_aegis.k % 2 = 0
  RETURNING k, v;
INSERT INTO up_heap SELECT g, g * 10, 'n' || g FROM generate_series(995, 1015) g
  ON CONFLICT (k) DO UPDATE SET v = up_heap.v + EXCLUDED.v WHERE up_heap.k % 2 = 0;
SELECT * FROM up_diff();
-- the same key twice in one command is an error, as on heap
INSERT INTO up_aegis VALUES (1, 1, 'a'), (1, 2, 'b') ON CONFLICT (k) DO UPDATE SET v = 0;
-- a killed speculative tuple leaves nothing behind: the unique index still
-- finds exactly one row per key, by index and by sequential scan
SET enable_seqscan = off;
SELECT count(*), count(DISTINCT k) FROM up_aegis WHERE k BETWEEN 990 AND 1015;
RESET enable_seqscan;
SET enable_indexscan = off;
SET enable_bitmapscan = off;
SELECT count(*), count(DISTINCT k) FROM up_aegis WHERE k BETWEEN 990 AND 1015;
RESET ALL;
-- upserts in a savepoint that rolls back
BEGIN;
SAVEPOINT s;
INSERT INTO up_aegis VALUES (7, 777, 'n7') ON CONFLICT (k) DO UPDATE SET v = 777;
INSERT INTO up_aegis VALUES (9999, 1, 'new') ON CONFLICT DO NOTHING;
ROLLBACK TO s;
COMMIT;
SELECT k, v FROM up_aegis WHERE k IN (7, 9999) ORDER BY k;
-- VACUUM removes killed speculative tuples
VACUUM up_aegis;
SELECT * FROM up_diff();

-- MERGE
MERGE INTO up_aegis t USING (SELECT g AS k FROM generate_series(1000, 1020) g) s ON t.k = s.k
  WHEN MATCHED AND t.k % 3 = 0 THEN DELETE
  WHEN MATCHED THEN UPDATE SET v = t.v + 1
  WHEN NOT MATCHED THEN INSERT VALUES (s.k, 0, 'm' || s.k);
MERGE INTO up_heap t USING (SELECT g AS k FROM generate_series(1000, 1020) g) s ON t.k = s.k
  WHEN MATCHED AND t.k % 3 = 0 THEN DELETE
  WHEN MATCHED THEN UPDATE SET v = t.v + 1
  WHEN NOT MATCHED THEN INSERT VALUES (s.k, 0, 'm' || s.k);
SELECT * FROM up_diff();
DROP TABLE up_heap, up_aegis;
DROP FUNCTION up_diff();
