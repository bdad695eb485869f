/* A statement built piece by piece (list filters, sorting) with its arguments. Text arguments
 * are copied into the builder, so callers may pass stack buffers. Bounded: past the limits
 * the builder is marked failed and pd_sqlb_ok says so. */
#ifndef PD_STORE_SQLB_H
#define PD_STORE_SQLB_H

#include <stdbool.h>
#include <stddef.h>

#include "store/store.h"

#define PD_SQLB_MAX_ARGS 64
#define PD_SQLB_MAX_SQL 16384

typedef struct pd_sqlb {
    char sql[PD_SQLB_MAX_SQL];
    size_t len;
    pd_sqlv args[PD_SQLB_MAX_ARGS];
    char *owned[PD_SQLB_MAX_ARGS];   /* copies of text arguments */
    size_t nargs;
    bool failed;
} pd_sqlb;

void pd_sqlb_init(pd_sqlb *b);
void pd_sqlb_free(pd_sqlb *b);
void pd_sqlb_add(pd_sqlb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pd_sqlb_arg(pd_sqlb *b, pd_sqlv v);  /* text is copied */
/* `expr` contains the next argument, ignoring case, with % and _ in it as wildcards (Spoolman's
 * ILIKE '%term%'), in db's own words; the caller adds the argument next. */
void pd_sqlb_contains(pd_sqlb *b, const pd_db *db, const char *expr);
/* `expr` contains text, ignoring case, with every character literal: %, _ and the escape
 * character / are escaped (Spoolman's escape_like); adds the condition and its argument. */
void pd_sqlb_contains_literal(pd_sqlb *b, const pd_db *db, const char *expr, const char *text);
/* " AND s.id IN (…)", s a spool: the spools whose comment, location or lot number holds every
 * word of 3 characters or more, ignoring case, from the backend's text index, when it has one
 * and they are few (it asks the index first). Else nothing: only narrows, the caller still
 * tests each word. */
pd_err pd_sqlb_spool_text(pd_sqlb *b, pd_db *db, char *const *terms, size_t n);
static inline bool pd_sqlb_ok(const pd_sqlb *b) { return !b->failed; }

#endif
