/*-------------------------------------------------------------------------
 *
 * checkpoint.h
 *	  Aegis checkpoints follow PostgreSQL's, and aegis start-up and redo run
 *	  in PostgreSQL's recovery.
 *
 * This module owns the sequence the way CheckPointGuts and xlogrecovery.c
 * do for PostgreSQL: what an aegis checkpoint does (AegisCheckpointRun),
 * how PostgreSQL's checkpoints wait for it (the checkpoint guards, see
 * src/checkpoint/README), the background workers, and the custom resource
 * manager's start-up, redo dispatch and end of recovery.
 *
 *-------------------------------------------------------------------------
 */
#ifndef AEGIS_CHECKPOINT_H
#define AEGIS_CHECKPOINT_H

#include "access/xlogdefs.h"
#include "fmgr.h"

/* Figures reported by aegis_wal_stats(). */
typedef struct AegisCheckpointStats
{
	XLogRecPtr	done_redo;		/* aegis state durable up to this redo */
	uint64		checkpoints;	/* aegis checkpoints completed */
	uint64		pages_written;	/* pages written back by them */
	double		last_ms;		/* duration of the last one */
	double		total_ms;		/* of all of them */
	double		last_wait_ms;	/* last redo pointer seen .. its work done */
	uint64		guard_cycles;	/* guard transactions (see README) */
	double		last_recovery_ms;	/* rm_startup .. rm_cleanup */
	uint64		last_recovery_records;	/* aegis records replayed */
	uint64		last_recovery_bytes;
} AegisCheckpointStats;

/* checkpoint_run.c */
extern Size AegisCheckpointShmemSize(void);
extern void AegisCheckpointShmemInit(void);
extern void AegisCheckpointRun(XLogRecPtr redo, bool log_record);
extern bool AegisCheckpointRegroup(void);
extern void AegisCheckpointRegroupDone(XLogRecPtr redo);
extern void AegisCheckpointWaitRegrouped(void);
extern void AegisCheckpointRegroupAll(void);
extern void AegisCheckpointSettle(bool end_of_recovery);
extern void AegisSettleFinishedTransactions(void);
extern void AegisCheckpointGetStats(AegisCheckpointStats *stats);


/* checkpoint_rmgr.c */
extern void AegisRegisterRmgr(void);

/* checkpoint_worker.c */
extern void AegisRegisterWorkers(void);
extern PGDLLEXPORT void AegisCheckpointerMain(Datum arg);
extern PGDLLEXPORT void AegisGuardMain(Datum arg);

#endif							/* AEGIS_CHECKPOINT_H */
