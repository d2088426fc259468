-- Savepoints, rollback to savepoint, subtransaction visibility.
CREATE TABLE sp (id int PRIMARY KEY, v int) USING aegis;
INSERT INTO sp SELECT g, 0 FROM generate_series(1, 100) g;

BEGIN;
UPDATE sp SET v = 1 WHERE id <= 10;
SAVEPOINT a;
UPDATE sp SET v = 2 WHERE id <= 5;
DELETE FROM sp WHERE id = 100;
INSERT INTO sp VALUES (101, 9);
SELECT sum(v), count(*) FROM sp;
ROLLBACK TO a;
SELECT sum(v), count(*) FROM sp;
SAVEPOINT b;
UPDATE sp SET v = 3 WHERE id = 1;
RELEASE b;
SAVEPOINT c;
INSERT INTO sp VALUES (1, 0);	-- duplicate key aborts the subtransaction
ROLLBACK TO c;
SELECT id, v FROM sp WHERE id <= 3 ORDER BY id;
COMMIT;
SELECT sum(v), count(*) FROM sp;

-- a row inserted in a subtransaction that rolls back is gone, its key free
BEGIN;
SAVEPOINT s;
INSERT INTO sp VALUES (500, 5);
ROLLBACK TO s;
INSERT INTO sp VALUES (500, 6);
COMMIT;
SELECT * FROM sp WHERE id = 500;

-- nested savepoints, updates of the same row at each level
BEGIN;
UPDATE sp SET v = 10 WHERE id = 2;
SAVEPOINT l1;
UPDATE sp SET v = 20 WHERE id = 2;
SAVEPOINT l2;
UPDATE sp SET v = 30 WHERE id = 2;
SELECT v FROM sp WHERE id = 2;
ROLLBACK TO l2;
SELECT v FROM sp WHERE id = 2;
ROLLBACK TO l1;
SELECT v FROM sp WHERE id = 2;
COMMIT;
SELECT v FROM sp WHERE id = 2;

-- an error inside a PL/pgSQL exception block undoes only that block
DO $$
BEGIN
  UPDATE sp SET v = 77 WHERE id = 3;
  BEGIN
    UPDATE sp SET v = 88 WHERE id = 4;
    PERFORM 1 / 0;
  EXCEPTION WHEN division_by_zero THEN
    NULL;
  END;
END $$;
SELECT id, v FROM sp WHERE id IN (3, 4) ORDER BY id;

-- ROLLBACK of the whole transaction
BEGIN;
DELETE FROM sp;
SELECT count(*) FROM sp;
ROLLBACK;
SELECT count(*) FROM sp;

-- PREPARE TRANSACTION with aegis DML
BEGIN;
UPDATE sp SET v = -1 WHERE id = 5;
PREPARE TRANSACTION 'aegis_p1';
SELECT v FROM sp WHERE id = 5;
COMMIT PREPARED 'aegis_p1';
SELECT v FROM sp WHERE id = 5;
-- ... and with DDL that creates, truncates or drops aegis storage, settled
-- by COMMIT or ROLLBACK PREPARED
BEGIN;
CREATE TABLE sp_new (a int) USING aegis;
INSERT INTO sp_new SELECT generate_series(1, 10);
SAVEPOINT s1;
CREATE TABLE sp_sub (a int) USING aegis;
INSERT INTO sp_sub VALUES (7);
RELEASE s1;
PREPARE TRANSACTION 'aegis_p2';
SELECT count(*) FROM pg_class WHERE relname IN ('sp_new', 'sp_sub');
COMMIT PREPARED 'aegis_p2';
SELECT (SELECT count(*) FROM sp_new) AS new, (SELECT sum(a) FROM sp_sub) AS sub;
BEGIN;
CREATE TABLE sp_gone (a int) USING aegis;
INSERT INTO sp_gone VALUES (1);
PREPARE TRANSACTION 'aegis_p3';
ROLLBACK PREPARED 'aegis_p3';
SELECT count(*) FROM pg_class WHERE relname = 'sp_gone';
BEGIN;
TRUNCATE sp_new;
INSERT INTO sp_new VALUES (42);
PREPARE TRANSACTION 'aegis_p4';
ROLLBACK PREPARED 'aegis_p4';
SELECT count(*) FROM sp_new;
BEGIN;
TRUNCATE sp_new;
INSERT INTO sp_new VALUES (42);
PREPARE TRANSACTION 'aegis_p5';
COMMIT PREPARED 'aegis_p5';
SELECT * FROM sp_new;
BEGIN;
DROP TABLE sp_new;
PREPARE TRANSACTION 'aegis_p6';
ROLLBACK PREPARED 'aegis_p6';
SELECT * FROM sp_new;
BEGIN;
DROP TABLE sp_new, sp_sub;
PREPARE TRANSACTION 'aegis_p7';
COMMIT PREPARED 'aegis_p7';
SELECT count(*) FROM pg_class WHERE relname IN ('sp_new', 'sp_sub');

-- A subtransaction that created a table and failed while its scans held
-- their pages (an error mid-scan, open cursors over a sequential and an
-- index scan, a PL/pgSQL exception block) releases those pins before the
-- table's storage is dropped, which waits for pins: it must not wait for
-- its own.
BEGIN;
SAVEPOINT s1;
CREATE TABLE sp_scan (a int) USING aegis;
INSERT INTO sp_scan SELECT g % 10 FROM generate_series(1, 1000) g;
SELECT count(1 / a) FROM sp_scan;
ROLLBACK TO s1;
SAVEPOINT s2;
CREATE TABLE sp_scan (a int PRIMARY KEY) USING aegis;
INSERT INTO sp_scan SELECT g FROM generate_series(1, 1000) g;
DECLARE c CURSOR FOR SELECT a FROM sp_scan WHERE a > 500;
FETCH 2 FROM c;
SET LOCAL enable_seqscan = off;
SET LOCAL enable_bitmapscan = off;
DECLARE ci CURSOR FOR SELECT a FROM sp_scan WHERE a IN (7, 8);
FETCH 1 FROM ci;
ROLLBACK TO s2;
DO $$
BEGIN
  CREATE TABLE sp_scan (a int) USING aegis;
  INSERT INTO sp_scan SELECT g % 10 FROM generate_series(1, 1000) g;
  PERFORM 1 / a FROM sp_scan;
EXCEPTION WHEN division_by_zero THEN
  RAISE NOTICE 'caught: %', SQLERRM;
END $$;
COMMIT;
SELECT count(*) FROM pg_class WHERE relname = 'sp_scan';

DROP TABLE sp;
