/* aegis_storage--0.1--0.2.sql: the aegis WAL moved into PostgreSQL's WAL stream */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION aegis_storage UPDATE TO '0.2'" to load this file. \quit

DROP FUNCTION aegis_wal_stats();

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
