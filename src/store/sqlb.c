#include "store/sqlb.h"
#include "store/backend.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pd_sqlb_init(pd_sqlb *b)
{
    b->len = 0;
    b->sql[0] = '\0';
    b->nargs = 0;
    b->failed = false;
}

void pd_sqlb_free(pd_sqlb *b)
{
    for (size_t i = 0; i < b->nargs; i++)
        free(b->owned[i]);
    b->nargs = 0;
}

void pd_sqlb_add(pd_sqlb *b, const char *fmt, ...)
{
    if (b->failed)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->sql + b->len, sizeof b->sql - b->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof b->sql - b->len) {
        b->failed = true;
        b->sql[b->len] = '\0';
        return;
    }
    b->len += (size_t)n;
}

void pd_sqlb_arg(pd_sqlb *b, pd_sqlv v)
{
    if (b->failed || b->nargs == PD_SQLB_MAX_ARGS) {
        b->failed = true;
        return;
    }
    b->owned[b->nargs] = NULL;
    if (v.t == PD_SQL_TEXT) {
        if (!(b->owned[b->nargs] = strdup(v.s))) {
            b->failed = true;
            return;
        }
        v.s = b->owned[b->nargs];
    }
    b->args[b->nargs++] = v;
}

void pd_sqlb_contains(pd_sqlb *b, const pd_db *db, const char *expr)
{
    pd_sqlb_add(b, "%s %s '%%' || ? || '%%'", expr, db->ops->ilike);
}

void pd_sqlb_contains_literal(pd_sqlb *b, const pd_db *db, const char *expr, const char *text)
{
    size_t len = strlen(text);
    char *esc = len < SIZE_MAX / 2 ? malloc(2 * len + 1) : NULL, *o = esc;
    if (!esc) {
        b->failed = true;
        return;
    }
    for (const char *p = text; *p; p++) {
        if (*p == '/' || *p == '%' || *p == '_')
            *o++ = '/';
        *o++ = *p;
    }
    *o = '\0';
    pd_sqlb_add(b, "%s %s '%%' || ? || '%%' ESCAPE '/'", expr, db->ops->ilike);
    pd_sqlb_arg(b, PD_SQL_S(esc));
    free(esc);
}

/* An FTS5 query of quoted phrases (a '"' doubled), ANDed: a trigram index matches a phrase as a
 * substring, and cannot look up one shorter than a trigram. The index first counts its spools,
 * up to SPOOL_TEXT_FEW: reading that many from it costs about a millisecond. With more, the
 * caller's scan in id order finds its newest hits among them sooner than the index would hand
 * them over (a word every spool holds, and a short one almost none does: 40 ms through the
 * index against 20 for the scan, on 100,000 spools). */
#define SPOOL_TEXT_FEW 4096

pd_err pd_sqlb_spool_text(pd_sqlb *b, pd_db *db, char *const *terms, size_t n)
{
    if (!db->ops->spool_text_count)
        return PD_OK;
    char q[4096];
    size_t len = 0;
    for (size_t t = 0; t < n; t++) {
        size_t chars = 0;
        for (const char *p = terms[t]; *p; p++)
            chars += ((unsigned char)*p & 0xc0) != 0x80;
        if (chars < 3 || len + 2 * strlen(terms[t]) + 4 >= sizeof q)
            continue;
        q[len++] = '"';
        for (const char *p = terms[t]; *p; p++) {
            if (*p == '"')
                q[len++] = '"';
            q[len++] = *p;
        }
        q[len++] = '"';
        q[len++] = ' ';
    }
    if (!len)
        return PD_OK;
    q[len - 1] = '\0';
    pd_sqlv arg[2] = {PD_SQL_S(q), PD_SQL_I(SPOOL_TEXT_FEW)};
    int64_t found = 0;
    pd_err rc = pd_db_scalar(db, db->ops->spool_text_count, arg, 2, &found);
    if (rc || found >= SPOOL_TEXT_FEW)
        return rc;
    pd_sqlb_add(b, "%s", db->ops->spool_text);
    pd_sqlb_arg(b, arg[0]);
    return PD_OK;
}
