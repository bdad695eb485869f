#include "core/buf.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

/* The first allocation, unless the first add asks for more: a printer's JSON (the hottest
 * buffer) then grows 1-2-4 KiB, and small request bodies and messages never reallocate. */
#define PD_BUF_MIN 1024

void pd_buf_init(pd_buf *b, size_t max)
{
    /* max + 1, the NUL's byte, must not wrap */
    *b = (pd_buf){.max = max < SIZE_MAX ? max : SIZE_MAX - 1};
}

void pd_buf_free(pd_buf *b)
{
    free(b->p);
    *b = (pd_buf){.max = b->max};
}

void pd_buf_reset(pd_buf *b)
{
    b->len = 0;
    b->err = PD_OK;
}

char *pd_buf_detach(pd_buf *b, size_t *len)
{
    char *p = pd_buf_ptr(b);
    if (len)
        *len = b->len;
    *b = (pd_buf){.max = b->max};
    return p;
}

static pd_err fail(pd_buf *b, pd_err e)
{
    pd_buf_free(b);
    b->err = e;
    return e;
}

/* Room for n more bytes and the NUL after them. The first allocation is what is asked for
 * (at least PD_BUF_MIN), so a buffer filled once at a known size is not twice that; later
 * ones double, so a buffer filled piece by piece is copied O(1) times per byte. */
pd_err pd_buf_reserve(pd_buf *b, size_t n)
{
    if (b->err)
        return b->err;
    if (n > b->max - b->len)
        return fail(b, PD_ERR_TOOBIG);
    size_t need = b->len + n + 1, cap = b->cap;
    if (need <= cap)
        return PD_OK;
    if (!cap)
        cap = need > PD_BUF_MIN ? need : PD_BUF_MIN;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
    if (cap - 1 > b->max)
        cap = b->max + 1;
    char *p = realloc(b->p, cap);
    if (!p)
        return fail(b, PD_ERR_NOMEM);
    b->p = p;
    b->cap = cap;
    return PD_OK;
}

char *pd_buf_extend(pd_buf *b, size_t n)
{
    if (pd_buf_reserve(b, n))
        return NULL;
    char *at = b->p + b->len;
    b->len += n;
    return at;
}

void pd_buf_cut(pd_buf *b, size_t off, size_t n)
{
    if (!n)
        return;
    memmove(b->p + off, b->p + off + n, b->len - off - n);
    b->len -= n;
}

void pd_buf_add_csv(pd_buf *o, const char *s)
{
    /* OWASP's list: a leading TAB or CR also makes some spreadsheets read what follows */
    bool formula = *s && strchr("=+-@\t\r", *s);
    if (!formula && !strpbrk(s, ",\"\r\n")) {
        pd_buf_add_str(o, s);
        return;
    }
    pd_buf_add_str(o, "\"");
    if (formula)
        pd_buf_add_str(o, "'");
    for (; *s; s++)
        pd_buf_add(o, *s == '"' ? "\"\"" : s, *s == '"' ? 2 : 1);
    pd_buf_add_str(o, "\"");
}
