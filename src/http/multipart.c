#include "http/multipart.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define HEAD_MAX 8192          /* a part's headers */
#define SCAN_PIECE (1u << 20)
#define MAX_PARTS 64           /* parts looked at before the file part must have come */

pd_err pd_multipart_boundary(const char *ct, char *out, size_t outlen)
{
    ct += strspn(ct, " \t");
    if (strncasecmp(ct, "multipart/form-data", 19) || (ct[19] && ct[19] != ';' && ct[19] != ' '))
        return PD_ERR_NOTFOUND;
    const char *b = NULL;
    for (const char *p = ct + 19; (p = strchr(p, ';')); ) {
        p++;
        p += strspn(p, " \t");
        if (!strncasecmp(p, "boundary=", 9)) {
            b = p + 9;
            break;
        }
    }
    if (!b)
        return PD_ERR_PARSE;
    size_t n;
    if (*b == '"') {
        b++;
        const char *q = strchr(b, '"');
        if (!q)
            return PD_ERR_PARSE;
        n = (size_t)(q - b);
    } else {
        n = strcspn(b, "; \t");
    }
    if (!n || n > PD_MULTIPART_BOUNDARY_MAX || n + 1 > outlen)
        return PD_ERR_PARSE;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)b[i] < 0x20 || (unsigned char)b[i] > 0x7e)
            return PD_ERR_PARSE;
    memcpy(out, b, n);
    out[n] = '\0';
    return PD_OK;
}

static pd_err read_at(int fd, uint64_t off, char *buf, size_t n, size_t *got)
{
    ssize_t r;
    do
        r = pread(fd, buf, n, (off_t)off);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return PD_ERR_IO;
    *got = (size_t)r;
    return PD_OK;
}

/* Where `pat` next occurs at or after `from` (below len); len when it does not. */
static pd_err find(int fd, uint64_t from, uint64_t len, const char *pat, size_t plen, char *buf,
                   uint64_t *at)
{
    *at = len;
    while (from < len) {
        size_t want = len - from < SCAN_PIECE ? (size_t)(len - from) : SCAN_PIECE, got;
        pd_err rc = read_at(fd, from, buf, want, &got);
        if (rc)
            return rc;
        if (!got)
            return PD_OK;
        char *hit = memmem(buf, got, pat, plen);
        if (hit) {
            *at = from + (uint64_t)(hit - buf);
            return PD_OK;
        }
        if (got < plen || from + got >= len)
            return PD_OK;
        from += got - plen + 1;   /* overlap: a delimiter split across two pieces */
    }
    return PD_OK;
}

/* filename="…" (or filename=token) of a Content-Disposition header, without directories. */
static void disposition_name(const char *h, char *name, size_t namelen)
{
    for (const char *p = h; (p = strcasestr(p, "filename")); p += 8) {
        const char *v = p + 8;
        if (p > h && (isalnum((unsigned char)p[-1]) || p[-1] == '*'))
            continue;   /* filename*= (RFC 5987) and other names */
        v += strspn(v, " \t");
        if (*v != '=')
            continue;
        v++;
        v += strspn(v, " \t");
        size_t n;
        if (*v == '"') {
            v++;
            n = strcspn(v, "\"\r\n");
        } else {
            n = strcspn(v, "; \t\r\n");
        }
        /* a browser may send C:\fakepath\x.3mf; only the last segment is the name */
        for (size_t i = n; i > 0; i--)
            if (v[i - 1] == '/' || v[i - 1] == '\\') {
                v += i;
                n -= i;
                break;
            }
        snprintf(name, namelen, "%.*s", (int)n, v);
        if (!name[0])
            snprintf(name, namelen, "upload");
        return;
    }
}

pd_err pd_multipart_find(int fd, uint64_t len, const char *boundary, uint64_t *off,
                         uint64_t *plen, char *name, size_t namelen)
{
    char delim[PD_MULTIPART_BOUNDARY_MAX + 8];
    int dn = snprintf(delim, sizeof delim, "\r\n--%s", boundary);
    if (dn < 0 || (size_t)dn >= sizeof delim)
        return PD_ERR_PARSE;
    /* the scan reads at most a piece at a time and the headers at most HEAD_MAX */
    size_t cap = len < SCAN_PIECE ? (size_t)len : SCAN_PIECE;
    char *buf = malloc(cap > HEAD_MAX ? cap : HEAD_MAX);
    if (!buf)
        return PD_ERR_NOMEM;
    name[0] = '\0';
    pd_err rc = PD_OK;
    uint64_t at;
    bool found = false;
    uint64_t first_off = 0, first_len = 0;
    /* the body may start with the delimiter itself (no CRLF before it) or a preamble */
    size_t got;
    if ((rc = read_at(fd, 0, buf, (size_t)dn - 2 < len ? (size_t)dn - 2 : (size_t)len, &got)))
        goto out;
    if (got == (size_t)dn - 2 && !memcmp(buf, delim + 2, (size_t)dn - 2))
        at = 0;
    else if ((rc = find(fd, 0, len, delim, (size_t)dn, buf, &at)) || at == len)
        goto bad;
    else
        at += 2;
    for (int part = 0; part < MAX_PARTS; part++) {
        uint64_t p = at + (uint64_t)dn - 2;   /* after --boundary */
        if ((rc = read_at(fd, p, buf, len - p < HEAD_MAX - 1 ? (size_t)(len - p) : HEAD_MAX - 1,
                          &got)))
            goto out;
        buf[got] = '\0';
        if (got >= 2 && buf[0] == '-' && buf[1] == '-')
            break;   /* the closing delimiter */
        size_t skip = strspn(buf, " \t");   /* transport padding */
        if (strncmp(buf + skip, "\r\n", 2))
            goto bad;
        char *hend = strstr(buf + skip + 2, "\r\n\r\n");
        bool empty_head = !strncmp(buf + skip + 2, "\r\n", 2);
        if (!hend && !empty_head)
            goto bad;   /* headers over HEAD_MAX, or cut off */
        size_t hlen = empty_head ? skip + 2 : (size_t)(hend - buf) + 2;
        uint64_t data = p + hlen + 2;
        char fname[256] = "";
        if (!empty_head) {
            *hend = '\0';
            for (char *h = buf + skip + 2; h && *h; ) {
                char *next = strstr(h, "\r\n");
                if (next)
                    *next = '\0';
                if (!strncasecmp(h, "content-disposition:", 20))
                    disposition_name(h + 20, fname, sizeof fname);
                h = next ? next + 2 : NULL;
            }
        }
        uint64_t end;
        if ((rc = find(fd, data, len, delim, (size_t)dn, buf, &end)))
            goto out;
        if (end == len)
            goto bad;   /* no delimiter after the part: the body was cut off */
        if (!part) {
            first_off = data;
            first_len = end - data;
        }
        if (fname[0]) {
            *off = data;
            *plen = end - data;
            snprintf(name, namelen, "%s", fname);
            found = true;
            break;
        }
        at = end + 2;
    }
    if (!found) {
        if (!first_len)
            goto bad;
        *off = first_off;
        *plen = first_len;
    }
    goto out;
bad:
    rc = PD_ERR_PARSE;
out:
    free(buf);
    return rc;
}
