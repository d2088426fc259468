/*-------------------------------------------------------------------------
 *
 * page.h
 *	  Aegis pages: PostgreSQL's page layout holding heap-format tuples, and
 *	  the free-space search that decides where an insert goes.
 *
 *-------------------------------------------------------------------------
 */
#ifndef AEGIS_PAGE_H
#define AEGIS_PAGE_H

#include "aegis/buffer.h"
#include "access/heapam.h"
#include "access/htup.h"
#include "utils/rel.h"
#include "utils/snapshot.h"

/*
 * What pruning one page will do (page_prune.c): line pointers that become
 * redirects (pairs from, to), LP_DEAD or LP_UNUSED, and each version's
 * HeapTupleSatisfiesVacuum class.
 */
typedef struct AegisPrunePlan
{
	int			nredirected;
	int			ndead;
	int			nunused;
	int			nremoved;		/* versions removed */
	TransactionId latest_removed;	/* newest xid a removed version had */
	TransactionId new_prune_xid;	/* oldest deleter of what stays */
	OffsetNumber redirected[MaxHeapTuplesPerPage * 2];
	OffsetNumber nowdead[MaxHeapTuplesPerPage];
	OffsetNumber nowunused[MaxHeapTuplesPerPage];
	bool		marked[MaxHeapTuplesPerPage + 1];
	int8		htsv[MaxHeapTuplesPerPage + 1];	/* HTSV_Result, -1: no tuple */
} AegisPrunePlan;

extern AegisBuffer AegisPageGetBufferForTuple(Relation rel, Size len);
extern void AegisPageExtendStub(Relation rel, BlockNumber npages);
extern void AegisPageTrimStubs(void);
extern void AegisPageNoteStub(Relation rel, BlockNumber npages);
extern void AegisPageForgetStubs(void);
extern bool AegisPagePrune(Relation rel, AegisBuffer buf);
extern void AegisPagePruneOpt(Relation rel, AegisBuffer buf);
extern OffsetNumber AegisPagePutTuple(Relation rel, AegisBuffer buf,
									  HeapTuple tuple);

/* page_prune.c */
extern int	AegisHotChainMembers(Page page, OffsetNumber root, OffsetNumber *members,
								 bool *root_dead);
/* versions of one chain a non-MVCC index fetch returns, at most: all */
#define AEGIS_HOT_MAX_RETURNED	MaxHeapTuplesPerPage

extern bool AegisHotSearch(Relation rel, AegisBuffer buf, OffsetNumber root,
						   const OffsetNumber *skip_off, const TransactionId *skip_xmin,
						   int nskip, Snapshot snapshot, HeapTuple tuple, bool *all_dead);
extern void AegisHotRootOffsets(Page page, OffsetNumber *root_offsets);
extern void AegisPrunePlanPage(Relation rel, AegisBuffer buf, struct GlobalVisState *vistest,
							   AegisPrunePlan *plan);
extern void AegisPruneApply(Page page, const AegisPrunePlan *plan);

/*
 * AegisPageGetTuple
 *		Point 'tuple' (t_data, t_len, t_self, t_tableOid) at the tuple in
 *		line pointer 'off' of 'page', page number 'pageno'.  Returns false
 *		for a new page, an offset past the line pointer array, or a line
 *		pointer that holds no tuple.  The caller holds the page's content
 *		lock (or a private copy); 'tuple' points into the page.  Inline: a
 *		scan calls it for every tuple.
 */
static inline bool
AegisPageGetTuple(Page page, BlockNumber pageno, OffsetNumber off, Oid tableOid,
				  HeapTuple tuple)
{
	ItemId		lp;

	if (PageIsNew(page) || off < FirstOffsetNumber || off > PageGetMaxOffsetNumber(page))
		return false;
	lp = PageGetItemId(page, off);
	if (!ItemIdIsNormal(lp))
		return false;
	tuple->t_data = (HeapTupleHeader) PageGetItem(page, lp);
	tuple->t_len = ItemIdGetLength(lp);
	ItemPointerSet(&tuple->t_self, pageno, off);
	tuple->t_tableOid = tableOid;
	return true;
}

#endif							/* AEGIS_PAGE_H */
