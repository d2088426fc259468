/*-------------------------------------------------------------------------
 *
 * page_prune.c
 *	  HOT chains on aegis pages: which version of a chain a snapshot sees,
 *	  the root line pointer of every heap-only tuple, and pruning a page by
 *	  heap's chain rules.
 *
 * A HOT update (heap-only tuple, PostgreSQL's src/backend/access/heap/
 * README.HOT) puts the new version on the old one's page when no indexed
 * column changed: the old version gets HEAP_HOT_UPDATED, the new one
 * HEAP_ONLY_TUPLE and no index entries.  Index entries point to the chain's
 * root (its first version, or the LP_REDIRECT line pointer that replaced
 * it); t_ctid links lead to the later versions, each linked only if its
 * xmin equals the previous version's updater.
 *
 * This file also holds what pruning needs below the free-space search
 * (page_space.c): reading a tuple at a line pointer (AegisPageGetTuple),
 * and the opportunistic prunes of writers (AegisPagePrune) and readers
 * (AegisPagePruneOpt).
 *
 * Pruning (AegisPrunePlanPage, then AegisPruneApply) removes a chain's dead
 * prefix as heap_page_prune does: dead heap-only versions become LP_UNUSED
 * at once (no index entry points to them); the root becomes LP_REDIRECT to
 * the first surviving version, or LP_DEAD when the whole chain is dead (its
 * index entries are then removed by VACUUM before the line pointer is
 * reused, DESIGN.md invariant 1).  A dead heap-only version outside any
 * chain (its update aborted) becomes LP_UNUSED.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/heapam_xlog.h"
#include "access/htup_details.h"
#include "access/xlog.h"
#include "aegis/page.h"
#include "aegis/transaction.h"
#include "aegis/wal.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/bufpage.h"
#include "storage/predicate.h"
#include "utils/snapmgr.h"

/*
 * A walk along the HOT chain starting at one line pointer, one member at a
 * time (AegisHotChainMembers' rules), so a search can stop at the first
 * version it wants without reading the rest of the chain.
 */
typedef struct HotChainWalk
{
	OffsetNumber maxoff;
	OffsetNumber next;			/* line pointer to look at, or Invalid: done */
	TransactionId prior_xmax;	/* the last member's updater */
	bool		at_start;
	bool		root_dead;		/* the root is LP_DEAD */
	int			steps;			/* members returned: a corrupt chain ends */
} HotChainWalk;

static inline void
hot_walk_begin(HotChainWalk *w, Page page, OffsetNumber root)
{
	w->maxoff = PageIsNew(page) ? 0 : PageGetMaxOffsetNumber(page);
	w->next = root;
	w->prior_xmax = InvalidTransactionId;
	w->at_start = true;
	w->root_dead = false;
	w->steps = 0;
}

/* The chain's next normal tuple, or InvalidOffsetNumber at its end. */
static inline OffsetNumber
hot_walk_next(HotChainWalk *w, Page page)
{
	while (w->next != InvalidOffsetNumber && w->steps < MaxHeapTuplesPerPage)
	{
		OffsetNumber off = w->next;
		ItemId		lp;
		HeapTupleHeader htup;

		w->next = InvalidOffsetNumber;
		if (off < FirstOffsetNumber || off > w->maxoff)
			break;
		lp = PageGetItemId(page, off);
		if (!ItemIdIsNormal(lp))
		{
			if (ItemIdIsRedirected(lp) && w->at_start)
			{
				w->next = ItemIdGetRedirect(lp);
				w->at_start = false;
				continue;
			}
			if (ItemIdIsDead(lp) && w->at_start)
				w->root_dead = true;
			break;
		}
		htup = (HeapTupleHeader) PageGetItem(page, lp);
		if (w->at_start && HeapTupleHeaderIsHeapOnly(htup))
			break;
		if (TransactionIdIsValid(w->prior_xmax) &&
			!TransactionIdEquals(w->prior_xmax, HeapTupleHeaderGetXmin(htup)))
			break;
		w->at_start = false;
		w->steps++;
		if (HeapTupleHeaderIsHotUpdated(htup))
		{
			w->next = ItemPointerGetOffsetNumber(&htup->t_ctid);
			w->prior_xmax = HeapTupleHeaderGetUpdateXid(htup);
		}
		return off;
	}
	return InvalidOffsetNumber;
}

/*
 * AegisHotChainMembers
 *		The normal tuples of the HOT chain starting at line pointer 'root', in
 * chain order, into members[] (at most MaxHeapTuplesPerPage); returns their
 * number.  A redirect is followed only at the start; a heap-only tuple at
 * the start is no root (a stale TID), and a version whose xmin is not its
 * predecessor's updater ends the chain (its slot was reused), as in
 * heap_hot_search_buffer.  *root_dead is set when the root is LP_DEAD.
 */
int
AegisHotChainMembers(Page page, OffsetNumber root, OffsetNumber *members, bool *root_dead)
{
	HotChainWalk w;
	OffsetNumber off;
	int			n = 0;

	hot_walk_begin(&w, page, root);
	while ((off = hot_walk_next(&w, page)) != InvalidOffsetNumber)
		members[n++] = off;
	*root_dead = w.root_dead;
	return n;
}

/* Is the tuple at 'off' (a chain member) the version (off_wanted, xmin)? */
static bool
is_version(Page page, OffsetNumber off, OffsetNumber off_wanted, TransactionId xmin)
{
	HeapTupleHeader htup;

	if (off != off_wanted)
		return false;
	htup = (HeapTupleHeader) PageGetItem(page, PageGetItemId(page, off));
	return TransactionIdEquals(HeapTupleHeaderGetXmin(htup), xmin);
}

/*
 * One member of a chain for AegisHotSearch: does 'snapshot' see it?  Then
 * 'tuple' points at it, its serializable conflict is checked and its
 * predicate lock taken.  Otherwise *dead (if still set) stays set only when
 * the version is dead to all transactions.
 */
static inline bool
search_member(Relation rel, AegisBuffer buf, Page page, BlockNumber pageno,
			  OffsetNumber off, Snapshot snapshot, HeapTuple tuple,
			  bool *dead, GlobalVisState **vistest)
{
	bool		valid;

	(void) AegisPageGetTuple(page, pageno, off, RelationGetRelid(rel), tuple);
	valid = AegisTupleSatisfiesVisibility(tuple, snapshot, buf);
	AegisCheckConflictOut(valid, rel, tuple, buf, snapshot);
	if (valid)
	{
		PredicateLockTID(rel, &tuple->t_self, snapshot,
						 HeapTupleHeaderGetXmin(tuple->t_data));
		return true;
	}
	if (*dead)
	{
		if (*vistest == NULL)
			*vistest = GlobalVisTestFor(rel);
		*dead = AegisTupleIsSurelyDead(tuple, *vistest, buf);
	}
	return false;
}

/*
 * AegisHotSearch
 *		heap_hot_search_buffer for aegis: on the page of 'buf' (pinned and
 *		content-locked, shared or exclusive), find the first version of the
 *		HOT chain rooted at line pointer 'root' that 'snapshot' sees, and
 *		point 'tuple' at it (into the page; t_self is its TID).  The next
 *		call for a non-MVCC snapshot (which may see several versions) gives
 *		the 'nskip' versions returned so far, (skip_off[i], skip_xmin[i]) in
 *		chain order: the search starts after the last one if it is still in
 *		the chain (else, pruned, every remaining version came after it) and
 *		passes over all of them (a chain cut short by an aborted update must
 *		not return its root again).  Checks serializable conflicts and takes
 *		the predicate lock on the version returned, as heap does.
 *
 *		'all_dead' (may be NULL) is set when no version is visible and every
 *		version of the chain is dead to all transactions (or the root is
 *		LP_DEAD): the index may then kill its entry.  Raises nothing.
 */
bool
AegisHotSearch(Relation rel, AegisBuffer buf, OffsetNumber root,
			   const OffsetNumber *skip_off, const TransactionId *skip_xmin, int nskip,
			   Snapshot snapshot, HeapTuple tuple, bool *all_dead)
{
	Page		page = AegisBufferGetPage(buf);
	BlockNumber pageno = AegisBufferGetPageNo(buf);
	OffsetNumber members[MaxHeapTuplesPerPage];
	bool		root_dead;
	int			n;
	int			start = 0;
	bool		dead;
	GlobalVisState *vistest = NULL;

	if (nskip == 0)
	{
		/* the first call for this chain: walk it only as far as needed */
		HotChainWalk w;
		OffsetNumber off;
		bool		any = false;

		dead = true;
		hot_walk_begin(&w, page, root);
		while ((off = hot_walk_next(&w, page)) != InvalidOffsetNumber)
		{
			any = true;
			if (search_member(rel, buf, page, pageno, off, snapshot, tuple,
							  &dead, &vistest))
			{
				if (all_dead)
					*all_dead = false;
				return true;
			}
		}
		if (all_dead)
			*all_dead = dead && (any || w.root_dead);
		return false;
	}

	/* a later call: start after the version returned last, if still there */
	n = AegisHotChainMembers(page, root, members, &root_dead);
	dead = false;
	for (int i = 0; i < n; i++)
	{
		if (is_version(page, members[i], skip_off[nskip - 1], skip_xmin[nskip - 1]))
		{
			start = i + 1;
			break;
		}
	}
	for (int i = start; i < n; i++)
	{
		bool		returned = false;

		for (int j = 0; j < nskip && !returned; j++)
			returned = is_version(page, members[i], skip_off[j], skip_xmin[j]);
		if (returned)
			continue;
		if (search_member(rel, buf, page, pageno, members[i], snapshot, tuple,
						  &dead, &vistest))
		{
			if (all_dead)
				*all_dead = false;
			return true;
		}
	}
	if (all_dead)
		*all_dead = false;
	return false;
}

/*
 * AegisHotRootOffsets
 *		heap_get_root_tuples: for every heap-only tuple on 'page' (locked, or
 *		a private copy), the offset of its chain's root line pointer, in
 *		root_offsets[off - 1]; normal tuples that start a chain map to
 *		themselves; InvalidOffsetNumber elsewhere.  root_offsets has
 *		MaxHeapTuplesPerPage entries.
 */
void
AegisHotRootOffsets(Page page, OffsetNumber *root_offsets)
{
	OffsetNumber maxoff = PageIsNew(page) ? 0 : PageGetMaxOffsetNumber(page);

	MemSet(root_offsets, InvalidOffsetNumber, MaxHeapTuplesPerPage * sizeof(OffsetNumber));
	for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++)
	{
		ItemId		lp = PageGetItemId(page, off);
		OffsetNumber members[MaxHeapTuplesPerPage];
		bool		root_dead;
		int			n;

		/* roots: a normal tuple that is not heap-only, or a redirect */
		if (ItemIdIsNormal(lp))
		{
			if (HeapTupleHeaderIsHeapOnly((HeapTupleHeader) PageGetItem(page, lp)))
				continue;
		}
		else if (!ItemIdIsRedirected(lp))
			continue;
		n = AegisHotChainMembers(page, off, members, &root_dead);
		for (int i = 0; i < n; i++)
			root_offsets[members[i] - 1] = off;
	}
}

static void
record_unused(AegisPrunePlan *plan, OffsetNumber off)
{
	plan->nowunused[plan->nunused++] = off;
	plan->marked[off] = true;
}

static void
record_dead(AegisPrunePlan *plan, OffsetNumber off)
{
	plan->nowdead[plan->ndead++] = off;
	plan->marked[off] = true;
}

static void
record_redirect(AegisPrunePlan *plan, OffsetNumber from, OffsetNumber to)
{
	plan->redirected[plan->nredirected * 2] = from;
	plan->redirected[plan->nredirected * 2 + 1] = to;
	plan->nredirected++;
	plan->marked[from] = true;
	plan->marked[to] = true;
}

static void
note_prunable(AegisPrunePlan *plan, TransactionId xid)
{
	if (TransactionIdIsNormal(xid) &&
		(!TransactionIdIsValid(plan->new_prune_xid) ||
		 TransactionIdPrecedes(xid, plan->new_prune_xid)))
		plan->new_prune_xid = xid;
}

/* heap_prune_chain: plan the removal of the dead prefix of one chain. */
static void
prune_chain(Page page, OffsetNumber root, AegisPrunePlan *plan)
{
	OffsetNumber maxoff = PageGetMaxOffsetNumber(page);
	ItemId		rootlp = PageGetItemId(page, root);
	OffsetNumber chain[MaxHeapTuplesPerPage];
	int			nchain = 0;
	OffsetNumber latestdead = InvalidOffsetNumber;
	OffsetNumber off = root;
	TransactionId prior_xmax = InvalidTransactionId;
	int			i;

	if (ItemIdIsNormal(rootlp))
	{
		HeapTupleHeader htup = (HeapTupleHeader) PageGetItem(page, rootlp);

		if (HeapTupleHeaderIsHeapOnly(htup))
		{
			/*
			 * Not a root: part of a chain, removed with it, unless it is
			 * dead and links to nothing (an aborted update's version).
			 */
			if (plan->htsv[root] == HEAPTUPLE_DEAD && !HeapTupleHeaderIsHotUpdated(htup))
			{
				record_unused(plan, root);
				HeapTupleHeaderAdvanceLatestRemovedXid(htup, &plan->latest_removed);
				plan->nremoved++;
			}
			return;
		}
	}

	while (nchain < MaxHeapTuplesPerPage)
	{
		ItemId		lp;
		HeapTupleHeader htup;

		if (off < FirstOffsetNumber || off > maxoff || plan->marked[off])
			break;
		lp = PageGetItemId(page, off);
		if (!ItemIdIsUsed(lp))
			break;
		if (ItemIdIsRedirected(lp))
		{
			if (nchain > 0)
				break;			/* a redirect is only ever a root */
			chain[nchain++] = off;
			off = ItemIdGetRedirect(lp);
			continue;
		}
		if (ItemIdIsDead(lp))
			break;
		htup = (HeapTupleHeader) PageGetItem(page, lp);
		if (TransactionIdIsValid(prior_xmax) &&
			!TransactionIdEquals(HeapTupleHeaderGetXmin(htup), prior_xmax))
			break;
		chain[nchain++] = off;

		/* past a recently dead version a dead one may follow; not past others */
		if (plan->htsv[off] == HEAPTUPLE_DEAD)
		{
			latestdead = off;
			HeapTupleHeaderAdvanceLatestRemovedXid(htup, &plan->latest_removed);
		}
		else if (plan->htsv[off] != HEAPTUPLE_RECENTLY_DEAD)
			break;
		if (!HeapTupleHeaderIsHotUpdated(htup) || HeapTupleHeaderIndicatesMovedPartitions(htup))
			break;
		off = ItemPointerGetOffsetNumber(&htup->t_ctid);
		prior_xmax = HeapTupleHeaderGetUpdateXid(htup);
	}

	if (OffsetNumberIsValid(latestdead))
	{
		/* the heap-only versions up to the last dead one go at once */
		for (i = 1; i < nchain && chain[i - 1] != latestdead; i++)
		{
			record_unused(plan, chain[i]);
			plan->nremoved++;
		}
		if (ItemIdIsNormal(rootlp))
			plan->nremoved++;
		if (i >= nchain)
			record_dead(plan, root);	/* the whole chain is dead */
		else
			record_redirect(plan, root, chain[i]);
	}
	else if (nchain < 2 && ItemIdIsRedirected(rootlp))
	{
		/* a redirect to nothing left of its chain */
		record_dead(plan, root);
	}
}

/*
 * AegisPrunePlanPage
 *		heap_page_prune's planning half, on the exclusively locked page of
 *		'buf': classify every version (HeapTupleSatisfiesVacuum; a recently
 *		dead one whose deleter 'vistest' says no snapshot needs counts as
 *		dead), then plan, chain by chain, which line pointers become
 *		redirects, LP_DEAD or LP_UNUSED.  plan->htsv[off] keeps each
 *		version's class (-1 where there is no tuple) for the caller; the
 *		page is not changed (hint bits aside).  Outside critical sections:
 *		it may consult the commit log.
 */
void
AegisPrunePlanPage(Relation rel, AegisBuffer buf, GlobalVisState *vistest,
				   AegisPrunePlan *plan)
{
	Page		page = AegisBufferGetPage(buf);
	BlockNumber pageno = AegisBufferGetPageNo(buf);
	OffsetNumber maxoff = PageIsNew(page) ? 0 : PageGetMaxOffsetNumber(page);

	plan->nredirected = plan->ndead = plan->nunused = plan->nremoved = 0;
	plan->latest_removed = InvalidTransactionId;
	plan->new_prune_xid = InvalidTransactionId;
	memset(plan->marked, 0, sizeof(plan->marked));

	for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++)
	{
		HeapTupleData tup;
		TransactionId dead_after;
		HTSV_Result res;

		plan->htsv[off] = -1;
		if (!AegisPageGetTuple(page, pageno, off, RelationGetRelid(rel), &tup))
			continue;
		res = AegisTupleSatisfiesVacuum(&tup, &dead_after, buf);
		if (res == HEAPTUPLE_RECENTLY_DEAD)
		{
			if (GlobalVisTestIsRemovableXid(vistest, dead_after))
				res = HEAPTUPLE_DEAD;
			else
				note_prunable(plan, dead_after);	/* a later prune may remove it */
		}
		else if (res == HEAPTUPLE_DELETE_IN_PROGRESS)
			note_prunable(plan, HeapTupleHeaderGetUpdateXid(tup.t_data));
		plan->htsv[off] = (int8) res;
	}

	for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++)
	{
		ItemId		lp = PageGetItemId(page, off);

		if (plan->marked[off] || !ItemIdIsUsed(lp) || ItemIdIsDead(lp))
			continue;
		prune_chain(page, off, plan);
	}
}

/*
 * AegisPruneApply
 *		Carry out a plan on the page it was made for (still exclusively
 *		locked since AegisPrunePlanPage).  Call inside a critical section,
 *		between AegisWalPageBegin and AegisWalPageLog (the line pointer
 *		changes are part of the logged delta).  Tuple storage is freed only
 *		by a later compaction (AegisWalPageCompact).
 */
void
AegisPruneApply(Page page, const AegisPrunePlan *plan)
{
	for (int i = 0; i < plan->nredirected; i++)
		ItemIdSetRedirect(PageGetItemId(page, plan->redirected[i * 2]),
						  plan->redirected[i * 2 + 1]);
	for (int i = 0; i < plan->ndead; i++)
		ItemIdSetDead(PageGetItemId(page, plan->nowdead[i]));
	for (int i = 0; i < plan->nunused; i++)
		ItemIdSetUnused(PageGetItemId(page, plan->nowunused[i]));
}

/*
 * AegisPagePrune
 *		Opportunistic pruning, heap_page_prune_opt: on the exclusively locked
 *		page of 'buf', remove the versions no snapshot can see by the HOT
 *		chain rules (page_prune.c) and defragment, so their space is reused
 *		before VACUUM runs.  A removed root's line pointer (its TID) stays
 *		reserved, LP_DEAD or a redirect, until VACUUM has removed its index
 *		entries; heap-only versions have none and free their line pointers at
 *		once.  Only done when pd_prune_xid says a deleter may be old enough
 *		(or VACUUM left unreclaimed space) and ours is the only pin.  The
 *		versions removed are reported to pgstats as no longer dead, as by
 *		heap_page_prune_opt.  Returns true if space was freed.
 */
bool
AegisPagePrune(Relation rel, AegisBuffer buf)
{
	Page		page = AegisBufferGetPage(buf);
	TransactionId prune_xid = ((PageHeader) page)->pd_prune_xid;
	GlobalVisState *vistest;
	AegisPrunePlan plan;
	AegisPageChange *chg;
	bool		removes;

	/* PD_HAS_FREE_LINES: VACUUM may have left unreclaimed tuple space */
	bool		free_lines = PageHasFreeLinePointers(page);

	vistest = GlobalVisTestFor(rel);
	if (!free_lines &&
		(!TransactionIdIsValid(prune_xid) || !GlobalVisTestIsRemovableXid(vistest, prune_xid)))
		return false;
	if (!AegisBufferIsCleanupOK(buf))
		return false;

	AegisPrunePlanPage(rel, buf, vistest, &plan);
	removes = plan.nredirected > 0 || plan.ndead > 0 || plan.nunused > 0;

	/* only defragmenting (no version removed) keeps an all-visible page so */
	chg = AegisWalPageBeginPrune(rel, buf, !removes);
	AegisWalPageConflict(chg, plan.latest_removed);
	START_CRIT_SECTION();
	AegisPruneApply(page, &plan);
	if (removes || free_lines)
		AegisWalPageCompact(chg);
	((PageHeader) page)->pd_prune_xid = plan.new_prune_xid;
	PageClearFull(page);
	AegisBufferMarkDirty(buf);
	AegisWalPageLog(chg);
	END_CRIT_SECTION();

	/*
	 * Versions reclaimed here no longer count as dead in pgstats, less the
	 * roots now LP_DEAD that VACUUM still has to visit: heap_page_prune_opt
	 * reports the same, so autovacuum sees the dead tuples heap would.
	 */
	if (plan.nremoved > plan.ndead)
		pgstat_update_heap_dead_tuples(rel, plan.nremoved - plan.ndead);
	return removes || free_lines;
}

/*
 * AegisPagePruneOpt
 *		heap_page_prune_opt for readers: called with 'buf' pinned and not
 *		locked by an index fetch or a scan about to read the page.  When the
 *		page is nearly full (less free space than the fillfactor reserves, or
 *		a tenth of the page), or marked PD_PAGE_FULL by a scan that met
 *		there more versions deleted before its snapshot than it returned
 *		(load_page), and pd_prune_xid says a deleter may be old enough,
 *		prune it if its exclusive content lock and the cleanup condition can
 *		be had without waiting, so HOT chains stay short without UPDATE
 *		having to find a full page.  Never on a standby, nor
 *		while aegis WAL may not be written; raises nothing of its own.
 */
void
AegisPagePruneOpt(Relation rel, AegisBuffer buf)
{
	Page		page = AegisBufferGetPage(buf);
	TransactionId prune_xid;
	Size		minfree;

	if (RecoveryInProgress() || (AegisRelNeedsWal(rel) && !AegisWalIsGuarded()))
		return;
	/* unlocked peeks, as heap's: a stale value only skips or tries once */
	prune_xid = ((PageHeader) page)->pd_prune_xid;
	if (!TransactionIdIsValid(prune_xid) ||
		!GlobalVisTestIsRemovableXid(GlobalVisTestFor(rel), prune_xid))
		return;
	minfree = Max(RelationGetTargetPageFreeSpace(rel, HEAP_DEFAULT_FILLFACTOR), BLCKSZ / 10);
	if (PageIsNew(page) || (!PageIsFull(page) && PageGetHeapFreeSpace(page) >= minfree))
		return;
	if (!AegisBufferConditionalLockExclusive(buf))
		return;
	if (PageIsFull(page) || PageGetHeapFreeSpace(page) < minfree)
		(void) AegisPagePrune(rel, buf);
	AegisBufferUnlock(buf);
}
