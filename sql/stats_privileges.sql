-- aegis_table_stats() and aegis_tables show a table's figures only to roles
-- that may SELECT it and to members of pg_read_all_stats (sizes and ratios
-- tell about the contents); a table whose storage is missing gives a row
-- with its reason in "error" instead of failing the view.
CREATE ROLE regress_aegis_owner;
CREATE ROLE regress_aegis_writer;
CREATE ROLE regress_aegis_stats;
GRANT pg_read_all_stats TO regress_aegis_stats;
GRANT CREATE ON SCHEMA public TO regress_aegis_owner;
SET ROLE regress_aegis_owner;
CREATE TABLE sp_secret (v text) USING aegis;
INSERT INTO sp_secret VALUES ('the secret');
CREATE TABLE sp_open (v text) USING aegis;
GRANT INSERT ON sp_secret TO regress_aegis_writer;
GRANT SELECT ON sp_open TO regress_aegis_writer;
-- the owner sees both, through the view too
SELECT table_name, storage_backend, error FROM aegis_tables
WHERE table_name::text LIKE 'sp_%' ORDER BY 1;
RESET ROLE;
-- INSERT alone is not enough (a compression oracle otherwise)
SET ROLE regress_aegis_writer;
INSERT INTO sp_secret VALUES ('a guess');
SELECT stored_bytes FROM aegis_table_stats('sp_secret');
SELECT storage_backend FROM aegis_table_stats('sp_open');
SELECT table_name FROM aegis_tables WHERE table_name::text LIKE 'sp_%' ORDER BY 1;
RESET ROLE;
-- members of pg_read_all_stats see every table
SET ROLE regress_aegis_stats;
SELECT storage_backend FROM aegis_table_stats('sp_secret');
SELECT table_name FROM aegis_tables WHERE table_name::text LIKE 'sp_%' ORDER BY 1;
RESET ROLE;
-- a table whose aegis storage is missing (a file-level copy that left out
-- aegis.data_directory; simulated by pointing pg_class at a relfilenode
-- that has none): the view reports it with an error
SELECT current_database() AS regress_db \gset
CREATE DATABASE regress_aegis_copy;
\c regress_aegis_copy
CREATE EXTENSION aegis_storage;
CREATE TABLE sp_lost (v int) USING aegis;
CREATE TABLE sp_kept (v int);
SELECT relfilenode AS lost_node FROM pg_class WHERE relname = 'sp_lost' \gset
UPDATE pg_class SET relfilenode = 4000000000 WHERE relname = 'sp_lost';
SELECT table_name, pages, error FROM aegis_tables ORDER BY 1;
SELECT pages FROM aegis_table_stats('sp_lost');
CREATE TABLE sp_new (v int) USING aegis;
SELECT table_name, pages IS NOT NULL AS has_figures, error IS NULL AS no_error
FROM aegis_tables ORDER BY 1;
UPDATE pg_class SET relfilenode = :lost_node WHERE relname = 'sp_lost';
\c :regress_db
DROP DATABASE regress_aegis_copy;
DROP TABLE sp_secret, sp_open;
REVOKE CREATE ON SCHEMA public FROM regress_aegis_owner;
DROP ROLE regress_aegis_owner, regress_aegis_writer, regress_aegis_stats;
