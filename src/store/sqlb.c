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
