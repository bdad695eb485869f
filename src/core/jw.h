/* A JSON writer straight into a text buffer, for the hot renders (a printer's JSON goes out on
 * every report to every event stream): building a jansson tree and dumping it cost 49 µs for
 * an X1C with four AMS units, writing the text costs a fraction. The output parses to what
 * core/json.h's settings would produce: compact, reals with 10 significant digits.
 * Bounded: past `max` bytes of text the writer fails and pd_jw_finish returns NULL. */
#ifndef PD_JW_H
#define PD_JW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define PD_JW_MAX_DEPTH 32

typedef struct pd_jw {
    pd_buf b;        /* the text; pd_jw_finish hands it over */
    uint32_t more;   /* bit d: the container at depth d has a member already */
    int depth;
    bool after_key;  /* the next value follows a key: no comma */
    bool failed;     /* too deep or unbalanced (the buffer keeps its own errors) */
} pd_jw;

void pd_jw_init(pd_jw *w, size_t max);
/* The text (NUL-terminated, the caller frees it) and its length; NULL if anything failed
 * (memory, the bound, unbalanced containers). The writer is empty afterwards. */
char *pd_jw_finish(pd_jw *w, size_t *len);

void pd_jw_open(pd_jw *w, char c);   /* '{' or '[' */
void pd_jw_close(pd_jw *w, char c);  /* '}' or ']' */
void pd_jw_key(pd_jw *w, const char *key);
/* NULL, or text that is not UTF-8, is written as null (what json_string refuses) */
void pd_jw_str(pd_jw *w, const char *s);
void pd_jw_int(pd_jw *w, long long v);
void pd_jw_real(pd_jw *w, double v);  /* NAN and infinities as null */
void pd_jw_bool(pd_jw *w, bool v);
void pd_jw_null(pd_jw *w);

/* Text that echoes input into JSON (error messages): */
/* The length of s cut to at most max bytes without splitting a UTF-8 character, for "%.*s". */
int pd_jw_utf8_cut(const char *s, size_t max);
/* Makes s UTF-8 that pd_jw_str and jansson accept, in place: a character cut by the end of s
 * (snprintf's truncation) is dropped, and any other byte that belongs to no well-formed
 * character becomes '?'. */
void pd_jw_utf8_repair(char *s);

/* --- patches between two texts the writer made ------------------------------------------------
 * A live object (a printer) is sent whole once and then as what changed: the members of `cur`
 * whose text differs from `old`, an object member recursively (only its changed members), any
 * other value whole, appended to `out` as one object. `always` names a top-level member
 * written even when unchanged (the id the receiver applies it to). Null is a value here, not
 * a removal as in RFC 7386: so a member of `old` that `cur` lacks cannot be said, and that, or
 * text that is not a writer's compact object, or an object of more than PD_JW_PATCH_MEMBERS
 * members, is PD_ERR_INVAL (the caller sends the object whole); `out` is then as it was. */
#define PD_JW_PATCH_MEMBERS 160
pd_err pd_jw_patch(const char *old, size_t olen, const char *cur, size_t clen, const char *always,
                   pd_buf *out);

#endif
