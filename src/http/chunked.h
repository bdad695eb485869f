/* Private to src/http/: the decoder of chunked request bodies (RFC 9112 7.1). lws 4.1 hands
 * the raw bytes of a request body without a length to HTTP_BODY and never completes it, so
 * http.c decodes them here. Pure and incremental (any split of the input decodes alike), so it
 * is unit-tested and fuzzed on its own. */
#ifndef PD_HTTP_CHUNKED_H
#define PD_HTTP_CHUNKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

typedef struct pd_chunked {
    int state;       /* chunked.c's decoder state; 0 is the first chunk's size */
    uint64_t left;   /* the size being read, then what is left of the chunk's data */
    bool digits;     /* the size has a digit */
} pd_chunked;

/* Decodes the next piece of a body into out; bytes after the end are ignored. PARSE on a
 * framing error, TOOBIG past out's bound (pd_buf_add's errors as they are). */
pd_err pd_chunked_feed(pd_chunked *d, const char *in, size_t len, pd_buf *out);
/* Whether the last chunk and the trailer section have been read. */
bool pd_chunked_done(const pd_chunked *d);

#endif
