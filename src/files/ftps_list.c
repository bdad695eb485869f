#include "files/ftps_list.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static bool is_space(char c) { return c == ' ' || c == '\t'; }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* A name as it may be served and used in a path: one segment, printable. Bytes above 0x7f
 * are kept (UTF-8 names); whoever renders the name as JSON checks the encoding. */
static pd_err set_name(pd_ftps_entry *e, const char *s, size_t len)
{
    if (!len || len > PD_FTPS_NAME_MAX)
        return PD_ERR_PARSE;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f || s[i] == '/')
            return PD_ERR_PARSE;
    if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
        return PD_ERR_NOTFOUND;
    memcpy(e->name, s, len);
    e->name[len] = '\0';
    return PD_OK;
}

/* Digits only, up to 18 of them (no overflow); -1 when the text is no such number. */
static int64_t number(const char *s, size_t len)
{
    if (!len || len > 18)
        return -1;
    int64_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (!is_digit(s[i]))
            return -1;
        n = n * 10 + (s[i] - '0');
    }
    return n;
}

static int month_of(const char *s, size_t len)
{
    static const char names[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    if (len != 3)
        return -1;
    for (int m = 0; m < 12; m++)
        if (!strncmp(names + 3 * m, s, 3))
            return m;
    return -1;
}

/* --- MLSD: "type=file;size=1640240;modify=20250618002733; video.mp4" ------------------- */
static pd_err mlsd_line(const char *s, size_t len, pd_ftps_entry *e)
{
    const char *sp = memchr(s, ' ', len);
    if (!sp || sp == s || sp[-1] != ';')
        return PD_ERR_PARSE;
    bool typed = false;
    for (const char *f = s; f < sp;) {
        const char *semi = memchr(f, ';', (size_t)(sp - f));
        const char *eq = memchr(f, '=', (size_t)(semi - f));
        if (!eq)
            return PD_ERR_PARSE;
        size_t klen = (size_t)(eq - f), vlen = (size_t)(semi - eq - 1);
        const char *v = eq + 1;
        if (klen == 4 && !strncasecmp(f, "type", 4)) {
            typed = true;
            if (vlen == 4 && !strncasecmp(v, "file", 4))
                e->kind = PD_FTPS_FILE;
            else if (vlen == 3 && !strncasecmp(v, "dir", 3))
                e->kind = PD_FTPS_DIR;
            else if ((vlen == 4 && !strncasecmp(v, "cdir", 4)) || (vlen == 4 && !strncasecmp(v, "pdir", 4)))
                return PD_ERR_NOTFOUND; /* the directory itself and its parent */
            else if (vlen > 7 && !strncasecmp(v, "OS.unix", 7))
                e->kind = PD_FTPS_LINK;
            else
                return PD_ERR_PARSE;
        } else if (klen == 4 && !strncasecmp(f, "size", 4)) {
            e->size = number(v, vlen);
        } else if (klen == 6 && !strncasecmp(f, "modify", 6) && vlen >= 14) {
            /* YYYYMMDDHHMMSS[.sss] in UTC (RFC 3659 §2.3) */
            int64_t d[6];
            static const size_t at[6] = {0, 4, 6, 8, 10, 12};
            for (int i = 0; i < 6; i++)
                d[i] = number(v + at[i], i ? 2 : 4);
            if (d[0] >= 1970 && d[1] >= 1 && d[1] <= 12 && d[2] >= 1 && d[2] <= 31 && d[3] <= 23 &&
                d[4] <= 59 && d[5] <= 60 && d[3] >= 0 && d[4] >= 0 && d[5] >= 0) {
                struct tm tm = {.tm_year = (int)d[0] - 1900, .tm_mon = (int)d[1] - 1,
                                .tm_mday = (int)d[2], .tm_hour = (int)d[3], .tm_min = (int)d[4],
                                .tm_sec = (int)d[5]};
                e->mtime = (int64_t)timegm(&tm);
            }
        }
        f = semi + 1;
    }
    if (!typed)
        return PD_ERR_PARSE;
    return set_name(e, sp + 1, len - (size_t)(sp + 1 - s));
}

/* --- LIST: "-rw-r--r--    1 1000     1000      1640240 Jun 18 00:27 video 1.mp4" --------- */
typedef struct tok {
    const char *s;
    size_t len;
} tok;

#define LS_TOKENS 9 /* mode, links, owner, group, size, month, day, time|year, then the name */

static pd_err ls_line(const char *s, size_t len, int64_t now, pd_ftps_entry *e)
{
    switch (s[0]) {
    case '-': e->kind = PD_FTPS_FILE; break;
    case 'd': e->kind = PD_FTPS_DIR; break;
    case 'l': e->kind = PD_FTPS_LINK; break;
    default: return PD_ERR_PARSE;
    }
    /* Owner and group may be absent or be one column (servers differ): find the date as a
     * month name after a number, then the day and the time or year; the name is the rest,
     * spaces and all. */
    tok t[LS_TOKENS];
    size_t nt = 0;
    const char *p = s, *end = s + len;
    while (nt < LS_TOKENS - 1) {
        while (p < end && is_space(*p))
            p++;
        if (p == end)
            return PD_ERR_PARSE;
        t[nt].s = p;
        while (p < end && !is_space(*p))
            p++;
        t[nt].len = (size_t)(p - t[nt].s);
        nt++;
        if (nt >= 5 && month_of(t[nt - 3].s, t[nt - 3].len) >= 0 &&
            number(t[nt - 4].s, t[nt - 4].len) >= 0)
            break;
    }
    if (nt < 5)
        return PD_ERR_PARSE;
    int mon = month_of(t[nt - 3].s, t[nt - 3].len);
    int64_t size = number(t[nt - 4].s, t[nt - 4].len);
    int64_t day = number(t[nt - 2].s, t[nt - 2].len);
    const tok *ty = &t[nt - 1];
    if (mon < 0 || size < 0 || day < 1 || day > 31)
        return PD_ERR_PARSE;
    struct tm tm = {.tm_mon = mon, .tm_mday = (int)day};
    if (ty->len == 5 && ty->s[2] == ':') {
        int64_t h = number(ty->s, 2), m = number(ty->s + 3, 2);
        if (h < 0 || h > 23 || m < 0 || m > 59)
            return PD_ERR_PARSE;
        time_t tnow = (time_t)now;
        struct tm nt_tm;
        if (!gmtime_r(&tnow, &nt_tm))
            return PD_ERR_PARSE;
        tm.tm_year = nt_tm.tm_year;
        tm.tm_hour = (int)h;
        tm.tm_min = (int)m;
        struct tm probe = tm;
        if ((int64_t)timegm(&probe) > now + 86400)
            tm.tm_year--;
    } else {
        int64_t y = number(ty->s, ty->len);
        if (y < 1970 || y > 9999)
            return PD_ERR_PARSE;
        tm.tm_year = (int)y - 1900;
    }
    /* exactly one separator before the name: a name may begin with a space */
    if (p == end || !is_space(*p))
        return PD_ERR_PARSE;
    const char *name = p + 1;
    size_t nlen = (size_t)(end - name);
    if (e->kind == PD_FTPS_LINK) {
        for (size_t i = 0; i + 4 <= nlen; i++)
            if (!memcmp(name + i, " -> ", 4)) {
                nlen = i;
                break;
            }
    }
    e->size = size;
    e->mtime = (int64_t)timegm(&tm);
    return set_name(e, name, nlen);
}

pd_err pd_ftps_list_line(const char *line, size_t len, int64_t now, pd_ftps_entry *out)
{
    memset(out, 0, sizeof *out);
    out->size = -1;
    out->mtime = -1;
    if (!len)
        return PD_ERR_NOTFOUND;
    if (len > 6 && !strncmp(line, "total ", 6) && number(line + 6, len - 6) >= 0)
        return PD_ERR_NOTFOUND;
    if (memchr(line, '=', len) && memchr(line, ';', len) && line[0] != '-' && line[0] != 'd' &&
        line[0] != 'l')
        return mlsd_line(line, len, out);
    return ls_line(line, len, now, out);
}

pd_err pd_ftps_list_parse(const char *text, size_t len, int64_t now, size_t max,
                          pd_ftps_listing *out)
{
    memset(out, 0, sizeof *out);
    size_t cap = 0;
    for (const char *p = text, *end = text + len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        size_t n = (size_t)(le - p);
        if (n && p[n - 1] == '\r')
            n--;
        pd_ftps_entry e;
        pd_err rc = pd_ftps_list_line(p, n, now, &e);
        p = nl ? nl + 1 : end;
        if (rc == PD_ERR_PARSE)
            out->skipped++;
        if (rc)
            continue;
        if (out->n == max) {
            out->truncated = true;
            break;
        }
        if (out->n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            if (ncap > max)
                ncap = max;
            pd_ftps_entry *nv = realloc(out->v, ncap * sizeof *nv);
            if (!nv) {
                pd_ftps_listing_free(out);
                return PD_ERR_NOMEM;
            }
            out->v = nv;
            cap = ncap;
        }
        out->v[out->n++] = e;
    }
    return PD_OK;
}

void pd_ftps_listing_free(pd_ftps_listing *l)
{
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

const char *pd_ftps_kind_name(pd_ftps_kind k)
{
    return k == PD_FTPS_DIR ? "dir" : k == PD_FTPS_LINK ? "link" : "file";
}
