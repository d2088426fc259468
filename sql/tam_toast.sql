-- Large values through the TOAST table; values from other tables' TOAST.
CREATE TABLE tt (id int, big text, doc jsonb) USING aegis;
SELECT reltoastrelid <> 0 AS has_toast FROM pg_class WHERE relname = 'tt';
SELECT reltoastrelid::regclass AS toastrel FROM pg_class WHERE relname = 'tt' \gset
INSERT INTO tt SELECT g, repeat(md5(g::text), 2000 * g), jsonb_build_object('a', repeat('z', 5000)) FROM generate_series(1, 5) g;
SELECT id, length(big), md5(big) = md5(repeat(md5(id::text), 2000 * id)) AS intact, length(doc->>'a') FROM tt ORDER BY id;
-- incompressible values really go out of line
INSERT INTO tt SELECT 6, string_agg(md5(random()::text), '') FROM generate_series(1, 1000);
SELECT count(DISTINCT chunk_id) AS toasted_values FROM :toastrel;
SELECT length(big) FROM tt WHERE id = 6;

-- values coming from a heap table's TOAST are copied, not referenced
CREATE TABLE tt_src (id int, big text);
INSERT INTO tt_src SELECT 1, string_agg(md5(g::text), '') FROM generate_series(1, 2000) g;
INSERT INTO tt SELECT 7, big FROM tt_src;
DROP TABLE tt_src;
SELECT length(big), md5(big) = (SELECT md5(string_agg(md5(g::text), '')) FROM generate_series(1, 2000) g) AS intact
FROM tt WHERE id = 7;

-- update of a toasted row: unchanged values keep working, changed ones replace
UPDATE tt SET id = id + 100 WHERE id = 3;
SELECT length(big), md5(big) = md5(repeat(md5('3'), 6000)) AS intact FROM tt WHERE id = 103;
UPDATE tt SET big = 'short now' WHERE id = 103;
SELECT big FROM tt WHERE id = 103;
-- delete removes the toasted values (after VACUUM of the toast table the chunks are gone)
SELECT count(*) AS chunks_before FROM :toastrel \gset
DELETE FROM tt WHERE id IN (1, 2, 4, 5, 6, 7);
VACUUM :toastrel;
SELECT count(*) < :chunks_before AS chunks_removed FROM :toastrel;
-- a 10 MB value
INSERT INTO tt SELECT 8, string_agg(md5(g::text), '') FROM generate_series(1, 320000) g;
SELECT id, length(big) FROM tt WHERE id = 8;
DROP TABLE tt;

-- A table whose pages are compressed keeps rows of up to a page in the page,
-- uncompressed, for the block codec (heap compresses them value by value
-- from 2 kB on); bigger rows are toasted as on heap.
CREATE TABLE tt_page (id int, v text) USING aegis WITH (compression = lz4);
CREATE TABLE tt_heap (id int, v text) USING heap;
INSERT INTO tt_page VALUES (1, repeat('abcdefgh', 750)), (2, repeat('abcdefgh', 1500));
INSERT INTO tt_heap VALUES (1, repeat('abcdefgh', 750)), (2, repeat('abcdefgh', 1500));
SELECT 'aegis' AS am, id, length(v), pg_column_compression(v) FROM tt_page
UNION ALL SELECT 'heap', id, length(v), pg_column_compression(v) FROM tt_heap ORDER BY 1, 2;
-- an UPDATE that makes a row long keeps it in the page too
INSERT INTO tt_page VALUES (3, 'short');
UPDATE tt_page SET v = repeat('ijklmnop', 700) WHERE id = 3;
SELECT id, length(v), pg_column_compression(v), v = repeat('ijklmnop', 700) AS intact
FROM tt_page WHERE id = 3;
-- rewrites keep the rule and the values
VACUUM FULL tt_page;
SELECT id, length(v), pg_column_compression(v) FROM tt_page ORDER BY id;
-- toast_tuple_target set (even to its default) asks for heap's rule
ALTER TABLE tt_page SET (toast_tuple_target = 2032);
INSERT INTO tt_page VALUES (4, repeat('abcdefgh', 750));
SELECT id, pg_column_compression(v) FROM tt_page WHERE id = 4;
ALTER TABLE tt_page RESET (toast_tuple_target);
INSERT INTO tt_page VALUES (5, repeat('abcdefgh', 750));
SELECT id, pg_column_compression(v) FROM tt_page WHERE id = 5;
-- so does a column of STORAGE EXTERNAL: out of line from 2 kB on, as on heap
SELECT reltoastrelid::regclass AS pagetoast FROM pg_class WHERE relname = 'tt_page' \gset
ALTER TABLE tt_page ALTER COLUMN v SET STORAGE EXTERNAL;
INSERT INTO tt_page VALUES (6, repeat('abcdefgh', 400));
SELECT count(DISTINCT chunk_id) AS toasted_values FROM :pagetoast;
-- and a table stored plain
CREATE TABLE tt_plain (id int, v text) USING aegis WITH (compression = none);
INSERT INTO tt_plain VALUES (1, repeat('abcdefgh', 750));
SELECT pg_column_compression(v) FROM tt_plain;
SELECT id, v = CASE id WHEN 3 THEN repeat('ijklmnop', 700)
	ELSE repeat('abcdefgh', CASE id WHEN 2 THEN 1500 WHEN 6 THEN 400 ELSE 750 END) END AS intact
FROM tt_page ORDER BY id;
DROP TABLE tt_page, tt_heap, tt_plain;
