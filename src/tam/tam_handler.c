/*-------------------------------------------------------------------------
 *
 * tam_handler.c
 *	  The TableAmRoutine of the `aegis` access method and its handler.
 *
 * Grouped like heapam_handler.c.  Every callback is implemented; the few
 * operations aegis does not support yet raise ERRCODE_FEATURE_NOT_SUPPORTED
 * naming the operation (README, limitations).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/heaptoast.h"
#include "access/tableam.h"
#include "aegis/tam.h"
#include "executor/tuptable.h"
#include "fmgr.h"

static const TupleTableSlotOps *
aegis_slot_callbacks(Relation rel)
{
	return &TTSOpsHeapTuple;
}

static const TableAmRoutine aegis_methods = {
	.type = T_TableAmRoutine,

	.slot_callbacks = aegis_slot_callbacks,

	.scan_begin = aegis_scan_begin,
	.scan_end = aegis_scan_end,
	.scan_rescan = aegis_scan_rescan,
	.scan_getnextslot = aegis_scan_getnextslot,

	.scan_set_tidrange = aegis_scan_set_tidrange,
	.scan_getnextslot_tidrange = aegis_scan_getnextslot_tidrange,

	.parallelscan_estimate = table_block_parallelscan_estimate,
	.parallelscan_initialize = table_block_parallelscan_initialize,
	.parallelscan_reinitialize = table_block_parallelscan_reinitialize,

	.index_fetch_begin = aegis_index_fetch_begin,
	.index_fetch_reset = aegis_index_fetch_reset,
	.index_fetch_end = aegis_index_fetch_end,
	.index_fetch_tuple = aegis_index_fetch_tuple,

	.tuple_insert = aegis_tuple_insert,
	.tuple_insert_speculative = aegis_tuple_insert_speculative,
	.tuple_complete_speculative = aegis_tuple_complete_speculative,
	.multi_insert = aegis_multi_insert,
	.tuple_delete = aegis_tuple_delete,
	.tuple_update = aegis_tuple_update,
	.tuple_lock = aegis_tuple_lock,
	.finish_bulk_insert = NULL,

	.tuple_fetch_row_version = aegis_tuple_fetch_row_version,
	.tuple_get_latest_tid = aegis_tuple_get_latest_tid,
	.tuple_tid_valid = aegis_tuple_tid_valid,
	.tuple_satisfies_snapshot = aegis_tuple_satisfies_snapshot,
	.index_delete_tuples = aegis_index_delete_tuples,

	.relation_set_new_filenode = aegis_relation_set_new_filenode,
	.relation_nontransactional_truncate = aegis_relation_nontransactional_truncate,
	.relation_copy_data = aegis_relation_copy_data,
	.relation_copy_for_cluster = aegis_relation_copy_for_cluster,
	.relation_vacuum = aegis_relation_vacuum,
	.scan_analyze_next_block = aegis_scan_analyze_next_block,
	.scan_analyze_next_tuple = aegis_scan_analyze_next_tuple,
	.index_build_range_scan = aegis_index_build_range_scan,
	.index_validate_scan = aegis_index_validate_scan,

	.relation_size = aegis_relation_size,
	.relation_needs_toast_table = aegis_relation_needs_toast_table,
	.relation_toast_am = aegis_relation_toast_am,
	.relation_fetch_toast_slice = heap_fetch_toast_slice,

	.relation_estimate_size = aegis_relation_estimate_size,

	.scan_bitmap_next_block = aegis_scan_bitmap_next_block,
	.scan_bitmap_next_tuple = aegis_scan_bitmap_next_tuple,
	.scan_sample_next_block = aegis_scan_sample_next_block,
	.scan_sample_next_tuple = aegis_scan_sample_next_tuple
};

PG_FUNCTION_INFO_V1(aegis_tam_handler);

Datum
aegis_tam_handler(PG_FUNCTION_ARGS)
{
	AegisCheckPreloaded();
	PG_RETURN_POINTER(&aegis_methods);
}
