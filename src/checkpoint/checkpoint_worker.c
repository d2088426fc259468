/*-------------------------------------------------------------------------
 *
 * checkpoint_worker.c
 *	  The background workers that make PostgreSQL's checkpoints cover aegis:
 *	  the aegis checkpointer and the two checkpoint guards.
 *
 * Stock PostgreSQL 15 has no checkpoint hook.  CreateCheckPoint, after
 * CheckPointGuts and before writing the checkpoint record, waits for every
 * process that has DELAY_CHKPT_COMPLETE in MyProc->delayChkptFlags and a
 * valid virtual transaction id; it takes that list once, after it has
 * published the new redo pointer R (GetRedoRecPtr), and then waits until
 * each of those virtual transactions has cleared the flag or ended.
 *
 * Two guards hold that flag, each inside a transaction that has no xid and
 * no snapshot (it holds back no xmin horizon).  A guard that sees a new
 * redo pointer R asks the aegis checkpointer for a run (AegisCheckpointRun)
 * and keeps its flag until the run covers R; so the checkpoint record is
 * written only after every aegis change before R is durable (DESIGN.md
 * invariant 6).  Because the checkpointer takes its list after publishing
 * R, a guard that released and armed again could be listed in a
 * generation that is released only at the next redo pointer, which this
 * checkpoint prevents: a hang (see ../shared/notes/checkpoint-wait.md).
 * Hence the hand-over (src/checkpoint/README has the argument):
 *
 *   - a guard arms: starts a transaction, sets the flag, then reads the
 *     redo pointer and publishes it as observed;
 *   - a guard releases (commits) only while the other guard is armed and
 *     the work for the redo pointer that guard observed is done, and
 *     marks itself unarmed under the same spinlock, so the two never both
 *     release; then it arms again at once;
 *   - while a checkpoint is in progress (GetRedoRecPtr() differs from the
 *     redo of the last completed one) the guards hand over every ~20 ms,
 *     so whichever generation the checkpointer listed is released soon;
 *     otherwise about once a second.
 *
 * At every instant at least one guard is armed, and the generation armed
 * last before the checkpointer takes its list is released only after its
 * successor was armed and a run covering the redo pointer that successor
 * read - R or later - is done.  Aegis WAL is held back until both guards
 * have armed (AegisWalSetGuarded), so a checkpoint cannot slip in before
 * the guards start; a guard alone (too few worker slots) releases freely,
 * there being nothing to cover, so checkpoints never hang.  A guard ignores
 * SIGINT, and any other exit of a guard once aegis changes were allowed is
 * a PANIC (guard_exit).
 *
 * Shutdown: PostgreSQL stops background workers before its shutdown
 * checkpoint, which waits for nobody.  On SIGTERM the aegis checkpointer
 * keeps serving the guards until only they are left, runs a last
 * checkpoint, and says so; the guards exit after that.  If a run fails once
 * shutdown was requested, it PANICs: the shutdown checkpoint must not claim
 * a clean state, and the next start recovers from WAL.  src/checkpoint/README
 * has the whole argument.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "aegis/buffer.h"
#include "aegis/checkpoint.h"
#include "aegis/wal.h"
#include "checkpoint_internal.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "replication/walsender.h"
#include "replication/walsender_private.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/pmsignal.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "utils/memutils.h"

#define GUARD_CYCLE_BUSY_MS		20	/* hand-over during a checkpoint */
#define GUARD_CYCLE_IDLE_MS		1000	/* hand-over otherwise */
#define RETRY_DELAY_MS			1000	/* after a failed run */

#define GUARD_ORPHAN_MS			5000	/* at shutdown, no checkpointer */

static void
register_worker(const char *name, const char *function, Datum arg, int flags)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = flags;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 1;
	worker.bgw_main_arg = arg;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "aegis_storage");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "%s", function);
	snprintf(worker.bgw_name, BGW_MAXLEN, "%s", name);
	snprintf(worker.bgw_type, BGW_MAXLEN, "%s", name);
	RegisterBackgroundWorker(&worker);
}

/*
 * AegisRegisterWorkers
 *		Register the aegis checkpointer and the two checkpoint guards; from
 *		_PG_init in the postmaster.  They start once recovery has finished
 *		(a hot standby needs none of them).
 */
void
AegisRegisterWorkers(void)
{
	register_worker("aegis checkpointer", "AegisCheckpointerMain", (Datum) 0,
					BGWORKER_SHMEM_ACCESS);
	for (int i = 0; i < AEGIS_NUM_GUARDS; i++)
		register_worker(i == 0 ? "aegis checkpoint guard 1" : "aegis checkpoint guard 2",
						"AegisGuardMain", Int32GetDatum(i),
						BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION);
}

/* ---------------------------------------------------------------------
 * The aegis checkpointer
 * ---------------------------------------------------------------------
 */

/*
 * Processes that may still change aegis tables: every process in the proc
 * array but walsenders and the guards.
 */
static int
other_backends(void)
{
	int			n = CountDBBackends(InvalidOid);

	for (int i = 0; WalSndCtl != NULL && i < max_wal_senders; i++)
		if (WalSndCtl->walsnds[i].pid != 0)
			n--;
	SpinLockAcquire(&AegisCkpt->mutex);
	n -= AegisCkpt->guards_alive;
	SpinLockRelease(&AegisCkpt->mutex);
	return n;
}

/*
 * One run, with the error recovery of a background worker that is not in
 * a transaction: report, release what the run held, and try again later.
 * A failed final run PANICs.
 */
static bool
run_once(XLogRecPtr redo, bool final, MemoryContext cxt)
{
	bool		ok = true;
	MemoryContext old = MemoryContextSwitchTo(cxt);

	PG_TRY();
	{
		AegisCheckpointRun(redo, true);
	}
	PG_CATCH();
	{
		EmitErrorReport();
		if (final)
			ereport(PANIC,
					(errmsg("an aegis checkpoint failed during shutdown"),
					 errdetail("PostgreSQL must not write a clean shutdown checkpoint; aegis tables are recovered from the WAL at the next start.")));
		FlushErrorState();
		LWLockReleaseAll();
		ConditionVariableCancelSleep();
		AegisBufferReleaseAll(false);
		AtEOXact_Files(false);
		ok = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(old);
	MemoryContextReset(cxt);
	return ok;
}

/*
 * Group what the run up to 'done' left due (AegisCheckpointRegroup), with
 * run_once's error recovery.  A pass that went through everything, or
 * failed, is over for this run (the pages a failure left stay due for the
 * next one); one that gave way to a checkpoint or shutdown is not.
 */
static void
regroup_once(XLogRecPtr done, MemoryContext cxt)
{
	volatile bool over = true;	/* set in PG_TRY, read after it */
	MemoryContext old = MemoryContextSwitchTo(cxt);

	PG_TRY();
	{
		over = AegisCheckpointRegroup();
	}
	PG_CATCH();
	{
		EmitErrorReport();
		FlushErrorState();
		LWLockReleaseAll();
		ConditionVariableCancelSleep();
		AegisBufferReleaseAll(false);
		AtEOXact_Files(false);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(old);
	MemoryContextReset(cxt);
	if (over)
	{
		elog(DEBUG1, "aegis grouping after the checkpoint at %X/%X is done",
			 LSN_FORMAT_ARGS(done));
		AegisCheckpointRegroupDone(done);
	}
}

static void
checkpointer_exit(int code, Datum arg)
{
	SpinLockAcquire(&AegisCkpt->mutex);
	AegisCkpt->checkpointer_latch = NULL;
	SpinLockRelease(&AegisCkpt->mutex);
}

/*
 * AegisCheckpointerMain
 *		Run an aegis checkpoint whenever a guard asks for one (requested_redo
 *		beyond done_redo), retrying a failed run every second (the
 *		PostgreSQL checkpoint waits meanwhile, as it would for its own
 *		failing writes); between runs, group the all-visible pages the last
 *		one left due (regroup_once), giving way to the next request.  At
 *		shutdown, see the file header.
 */
void
AegisCheckpointerMain(Datum arg)
{
	MemoryContext cxt;

	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	AegisCheckpointAttach();
	cxt = AllocSetContextCreate(TopMemoryContext, "aegis checkpointer",
								ALLOCSET_DEFAULT_SIZES);
	on_shmem_exit(checkpointer_exit, (Datum) 0);
	SpinLockAcquire(&AegisCkpt->mutex);
	AegisCkpt->checkpointer_latch = MyLatch;
	AegisCkpt->final_done = false;
	SpinLockRelease(&AegisCkpt->mutex);

	for (;;)
	{
		XLogRecPtr	want,
					done,
					regrouped;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		SpinLockAcquire(&AegisCkpt->mutex);
		want = AegisCkpt->requested_redo;
		done = AegisCkpt->done_redo;
		regrouped = AegisCkpt->regroup_done_redo;
		SpinLockRelease(&AegisCkpt->mutex);
		if (want > done)
		{
			/* at shutdown a failure cannot wait for a repair: see run_once */
			if (!run_once(want, ShutdownRequestPending, cxt))
				pg_usleep(RETRY_DELAY_MS * 1000L);
			continue;
		}
		/* between checkpoints: group what the last run left due */
		if (regrouped < done && !ShutdownRequestPending)
		{
			if (RecoveryInProgress())
				AegisCheckpointRegroupDone(done);
			else
				regroup_once(done, cxt);
			continue;
		}
		if (ShutdownRequestPending && other_backends() == 0)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 ShutdownRequestPending ? 10L : 1000L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}

	/* only the guards are left: nothing changes aegis pages any more */
	(void) run_once(GetXLogInsertRecPtr(), true, cxt);
	elog(LOG, "aegis shutdown checkpoint complete");
	SpinLockAcquire(&AegisCkpt->mutex);
	AegisCkpt->final_done = true;
	AegisCkpt->checkpointer_latch = NULL;
	SpinLockRelease(&AegisCkpt->mutex);
	ConditionVariableBroadcast(&AegisCkpt->done_cv);
	proc_exit(0);
}

/* ---------------------------------------------------------------------
 * The checkpoint guards
 * ---------------------------------------------------------------------
 */

/* Start a transaction and hold the checkpoint at its completion. */
static void
guard_arm(int i)
{
	XLogRecPtr	observed;

	StartTransactionCommand();
	MyProc->delayChkptFlags |= DELAY_CHKPT_COMPLETE;
	pg_memory_barrier();
	observed = GetRedoRecPtr();
	SpinLockAcquire(&AegisCkpt->mutex);
	AegisCkpt->guard_observed[i] = observed;
	AegisCkpt->guard_armed[i] = true;
	/* first guard since the server started: no aegis change was made yet */
	if (AegisCkpt->done_redo == InvalidXLogRecPtr)
		AegisCkpt->done_redo = observed;
	/* aegis WAL may flow once both guards have armed (see guard_may_release) */
	if (AegisCkpt->guard_armed[1 - i])
		AegisWalSetGuarded(true);
	SpinLockRelease(&AegisCkpt->mutex);
}

/* Release (commit), unconditionally; the caller decided it may. */
static void
guard_release(void)
{
	MyProc->delayChkptFlags &= ~DELAY_CHKPT_COMPLETE;
	CommitTransactionCommand();
}

/*
 * Mark guard i unarmed if it may release; true if so.  It may while the
 * other guard is armed and the run covering what that one observed is
 * done.  A guard alone (the other never started: too few worker slots)
 * may release too, because aegis WAL waits for both guards
 * (AegisWalSetGuarded): no aegis change exists for it to cover.
 */
static bool
guard_may_release(int i)
{
	int			j = 1 - i;
	bool		ok;

	SpinLockAcquire(&AegisCkpt->mutex);
	if (AegisCkpt->guards_alive < AEGIS_NUM_GUARDS && !AegisWalWasGuarded())
		ok = true;
	else
		ok = AegisCkpt->guard_armed[j] &&
			AegisCkpt->guard_observed[j] <= AegisCkpt->done_redo;
	if (ok)
		AegisCkpt->guard_armed[i] = false;
	SpinLockRelease(&AegisCkpt->mutex);
	return ok;
}

/*
 * Ask the aegis checkpointer for a run covering 'redo' and wait for it,
 * holding the flag.  Returns the milliseconds waited.
 */
static double
guard_wait_for_run(XLogRecPtr redo)
{
	TimestampTz start = GetCurrentTimestamp();
	Latch	   *latch;

	SpinLockAcquire(&AegisCkpt->mutex);
	if (AegisCkpt->requested_redo < redo)
		AegisCkpt->requested_redo = redo;
	latch = AegisCkpt->checkpointer_latch;
	SpinLockRelease(&AegisCkpt->mutex);
	if (latch)
		SetLatch(latch);

	ConditionVariablePrepareToSleep(&AegisCkpt->done_cv);
	for (;;)
	{
		XLogRecPtr	done;

		SpinLockAcquire(&AegisCkpt->mutex);
		done = AegisCkpt->done_redo;
		latch = AegisCkpt->checkpointer_latch;
		SpinLockRelease(&AegisCkpt->mutex);
		if (done >= redo)
			break;
		/* the checkpointer may have restarted since we asked */
		if (latch)
			SetLatch(latch);
		(void) ConditionVariableTimedSleep(&AegisCkpt->done_cv, 100, PG_WAIT_EXTENSION);
		if (!PostmasterIsAlive())
			proc_exit(1);
	}
	ConditionVariableCancelSleep();
	return (double) (GetCurrentTimestamp() - start) / 1000.0;
}

/*
 * A guard leaves.  On the shutdown path the aegis checkpointer has made
 * everything durable first (final_done).  Any other exit (an error, a
 * signal) once aegis changes were allowed would leave the other guard
 * unable to hand over, and a checkpoint could go uncovered, so it is a
 * PANIC: the postmaster reinitializes, the running checkpoint is
 * abandoned, and recovery starts from the last complete one.
 */
static void
guard_exit(int code, Datum arg)
{
	int			i = DatumGetInt32(arg);
	bool		final_done;

	SpinLockAcquire(&AegisCkpt->mutex);
	final_done = AegisCkpt->final_done;
	AegisCkpt->guard_armed[i] = false;
	AegisCkpt->guards_alive--;
	AegisWalSetGuarded(false);
	SpinLockRelease(&AegisCkpt->mutex);
	if (!final_done && AegisWalWasGuarded() && PostmasterIsAlive())
		ereport(PANIC,
				(errmsg("aegis checkpoint guard %d exited while PostgreSQL's checkpoints depend on it", i + 1),
				 errdetail("A checkpoint could otherwise complete before aegis pages are durable; the server restarts and recovers.")));
}

/*
 * AegisGuardMain
 *		One of the two checkpoint guards (arg: 0 or 1); see the file header.
 *		Raises no error in its loop: it only reads shared memory, waits,
 *		and starts and commits empty transactions.
 */
void
AegisGuardMain(Datum arg)
{
	int			i = DatumGetInt32(arg);
	bool		armed = false;
	TimestampTz armed_at = 0;
	TimestampTz shutdown_since = 0;

	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	/* pg_cancel_backend must not end a guard (its exit would PANIC) */
	pqsignal(SIGINT, SIG_IGN);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	AegisCheckpointAttach();
	SpinLockAcquire(&AegisCkpt->mutex);
	AegisCkpt->guards_alive++;
	SpinLockRelease(&AegisCkpt->mutex);
	before_shmem_exit(guard_exit, Int32GetDatum(i));

	for (;;)
	{
		XLogRecPtr	redo;
		XLogRecPtr	done;
		XLogRecPtr	last_completed;
		TimeLineID	tli;
		bool		in_progress;
		bool		final_done;
		long		cycle_ms;

		/* absorbs ProcSignalBarriers (DROP DATABASE waits for them) */
		CHECK_FOR_INTERRUPTS();
		if (!armed)
		{
			guard_arm(i);
			armed = true;
			armed_at = GetCurrentTimestamp();
		}

		redo = GetRedoRecPtr();
		SpinLockAcquire(&AegisCkpt->mutex);
		done = AegisCkpt->done_redo;
		final_done = AegisCkpt->final_done;
		SpinLockRelease(&AegisCkpt->mutex);
		if (redo > done)
		{
			double		ms = guard_wait_for_run(redo);

			SpinLockAcquire(&AegisCkpt->mutex);
			AegisCkpt->last_wait_ms = ms;
			SpinLockRelease(&AegisCkpt->mutex);
		}

		/* the aegis checkpointer made everything durable: nothing to guard */
		if (ShutdownRequestPending && final_done)
			break;
		if (ShutdownRequestPending)
		{
			bool		orphan;

			SpinLockAcquire(&AegisCkpt->mutex);
			orphan = AegisCkpt->checkpointer_latch == NULL;
			SpinLockRelease(&AegisCkpt->mutex);
			if (!orphan)
				shutdown_since = 0;
			else if (shutdown_since == 0)
				shutdown_since = GetCurrentTimestamp();
			else if (TimestampDifferenceExceeds(shutdown_since, GetCurrentTimestamp(),
												GUARD_ORPHAN_MS))
				ereport(PANIC,
						(errmsg("the aegis checkpointer is not running at shutdown"),
						 errdetail("PostgreSQL must not write a clean shutdown checkpoint; aegis tables are recovered from the WAL at the next start.")));
		}

		GetOldestRestartPoint(&last_completed, &tli);
		in_progress = GetRedoRecPtr() != last_completed;
		cycle_ms = in_progress ? GUARD_CYCLE_BUSY_MS : GUARD_CYCLE_IDLE_MS;
		if (TimestampDifferenceExceeds(armed_at, GetCurrentTimestamp(), cycle_ms) &&
			guard_may_release(i))
		{
			guard_release();
			armed = false;
			SpinLockAcquire(&AegisCkpt->mutex);
			AegisCkpt->guard_cycles++;
			SpinLockRelease(&AegisCkpt->mutex);
			continue;
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 in_progress ? 5L : 100L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
	if (armed)
	{
		SpinLockAcquire(&AegisCkpt->mutex);
		AegisCkpt->guard_armed[i] = false;
		SpinLockRelease(&AegisCkpt->mutex);
		guard_release();
	}
	proc_exit(0);
}
