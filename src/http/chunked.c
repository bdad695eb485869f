/* Chunked request bodies (RFC 9112 7.1): sizes in hex, extensions and trailer fields skipped
 * (nothing here reads them), CRLF where the grammar has it. */
#include "http/chunked.h"

enum {
    CK_SIZE,     /* the chunk size's hex digits */
    CK_EXT,      /* whitespace or an extension after the size, skipped to the line's end */
    CK_SIZE_LF,
    CK_DATA,
    CK_DATA_CR,
    CK_DATA_LF,
    CK_TRAILER,  /* at the start of a trailer field's line, or of the final empty one */
    CK_FIELD,    /* a trailer field, skipped */
    CK_END_LF,
    CK_DONE,
};

static int hex_digit(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* The state after byte c in every state but CK_DATA; -1 for a framing error. */
static int step(pd_chunked *d, char c)
{
    int x = hex_digit(c);
    switch (d->state) {
    case CK_SIZE:
        if (x >= 0) {
            /* a chunk past out's bound fails when it is added; this only keeps the size finite */
            if (d->left > UINT32_MAX)
                return -1;
            d->left = d->left * 16 + (unsigned)x;
            d->digits = true;
            return CK_SIZE;
        }
        if (!d->digits || (c != ';' && c != ' ' && c != '\t' && c != '\r'))
            return -1;
        return c == '\r' ? CK_SIZE_LF : CK_EXT;
    case CK_EXT:
        return c == '\r' ? CK_SIZE_LF : CK_EXT;
    case CK_SIZE_LF:
        return c != '\n' ? -1 : d->left ? CK_DATA : CK_TRAILER;
    case CK_DATA_CR:
        return c == '\r' ? CK_DATA_LF : -1;
    case CK_DATA_LF:
        if (c != '\n')
            return -1;
        d->left = 0;
        d->digits = false;
        return CK_SIZE;
    case CK_TRAILER:
        return c == '\r' ? CK_END_LF : CK_FIELD;
    case CK_FIELD:
        return c == '\n' ? CK_TRAILER : CK_FIELD;
    case CK_END_LF:
        return c == '\n' ? CK_DONE : -1;
    default:
        return -1;
    }
}

pd_err pd_chunked_feed(pd_chunked *d, const char *in, size_t len, pd_buf *out)
{
    for (const char *p = in, *end = in + len; p < end && d->state != CK_DONE;) {
        if (d->state != CK_DATA) {
            int next = step(d, *p++);
            if (next < 0)
                return PD_ERR_PARSE;
            d->state = next;
            continue;
        }
        size_t n = (size_t)(end - p) < d->left ? (size_t)(end - p) : (size_t)d->left;
        pd_err rc = pd_buf_add(out, p, n);
        if (rc)
            return rc;
        p += n;
        if (!(d->left -= n))
            d->state = CK_DATA_CR;
    }
    return PD_OK;
}

bool pd_chunked_done(const pd_chunked *d) { return d->state == CK_DONE; }
