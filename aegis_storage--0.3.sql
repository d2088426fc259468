/* aegis_storage--0.3.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION aegis_storage" to load this file. \quit

CREATE FUNCTION aegis_check_preloaded() RETURNS void
	AS 'MODULE_PATHNAME' LANGUAGE C STRICT;

-- refuse to install unless the library was preloaded
SELECT aegis_check_preloaded();

CREATE FUNCTION aegis_tam_handler(internal) RETURNS table_am_handler
	AS 'MODULE_PATHNAME' LANGUAGE C;

CREATE ACCESS METHOD aegis TYPE TABLE HANDLER aegis_tam_handler;
COMMENT ON ACCESS METHOD aegis IS 'compressed, checksummed pages in the aegis buffer pool and storage backends';

CREATE FUNCTION aegis_table_stats(rel regclass,
	OUT storage_backend text, OUT compression text, OUT compression_level int,
	OUT pages bigint, OUT stored_blocks bigint, OUT raw_bytes bigint,
	OUT stored_bytes bigint, OUT file_bytes bigint, OUT compression_ratio float8)
	RETURNS record
	AS 'MODULE_PATHNAME' LANGUAGE C STRICT;

-- for aegis_tables: no row for tables the caller may not SELECT (unless a
-- member of pg_read_all_stats); a broken table gives its reason in "error"
CREATE FUNCTION aegis_table_stats_or_error(rel oid,
	OUT storage_backend text, OUT compression text, OUT compression_level int,
	OUT pages bigint, OUT stored_blocks bigint, OUT raw_bytes bigint,
	OUT stored_bytes bigint, OUT file_bytes bigint, OUT compression_ratio float8,
	OUT error text)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME' LANGUAGE C STRICT;

CREATE VIEW aegis_tables AS
	SELECT c.oid::regclass AS table_name, s.*
	FROM pg_class c
	JOIN pg_am a ON a.oid = c.relam AND a.amname = 'aegis'
	CROSS JOIN LATERAL aegis_table_stats_or_error(c.oid) s
	WHERE c.relkind IN ('r', 'm');
GRANT SELECT ON aegis_tables TO PUBLIC;

CREATE FUNCTION aegis_buffer_stats(
	OUT frames int, OUT frames_used int, OUT frames_dirty int,
	OUT hits bigint, OUT misses bigint, OUT evictions bigint,
	OUT writebacks bigint, OUT hit_ratio float8)
	RETURNS record
	AS 'MODULE_PATHNAME' LANGUAGE C STRICT;

CREATE FUNCTION aegis_wal_stats(
	OUT records bigint, OUT bytes bigint, OUT page_records bigint,
	OUT compressed_records bigint,
	OUT checkpoints bigint, OUT checkpoint_pages bigint,
	OUT last_checkpoint_ms float8, OUT total_checkpoint_ms float8,
	OUT last_checkpoint_wait_ms float8, OUT durable_redo_lsn pg_lsn,
	OUT guard_cycles bigint,
	OUT last_recovery_ms float8, OUT last_recovery_records bigint,
	OUT last_recovery_bytes bigint, OUT guarded boolean)
	RETURNS record
	AS 'MODULE_PATHNAME' LANGUAGE C STRICT;

CREATE FUNCTION aegis_checkpoint() RETURNS void
	AS 'MODULE_PATHNAME' LANGUAGE C STRICT;
REVOKE ALL ON FUNCTION aegis_checkpoint() FROM PUBLIC;

CREATE FUNCTION aegis_page_items(rel regclass, page bigint,
	OUT lp int, OUT lp_flags int, OUT lp_len int, OUT xmin xid, OUT xmax xid,
	OUT infomask int, OUT infomask2 int, OUT ctid tid)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME' LANGUAGE C STRICT;
REVOKE ALL ON FUNCTION aegis_page_items(regclass, bigint) FROM PUBLIC;
