/* aegis_storage--0.3--0.4.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION aegis_storage UPDATE TO '0.4'" to load this file. \quit

-- From 0.4 on, every aegis table's storage_backend, compression and
-- compression_level are also in pg_class.reloptions, where pg_dump, psql's
-- \d+ and pg_options_to_table() read them (the relation directory stays the
-- engine's record).  Fill them in for this database's tables created before;
-- later CREATE and ALTER TABLE statements keep them current.
UPDATE pg_catalog.pg_class c
   SET reloptions =
       ARRAY(SELECT o FROM pg_catalog.unnest(c.reloptions) o
             WHERE pg_catalog.split_part(o, '=', 1)
                   NOT IN ('storage_backend', 'compression', 'compression_level'))
       || ARRAY['storage_backend=' || x.storage_backend,
                'compression=' || x.compression,
                'compression_level=' || x.compression_level]
  FROM (SELECT r.oid, s.storage_backend, s.compression, s.compression_level
          FROM pg_catalog.pg_class r
          JOIN pg_catalog.pg_am a ON a.oid = r.relam AND a.amname = 'aegis'
          CROSS JOIN LATERAL @extschema@.aegis_table_stats_or_error(r.oid) s
         WHERE r.relkind IN ('r', 'm') AND r.relpersistence <> 't'
           AND s.error IS NULL) x
 WHERE c.oid = x.oid;
