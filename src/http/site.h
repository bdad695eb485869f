/* Private to src/http/: which file of a built-in site answers a request, and in which
 * encoding. Pure (no lws), so the rules can be tested and fuzzed on their own. */
#ifndef PD_HTTP_SITE_H
#define PD_HTTP_SITE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "http/http.h"

typedef struct pd_site_pick {
    const pd_http_file *file;
    const unsigned char *body;
    size_t len;
    const char *encoding;  /* "br", "gzip", or NULL for the body as built */
    char etag[48];         /* the file's, marked per encoding: a variant is its own entity */
} pd_site_pick;

/* The file at path (a path ending in '/' means its index.html), or the site's fallback for
 * a path whose last segment has no '.'; NOTFOUND otherwise. accept_encoding may be NULL. */
pd_err pd_site_pick_file(const pd_http_site *site, const char *path, size_t path_len,
                         const char *accept_encoding, pd_site_pick *out);

/* Whether an Accept-Encoding value allows a content coding: named with a q above 0, or
 * covered by "*" with a q above 0 when not named (RFC 9110 12.5.3). */
bool pd_site_accepts(const char *accept_encoding, const char *coding);

/* Whether an If-None-Match value ("*", or a list of tags, weak ones too) holds etag. */
bool pd_site_etag_match(const char *if_none_match, const char *etag);

#endif
