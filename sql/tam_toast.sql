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
