#include "http/site.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SITE_PATH_MAX 512

static int file_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const pd_http_file *)elem)->path);
}

static const pd_http_file *file_find(const pd_http_site *site, const char *path)
{
    return bsearch(path, site->files, site->n, sizeof *site->files, file_cmp);
}

/* One element of a comma-separated header list: [*s, *e) trimmed; *next after its comma. */
static bool list_next(const char **cur, const char **s, const char **e)
{
    const char *p = *cur;
    p += strspn(p, " \t,");
    if (!*p)
        return false;
    const char *end = strchr(p, ',');
    if (!end)
        end = p + strlen(p);
    *cur = end;
    while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    *s = p;
    *e = end;
    return true;
}

/* The q of one Accept-Encoding element's parameters ([p, e)); 1 without one. Zero means
 * refused: "0", "0.", "0.0", "0.000"; anything else that is not a number counts as 1. */
static bool q_positive(const char *p, const char *e)
{
    while (p < e) {
        const char *semi = memchr(p, ';', (size_t)(e - p));
        if (!semi)
            return true;
        p = semi + 1;
        while (p < e && (*p == ' ' || *p == '\t'))
            p++;
        if (e - p >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
            p += 2;
            if (p == e || *p != '0')
                return true;
            for (p++; p < e && (*p == '.' || *p == '0'); p++)
                ;
            return p < e && *p >= '1' && *p <= '9';
        }
    }
    return true;
}

bool pd_site_accepts(const char *accept_encoding, const char *coding)
{
    if (!accept_encoding)
        return false;
    size_t clen = strlen(coding);
    int named = -1, star = -1;
    const char *cur = accept_encoding, *s, *e;
    while (list_next(&cur, &s, &e)) {
        const char *name_end = s + strcspn(s, "; \t");
        if (name_end > e)
            name_end = e;
        size_t nlen = (size_t)(name_end - s);
        if (nlen == clen && !strncasecmp(s, coding, clen))
            named = q_positive(name_end, e);
        else if (nlen == 1 && *s == '*')
            star = q_positive(name_end, e);
    }
    return named >= 0 ? named == 1 : star == 1;
}

bool pd_site_etag_match(const char *if_none_match, const char *etag)
{
    size_t elen = strlen(etag);
    const char *cur = if_none_match, *s, *e;
    while (list_next(&cur, &s, &e)) {
        if (e - s == 1 && *s == '*')
            return true;
        if (e - s >= 2 && s[0] == 'W' && s[1] == '/')
            s += 2;  /* If-None-Match compares weakly */
        if ((size_t)(e - s) == elen && !memcmp(s, etag, elen))
            return true;
    }
    return false;
}

pd_err pd_site_pick_file(const pd_http_site *site, const char *path, size_t path_len,
                         const char *accept_encoding, pd_site_pick *out)
{
    char want[SITE_PATH_MAX];
    memset(out, 0, sizeof *out);
    if (!path_len || path[0] != '/' || path_len >= sizeof want - sizeof "index.html" ||
        memchr(path, '\0', path_len))
        return PD_ERR_NOTFOUND;
    memcpy(want, path, path_len);
    want[path_len] = '\0';
    if (want[path_len - 1] == '/')
        memcpy(want + path_len, "index.html", sizeof "index.html");
    const pd_http_file *f = file_find(site, want);
    if (!f) {
        const char *last = memrchr(path, '/', path_len) + 1;
        if (path[path_len - 1] != '/' && memchr(last, '.', path_len - (size_t)(last - path)))
            return PD_ERR_NOTFOUND;  /* a missing file, not a client route */
        if (!site->fallback || !(f = file_find(site, site->fallback)))
            return PD_ERR_NOTFOUND;
    }
    out->file = f;
    out->body = f->body;
    out->len = f->len;
    if (f->br && pd_site_accepts(accept_encoding, "br")) {
        out->body = f->br;
        out->len = f->br_len;
        out->encoding = "br";
    } else if (f->gz && pd_site_accepts(accept_encoding, "gzip")) {
        out->body = f->gz;
        out->len = f->gz_len;
        out->encoding = "gzip";
    }
    /* "\"hash\"" becomes "\"hash-br\"" */
    size_t tl = strlen(f->etag);
    if (out->encoding && tl >= 2 && tl + 8 < sizeof out->etag)
        snprintf(out->etag, sizeof out->etag, "%.*s-%s\"", (int)(tl - 1), f->etag, out->encoding);
    else
        snprintf(out->etag, sizeof out->etag, "%s", f->etag);
    return PD_OK;
}
