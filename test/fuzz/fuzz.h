/* fuzz.h: shared by the fuzz targets and fuzz_stubs.c */
#ifndef AEGIS_FUZZ_H
#define AEGIS_FUZZ_H

#include <setjmp.h>

extern sigjmp_buf fuzz_error_jmp;
extern int	fuzz_errors;

/* fuzz_stubs.c: free every chunk palloc gave (a memory context reset) */
extern void fuzz_reset_memory(void);

#endif
