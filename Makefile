# aegis_storage: PGXS build.  The object list is explicit on purpose: a file
# that is not listed here is not part of the extension.

MODULE_big = aegis_storage
OBJS = \
	src/aegis.o \
	src/aegis_common.o \
	src/aegis_guc.o \
	src/aegis_sql.o \
	src/block/block_format.o \
	src/block/block_pax.o \
	src/block/block_group.o \
	src/block/block_dict.o \
	src/block/block_codec.o \
	src/backend/backend_dir.o \
	src/backend/backend_local.o \
	src/backend/map_format.o \
	src/backend/backend_memory.o \
	src/buffer/buffer_pool.o \
	src/buffer/buffer_io.o \
	src/page/page_prune.o \
	src/page/page_space.o \
	src/transaction/transaction_visibility.o \
	src/transaction/transaction_storage.o \
	src/tam/tam_handler.o \
	src/tam/tam_scan.o \
	src/tam/tam_dml.o \
	src/tam/tam_lock.o \
	src/tam/tam_ddl.o \
	src/tam/tam_index.o \
	src/tam/tam_options.o \
	src/tam/tam_vacuum.o \
	src/tam/tam_rewrite.o \
	src/wal/wal_page.o \
	src/wal/wal_decode.o \
	src/wal/wal_storage.o \
	src/wal/wal_dict.o \
	src/wal/wal_logical.o \
	src/wal/wal_visibility.o \
	src/checkpoint/checkpoint_run.o \
	src/checkpoint/checkpoint_rmgr.o \
	src/checkpoint/checkpoint_worker.o

EXTENSION = aegis_storage
DATA = aegis_storage--0.3.sql aegis_storage--0.2.sql aegis_storage--0.1--0.2.sql \
	aegis_storage--0.2--0.3.sql aegis_storage--0.3--0.4.sql
PGFILEDESC = "aegis_storage - compressed, checksummed table access method"

PG_CPPFLAGS = -I$(srcdir)/src/include
PG_CFLAGS = -fno-semantic-interposition
SHLIB_LINK = -llz4 -lzstd -Wl,-Bsymbolic

# pg_regress tests: one area per file; run with `make installcheck` against a
# server that preloads the library (see README: test/run_tests.sh).
REGRESS = setup guc_settings tam_ddl tam_dml tam_types tam_index \
	tam_savepoint tam_toast tam_vacuum tam_hot tam_upsert tam_constraints tam_cursor \
	block_compression \
	backend_memory \
	tam_rewrite tam_visibility tam_options \
	stats_functions stats_privileges
REGRESS_OPTS = --temp-config=$(srcdir)/test/regress.conf

# isolation specs (pg_isolation_regress): test/specs, test/expected
ISOLATION = update_conflicts row_locks upsert serializable lock_strengths \
	key_share_update partition_move rewrite_reader index_concurrently cic_hot \
	visibility_map vacuum_truncate held_pins
ISOLATION_OPTS = --inputdir=$(srcdir)/test --outputdir=output_iso \
	--temp-config=$(srcdir)/test/regress.conf

# TAP tests (PostgreSQL::Test::Cluster): restart, large tables
TAP_TESTS = 1
PROVE_TESTS = test/t/*.pl

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)
