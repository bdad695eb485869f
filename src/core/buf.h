/* One bounded, growable byte buffer for everything that collects bytes of unknown length: a
 * request body, a reply, a stream's queue, a JSON text, a CSV cell (after curl's dynbuf).
 *
 * Each buffer has its maximum, given at init. An add that would pass it, or that runs out of
 * memory, fails and frees the bytes: the buffer is then empty and keeps that error, so every
 * later add fails the same way until pd_buf_reset or pd_buf_free. A writer of many small
 * pieces checks pd_buf_err once at the end. There is always room for a NUL after the bytes
 * (not counted in their length): pd_buf_ptr and pd_buf_detach put it there, so text can be
 * read as a C string, while the adds, on the hot path, do not spend a store on it.
 *
 * The fields are read through the accessors; only buf.c and the inline fast paths below
 * write them. */
#ifndef PD_BUF_H
#define PD_BUF_H

#include <stddef.h>
#include <string.h>

#include "core/err.h"

typedef struct pd_buf {
    char *p;      /* NULL until the first add, and after a failure or pd_buf_free */
    size_t len;   /* bytes held, never more than max */
    size_t cap;   /* bytes allocated, the NUL's included; at most max + 1 */
    size_t max;
    pd_err err;   /* why an add failed; PD_OK until one does */
} pd_buf;

/* An empty buffer that will hold at most `max` bytes; it allocates nothing yet. */
void pd_buf_init(pd_buf *b, size_t max);
/* Frees the bytes; the buffer is empty, error-free, with the same maximum. */
void pd_buf_free(pd_buf *b);
/* Empties the buffer and clears its error but keeps the memory, for the next use. */
void pd_buf_reset(pd_buf *b);
/* The bytes (the caller frees them) and their length; NULL if nothing was ever added, or if
 * an add failed. The buffer is left empty, with the same maximum. */
char *pd_buf_detach(pd_buf *b, size_t *len);

/* Makes room for n more bytes at once, so that adding them will not reallocate (a body whose
 * length is announced; the adds below when they must grow). Fails as an add would. */
pd_err pd_buf_reserve(pd_buf *b, size_t n);

/* Appends the n bytes at s (never NULL, even for 0). PD_ERR_TOOBIG past the maximum,
 * PD_ERR_NOMEM; either way the bytes are gone (see above). */
static inline pd_err pd_buf_add(pd_buf *b, const void *s, size_t n)
{
    pd_err rc;
    /* an unallocated or failed buffer has cap 0: it always takes pd_buf_reserve's path */
    if (n >= b->cap - b->len && (rc = pd_buf_reserve(b, n)))
        return rc;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    return PD_OK;
}

static inline pd_err pd_buf_addc(pd_buf *b, char c)
{
    pd_err rc;
    if (b->cap - b->len <= 1 && (rc = pd_buf_reserve(b, 1)))
        return rc;
    b->p[b->len++] = c;
    return PD_OK;
}

static inline pd_err pd_buf_add_str(pd_buf *b, const char *s) { return pd_buf_add(b, s, strlen(s)); }

/* One CSV cell: quoted when it holds a comma, quote or line break; a cell a spreadsheet would
 * run as a formula (=, +, -, @, a leading TAB or CR) is quoted with a leading apostrophe. */
void pd_buf_add_csv(pd_buf *b, const char *s);

/* Appends n bytes left for the caller to fill and returns them; NULL on failure (as an add).
 * The result can be used until the next call that changes the buffer. */
char *pd_buf_extend(pd_buf *b, size_t n);
/* Removes the n bytes at offset off (off + n at most the length), moving what follows down:
 * a queue dropping what it has sent. */
void pd_buf_cut(pd_buf *b, size_t off, size_t n);

/* The bytes, NUL-terminated; NULL before the first add, and after a failure. */
static inline char *pd_buf_ptr(pd_buf *b)
{
    if (b->p)
        b->p[b->len] = '\0';
    return b->p;
}
static inline size_t pd_buf_len(const pd_buf *b) { return b->len; }
/* Bytes the buffer can take before it has to grow. */
static inline size_t pd_buf_room(const pd_buf *b) { return b->cap ? b->cap - b->len - 1 : 0; }
static inline pd_err pd_buf_err(const pd_buf *b) { return b->err; }

#endif
