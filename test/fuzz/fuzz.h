/* fuzz.h: shared by the fuzz targets and fuzz_stubs.c */
#ifndef AEGIS_FUZZ_H
#define AEGIS_FUZZ_H

#include <setjmp.h>

extern sigjmp_buf fuzz_error_jmp;
extern int	fuzz_errors;

#endif
