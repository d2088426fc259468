/*-------------------------------------------------------------------------
 *
 * transaction.h
 *	  MVCC visibility of aegis tuples on PostgreSQL's xids and snapshots, and
 *	  the transactional lifecycle of aegis storage.
 *
 * Tuples are HeapTupleHeaderData, so the rules are PostgreSQL's heap rules
 * (heapam_visibility.c), applied to tuples that live in aegis buffers.  Hint
 * bits are set only under the same condition heap uses: the commit record of
 * the hinted xid is flushed (see src/transaction/README).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AEGIS_TRANSACTION_H
#define AEGIS_TRANSACTION_H

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/transam.h"
#include "access/tableam.h"
#include "aegis/buffer.h"
#include "utils/snapmgr.h"
#include "utils/snapshot.h"

/* transaction_visibility.c; 'buf' is pinned and at least share-locked */
extern bool AegisTupleSatisfiesVisibility(HeapTuple tuple, Snapshot snapshot,
										  AegisBuffer buf);
extern TM_Result AegisTupleSatisfiesUpdate(HeapTuple tuple, CommandId curcid,
										   AegisBuffer buf);
extern HTSV_Result AegisTupleSatisfiesVacuum(HeapTuple tuple,
											 TransactionId *dead_after,
											 AegisBuffer buf);
extern void AegisCheckConflictOut(bool visible, Relation rel, HeapTuple tuple,
								  AegisBuffer buf, Snapshot snapshot);
extern bool AegisTupleIsSurelyDead(HeapTuple tuple, GlobalVisState *vistest,
								   AegisBuffer buf);

/*
 * AegisTupleGoneBefore
 *		Was the version at 'tup' updated or deleted by a transaction known
 *		committed (HEAP_XMAX_COMMITTED) whose xid precedes 'xmin', an MVCC
 *		snapshot's xmin?  Then that snapshot cannot see it, whatever its
 *		xmin: an xid below the snapshot's xmin was not running when the
 *		snapshot was taken (XidInMVCCSnapshot is false for it), so the
 *		deleter committed before the snapshot, and it is not the snapshot's
 *		own transaction or a subtransaction of it (those still run).
 *		HeapTupleSatisfiesMVCC comes to the same answer after two
 *		XidInMVCCSnapshot calls.  Inline: scans ask it of every version.
 */
static inline bool
AegisTupleGoneBefore(HeapTupleHeader tup, TransactionId xmin)
{
	TransactionId xmax = HeapTupleHeaderGetRawXmax(tup);

	return (tup->t_infomask & (HEAP_XMAX_COMMITTED | HEAP_XMAX_INVALID | HEAP_XMAX_IS_MULTI)) ==
		HEAP_XMAX_COMMITTED && !HEAP_XMAX_IS_LOCKED_ONLY(tup->t_infomask) &&
		TransactionIdIsNormal(xmax) && TransactionIdIsNormal(xmin) &&
		NormalTransactionIdPrecedes(xmax, xmin);
}

/* transaction_storage.c: storage created or dropped at (sub)xact end */
extern void AegisPendingCreate(const AegisRelKey *key);
extern void AegisPendingDrop(const AegisRelKey *key);
extern void AegisPendingCreateDatabase(Oid dbOid);
extern void AegisPendingDropDatabase(Oid dbOid);
extern void AegisPendingAtXactEnd(bool isCommit);
extern void AegisPendingAtSubXactEnd(bool isCommit);
extern void AegisPendingLogDrops(void);
extern void AegisPendingSyncCreated(void);
extern void AegisPendingForget(void);
extern bool AegisPendingDropsAtCommit(void);

#endif							/* AEGIS_TRANSACTION_H */
