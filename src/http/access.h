/* Private to src/http/: the access rules that need no socket. Trusted networks (CIDR lists),
 * the Host rules against DNS rebinding and the Origin comparisons of the browser guard are
 * pure functions over strings, so they are unit-tested and fuzzed on their own; http.c
 * applies them to each request (docs/http.md, "Access rules"). */
#ifndef PD_HTTP_ACCESS_H
#define PD_HTTP_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/err.h"

#define PD_ACCESS_MAX_NETS 32

/* An address as 16 bytes. IPv4 is kept IPv4-mapped (::ffff:a.b.c.d), so one comparison
 * serves both families and a v4 peer on a dual-stack socket matches a v4 network. */
typedef struct pd_access_ip {
    uint8_t b[16];
} pd_access_ip;

typedef struct pd_access_nets {
    struct {
        pd_access_ip ip;   /* host bits cleared */
        unsigned bits;     /* prefix length over the 128 bits */
    } v[PD_ACCESS_MAX_NETS];
    size_t n;
} pd_access_nets;

/* "127.0.0.0/8, ::1/128 192.168.1.7": entries separated by commas and/or spaces; an address
 * without /N is that one host; host bits under the prefix are ignored. On INVAL (an entry
 * that is not a CIDR) or TOOBIG (more than PD_ACCESS_MAX_NETS) err names the entry and out
 * is left as it was. */
pd_err pd_access_nets_parse(const char *list, pd_access_nets *out, char *err, size_t errlen);
bool pd_access_ip_parse(const char *s, pd_access_ip *out);
bool pd_access_ip_from_sockaddr(const struct sockaddr *sa, pd_access_ip *out);
bool pd_access_nets_match(const pd_access_nets *nets, const pd_access_ip *ip);

/* Checks a cors_origins or allowed_hosts list once, at configuration time, so an entry that
 * could never match (an origin without its scheme, a malformed name) is reported rather than
 * silently ignored; err names the entry. */
typedef enum pd_access_list { PD_ACCESS_ORIGINS, PD_ACCESS_HOSTS } pd_access_list;
pd_err pd_access_list_check(pd_access_list kind, const char *list, char *err, size_t errlen);

/* Whether a Host (or X-Forwarded-Host) header may be served. IP literals, single-label names
 * and names under the private suffixes (.local, .lan, .home, .internal, .localdomain,
 * .home.arpa, .localhost) pass without configuration; `allowed` lists more: "name" exactly,
 * ".name" or "*.name" for it and every name under it, "*" for any; and the host of an origin
 * in `origins` (the CORS list; "*" there allows any) passes as Spoolman lets it. Ports are
 * ignored on all sides. An absent Host (NULL) passes. */
bool pd_access_host_allowed(const char *host, const char *allowed, const char *origins);

/* Whether an Origin ("scheme://host[:port]") is in a list of origins, "*" matching any
 * (also "null" and other origins that are not scheme://host). Scheme and host compare without
 * case, and a default port (80 for http, 443 for https) may be written or left out. */
bool pd_access_origin_listed(const char *origin, const char *list);
/* Whether an Origin names the host the request was sent to: the Host header (or the first
 * X-Forwarded-Host) "name[:port]". A Host without a port matches the origin's default port
 * (the request's scheme is unknown behind a TLS proxy). */
bool pd_access_origin_same_host(const char *origin, const char *host);

/* The value of cookie `name` in a Cookie header ("a=1; pd_session=xyz"), copied into out;
 * NULL when absent, empty, or not shorter than outlen. A quoted value loses its quotes. */
const char *pd_access_cookie(const char *header, const char *name, char *out, size_t outlen);

#endif
