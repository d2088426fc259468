/*-------------------------------------------------------------------------
 *
 * checkpoint_internal.h
 *	  Shared state of the checkpoint module (src/checkpoint only).
 *
 * One struct in shared memory: what was asked of and done by the aegis
 * checkpointer, the two checkpoint guards' state (README: the hand-over),
 * and the figures of aegis_wal_stats().  'mutex' protects every field but
 * the LWLock and the condition variable.
 *
 *-------------------------------------------------------------------------
 */
#ifndef AEGIS_CHECKPOINT_INTERNAL_H
#define AEGIS_CHECKPOINT_INTERNAL_H

#include "access/xlogdefs.h"
#include "storage/condition_variable.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/spin.h"
#include "utils/timestamp.h"

#define AEGIS_NUM_GUARDS 2

typedef struct AegisCheckpointShared
{
	LWLock		run_lock;		/* one AegisCheckpointRun at a time */
	int			tranche;
	ConditionVariable done_cv;	/* broadcast when done_redo or
								 * regroup_done_redo moves */

	slock_t		mutex;
	XLogRecPtr	requested_redo; /* the guards ask for work up to here */
	XLogRecPtr	done_redo;		/* work is complete up to here */
	XLogRecPtr	regroup_done_redo;	/* pages due after the run of this
									 * redo are grouped */
	XLogRecPtr	regroup_all_until;	/* aegis_checkpoint() waits: passes
									 * until the one after the run of this
									 * redo leave no page for later; 0 none */
	Latch	   *checkpointer_latch; /* the aegis checkpointer, if running */
	int			guards_alive;	/* guards attached to shared memory */
	bool		final_done;		/* the shutdown run is complete */
	bool		guard_armed[AEGIS_NUM_GUARDS];
	XLogRecPtr	guard_observed[AEGIS_NUM_GUARDS];	/* redo seen after arming */

	/* figures */
	uint64		checkpoints;
	uint64		pages_written;
	double		last_ms;
	double		total_ms;
	double		last_wait_ms;
	uint64		guard_cycles;
	TimestampTz recovery_start;
	double		last_recovery_ms;
	uint64		recovery_records;
	uint64		recovery_bytes;
} AegisCheckpointShared;

extern AegisCheckpointShared *AegisCkpt;

extern void AegisCheckpointAttach(void);

#endif							/* AEGIS_CHECKPOINT_INTERNAL_H */
