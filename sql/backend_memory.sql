-- The memory storage backend: same SQL behaviour, blocks in shared memory.
CREATE TABLE mem (id int PRIMARY KEY, v text) USING aegis WITH (storage_backend = 'memory');
INSERT INTO mem SELECT g, repeat('m', g % 100) FROM generate_series(1, 30000) g;
SELECT count(*), sum(length(v)) FROM mem;
UPDATE mem SET v = 'changed' WHERE id % 10 = 0;
DELETE FROM mem WHERE id % 7 = 0;
SELECT count(*), count(*) FILTER (WHERE v = 'changed') FROM mem;
SET enable_seqscan = off;
SELECT id, v FROM mem WHERE id = 70;
SELECT id, v FROM mem WHERE id = 80;
RESET enable_seqscan;
-- pages reach shared-memory blocks when evicted: push them out of the
-- 16 MB buffer pool with another table, then read them back
SELECT stored_blocks AS stored_before FROM aegis_table_stats('mem') \gset
CREATE TABLE mem_push (t text) USING aegis WITH (compression = 'none');
INSERT INTO mem_push SELECT repeat('p', 500) FROM generate_series(1, 50000);
SELECT storage_backend, stored_blocks > :stored_before AS written_back, stored_bytes > 0 AS has_bytes
FROM aegis_table_stats('mem');
SELECT count(*), count(*) FILTER (WHERE v = 'changed') FROM mem;
DROP TABLE mem_push;
-- a checkpoint does not write memory tables (volatile by contract)
SELECT aegis_checkpoint();
-- TRUNCATE and DROP give the memory back
TRUNCATE mem;
SELECT count(*) FROM mem;
INSERT INTO mem VALUES (1, 'one');
SELECT * FROM mem;
-- the memory limit (aegis.memory_backend_size = 64MB in the test config)
CREATE TABLE mem_big (t text) USING aegis WITH (storage_backend = 'memory', compression = 'none');
\set VERBOSITY terse
INSERT INTO mem_big SELECT repeat('x', 1500) FROM generate_series(1, 60000);
\set VERBOSITY default
-- checkpoints of local tables go on while memory storage is full
SELECT aegis_checkpoint();
DROP TABLE mem_big;
-- after the drop there is room again
CREATE TABLE mem_small (t text) USING aegis WITH (storage_backend = 'memory');
INSERT INTO mem_small SELECT 'x' FROM generate_series(1, 1000);
SELECT count(*) FROM mem_small;
DROP TABLE mem, mem_small;
