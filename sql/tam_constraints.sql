-- Triggers, deferred constraints and partitions.  The expected output is
-- byte-identical to the same file run with heap tables (USING aegis removed).
-- AFTER ROW triggers see old and new rows (fetched by TID at end of statement)
CREATE TABLE tr (id int PRIMARY KEY, v int) USING aegis;
CREATE TABLE tr_log (op text, old_v int, new_v int);
CREATE FUNCTION tr_fn() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO tr_log VALUES (TG_OP, CASE WHEN TG_OP <> 'INSERT' THEN OLD.v END,
                                    CASE WHEN TG_OP <> 'DELETE' THEN NEW.v END);
  RETURN NULL;
END $$;
CREATE TRIGGER tr_after AFTER INSERT OR UPDATE OR DELETE ON tr FOR EACH ROW EXECUTE FUNCTION tr_fn();
INSERT INTO tr SELECT g, g FROM generate_series(1, 5) g;
UPDATE tr SET v = v * 10 WHERE id <= 2;
DELETE FROM tr WHERE id = 5;
SELECT op, count(*), sum(old_v), sum(new_v) FROM tr_log GROUP BY op ORDER BY op;
-- a BEFORE trigger that changes the row
CREATE FUNCTION tr_before() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.v := NEW.v + 1000; RETURN NEW; END $$;
CREATE TRIGGER tr_b BEFORE INSERT ON tr FOR EACH ROW EXECUTE FUNCTION tr_before();
INSERT INTO tr VALUES (6, 6);
SELECT v FROM tr WHERE id = 6;
-- transition tables
CREATE FUNCTION tr_stmt() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE NOTICE 'updated % rows, sum of new v %', (SELECT count(*) FROM newtab), (SELECT sum(v) FROM newtab); RETURN NULL; END $$;
CREATE TRIGGER tr_s AFTER UPDATE ON tr REFERENCING NEW TABLE AS newtab FOR EACH STATEMENT EXECUTE FUNCTION tr_stmt();
UPDATE tr SET v = v + 1;
DROP TABLE tr, tr_log;

-- deferred unique constraint: swapping keys inside one statement and one transaction
CREATE TABLE du (k int UNIQUE DEFERRABLE INITIALLY DEFERRED, name text) USING aegis;
INSERT INTO du VALUES (1, 'a'), (2, 'b');
UPDATE du SET k = 3 - k;
SELECT k, name FROM du ORDER BY k;
BEGIN;
INSERT INTO du VALUES (1, 'dup');
DELETE FROM du WHERE name = 'b';
COMMIT;
SELECT k, name FROM du ORDER BY k, name;
BEGIN;
INSERT INTO du VALUES (2, 'dup2');
COMMIT;
DROP TABLE du;

-- deferred foreign key
CREATE TABLE fp (id int PRIMARY KEY) USING aegis;
CREATE TABLE fc (pid int REFERENCES fp DEFERRABLE INITIALLY DEFERRED) USING aegis;
BEGIN;
INSERT INTO fc VALUES (10);
INSERT INTO fp VALUES (10);
COMMIT;
BEGIN;
INSERT INTO fc VALUES (11);
COMMIT;
SELECT count(*) FROM fc;
-- ON DELETE SET NULL / ON UPDATE CASCADE
CREATE TABLE fc2 (pid int REFERENCES fp ON UPDATE CASCADE ON DELETE SET NULL) USING aegis;
INSERT INTO fc2 VALUES (10), (10);
UPDATE fp SET id = 20 WHERE id = 10;
SELECT pid, count(*) FROM fc2 GROUP BY pid;
DELETE FROM fc WHERE pid = 20;
DELETE FROM fp WHERE id = 20;
SELECT pid, count(*) FROM fc2 GROUP BY pid;
DROP TABLE fc2, fc, fp;

-- partitioned table with aegis and heap partitions; cross-partition UPDATE
CREATE TABLE pt (k int, v text) PARTITION BY RANGE (k);
CREATE TABLE pt_a PARTITION OF pt FOR VALUES FROM (0) TO (100) USING aegis;
CREATE TABLE pt_b PARTITION OF pt FOR VALUES FROM (100) TO (200) USING aegis;
CREATE TABLE pt_h PARTITION OF pt FOR VALUES FROM (200) TO (300);
INSERT INTO pt SELECT g, 'v' || g FROM generate_series(0, 299, 7) g;
SELECT tableoid::regclass, count(*) FROM pt GROUP BY 1 ORDER BY 1;
UPDATE pt SET k = k + 100 WHERE k < 50;
UPDATE pt SET k = k + 100 WHERE k BETWEEN 150 AND 199;
SELECT tableoid::regclass, count(*), sum(k) FROM pt GROUP BY 1 ORDER BY 1;
COPY pt FROM STDIN;
5	copied-a
150	copied-b
250	copied-h
\.
SELECT tableoid::regclass, k, v FROM pt WHERE v LIKE 'copied%' ORDER BY k;
DROP TABLE pt;
DROP FUNCTION tr_fn(), tr_before(), tr_stmt();
