-- SCROLL cursors over sequential scans, in every direction, on an aegis
-- table larger than the buffer pool (regress.conf: 2048 frames; this table
-- has 3000 pages), with the same statements on heap as oracle.  A scan that
-- runs off either end must start again from that end when it turns around.
CREATE TABLE cur_heap (id int, pad text);
CREATE TABLE cur_aegis (id int, pad text) USING aegis;
INSERT INTO cur_heap SELECT g, repeat('x', 1900) FROM generate_series(1, 12000) g;
INSERT INTO cur_aegis SELECT g, repeat('x', 1900) FROM generate_series(1, 12000) g;
SELECT pages > 2048 AS larger_than_pool FROM aegis_table_stats('cur_aegis');
SET enable_indexscan = off;
SET enable_bitmapscan = off;
SET max_parallel_workers_per_gather = 0;

BEGIN;
DECLARE ca SCROLL CURSOR FOR SELECT id FROM cur_aegis;
DECLARE ch SCROLL CURSOR FOR SELECT id FROM cur_heap;
-- FETCH LAST runs forward to the end, then one step back
FETCH LAST FROM ca;
FETCH LAST FROM ch;
FETCH ABSOLUTE -3 FROM ca;
FETCH ABSOLUTE -3 FROM ch;
FETCH ABSOLUTE 2 FROM ca;
FETCH ABSOLUTE 2 FROM ch;
FETCH RELATIVE 5000 FROM ca;
FETCH RELATIVE 5000 FROM ch;
FETCH RELATIVE -4999 FROM ca;
FETCH RELATIVE -4999 FROM ch;
-- off the front, then forward again
MOVE BACKWARD ALL FROM ca;
MOVE BACKWARD ALL FROM ch;
FETCH NEXT FROM ca;
FETCH NEXT FROM ch;
FETCH PRIOR FROM ca;
FETCH PRIOR FROM ch;
FETCH PRIOR FROM ca;
FETCH PRIOR FROM ch;
FETCH NEXT FROM ca;
FETCH NEXT FROM ch;
-- off the end, then backward over every row
MOVE FORWARD ALL FROM ca;
MOVE FORWARD ALL FROM ch;
FETCH BACKWARD 2 FROM ca;
FETCH BACKWARD 2 FROM ch;
MOVE BACKWARD ALL FROM ca;
MOVE BACKWARD ALL FROM ch;
MOVE FORWARD ALL FROM ca;
MOVE FORWARD ALL FROM ch;
FETCH FORWARD 1 FROM ca;
FETCH FORWARD 1 FROM ch;
FETCH BACKWARD 1 FROM ca;
FETCH BACKWARD 1 FROM ch;
COMMIT;

-- the order seen backward is exactly the reverse of the order seen forward
BEGIN;
DECLARE fa SCROLL CURSOR FOR SELECT id FROM cur_aegis;
CREATE TEMP TABLE fwd AS SELECT row_number() OVER () AS n, id FROM cur_aegis;
MOVE FORWARD ALL FROM fa;
CREATE FUNCTION drain_backward(c refcursor) RETURNS SETOF int LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
  LOOP
    FETCH PRIOR FROM c INTO r;
    EXIT WHEN NOT FOUND;
    RETURN NEXT r.id;
  END LOOP;
END $$;
CREATE TEMP TABLE bwd AS SELECT row_number() OVER () AS n, x AS id FROM drain_backward('fa') x;
SELECT count(*) AS rows_backward,
       count(*) FILTER (WHERE f.id = b.id) AS in_reverse_order
  FROM fwd f JOIN bwd b ON b.n = (SELECT count(*) FROM fwd) + 1 - f.n;
COMMIT;

-- LIMIT under a backward fetch
BEGIN;
DECLARE la SCROLL CURSOR FOR SELECT id FROM cur_aegis LIMIT 10;
DECLARE lh SCROLL CURSOR FOR SELECT id FROM cur_heap LIMIT 10;
MOVE FORWARD ALL FROM la;
MOVE FORWARD ALL FROM lh;
FETCH BACKWARD 3 FROM la;
FETCH BACKWARD 3 FROM lh;
FETCH LAST FROM la;
FETCH LAST FROM lh;
COMMIT;

-- the same moves in PL/pgSQL; heap and aegis must agree
CREATE FUNCTION cursor_moves(tbl regclass) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  c refcursor;
  r record;
  out text := '';
  n int := 0;
BEGIN
  OPEN c SCROLL FOR EXECUTE format('SELECT id FROM %s', tbl);
  FETCH LAST FROM c INTO r;        out := out || 'last=' || r.id;
  FETCH ABSOLUTE -3 FROM c INTO r; out := out || ' abs-3=' || r.id;
  FETCH FIRST FROM c INTO r;       out := out || ' first=' || r.id;
  FETCH PRIOR FROM c INTO r;       out := out || ' prior_found=' || FOUND;
  FETCH NEXT FROM c INTO r;        out := out || ' next=' || r.id;
  MOVE LAST FROM c;
  MOVE NEXT FROM c;
  FETCH PRIOR FROM c INTO r;       out := out || ' prior_after_end=' || r.id;
  MOVE ABSOLUTE 0 FROM c;
  LOOP
    FETCH NEXT FROM c INTO r;
    EXIT WHEN NOT FOUND;
    n := n + 1;
  END LOOP;
  out := out || ' forward=' || n;
  n := 0;
  LOOP
    FETCH PRIOR FROM c INTO r;
    EXIT WHEN NOT FOUND;
    n := n + 1;
  END LOOP;
  out := out || ' backward=' || n;
  CLOSE c;
  RETURN out;
END $$;
SELECT cursor_moves('cur_aegis');
SELECT cursor_moves('cur_aegis') = cursor_moves('cur_heap') AS same_as_heap;

-- a table that fits in one page, and an empty one
CREATE TABLE cur_small (id int) USING aegis;
INSERT INTO cur_small VALUES (1), (2), (3);
SELECT cursor_moves('cur_small');
CREATE TABLE cur_empty (id int) USING aegis;
BEGIN;
DECLARE ce SCROLL CURSOR FOR SELECT id FROM cur_empty;
FETCH LAST FROM ce;
FETCH BACKWARD 1 FROM ce;
FETCH NEXT FROM ce;
COMMIT;

RESET enable_indexscan;
RESET enable_bitmapscan;
RESET max_parallel_workers_per_gather;
DROP TABLE cur_heap, cur_aegis, cur_small, cur_empty;
DROP FUNCTION cursor_moves(regclass), drain_backward(refcursor);
-- TID range scans read only the pages of the range, in both directions,
-- and agree with a sequential scan filtering on ctid
CREATE TABLE tr (id int, pad text) USING aegis;
INSERT INTO tr SELECT g, repeat('t', 200) FROM generate_series(1, 2000) g;
EXPLAIN (COSTS OFF) SELECT count(*) FROM tr WHERE ctid >= '(3,5)' AND ctid < '(7,2)';
SELECT count(*), min(id), max(id) FROM tr WHERE ctid >= '(3,5)' AND ctid < '(7,2)';
SELECT count(*), min(id), max(id) FROM tr WHERE ctid > '(40,0)';
SELECT count(*) FROM tr WHERE ctid < '(0,1)';
SELECT count(*) FROM tr WHERE ctid > '(100000,1)';
SET enable_tidscan = off;
SELECT count(*), min(id), max(id) FROM tr WHERE ctid >= '(3,5)' AND ctid < '(7,2)';
SELECT count(*), min(id), max(id) FROM tr WHERE ctid > '(40,0)';
RESET enable_tidscan;
BEGIN;
DECLARE trc SCROLL CURSOR FOR SELECT id FROM tr WHERE ctid BETWEEN '(2,1)' AND '(2,4)';
FETCH ALL trc;
FETCH BACKWARD ALL trc;
FETCH FIRST trc;
FETCH LAST trc;
COMMIT;
DROP TABLE tr;
-- Many pins at once: 200 cursors, each holding a pin on its own page (the
-- backend's pin table grows past its first 64 slots); a savepoint's abort
-- releases the pins of the cursors opened in it and keeps the outer ones'
-- (a pin lost or kept too long: a WARNING at commit, a wrong row, or a
-- DROP that waits for its own pin)
CREATE TABLE manypins (id int, pad text) USING aegis;
INSERT INTO manypins SELECT g, repeat('p', 3000) FROM generate_series(1, 400) g;
SELECT count(DISTINCT (ctid::text::point)[0]) AS pages FROM manypins;
CREATE FUNCTION open_pins(prefix text, n int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
	c refcursor;
	r int;
	total int := 0;
BEGIN
	FOR i IN 1..n LOOP
		c := prefix || i;
		OPEN c FOR EXECUTE format('SELECT id FROM manypins WHERE ctid >= ''(%s,1)''', i - 1);
		FETCH c INTO r;
		total := total + r;
	END LOOP;
	RETURN total;
END $$;
BEGIN;
SELECT open_pins('mp', 200);
SAVEPOINT s;
SELECT open_pins('mq', 100);
FETCH mq50;
ROLLBACK TO s;
FETCH mp1;
FETCH mp150;
FETCH mp200;
CLOSE mp2;
CLOSE mp3;
FETCH mp4;
FETCH mp199;
COMMIT;
DROP TABLE manypins;
DROP FUNCTION open_pins(text, int);

-- Index scans keep the pin of the page they fetch from, from the second
-- fetch in a row there until they move to another page, as heap's keep
-- theirs: a range pins each page about twice (a pin is counted as a buffer
-- hit), not once per row.  Then cursors over index scans: one opened in a
-- savepoint that is rolled back after an error, the outer one fetched
-- across pages inside a savepoint that is rolled back, a function whose
-- index scan fails mid-way, updates of the page a cursor holds.  The outer
-- cursor goes on with the right rows, its snapshot sees the versions it
-- should, and nothing is left pinned at commit (a WARNING).
CREATE TABLE idxpins (id int PRIMARY KEY, pad text) USING aegis;
INSERT INTO idxpins SELECT g, repeat('q', 500) FROM generate_series(1, 2000) g;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT id, pad FROM idxpins WHERE id > 100 ORDER BY id;
-- rows 101-105 share a page, as do 1001-1002 (the fetches below rely on it)
SELECT count(DISTINCT (ctid::text::point)[0]) AS pages_101_105,
	   (SELECT count(DISTINCT (ctid::text::point)[0]) FROM idxpins WHERE id BETWEEN 1001 AND 1002) AS pages_1001_1002
FROM idxpins WHERE id BETWEEN 101 AND 105;
CREATE FUNCTION range_hits(lo int, hi int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE plan json;
BEGIN
	EXECUTE format('EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF, SUMMARY OFF, FORMAT JSON)
					SELECT sum(length(pad)) FROM idxpins WHERE id BETWEEN %s AND %s', lo, hi) INTO plan;
	RETURN (plan->0->'Plan'->'Plans'->0->>'Shared Hit Blocks')::int;
END $$;
SELECT range_hits(1, 300) IS NOT NULL AS warmed;
SELECT range_hits(1, 300) <= 2 * count(DISTINCT (ctid::text::point)[0]) + 10 AS pins_per_page,
	   count(*) AS rows, count(DISTINCT (ctid::text::point)[0]) > 10 AS many_pages
FROM idxpins WHERE id BETWEEN 1 AND 300;
BEGIN;
DECLARE ia CURSOR FOR SELECT id, length(pad) FROM idxpins WHERE id > 100 ORDER BY id;
FETCH 3 FROM ia;
SAVEPOINT s;
DECLARE ib CURSOR FOR SELECT id FROM idxpins WHERE id > 1000 ORDER BY id;
FETCH 2 FROM ib;
UPDATE idxpins SET pad = 'u' WHERE id BETWEEN 100 AND 110;
SELECT id / 0 FROM idxpins WHERE id = 1500;
ROLLBACK TO s;
FETCH 3 FROM ia;
DO $$
DECLARE r record;
BEGIN
	FOR r IN SELECT id FROM idxpins WHERE id > 500 ORDER BY id LOOP
		IF r.id = 520 THEN
			RAISE EXCEPTION 'stop at %', r.id;
		END IF;
	END LOOP;
EXCEPTION WHEN raise_exception THEN
	RAISE NOTICE 'caught: %', SQLERRM;
END $$;
UPDATE idxpins SET pad = 'v' WHERE id BETWEEN 104 AND 120;
UPDATE idxpins SET pad = 'w' WHERE id BETWEEN 104 AND 120;
FETCH 3 FROM ia;
SELECT count(*), sum(length(pad)) FROM idxpins WHERE id BETWEEN 100 AND 130;
-- the outer cursor moves to other pages inside a savepoint: its pin belongs
-- to its portal, and the savepoint's abort leaves it
SAVEPOINT s3;
MOVE 40 IN ia;
FETCH 2 FROM ia;
SELECT 1 / 0;
ROLLBACK TO s3;
FETCH 2 FROM ia;
SAVEPOINT s2;
DECLARE ic CURSOR FOR SELECT id, pad, length(pad) FROM idxpins WHERE id >= 104 ORDER BY id;
FETCH 2 FROM ic;
RELEASE s2;
FETCH 2 FROM ic;
COMMIT;
SELECT count(*), sum(length(pad)) FROM idxpins;
RESET enable_seqscan;
RESET enable_bitmapscan;
DROP TABLE idxpins;
DROP FUNCTION range_hits(int, int);
