-- Data types, NULLs and wide rows round-trip exactly; heap is the oracle.
CREATE TABLE ty_heap (
  i2 smallint, i4 int, i8 bigint, f4 real, f8 double precision,
  n numeric, n2 numeric(12,3), b bool, t text, vc varchar(20), c char(5),
  by bytea, d date, ts timestamp, tstz timestamptz, iv interval,
  u uuid, j json, jb jsonb, arr int[], tarr text[], pt point, inet_c inet,
  r int4range
);
CREATE TABLE ty_aegis (LIKE ty_heap) USING aegis;

INSERT INTO ty_heap
SELECT g::smallint, g, g::bigint * 1000000007, g / 7.0, g / 3.0,
       (g::numeric ^ 3) / 11, (g * 1.234)::numeric(12,3), g % 2 = 0,
       CASE WHEN g % 5 = 0 THEN NULL ELSE 'text ' || g END,
       'vc' || g, 'c' || (g % 10), decode(md5(g::text), 'hex'),
       DATE '2000-01-01' + g, TIMESTAMP '2000-01-01' + g * interval '1 hour',
       TIMESTAMPTZ '2000-01-01 00:00+00' + g * interval '1 minute', g * interval '1 second',
       md5(g::text)::uuid,
       json_build_object('k', g, 'arr', json_build_array(g, g + 1)),
       jsonb_build_object('k', g, 'nested', jsonb_build_object('x', g % 3, 's', 'str' || g)),
       ARRAY[g, g * 2, NULL], ARRAY['a' || g, NULL, 'c'], point(g, -g),
       ('10.0.' || (g % 256) || '.' || (g % 100))::inet,
       int4range(g, g + 10)
FROM generate_series(1, 3000) g;
INSERT INTO ty_heap (i4) VALUES (NULL), (-1);
INSERT INTO ty_heap DEFAULT VALUES;
INSERT INTO ty_aegis SELECT * FROM ty_heap;

SELECT count(*) FROM ty_aegis;
-- every row, compared through its text form (json has no equality operator)
SELECT (SELECT count(*) FROM (SELECT h::text FROM ty_heap h EXCEPT ALL SELECT a::text FROM ty_aegis a) x) AS only_heap,
       (SELECT count(*) FROM (SELECT a::text FROM ty_aegis a EXCEPT ALL SELECT h::text FROM ty_heap h) x) AS only_aegis;
-- exact values of one row
SELECT i2, i4, i8, n, n2, b, t, vc, c, d, ts, iv, jb, arr, tarr, r FROM ty_aegis WHERE i4 = 42;
-- all-NULL row and per-column NULL counts equal heap
SELECT count(*) FILTER (WHERE t IS NULL), count(*) FILTER (WHERE i2 IS NULL),
       count(*) FILTER (WHERE jb IS NULL) FROM ty_aegis;
SELECT count(*) FILTER (WHERE t IS NULL), count(*) FILTER (WHERE i2 IS NULL),
       count(*) FILTER (WHERE jb IS NULL) FROM ty_heap;
-- jsonb operators and aggregates
SELECT sum((jb->>'k')::int), count(*) FILTER (WHERE jb @> '{"nested": {"x": 1}}') FROM ty_aegis;
SELECT sum((jb->>'k')::int), count(*) FILTER (WHERE jb @> '{"nested": {"x": 1}}') FROM ty_heap;
-- numeric aggregates to the last digit
SELECT sum(n), avg(n2), sum(f8)::numeric(20,6) FROM ty_aegis;
SELECT sum(n), avg(n2), sum(f8)::numeric(20,6) FROM ty_heap;

-- a table with many columns (wide row, null bitmap over several bytes)
DO $$
BEGIN
  EXECUTE (SELECT 'CREATE TABLE wide_aegis (' || string_agg('c' || g || ' int', ', ') || ') USING aegis'
           FROM generate_series(1, 200) g);
  EXECUTE (SELECT 'INSERT INTO wide_aegis SELECT ' ||
                  string_agg(CASE WHEN g % 3 = 0 THEN 'NULL' ELSE 's + ' || g END, ', ') ||
                  ' FROM generate_series(1, 500) s' FROM generate_series(1, 200) g);
END $$;
SELECT count(*), sum(c1), sum(c200), count(c3), count(c199) FROM wide_aegis;
-- widest row that fits a page without TOAST
CREATE TABLE plain_aegis (a text) USING aegis;
ALTER TABLE plain_aegis ALTER COLUMN a SET STORAGE PLAIN;
INSERT INTO plain_aegis VALUES (repeat('p', 8000));
SELECT length(a) FROM plain_aegis;
INSERT INTO plain_aegis VALUES (repeat('p', 9000));	-- too big for a page

DROP TABLE ty_heap, ty_aegis, wide_aegis, plain_aegis;
