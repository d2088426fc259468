-- Each codec stores blocks that read back identically, and compresses.
CREATE TABLE bc_src AS
  SELECT g AS id, (g % 100) AS k, 'payload ' || (g % 1000) || ' ' || repeat('abc', g % 10) AS t
  FROM generate_series(1, 50000) g;
CREATE TABLE bc_none (LIKE bc_src) USING aegis WITH (compression = 'none');
CREATE TABLE bc_lz4 (LIKE bc_src) USING aegis WITH (compression = 'lz4');
CREATE TABLE bc_lz4hc (LIKE bc_src) USING aegis WITH (compression = 'lz4', compression_level = 9);
CREATE TABLE bc_zstd (LIKE bc_src) USING aegis WITH (compression = 'zstd');
CREATE TABLE bc_zstd19 (LIKE bc_src) USING aegis WITH (compression = 'zstd', compression_level = 19);
CREATE TABLE bc_zstdfast (LIKE bc_src) USING aegis WITH (compression = 'zstd', compression_level = -5);
INSERT INTO bc_none SELECT * FROM bc_src;
INSERT INTO bc_lz4 SELECT * FROM bc_src;
INSERT INTO bc_lz4hc SELECT * FROM bc_src;
INSERT INTO bc_zstd SELECT * FROM bc_src;
INSERT INTO bc_zstd19 SELECT * FROM bc_src;
INSERT INTO bc_zstdfast SELECT * FROM bc_src;
-- write every page back (the buffer pool is 16 MB, tables are ~3 MB each)
SELECT aegis_checkpoint();
SELECT table_name, compression, compression_level, pages = stored_blocks AS all_stored,
       compression_ratio > 1.5 AS compressed, compression = 'none' AND compression_ratio < 1.01 AS raw
FROM aegis_tables WHERE table_name::text LIKE 'bc_%' ORDER BY 1;
-- zstd compresses better than lz4 on the same pages
SELECT (SELECT stored_bytes FROM aegis_table_stats('bc_zstd')) < (SELECT stored_bytes FROM aegis_table_stats('bc_lz4')) AS zstd_smaller;
-- reading every page back through decompression gives the same rows
SELECT 'bc_' || c AS tab,
       (SELECT count(*) FROM (SELECT * FROM bc_src EXCEPT ALL SELECT * FROM bc_none) x) AS diff_none
FROM (VALUES ('none')) v(c);
SELECT count(*) FROM (SELECT * FROM bc_src EXCEPT ALL SELECT * FROM bc_lz4) x;
SELECT count(*) FROM (SELECT * FROM bc_src EXCEPT ALL SELECT * FROM bc_lz4hc) x;
SELECT count(*) FROM (SELECT * FROM bc_src EXCEPT ALL SELECT * FROM bc_zstd) x;
SELECT count(*) FROM (SELECT * FROM bc_src EXCEPT ALL SELECT * FROM bc_zstd19) x;
SELECT count(*) FROM (SELECT * FROM bc_src EXCEPT ALL SELECT * FROM bc_zstdfast) x;
DROP TABLE bc_src, bc_none, bc_lz4, bc_lz4hc, bc_zstd, bc_zstd19, bc_zstdfast;
