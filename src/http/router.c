#include "http/router.h"

#include <stdbool.h>
#include <string.h>

static bool method_known(const char *m)
{
    static const char *const known[] = {"GET",     "POST", "PATCH", "PUT",
                                        "DELETE",  "OPTIONS", "WS", "FILES"};
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        if (!strcmp(m, known[i]))
            return true;
    return false;
}

/* Checked once at registration so matching can trust the pattern's shape. */
static bool pattern_valid(const char *pat)
{
    if (pat[0] != '/')
        return false;
    size_t nparams = 0;
    for (const char *p = pat + 1; *p;) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len && p[0] == '{') {
            if (len < 3 || p[len - 1] != '}' || ++nparams > PD_ROUTER_MAX_PARAMS)
                return false;
            for (size_t i = 1; i < len - 1; i++)
                if (!(p[i] == '_' || (p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9')))
                    return false;
        } else if (memchr(p, '{', len) || memchr(p, '}', len)) {
            return false;
        }
        p += len;
        if (*p == '/')
            p++;
    }
    return true;
}

/* A FILES prefix: "/" or "/app/", without captures. */
static bool prefix_valid(const char *pat)
{
    size_t len = strlen(pat);
    return pat[0] == '/' && pat[len - 1] == '/' && !strpbrk(pat, "{}");
}

pd_err pd_router_add(pd_router *rt, const pd_route *routes, size_t n)
{
    if (n > PD_ROUTER_MAX_ROUTES - rt->n)
        return PD_ERR_TOOBIG;
    for (size_t i = 0; i < n; i++)
        if (!routes[i].fn || !routes[i].method || !routes[i].pattern ||
            !method_known(routes[i].method) ||
            !(strcmp(routes[i].method, "FILES") ? pattern_valid(routes[i].pattern)
                                                : prefix_valid(routes[i].pattern)))
            return PD_ERR_INVAL;
    for (size_t i = 0; i < n; i++)
        rt->v[rt->n++] = &routes[i];
    return PD_OK;
}

/* Walks pattern and path one '/'-separated segment at a time; {name} takes any non-empty
 * segment. Captures go to params (may be NULL when only the shape matters). */
static bool path_matches(const char *pat, const char *path, size_t plen, pd_route_param *params,
                         size_t *nparams)
{
    size_t np = 0, i = 0;
    const char *p = pat;
    while (*p && i < plen) {
        if (*p != '/' || path[i] != '/')
            return false;
        p++;
        i++;
        const char *pe = strchr(p, '/');
        if (!pe)
            pe = p + strlen(p);
        size_t seg_end = i;
        while (seg_end < plen && path[seg_end] != '/')
            seg_end++;
        if (*p == '{') {
            if (seg_end == i)
                return false;
            if (params)
                params[np] = (pd_route_param){.name = p + 1, .name_len = (size_t)(pe - p) - 2,
                                               .off = i, .len = seg_end - i};
            np++;
        } else if ((size_t)(pe - p) != seg_end - i || memcmp(p, path + i, seg_end - i)) {
            return false;
        }
        p = pe;
        i = seg_end;
    }
    if (*p || i != plen)
        return false;
    if (nparams)
        *nparams = np;
    return true;
}

static void allow_add(char *allow, size_t cap, const char *method)
{
    size_t len = strlen(allow), mlen = strlen(method);
    for (const char *s = allow; (s = strstr(s, method)); s += mlen)
        if ((s == allow || s[-1] == ' ') && (s[mlen] == ',' || s[mlen] == '\0'))
            return;
    if (len + mlen + 3 > cap)
        return;
    if (len) {
        memcpy(allow + len, ", ", 2);
        len += 2;
    }
    memcpy(allow + len, method, mlen + 1);
}

/* The FILES route with the longest prefix of a path that no other route has. The API's
 * namespace is never a site's: a mistyped API path gets a JSON 404, not a page. */
static const pd_route *files_find(const pd_router *rt, const char *path, size_t path_len)
{
    if (path_len >= 4 && !memcmp(path, "/api", 4) && (path_len == 4 || path[4] == '/'))
        return NULL;
    const pd_route *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < rt->n; i++) {
        const pd_route *r = rt->v[i];
        size_t plen = strlen(r->pattern);
        if (strcmp(r->method, "FILES") || plen <= best_len)
            continue;
        /* "/app/" takes "/app" too: the trailing '/' of the path was dropped */
        if ((path_len >= plen && !memcmp(path, r->pattern, plen)) ||
            (path_len == plen - 1 && !memcmp(path, r->pattern, path_len))) {
            best = r;
            best_len = plen;
        }
    }
    return best;
}

pd_err pd_router_find(const pd_router *rt, const char *method, const char *path, size_t path_len,
                      pd_route_match *m)
{
    m->route = NULL;
    m->nparams = 0;
    m->allow[0] = '\0';
    if (path_len > 1 && path[path_len - 1] == '/')
        path_len--;
    bool path_known = false, ws = !strcmp(method, "WS");
    for (size_t i = 0; i < rt->n; i++) {
        const pd_route *r = rt->v[i];
        /* handshakes and plain requests never meet: a GET without the upgrade is not offered a
         * WS route (nor "WS" in Allow), and a handshake to an HTTP-only path is 404 */
        if (!strcmp(r->method, "WS") != ws || !strcmp(r->method, "FILES"))
            continue;
        if (strcmp(r->method, method)) {
            if (path_matches(r->pattern, path, path_len, NULL, NULL)) {
                path_known = true;
                allow_add(m->allow, sizeof m->allow, r->method);
            }
            continue;
        }
        if (path_matches(r->pattern, path, path_len, m->params, &m->nparams)) {
            m->route = r;
            return PD_OK;
        }
    }
    if (path_known)
        return PD_ERR_UNSUPPORTED;
    if (!strcmp(method, "GET") && (m->route = files_find(rt, path, path_len)))
        return PD_OK;
    return PD_ERR_NOTFOUND;
}
