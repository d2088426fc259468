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
