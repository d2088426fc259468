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
#include "access/htup.h"
#include "utils/rel.h"

extern AegisBuffer AegisPageGetBufferForTuple(Relation rel, Size len);
extern bool AegisPagePrune(Relation rel, AegisBuffer buf);
extern bool AegisPageGetTuple(Page page, BlockNumber pageno, OffsetNumber off,
							  Oid tableOid, HeapTuple tuple);
extern OffsetNumber AegisPagePutTuple(Relation rel, AegisBuffer buf,
									  HeapTuple tuple);

#endif							/* AEGIS_PAGE_H */
