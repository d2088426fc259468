-- Aegis options (storage_backend, compression, compression_level) named by
-- CREATE or ALTER TABLE are recorded in pg_class.reloptions beside heap's
-- (options not named follow the aegis.* defaults, as heap's do), and ALTER
-- TABLE SET/RESET changes them by moving the table to new storage (as SET
-- TABLESPACE does).
SET aegis.default_compression = 'lz4';
SET aegis.compression_level = 0;

-- a view of what the engine uses next to what pg_class says
CREATE FUNCTION opts(rel regclass) RETURNS text LANGUAGE sql AS $$
  SELECT format('%s/%s/%s | %s', s.storage_backend, s.compression, s.compression_level,
                (SELECT reloptions FROM pg_class WHERE oid = rel))
  FROM aegis_table_stats(rel) s $$;

-- every way of creating an aegis table records them
CREATE TABLE o1 (id int PRIMARY KEY, v text) USING aegis
  WITH (compression = 'zstd', compression_level = 5, fillfactor = 90);
SELECT opts('o1');
CREATE TABLE o2 USING aegis WITH (storage_backend = 'memory') AS SELECT 1 AS a;
SELECT opts('o2');
SET default_table_access_method = aegis;
SELECT 1 AS a INTO o3;
SELECT opts('o3');
CREATE MATERIALIZED VIEW o4 WITH (compression = 'none') AS SELECT g FROM generate_series(1, 10) g;
SELECT opts('o4');
CREATE TABLE op (a int) PARTITION BY RANGE (a);
CREATE TABLE op1 PARTITION OF op FOR VALUES FROM (0) TO (100) WITH (compression_level = '3');
-- (a level is recorded with its codec: alone it could be out of range for
-- another default codec on restore)
SELECT opts('op1');
RESET default_table_access_method;
-- a table created in a subtransaction that rolls back records nothing
DO $$ BEGIN
  CREATE TABLE o_gone (a int) USING aegis;
  PERFORM 1 / 0;
EXCEPTION WHEN division_by_zero THEN
  CREATE TABLE o5 (a int) USING aegis WITH (compression = 'zstd');
END $$;
SELECT opts('o5');
SELECT count(*) FROM pg_class WHERE relname = 'o_gone';

INSERT INTO o1 SELECT g, repeat('v', 200) || g FROM generate_series(1, 5000) g;
SELECT count(*) AS n, sum(id) AS s, md5(string_agg(v, ',' ORDER BY id)) AS h FROM o1 \gset o1_

-- heap's own options still work with ours present
ALTER TABLE o1 SET (fillfactor = 70, autovacuum_enabled = off);
SELECT opts('o1');
ALTER TABLE o1 RESET (autovacuum_enabled);
SELECT opts('o1');

-- SET of an aegis option: new storage with the new codec, same rows, same TIDs
SELECT relfilenode AS node0, (SELECT stored_bytes FROM aegis_table_stats('o1')) AS bytes0
  FROM pg_class WHERE relname = 'o1' \gset
SELECT ctid AS tid0 FROM o1 WHERE id = 4321 \gset
ALTER TABLE o1 SET (compression = 'none');
SELECT opts('o1');
SELECT relfilenode <> :node0 AS moved, stored_bytes > 2 * :bytes0 AS uncompressed
  FROM pg_class, aegis_table_stats('o1') WHERE relname = 'o1';
SELECT count(*) = :o1_n AND sum(id) = :o1_s AND md5(string_agg(v, ',' ORDER BY id)) = :'o1_h' AS same_rows
  FROM o1;
SELECT ctid = :'tid0' AS same_tid FROM o1 WHERE id = 4321;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT v FROM o1 WHERE id = 4321;
SELECT v = repeat('v', 200) || 4321 AS index_finds_row FROM o1 WHERE id = 4321;
RESET enable_seqscan;
-- the codec named gets its own default level; a level alone keeps the codec
ALTER TABLE o1 SET (compression = 'lz4');
SELECT opts('o1');
ALTER TABLE o1 SET (compression_level = 9);
SELECT opts('o1');
-- other subcommands in the same statement
ALTER TABLE o1 ADD COLUMN extra int DEFAULT 7, SET (compression = 'zstd', compression_level = 1);
SELECT opts('o1'), (SELECT sum(extra) FROM o1) AS extra_sum;
-- the same values again: nothing to move
SELECT relfilenode AS node1 FROM pg_class WHERE relname = 'o1' \gset
ALTER TABLE o1 SET (compression = 'zstd', compression_level = 1);
SELECT relfilenode = :node1 AS not_moved FROM pg_class WHERE relname = 'o1';
-- storage_backend moves the rows between backends
ALTER TABLE o1 SET (storage_backend = 'memory');
SELECT opts('o1'), (SELECT count(*) FROM o1) AS n;
ALTER TABLE o1 SET (storage_backend = 'local');
SELECT opts('o1'), (SELECT count(*) FROM o1) AS n;
-- RESET goes back to the aegis.* defaults
SET aegis.default_compression = 'none';
ALTER TABLE o1 RESET (compression, fillfactor);
SELECT opts('o1');
RESET aegis.default_compression;
ALTER TABLE o1 RESET (storage_backend, compression, compression_level);
SELECT opts('o1');
-- a materialized view too
ALTER MATERIALIZED VIEW o4 SET (compression = 'zstd');
REFRESH MATERIALIZED VIEW o4;
SELECT opts('o4'), (SELECT sum(g) FROM o4);

-- rolled back: old storage and options stay
SELECT relfilenode AS node2 FROM pg_class WHERE relname = 'o1' \gset
BEGIN;
ALTER TABLE o1 SET (compression = 'zstd');
SELECT opts('o1');
ROLLBACK;
SELECT opts('o1'), relfilenode = :node2 AS same_node FROM pg_class WHERE relname = 'o1';
SELECT count(*) = :o1_n AS same_count FROM o1;

-- rewrites keep the options, SET ACCESS METHOD takes them out and back
ALTER TABLE o5 ALTER COLUMN a TYPE bigint;
SELECT opts('o5');
VACUUM FULL o5;
SELECT opts('o5');
ALTER TABLE o5 SET ACCESS METHOD heap;
SELECT reloptions FROM pg_class WHERE relname = 'o5';
ALTER TABLE o5 SET (fillfactor = 50);
ALTER TABLE o5 SET ACCESS METHOD aegis;
SELECT opts('o5');

-- refused, with the table unchanged
ALTER TABLE o1 SET (compression = 'zstd', compression_level = 3);
ALTER TABLE o1 SET (compression = 'brotli');
ALTER TABLE o1 SET (compression_level = 'high');
ALTER TABLE o1 SET (compression = 'lz4', compression_level = 40);
ALTER TABLE o1 SET (storage_backend = 'cloud');
SELECT opts('o1');
BEGIN;
DECLARE c CURSOR FOR SELECT id FROM o1;
FETCH 1 FROM c;
ALTER TABLE o1 SET (compression = 'none');
ROLLBACK;
CREATE ROLE aegis_opt_user;
GRANT ALL ON o1 TO aegis_opt_user;
SET ROLE aegis_opt_user;
ALTER TABLE o1 SET (compression = 'none');
RESET ROLE;
CREATE PUBLICATION o_pub FOR TABLE o1;
ALTER TABLE o1 SET (storage_backend = 'memory');
DROP PUBLICATION o_pub;
CREATE PUBLICATION o_pub FOR TABLES IN SCHEMA public;
ALTER TABLE o1 SET (storage_backend = 'memory');
DROP PUBLICATION o_pub;
-- PostgreSQL's checks of ALTER TABLE apply
BEGIN READ ONLY;
ALTER TABLE o1 SET (compression = 'none');
ROLLBACK;
ALTER VIEW o1 SET (compression = 'none');
ALTER TABLE o1 RESET (compression = 'none');
ALTER TABLE o1 SET (compression = 'none', compression = 'lz4');
ALTER TABLE o1 SET (compression_level = '3.7');
SELECT opts('o1');
-- subcommands apply in order
ALTER TABLE o1 SET (compression = 'none'), RESET (compression);
SELECT opts('o1');
-- an event trigger that drops the table at the end of the statement
CREATE FUNCTION o_drop_it() RETURNS event_trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_class WHERE relname = 'o_victim') THEN
    DROP TABLE o_victim;
  END IF;
END $$;
CREATE EVENT TRIGGER o_drop_it ON ddl_command_end WHEN TAG IN ('ALTER TABLE')
  EXECUTE FUNCTION o_drop_it();
CREATE TABLE o_victim (a int) USING aegis;
ALTER TABLE o_victim ADD COLUMN b int, SET (compression = 'zstd');
DROP EVENT TRIGGER o_drop_it;
DROP FUNCTION o_drop_it();
SELECT count(*) FROM pg_class WHERE relname = 'o_victim';
-- options of heap tables (and of partitioned parents) stay PostgreSQL's
ALTER TABLE op SET (compression = 'zstd');
CREATE TABLE o_heap (a int) USING heap;
ALTER TABLE o_heap SET (compression = 'zstd');
SELECT opts('o1');

DROP TABLE o1, o2, o3, o5, op, o_heap;
DROP MATERIALIZED VIEW o4;
DROP FUNCTION opts(regclass);
REVOKE ALL ON SCHEMA public FROM aegis_opt_user;
DROP ROLE aegis_opt_user;
RESET aegis.default_compression;
RESET aegis.compression_level;
