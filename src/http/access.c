#include "http/access.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Suffixes that never resolve through public DNS (RFC 6762, 6761, 8375, and the names home
 * routers hand out), so a browser cannot be pointed at us under one of them by a stranger's
 * DNS record. */
static const char *const private_suffixes[] = {
    "local", "lan", "home", "internal", "localdomain", "home.arpa", "localhost",
};

/* Next entry of a list separated by commas and/or white space; false at the end. */
static bool list_next(const char **p, const char **item, size_t *len)
{
    const char *s = *p;
    while (*s == ',' || isspace((unsigned char)*s))
        s++;
    if (!*s)
        return false;
    const char *e = s;
    while (*e && *e != ',' && !isspace((unsigned char)*e))
        e++;
    *item = s;
    *len = (size_t)(e - s);
    *p = e;
    return true;
}

/* --- addresses and networks ----------------------------------------------------------------- */

bool pd_access_ip_parse(const char *s, pd_access_ip *out)
{
    struct in_addr a4;
    if (inet_pton(AF_INET, s, &a4) == 1) {
        memset(out->b, 0, 10);
        out->b[10] = out->b[11] = 0xff;
        memcpy(out->b + 12, &a4, 4);
        return true;
    }
    return inet_pton(AF_INET6, s, out->b) == 1;
}

bool pd_access_ip_from_sockaddr(const struct sockaddr *sa, pd_access_ip *out)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        memset(out->b, 0, 10);
        out->b[10] = out->b[11] = 0xff;
        memcpy(out->b + 12, &s4->sin_addr, 4);
        return true;
    }
    if (sa->sa_family == AF_INET6) {
        memcpy(out->b, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        return true;
    }
    return false;
}

static bool prefix_equal(const pd_access_ip *a, const pd_access_ip *b, unsigned bits)
{
    unsigned whole = bits / 8, rest = bits % 8;
    if (memcmp(a->b, b->b, whole))
        return false;
    if (!rest)
        return true;
    uint8_t mask = (uint8_t)(0xff00u >> rest);
    return (a->b[whole] & mask) == (b->b[whole] & mask);
}

/* One "ADDR[/BITS]" entry; false when it is not one. */
static bool net_parse(const char *s, size_t len, pd_access_ip *ip, unsigned *bits)
{
    char buf[INET6_ADDRSTRLEN + 8];
    if (len >= sizeof buf)
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *slash = strchr(buf, '/');
    if (slash)
        *slash = '\0';
    if (!pd_access_ip_parse(buf, ip))
        return false;
    bool v4 = strchr(buf, ':') == NULL;
    unsigned max = v4 ? 32 : 128;
    *bits = max;
    if (slash) {
        char *end;
        unsigned long n = strtoul(slash + 1, &end, 10);
        if (!isdigit((unsigned char)slash[1]) || *end || n > max)
            return false;
        *bits = (unsigned)n;
    }
    if (v4)
        *bits += 96;
    /* clear the host bits so matching compares prefixes only */
    for (unsigned i = *bits; i < 128; i++)
        ip->b[i / 8] &= (uint8_t)~(0x80u >> (i % 8));
    return true;
}

pd_err pd_access_nets_parse(const char *list, pd_access_nets *out, char *err, size_t errlen)
{
    pd_access_nets nets = {.n = 0};
    const char *p = list ? list : "", *item;
    size_t len;
    while (list_next(&p, &item, &len)) {
        if (nets.n == PD_ACCESS_MAX_NETS) {
            snprintf(err, errlen, "more than %d networks (at '%.*s')", PD_ACCESS_MAX_NETS,
                     (int)(len > 64 ? 64 : len), item);
            return PD_ERR_TOOBIG;
        }
        if (!net_parse(item, len, &nets.v[nets.n].ip, &nets.v[nets.n].bits)) {
            snprintf(err, errlen, "'%.*s' is not an IPv4 or IPv6 network (ADDRESS[/BITS])",
                     (int)(len > 64 ? 64 : len), item);
            return PD_ERR_INVAL;
        }
        nets.n++;
    }
    *out = nets;
    return PD_OK;
}

bool pd_access_nets_match(const pd_access_nets *nets, const pd_access_ip *ip)
{
    for (size_t i = 0; i < nets->n; i++)
        if (prefix_equal(&nets->v[i].ip, ip, nets->v[i].bits))
            return true;
    return false;
}

/* --- hosts and origins ------------------------------------------------------------------- */

typedef struct hostport {
    char name[256];  /* lower case, without brackets or a trailing dot */
    long port;       /* -1: none given */
    bool ip;         /* an IP literal */
} hostport;

/* "name", "name:port", "1.2.3.4:port", "[v6]:port"; an unbracketed IPv6 literal is taken
 * whole (it is malformed in a Host, but cannot be a DNS name either). */
static bool hostport_parse(const char *s, size_t len, hostport *hp)
{
    const char *end = s + len, *host = s, *hend, *colon;
    bool bracket = len && *s == '[';
    if (bracket) {
        hend = memchr(s, ']', len);
        if (!hend)
            return false;
        host = s + 1;
        colon = hend + 1 < end ? hend + 1 : NULL;
        if (colon && *colon != ':')
            return false;
    } else {
        colon = memchr(s, ':', len);
        if (colon && memchr(colon + 1, ':', (size_t)(end - colon - 1)))
            colon = NULL;
        hend = colon ? colon : end;
    }
    size_t n = (size_t)(hend - host);
    if (n > 1 && host[n - 1] == '.' && !bracket)
        n--;
    if (!n || n >= sizeof hp->name)
        return false;
    for (size_t i = 0; i < n; i++)
        hp->name[i] = (char)tolower((unsigned char)host[i]);
    hp->name[n] = '\0';
    hp->port = -1;
    if (colon) {
        size_t plen = (size_t)(end - colon - 1);
        if (!plen || plen > 5)
            return false;
        long port = 0;
        for (size_t i = 1; i <= plen; i++) {
            if (!isdigit((unsigned char)colon[i]))
                return false;
            port = port * 10 + (colon[i] - '0');
        }
        if (port > 65535)
            return false;
        hp->port = port;
    }
    unsigned char bin[16];
    hp->ip = inet_pton(AF_INET, hp->name, bin) == 1 || inet_pton(AF_INET6, hp->name, bin) == 1;
    if (hp->ip)
        return true;
    /* a DNS name (underscores too: some LAN names carry them) */
    static const char name_chars[] = "abcdefghijklmnopqrstuvwxyz0123456789-_.";
    return !bracket && hp->name[strspn(hp->name, name_chars)] == '\0';
}

/* name is domain or a name under it. */
static bool under(const char *name, const char *domain)
{
    size_t n = strlen(name), d = strlen(domain);
    if (n == d)
        return !strcmp(name, domain);
    return n > d && name[n - d - 1] == '.' && !strcmp(name + n - d, domain);
}

typedef struct origin {
    char scheme[16];
    hostport hp;
    long port;   /* as given, else the scheme's default; -1 for a scheme without one */
} origin;

static bool origin_parse(const char *s, size_t len, origin *o);

/* The length of a ".domain" or "*.domain" entry's prefix (Spoolman writes the latter), else 0. */
static size_t domain_prefix(const char *item, size_t len)
{
    return *item == '.' ? 1 : len > 2 && item[0] == '*' && item[1] == '.' ? 2 : 0;
}

bool pd_access_host_allowed(const char *host, const char *allowed, const char *origins)
{
    if (!host)
        return true;
    hostport hp;
    if (!hostport_parse(host, strlen(host), &hp))
        return false;
    if (hp.ip || !strchr(hp.name, '.'))
        return true;
    for (size_t i = 0; i < sizeof private_suffixes / sizeof *private_suffixes; i++)
        if (under(hp.name, private_suffixes[i]))
            return true;
    const char *p = allowed ? allowed : "", *item;
    size_t len;
    while (list_next(&p, &item, &len)) {
        if (len == 1 && *item == '*')
            return true;
        size_t suffix = domain_prefix(item, len);
        hostport a;
        if (len > suffix && hostport_parse(item + suffix, len - suffix, &a) &&
            (suffix ? under(hp.name, a.name) : !strcmp(hp.name, a.name)))
            return true;
    }
    /* a page origin the CORS list trusts is served under its own name too (any, with "*") */
    p = origins ? origins : "";
    while (list_next(&p, &item, &len)) {
        origin o;
        if ((len == 1 && *item == '*') || (origin_parse(item, len, &o) && !strcmp(o.hp.name, hp.name)))
            return true;
    }
    return false;
}

static long default_port(const char *scheme)
{
    return !strcmp(scheme, "http") ? 80 : !strcmp(scheme, "https") ? 443 : -1;
}

/* "scheme://host[:port]", one trailing '/' tolerated (lists are written by hand). */
static bool origin_parse(const char *s, size_t len, origin *o)
{
    const char *sep = NULL;
    for (size_t i = 0; i + 3 <= len; i++)
        if (!memcmp(s + i, "://", 3)) {
            sep = s + i;
            break;
        }
    size_t slen = sep ? (size_t)(sep - s) : 0;
    if (!slen || slen >= sizeof o->scheme)
        return false;
    for (size_t i = 0; i < slen; i++)
        o->scheme[i] = (char)tolower((unsigned char)s[i]);
    o->scheme[slen] = '\0';
    const char *rest = sep + 3;
    size_t rlen = len - slen - 3;
    if (rlen && rest[rlen - 1] == '/')
        rlen--;
    if (memchr(rest, '/', rlen) || !hostport_parse(rest, rlen, &o->hp))
        return false;
    o->port = o->hp.port >= 0 ? o->hp.port : default_port(o->scheme);
    return true;
}

bool pd_access_origin_listed(const char *origin_hdr, const char *list)
{
    origin o, l;
    bool parsed = origin_parse(origin_hdr, strlen(origin_hdr), &o);
    const char *p = list ? list : "", *item;
    size_t len;
    while (list_next(&p, &item, &len))
        if ((len == 1 && *item == '*') ||
            (parsed && origin_parse(item, len, &l) && !strcmp(o.scheme, l.scheme) &&
             !strcmp(o.hp.name, l.hp.name) && o.port == l.port))
            return true;
    return false;
}

bool pd_access_origin_same_host(const char *origin_hdr, const char *host)
{
    origin o;
    hostport h;
    if (!host || !origin_parse(origin_hdr, strlen(origin_hdr), &o) ||
        default_port(o.scheme) < 0 || !hostport_parse(host, strlen(host), &h))
        return false;
    return !strcmp(o.hp.name, h.name) &&
           (h.port >= 0 ? h.port == o.port : o.port == default_port(o.scheme));
}

pd_err pd_access_list_check(pd_access_list kind, const char *list, char *err, size_t errlen)
{
    const char *p = list, *item;
    size_t len;
    while (list_next(&p, &item, &len)) {
        origin o;
        hostport hp;
        size_t suffix = kind == PD_ACCESS_HOSTS ? domain_prefix(item, len) : 0;
        bool ok = (len == 1 && *item == '*') ||
                  (kind == PD_ACCESS_ORIGINS
                       ? origin_parse(item, len, &o)
                       : len > suffix && hostport_parse(item + suffix, len - suffix, &hp));
        if (!ok) {
            snprintf(err, errlen, "'%.*s' is not %s", (int)(len > 64 ? 64 : len), item,
                     kind == PD_ACCESS_ORIGINS ? "an origin (scheme://host[:port]) or *"
                                               : "a host name, .domain, *.domain or *");
            return PD_ERR_INVAL;
        }
    }
    return PD_OK;
}

const char *pd_access_cookie(const char *header, const char *name, char *out, size_t outlen)
{
    size_t nlen = strlen(name);
    for (const char *p = header; p && *p;) {
        p += strspn(p, " \t;");
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > nlen && p[nlen] == '=' && !strncmp(p, name, nlen)) {
            const char *v = p + nlen + 1;
            size_t vlen = len - nlen - 1;
            while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
                vlen--;
            if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"') {
                v++;
                vlen -= 2;
            }
            if (!vlen || vlen >= outlen)
                return NULL;
            memcpy(out, v, vlen);
            out[vlen] = '\0';
            return out;
        }
        p += len;
    }
    return NULL;
}
