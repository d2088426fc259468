/* aegis_storage--0.2--0.3.sql: aegis_tables for every role, showing what it may read */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION aegis_storage UPDATE TO '0.3'" to load this file. \quit

DROP VIEW aegis_tables;

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
