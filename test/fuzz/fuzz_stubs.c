/*
 * fuzz_stubs.c
 *	  The few backend functions the fuzzed decoders call, for a standalone
 *	  libFuzzer binary: ereport(ERROR) jumps back to the target
 *	  (fuzz_error_jmp), which is the expected outcome for bad input;
 *	  anything else (a crash, a sanitizer report) is a finding.
 */
#include "postgres.h"

#include <setjmp.h>

#include "aegis/aegis.h"
#include "fuzz.h"

sigjmp_buf	fuzz_error_jmp;
int			fuzz_errors = 0;

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
