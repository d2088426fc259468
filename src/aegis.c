/*-------------------------------------------------------------------------
 *
 * aegis.c
 *	  _PG_init, hooks, and the one table of shared-memory pieces.
 *
 * The extension only works when loaded through shared_preload_libraries: its
 * buffer pool and relation directory live in shared memory sized at
 * postmaster start.  Loaded any other way, _PG_init does nothing and every
 * entry point raises AegisCheckPreloaded's error.
 *
 * Transaction hooks installed here write the DROP records of a committing
 * transaction before PostgreSQL's commit record (its aegis page records are
 * in the same WAL stream already, so its commit flush covers them), release
 * buffer pins left by an error and settle storage created or dropped by the
 * ending (sub)transaction.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "aegis/aegis.h"
#include "aegis/buffer.h"
#include "aegis/checkpoint.h"
#include "aegis/guc.h"
#include "aegis/page.h"
#include "aegis/tam.h"
#include "aegis/transaction.h"
#include "aegis/wal.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/shmem.h"

PG_MODULE_MAGIC;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static ExecutorEnd_hook_type prev_executor_end_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

void		_PG_init(void);

/*
 * ExecutorEnd_hook: a statement that added pages to aegis tables leaves
 * their stubs exactly as long as their pages (AegisPageTrimStubs), so
 * pg_relation_size later in the transaction is heap's.
 */
static void
aegis_executor_end(QueryDesc *queryDesc)
{
	if (prev_executor_end_hook)
		prev_executor_end_hook(queryDesc);
	else
		standard_ExecutorEnd(queryDesc);
	AegisPageTrimStubs();
}

/*
 * The shared-memory pieces.  Each module sizes and initializes its own; this
 * table is the one place that lists them.
 */
static const struct
{
	Size		(*size) (void);
	void		(*init) (void);
}			aegis_shmem_pieces[] =
{
	{AegisBufferShmemSize, AegisBufferShmemInit},
	{AegisDirShmemSize, AegisDirShmemInit},
	{AegisWalShmemSize, AegisWalShmemInit},
	{AegisCheckpointShmemSize, AegisCheckpointShmemInit},
	{AegisIoShmemSize, AegisIoShmemInit},
	{AegisWalDictShmemSize, AegisWalDictShmemInit},
};

static void
aegis_shmem_request(void)
{
	Size		size = 0;

	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	for (int i = 0; i < lengthof(aegis_shmem_pieces); i++)
		size = add_size(size, aegis_shmem_pieces[i].size());
	RequestAddinShmemSpace(size);
}

static void
aegis_shmem_startup(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	for (int i = 0; i < lengthof(aegis_shmem_pieces); i++)
		aegis_shmem_pieces[i].init();
	LWLockRelease(AddinShmemInitLock);
}

static void
aegis_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			/* stubs grown by chunks are cut to their relations' pages */
			AegisPageTrimStubs();
			/* DROP records precede the commit record (invariant 7) */
			AegisPendingLogDrops();
			AegisPendingSyncCreated();
			break;
		case XACT_EVENT_PRE_PREPARE:

			/*
			 * As at pre-commit: the DROP records precede the PREPARE record,
			 * and storage filled without WAL is synced.  Its creations and
			 * drops are then settled from the directory's xids when COMMIT
			 * or ROLLBACK PREPARED ends the transaction, in whichever session
			 * (AegisSettleFinishedTransactions), as PostgreSQL's 2PC state
			 * carries its own pending deletes.
			 */
			AegisPageTrimStubs();
			AegisPendingLogDrops();
			AegisPendingSyncCreated();
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			AegisPageForgetStubs();
			AegisBufferReleaseAll(true);
			if (AegisPendingDropsAtCommit())
				AEGIS_CRASH_AT(AEGIS_CRASH_COMMIT_AFTER_DROP_LOGGED);
			AegisPendingAtXactEnd(true);
			break;
		case XACT_EVENT_PREPARE:
			AegisPageForgetStubs();
			AegisBufferReleaseAll(true);
			AegisPendingForget();
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			AegisPageForgetStubs();
			AegisBufferReleaseAll(false);
			AegisPendingAtXactEnd(false);
			break;
		default:
			break;
	}
}

static void
aegis_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					   SubTransactionId parentSubid, void *arg)
{
	switch (event)
	{
		case SUBXACT_EVENT_COMMIT_SUB:
			AegisPendingAtSubXactEnd(true);
			break;
		case SUBXACT_EVENT_ABORT_SUB:
			AegisBufferReleaseTransient();
			AegisPendingAtSubXactEnd(false);
			break;
		default:
			break;
	}
}

void
_PG_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;
	aegis_preloaded = true;

	AegisDefineGucs();

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = aegis_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = aegis_shmem_startup;

	prev_executor_end_hook = ExecutorEnd_hook;
	ExecutorEnd_hook = aegis_executor_end;
	RegisterXactCallback(aegis_xact_callback, NULL);
	RegisterSubXactCallback(aegis_subxact_callback, NULL);
	AegisInstallDdlHooks();
	AegisInstallOptionHooks();
	AegisRegisterWorkers();
	AegisIoRegisterWorkers();
	AegisRegisterRmgr();
}
