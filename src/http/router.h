/* Private to src/http/: the route table and path matching. Pure (no lws), so the matching
 * rules can be tested and fuzzed on their own. */
#ifndef PD_HTTP_ROUTER_H
#define PD_HTTP_ROUTER_H

#include <stddef.h>

#include "core/err.h"
#include "http/http.h"

#define PD_ROUTER_MAX_ROUTES 256
#define PD_ROUTER_MAX_PARAMS 8

/* A {name} capture: the name points into the route's pattern, the value is [off, off+len)
 * of the matched path. */
typedef struct pd_route_param {
    const char *name;
    size_t name_len;
    size_t off, len;
} pd_route_param;

typedef struct pd_router {
    const pd_route *v[PD_ROUTER_MAX_ROUTES];
    size_t n;
} pd_router;

/* Adds every route of a static table. INVAL for a malformed pattern or method (a programming
 * error, reported at startup rather than on the first request), TOOBIG past the limit. */
pd_err pd_router_add(pd_router *rt, const pd_route *routes, size_t n);

typedef struct pd_route_match {
    const pd_route *route;
    pd_route_param params[PD_ROUTER_MAX_PARAMS];
    size_t nparams;
    char allow[64];  /* methods that exist for the path, "GET, POST", when no route matched */
} pd_route_match;

/* OK with m->route set; NOTFOUND when no pattern matches the path; UNSUPPORTED when a pattern
 * matches but not with this method (m->allow lists the ones that do). A single trailing '/'
 * on the path is ignored. "WS" routes are found by method "WS" only, and only they are.
 * "FILES" routes are found by "GET" for a path no other route knows, outside /api. */
pd_err pd_router_find(const pd_router *rt, const char *method, const char *path, size_t path_len,
                      pd_route_match *m);

#endif
