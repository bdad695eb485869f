/* The Range request header (RFC 9110 §14.1.2), one byte range of it: what a download route
 * answers with 206 Partial Content so a browser's <video> seeks. Pure; fuzzed
 * (tests/fuzz/fuzz_range.c). */
#ifndef PD_HTTP_RANGE_H
#define PD_HTTP_RANGE_H

#include <stdint.h>

typedef enum pd_http_range {
    PD_RANGE_NONE,           /* not one byte range we take (several, another unit, malformed):
                              * the whole representation is sent, as a server without ranges does */
    PD_RANGE_OK,             /* [*from, *to], inclusive, within size */
    PD_RANGE_UNSATISFIABLE,  /* 416, with Content-Range: bytes * / size */
} pd_http_range;

/* "bytes=a-b", "bytes=a-" or "bytes=-n" against a representation of size bytes; a last byte
 * past the end is the end. */
pd_http_range pd_http_range_parse(const char *h, int64_t size, int64_t *from, int64_t *to);

#endif
