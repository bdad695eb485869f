#include "core/jw.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pd_jw_init(pd_jw *w, size_t max)
{
    *w = (pd_jw){0};
    pd_buf_init(&w->b, max);
}

char *pd_jw_finish(pd_jw *w, size_t *len)
{
    char *out = NULL;
    if (w->failed || w->depth)
        pd_buf_free(&w->b);
    else
        out = pd_buf_detach(&w->b, len);  /* NULL if the buffer failed */
    if (!out && len)
        *len = 0;
    *w = (pd_jw){.b = w->b};  /* the buffer is empty now, with its maximum */
    return out;
}

/* The buffer's errors are sticky, so pd_jw_finish sees any of them: nothing to check here. */
static inline void put(pd_jw *w, const char *s, size_t n) { pd_buf_add(&w->b, s, n); }

static inline void put1(pd_jw *w, char c) { pd_buf_addc(&w->b, c); }

/* Before a value or a key: the comma that separates it from the previous member. */
static void sep(pd_jw *w)
{
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (w->depth > 0) {
        uint32_t bit = 1u << (w->depth - 1);
        if (w->more & bit)
            put1(w, ',');
        w->more |= bit;
    }
}

void pd_jw_open(pd_jw *w, char c)
{
    sep(w);
    if (w->depth == PD_JW_MAX_DEPTH) {
        w->failed = true;
        return;
    }
    put1(w, c);
    w->depth++;
    w->more &= ~(1u << (w->depth - 1));
}

void pd_jw_close(pd_jw *w, char c)
{
    if (!w->depth || w->after_key) {
        w->failed = true;
        return;
    }
    w->depth--;
    put1(w, c);
}

/* How many bytes the UTF-8 character at s takes if it is well formed as jansson accepts it
 * (no overlong forms, surrogates or code points past U+10FFFF), else 0; *need is what its
 * first byte announces (0 for a byte that starts no character). */
static unsigned utf8_char(const unsigned char *s, unsigned *need)
{
    unsigned c = *s, n, cp;
    *need = 1;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        n = 1, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 2, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 3, cp = c & 0x07;
    else
        return *need = 0;
    *need = n + 1;
    for (unsigned i = 1; i <= n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if ((n == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return n + 1;
}

static bool utf8_ok(const unsigned char *s)
{
    unsigned n, need;
    for (; *s; s += n)
        if (!(n = utf8_char(s, &need)))
            return false;
    return true;
}

int pd_jw_utf8_cut(const char *s, size_t max)
{
    if (max > INT_MAX)
        max = INT_MAX;
    size_t n = strnlen(s, max);
    if (n == max)
        while (n && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    return (int)n;
}

void pd_jw_utf8_repair(char *str)
{
    unsigned char *s = (unsigned char *)str;
    while (*s) {
        unsigned need, n = utf8_char(s, &need);
        if (n) {
            s += n;
            continue;
        }
        size_t rest = 1;
        while (s[rest] && (s[rest] & 0xC0) == 0x80)
            rest++;
        if (!s[rest] && need > rest) {
            *s = '\0';  /* a character cut by the end: a message truncated by snprintf */
            return;
        }
        *s++ = '?';
    }
}

static void quoted(pd_jw *w, const char *s)
{
    put1(w, '"');
    const char *run = s;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        put(w, run, (size_t)(s - run));
        char esc[8];
        switch (c) {
        case '"': put(w, "\\\"", 2); break;
        case '\\': put(w, "\\\\", 2); break;
        case '\b': put(w, "\\b", 2); break;
        case '\f': put(w, "\\f", 2); break;
        case '\n': put(w, "\\n", 2); break;
        case '\r': put(w, "\\r", 2); break;
        case '\t': put(w, "\\t", 2); break;
        default: put(w, esc, (size_t)snprintf(esc, sizeof esc, "\\u%04X", c)); break;
        }
        run = s + 1;
    }
    put(w, run, (size_t)(s - run));
    put1(w, '"');
}

void pd_jw_key(pd_jw *w, const char *key)
{
    sep(w);
    quoted(w, key);
    put1(w, ':');
    w->after_key = true;
}

void pd_jw_str(pd_jw *w, const char *s)
{
    if (!s || !utf8_ok((const unsigned char *)s)) {
        pd_jw_null(w);
        return;
    }
    sep(w);
    quoted(w, s);
}

void pd_jw_int(pd_jw *w, long long v)
{
    /* by hand: snprintf took 15 % of a printer's render */
    char b[24], *p = b + sizeof b;
    unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
    do
        *--p = (char)('0' + u % 10);
    while (u /= 10);
    if (v < 0)
        *--p = '-';
    sep(w);
    put(w, p, (size_t)(b + sizeof b - p));
}

void pd_jw_real(pd_jw *w, double v)
{
    if (!isfinite(v)) {
        pd_jw_null(w);
        return;
    }
    char b[40];
    int n = snprintf(b, sizeof b, "%.10g", v);
    char *e = strchr(b, 'e');
    if (e) {
        /* jansson's exponent: no '+', no leading zeros (1e21, 1.5e-7); never longer than
         * what snprintf wrote, so rewritten in place */
        const char *x = e + 1;
        bool neg = *x == '-';
        if (*x == '-' || *x == '+')
            x++;
        while (*x == '0' && x[1])
            x++;
        char exp[8];
        int m = snprintf(exp, sizeof exp, "%s%s", neg ? "-" : "", x);
        memcpy(e + 1, exp, (size_t)m + 1);
        n = (int)(e + 1 - b) + m;
    } else if (!strchr(b, '.')) {
        /* a real stays a real when read back: 3 is written 3.0, as jansson does */
        n += snprintf(b + n, sizeof b - (size_t)n, ".0");
    }
    sep(w);
    put(w, b, (size_t)n);
}

void pd_jw_bool(pd_jw *w, bool v)
{
    sep(w);
    put(w, v ? "true" : "false", v ? 4 : 5);
}

void pd_jw_null(pd_jw *w)
{
    sep(w);
    put(w, "null", 4);
}

/* --- patches ------------------------------------------------------------------------------ */

typedef struct jw_member {
    const char *k, *v;  /* the key with its quotes, the value */
    size_t klen, vlen;
} jw_member;

/* The end of the value at p: the writer's text has no white space, so a scalar ends at the
 * next ',', '}' or ']' or at the end. NULL when a string or container is left open. */
static const char *skip_value(const char *p, const char *end)
{
    int depth = 0;
    bool in_str = false;
    for (; p < end; p++) {
        char c = *p;
        if (in_str) {
            if (c == '\\') {
                p++;
            } else if (c == '"') {
                in_str = false;
                if (depth == 0)
                    return p + 1;
            }
        } else if (c == '"') {
            in_str = true;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']' || c == ',') {
            if (depth == 0)
                return p;   /* a scalar followed by what ends it */
            if (c != ',' && --depth == 0)
                return p + 1;
        }
    }
    return in_str || depth ? NULL : end;
}

/* Splits the object text at o (exactly [o, end)) into at most PD_JW_PATCH_MEMBERS members;
 * -1 when it is not one. */
static int split_members(const char *o, const char *end, jw_member *m)
{
    if (end - o < 2 || *o != '{' || end[-1] != '}')
        return -1;
    const char *p = o + 1, *stop = end - 1;
    int n = 0;
    while (p < stop) {
        if (n == PD_JW_PATCH_MEMBERS || *p != '"')
            return -1;
        const char *k = p, *ke = skip_value(p, stop);
        if (!ke || ke >= stop || *ke != ':')
            return -1;
        const char *v = ke + 1, *ve = skip_value(v, stop);
        if (!ve || ve == v)
            return -1;
        m[n++] = (jw_member){k, v, (size_t)(ke - k), (size_t)(ve - v)};
        if (ve < stop && (*ve != ',' || ve + 1 == stop))
            return -1;
        p = ve + (ve < stop);
    }
    return n;
}

static bool same(const char *a, size_t alen, const char *b, size_t blen)
{
    return alen == blen && !memcmp(a, b, alen);
}

static pd_err patch_object(const char *o, const char *oend, const char *c, const char *cend,
                           const char *always, int depth, pd_buf *out)
{
    jw_member om[PD_JW_PATCH_MEMBERS], cm[PD_JW_PATCH_MEMBERS];
    int on = split_members(o, oend, om), cn = split_members(c, cend, cm);
    if (on < 0 || cn < 0 || depth > PD_JW_MAX_DEPTH)
        return PD_ERR_INVAL;
    size_t alen = always ? strlen(always) : 0;
    int matched = 0;
    bool first = true;
    pd_buf_addc(out, '{');
    for (int i = 0; i < cn; i++) {
        const jw_member *m = &cm[i], *was = NULL;
        /* the writer keeps its order: the same index first, then a search */
        if (i < on && same(om[i].k, om[i].klen, m->k, m->klen))
            was = &om[i];
        for (int j = 0; !was && j < on; j++)
            if (same(om[j].k, om[j].klen, m->k, m->klen))
                was = &om[j];
        matched += was != NULL;
        bool keep = always && m->klen == alen + 2 && !memcmp(m->k + 1, always, alen);
        if (was && same(was->v, was->vlen, m->v, m->vlen) && !keep)
            continue;
        if (!first)
            pd_buf_addc(out, ',');
        pd_buf_add(out, m->k, m->klen);
        pd_buf_addc(out, ':');
        if (was && *m->v == '{' && *was->v == '{' && !keep) {
            pd_err rc = patch_object(was->v, was->v + was->vlen, m->v, m->v + m->vlen, NULL,
                                     depth + 1, out);
            if (rc)
                return rc;
        } else {
            pd_buf_add(out, m->v, m->vlen);
        }
        first = false;
    }
    pd_buf_addc(out, '}');
    if (pd_buf_err(out))
        return pd_buf_err(out);  /* the buffer let go of its bytes */
    return matched == on ? PD_OK : PD_ERR_INVAL;
}

pd_err pd_jw_patch(const char *old, size_t olen, const char *cur, size_t clen, const char *always,
                   pd_buf *out)
{
    size_t mark = pd_buf_len(out);
    pd_err rc = patch_object(old, old + olen, cur, cur + clen, always, 0, out);
    if (rc && !pd_buf_err(out))
        pd_buf_cut(out, mark, pd_buf_len(out) - mark);
    return rc;
}
