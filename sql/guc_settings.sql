-- aegis.* settings: defaults, accepted values, rejected values.
SHOW aegis.buffer_pool_size;
SHOW aegis.default_backend;
SHOW aegis.default_compression;
SHOW aegis.compression_level;
SHOW aegis.compression_dictionaries;
SHOW aegis.data_directory;
SHOW aegis.memory_backend_size;
SHOW aegis.io_workers;
SHOW aegis.cold_compression_level;
-- aegis checkpoints follow PostgreSQL's: the old settings are gone
SET aegis.checkpoint_timeout = '1min';

SET aegis.default_compression = 'zstd';
SHOW aegis.default_compression;
SET aegis.default_compression = 'snappy';	-- rejected
SET aegis.default_backend = 'memory';
SET aegis.default_backend = 'tape';		-- rejected
SET aegis.compression_level = 23;		-- out of range
SET aegis.compression_level = -8;		-- out of range
SET aegis.compression_dictionaries = 'sometimes';	-- rejected
SET aegis.buffer_pool_size = '1GB';		-- postmaster setting
SET aegis.io_workers = 2;		-- postmaster setting
SET aegis.cold_compression_level = 3;	-- server-wide (reload)
SET aegis.no_such_setting = 1;			-- reserved prefix
RESET ALL;

-- the level is checked against the codec when a table is created
SET aegis.default_compression = 'lz4';
SET aegis.compression_level = 20;
CREATE TABLE g_bad (a int) USING aegis;
SET aegis.compression_level = 9;
CREATE TABLE g_lz4hc (a int) USING aegis;
SET aegis.default_compression = 'zstd';
SET aegis.compression_level = 19;
CREATE TABLE g_zstd19 (a int) USING aegis;
RESET ALL;
SELECT compression, compression_level FROM aegis_table_stats('g_lz4hc');
SELECT compression, compression_level FROM aegis_table_stats('g_zstd19');

-- WITH options of CREATE TABLE
CREATE TABLE g_with (a int) USING aegis WITH (compression = 'none', storage_backend = 'memory');
SELECT storage_backend, compression, compression_level FROM aegis_table_stats('g_with');
CREATE TABLE g_with2 (a int) USING aegis WITH (compression = 'zstd', compression_level = 5, fillfactor = 90);
SELECT storage_backend, compression, compression_level FROM aegis_table_stats('g_with2');
SELECT reloptions FROM pg_class WHERE relname = 'g_with2';
CREATE TABLE g_bad2 (a int) USING aegis WITH (compression = 'brotli');
CREATE TABLE g_bad3 (a int) USING aegis WITH (storage_backend = 'cloud');
CREATE TABLE g_bad4 (a int) USING aegis WITH (compression = 'lz4', compression_level = 99);
-- heap does not know our options
CREATE TABLE g_heap (a int) WITH (compression = 'lz4');
-- CREATE TABLE AS takes them too
CREATE TABLE g_ctas USING aegis WITH (compression = 'zstd') AS SELECT g AS a FROM generate_series(1, 100) g;
SELECT compression, (SELECT count(*) FROM g_ctas) FROM aegis_table_stats('g_ctas');
-- changing them later moves the table to new storage (sql/tam_options)
ALTER TABLE g_ctas SET (compression = 'lz4');
SELECT compression, (SELECT count(*) FROM g_ctas) FROM aegis_table_stats('g_ctas');
-- (on a heap table the option is PostgreSQL's business)
CREATE TABLE g_heap3 (a int);
ALTER TABLE g_heap3 SET (compression = 'lz4');
DROP TABLE g_heap3;
-- default_table_access_method = aegis also picks up WITH options
SET default_table_access_method = 'aegis';
CREATE TABLE g_default (a int) WITH (compression = 'none');
RESET default_table_access_method;
SELECT a.amname, s.compression FROM pg_class c JOIN pg_am a ON a.oid = c.relam,
  aegis_table_stats(c.oid) s WHERE c.relname = 'g_default';
-- aegis_table_stats on a heap table
CREATE TABLE g_heap2 (a int);
SELECT * FROM aegis_table_stats('g_heap2');
DROP TABLE g_lz4hc, g_zstd19, g_with, g_with2, g_ctas, g_default, g_heap2;
