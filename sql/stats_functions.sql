-- aegis_table_stats, aegis_tables and aegis_buffer_stats report real figures.
CREATE TABLE st (id int, t text) USING aegis WITH (compression = 'zstd');
SELECT pages, stored_blocks, stored_bytes FROM aegis_table_stats('st');
INSERT INTO st SELECT g, repeat('s', 100) FROM generate_series(1, 10000) g;
SELECT aegis_checkpoint();
SELECT pages > 0 AS has_pages, pages = stored_blocks AS all_stored,
       raw_bytes = pages * 8192 AS raw_ok, stored_bytes < raw_bytes AS compressed,
       compression_ratio = raw_bytes::float8 / stored_bytes AS ratio_ok
FROM aegis_table_stats('st');
SELECT count(*) FROM aegis_tables WHERE table_name = 'st'::regclass;
-- buffer pool counters move: a scan of a table hits the pool
SELECT hits AS hits_before FROM aegis_buffer_stats() \gset
SELECT count(*) FROM st;
SELECT hits > :hits_before AS counted, frames = 2048 AS frames_16mb, hit_ratio BETWEEN 0 AND 1 AS ratio_ok
FROM aegis_buffer_stats();
-- a table larger than the 16 MB pool causes evictions and write-backs
SELECT evictions AS ev_before, writebacks AS wb_before FROM aegis_buffer_stats() \gset
CREATE TABLE st_big (t text) USING aegis WITH (compression = 'none');
INSERT INTO st_big SELECT repeat('b', 200) FROM generate_series(1, 150000);
SELECT count(*) FROM st_big;
SELECT evictions > :ev_before AS evicted, writebacks > :wb_before AS written_back FROM aegis_buffer_stats();
-- only the superuser may force a checkpoint
CREATE ROLE aegis_nobody;
SET ROLE aegis_nobody;
SELECT aegis_checkpoint();
RESET ROLE;
DROP ROLE aegis_nobody;
DROP TABLE st, st_big;
-- copy-on-write does not grow without bound: rewriting a table again and
-- again, with checkpoints (which compact), keeps the file near its live size
CREATE TABLE st_rw (id int, t text) USING aegis WITH (compression = 'none');
INSERT INTO st_rw SELECT g, repeat('r', 200) FROM generate_series(1, 20000) g;
SELECT aegis_checkpoint();
UPDATE st_rw SET t = repeat('s', 200);
VACUUM st_rw;
SELECT aegis_checkpoint();
UPDATE st_rw SET t = repeat('t', 200);
VACUUM st_rw;
SELECT aegis_checkpoint();
UPDATE st_rw SET t = repeat('u', 200);
VACUUM st_rw;
SELECT aegis_checkpoint();
SELECT pages <= 2 * 640 AS pages_bounded, file_bytes <= stored_bytes * 5 / 4 AS file_compacted,
       stored_blocks = pages AS all_stored
FROM aegis_table_stats('st_rw');
SELECT count(*), count(*) FILTER (WHERE t = repeat('u', 200)) FROM st_rw;
DROP TABLE st_rw;
-- aegis WAL records travel in PostgreSQL's WAL; a CHECKPOINT runs an aegis
-- checkpoint that covers its redo pointer before it completes
SELECT records AS rec_before, checkpoints AS ckpt_before FROM aegis_wal_stats() \gset
CREATE TABLE st_wal (id int) USING aegis;
SELECT pg_current_wal_insert_lsn() AS lsn_before \gset
INSERT INTO st_wal SELECT generate_series(1, 1000);
SELECT pg_current_wal_insert_lsn() - :'lsn_before' > 4 * 1000 AS in_pg_wal;
CHECKPOINT;
SELECT records >= :rec_before + 5 AS records_counted, checkpoints > :ckpt_before AS ran,
       durable_redo_lsn >= (SELECT redo_lsn FROM pg_control_checkpoint()) AS covers_redo,
       guarded, guard_cycles > 0 AS cycled
FROM aegis_wal_stats();
DROP TABLE st_wal;
-- large page deltas (pages COPY fills in one change) are LZ4-compressed
-- only with PostgreSQL's wal_compression set, as heap's full-page images
CREATE TABLE st_walc (id int, pad text DEFAULT repeat('z', 200)) USING aegis;
SET wal_compression = off;
SELECT compressed_records AS comp_before FROM aegis_wal_stats() \gset
SELECT pg_current_wal_insert_lsn() AS lsn_before \gset
\copy st_walc (id) FROM PROGRAM 'seq 1 2000'
SELECT pg_current_wal_insert_lsn() - :'lsn_before' AS wal_off \gset
SELECT compressed_records = :comp_before AS none_compressed FROM aegis_wal_stats();
SET wal_compression = lz4;
SELECT pg_current_wal_insert_lsn() AS lsn_before \gset
\copy st_walc (id) FROM PROGRAM 'seq 1 2000'
SELECT compressed_records > :comp_before AS compressed,
       pg_current_wal_insert_lsn() - :'lsn_before' < :wal_off / 2 AS smaller
FROM aegis_wal_stats();
RESET wal_compression;
SELECT count(*), count(DISTINCT id), min(length(pad)) FROM st_walc;
DROP TABLE st_walc;
-- PostgreSQL's own I/O counters see aegis pages as they see heap's:
-- pg_statio_user_tables (heap_blks_read/hit) and EXPLAIN (BUFFERS)
CREATE TABLE st_io (id int, pad text) USING aegis;
INSERT INTO st_io SELECT g, repeat('x', 100) FROM generate_series(1, 5000) g;
SELECT pg_stat_force_next_flush();
SELECT heap_blks_read + heap_blks_hit AS fetched_before FROM pg_statio_user_tables
WHERE relname = 'st_io' \gset
SELECT count(*) FROM st_io;
SELECT pg_stat_force_next_flush();
SELECT heap_blks_read + heap_blks_hit - :fetched_before >= pages AS scan_counted
FROM pg_statio_user_tables, aegis_table_stats('st_io') WHERE relname = 'st_io';
CREATE FUNCTION st_buffers(q text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	plan json;
BEGIN
	EXECUTE 'EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || q INTO plan;
	RETURN (plan -> 0 -> 'Plan' -> 'Plans' -> 0 ->> 'Shared Hit Blocks')::bigint +
		(plan -> 0 -> 'Plan' -> 'Plans' -> 0 ->> 'Shared Read Blocks')::bigint;
END $$;
SELECT st_buffers('SELECT count(*) FROM st_io') >= pages AS explain_counts
FROM aegis_table_stats('st_io');
DROP FUNCTION st_buffers(text);
DROP TABLE st_io;
