/*
 * fuzz_stubs.c
 *	  The few backend functions the fuzzed decoders call, for a standalone
 *	  libFuzzer binary: ereport(ERROR) jumps back to the target
 *	  (fuzz_error_jmp), which is the expected outcome for bad input;
 *	  anything else (a crash, a sanitizer report) is a finding.  palloc
 *	  keeps its chunks until the target calls fuzz_reset_memory.
 */
#include "postgres.h"

#include <setjmp.h>

#include "aegis/aegis.h"
#include "lib/ilist.h"
#include "fuzz.h"

sigjmp_buf	fuzz_error_jmp;
int			fuzz_errors = 0;

/*
 * palloc'd chunks, on one list until fuzz_reset_memory frees them all, as
 * a memory context reset at the end of a query would: an error jumps past
 * the decoder's pfree, and the chunk must be neither lost nor kept for ever.
 */
typedef struct FuzzChunk
{
	dlist_node	node;
} FuzzChunk;

StaticAssertDecl(sizeof(FuzzChunk) % MAXIMUM_ALIGNOF == 0, "palloc'd memory stays aligned");

static dlist_head fuzz_chunks = DLIST_STATIC_INIT(fuzz_chunks);

void *
palloc(Size size)
{
	FuzzChunk  *chunk = malloc(sizeof(FuzzChunk) + size);

	if (chunk == NULL)
		abort();
	dlist_push_head(&fuzz_chunks, &chunk->node);
	return chunk + 1;
}

void *
palloc0(Size size)
{
	return memset(palloc(size), 0, size);
}

void
pfree(void *pointer)
{
	FuzzChunk  *chunk = (FuzzChunk *) pointer - 1;

	dlist_delete(&chunk->node);
	free(chunk);
}

/* free what palloc gave and was not pfree'd: call once per input */
void
fuzz_reset_memory(void)
{
	dlist_mutable_iter iter;

	dlist_foreach_modify(iter, &fuzz_chunks)
	{
		dlist_delete(iter.cur);
		free(iter.cur);
	}
}

bool
errstart_cold(int elevel, const char *domain)
{
	return true;
}

bool
errstart(int elevel, const char *domain)
{
	return true;
}

void
errfinish(const char *filename, int lineno, const char *funcname)
{
	fuzz_errors++;
	siglongjmp(fuzz_error_jmp, 1);
}

int
errcode(int sqlerrcode)
{
	return 0;
}

int
errmsg(const char *fmt,...)
{
	return 0;
}

int
errmsg_internal(const char *fmt,...)
{
	return 0;
}

int
errdetail_internal(const char *fmt,...)
{
	return 0;
}

int
errhint(const char *fmt,...)
{
	return 0;
}

/* formatted into a static buffer: the decoders only pass it to errdetail */
char *
psprintf(const char *fmt,...)
{
	static char buf[1024];
	va_list		args;

	va_start(args, fmt);
	vsnprintf(buf, sizeof(buf), fmt, args);
	va_end(args);
	return buf;
}

char *
AegisRelKeyDescribe(const AegisRelKey *key)
{
	static char name[] = "fuzzed relation";

	return name;
}

const char *
AegisCodecName(AegisCodec codec)
{
	return codec == AEGIS_CODEC_LZ4 ? "lz4" : codec == AEGIS_CODEC_ZSTD ? "zstd" : "none";
}
