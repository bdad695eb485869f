#include "camera/rtsp.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* --- the reader ---------------------------------------------------------------------------- */

static const char *find_crlf2(const char *p, size_t n)
{
    for (size_t i = 0; i + 3 < n; i++)
        if (p[i] == '\r' && p[i + 1] == '\n' && p[i + 2] == '\r' && p[i + 3] == '\n')
            return p + i;
    return NULL;
}

bool pd_rtsp_header(const pd_rtsp_msg *m, const char *name, size_t *pos, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    for (size_t i = *pos; i < m->head_len;) {
        const char *line = m->head + i;
        const char *end = memchr(line, '\n', m->head_len - i);
        size_t len = end ? (size_t)(end - line) : m->head_len - i;
        i += len + 1;
        if (len <= nl || line[nl] != ':' || strncasecmp(line, name, nl))
            continue;
        const char *v = line + nl + 1, *ve = line + len;
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        size_t vl = (size_t)(ve - v) < outlen - 1 ? (size_t)(ve - v) : outlen - 1;
        memcpy(out, v, vl);
        out[vl] = '\0';
        *pos = i;
        return true;
    }
    *pos = m->head_len;
    return false;
}

/* A message: its head must be whole; then Content-Length bytes of body. 0: more is needed,
 * else the bytes it takes; -1: broken (why is set). */
static long take_msg(const unsigned char *b, size_t n, pd_rtsp_msg *m, char *why, size_t whylen)
{
    const char *p = (const char *)b;
    const char *e = find_crlf2(p, n < PD_RTSP_HEAD_MAX ? n : PD_RTSP_HEAD_MAX);
    if (!e) {
        if (n >= PD_RTSP_HEAD_MAX) {
            snprintf(why, whylen, "an RTSP message head over %d bytes", PD_RTSP_HEAD_MAX);
            return -2;
        }
        return 0;
    }
    const char *le = memchr(p, '\r', (size_t)(e - p) + 1);
    memset(m, 0, sizeof *m);
    m->line = p;
    m->line_len = (size_t)(le - p);
    m->head = le + 2 <= e ? le + 2 : e;
    m->head_len = (size_t)(e + 2 - m->head);
    if (e == le)
        m->head_len = 0;
    if (m->line_len >= 12 && !memcmp(p, "RTSP/1.", 7)) {
        if (p[8] != ' ' || !isdigit((unsigned char)p[9]) || !isdigit((unsigned char)p[10]) ||
            !isdigit((unsigned char)p[11])) {
            snprintf(why, whylen, "a malformed RTSP status line");
            return -1;
        }
        m->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
    } else {
        /* a request: METHOD SP URI SP RTSP/1.0 */
        size_t i = 0;
        while (i < m->line_len && isupper((unsigned char)p[i]))
            i++;
        if (!i || i == m->line_len || p[i] != ' ' || m->line_len < 8 ||
            memcmp(p + m->line_len - 8, "RTSP/1.0", 8)) {
            snprintf(why, whylen, "the camera does not speak RTSP");
            return -1;
        }
    }
    char cl[24];
    size_t pos = 0;
    unsigned long body = 0;
    if (pd_rtsp_header(m, "Content-Length", &pos, cl, sizeof cl)) {
        char *end;
        body = strtoul(cl, &end, 10);
        if (end == cl || *end || cl[0] == '-') {
            snprintf(why, whylen, "an RTSP message with a malformed Content-Length");
            return -1;
        }
        if (body > PD_RTSP_BODY_MAX) {
            snprintf(why, whylen, "an RTSP message body of %lu bytes (at most %d)", body,
                     PD_RTSP_BODY_MAX);
            return -2;
        }
    }
    size_t headlen = (size_t)(e + 4 - p);
    if (n < headlen + body)
        return 0;
    m->body = b + headlen;
    m->body_len = body;
    return (long)(headlen + body);
}

pd_err pd_rtsp_feed(pd_rtsp_reader *r, const unsigned char *d, size_t n, const pd_rtsp_sink *s,
                    void *ud, char *why, size_t whylen)
{
    while (n || r->len) {
        size_t room = sizeof r->buf - r->len, take = n < room ? n : room;
        memcpy(r->buf + r->len, d, take);
        r->len += take;
        d += take;
        n -= take;
        size_t at = 0;
        bool go = true;
        while (go && at < r->len) {
            const unsigned char *b = r->buf + at;
            size_t left = r->len - at;
            if (b[0] == '$') {
                if (left < 4)
                    break;
                size_t plen = (size_t)b[2] << 8 | b[3];
                if (left < 4 + plen)
                    break;
                go = s->packet(b[1], b + 4, plen, ud);
                at += 4 + plen;
                continue;
            }
            pd_rtsp_msg m;
            long got = take_msg(b, left, &m, why, whylen);
            if (got < 0) {
                r->len = 0;
                return got == -1 ? PD_ERR_PARSE : PD_ERR_TOOBIG;
            }
            if (!got)
                break;
            go = s->msg(&m, ud);
            at += (size_t)got;
        }
        if (!go) {
            r->len = 0;
            return PD_OK;
        }
        memmove(r->buf, r->buf + at, r->len - at);
        r->len -= at;
        /* the buffer holds the largest packet or message whole: no progress means more is
         * needed */
        if (!n)
            break;
    }
    return PD_OK;
}

/* --- authentication ------------------------------------------------------------------------ */

/* The next key=value of a challenge; value unquoted. false at the end. */
static bool next_param(const char **sp, char *key, size_t klen, char *val, size_t vlen)
{
    const char *s = *sp;
    while (*s == ' ' || *s == '\t' || *s == ',')
        s++;
    size_t k = 0;
    while (*s && *s != '=' && *s != ',' && *s != ' ') {
        if (k + 1 < klen)
            key[k++] = *s;
        s++;
    }
    key[k] = '\0';
    while (*s == ' ')
        s++;
    if (*s != '=' || !k) {
        *sp = s;
        return false;
    }
    s++;
    while (*s == ' ')
        s++;
    size_t v = 0;
    if (*s == '"') {
        for (s++; *s && *s != '"'; s++) {
            if (*s == '\\' && s[1])
                s++;
            if (v + 1 < vlen)
                val[v++] = *s;
        }
        if (*s == '"')
            s++;
    } else {
        for (; *s && *s != ',' && *s != ' '; s++)
            if (v + 1 < vlen)
                val[v++] = *s;
    }
    val[v] = '\0';
    *sp = s;
    return true;
}

static void copy_line(char *out, size_t outlen, const char *s, size_t n);

bool pd_rtsp_param(const char *value, const char *key, char *out, size_t outlen)
{
    const char *s = value + strspn(value, " ");
    s += strcspn(s, " ");  /* the scheme */
    char k[32];
    while (next_param(&s, k, sizeof k, out, outlen))
        if (!strcasecmp(k, key))
            return true;
    out[0] = '\0';
    return false;
}

pd_err pd_rtsp_auth_parse(pd_rtsp_auth *a, const char *challenge)
{
    memset(a, 0, sizeof *a);
    const char *s = challenge;
    while (*s == ' ')
        s++;
    if (!strncasecmp(s, "Basic", 5) && (!s[5] || s[5] == ' ')) {
        a->scheme = PD_RTSP_BASIC;
        s += 5;
    } else if (!strncasecmp(s, "Digest", 6) && s[6] == ' ') {
        a->scheme = PD_RTSP_DIGEST;
        s += 6;
    } else {
        return *s ? PD_ERR_UNSUPPORTED : PD_ERR_PARSE;
    }
    char key[32], val[256];
    while (next_param(&s, key, sizeof key, val, sizeof val)) {
        if (!strcasecmp(key, "realm"))
            copy_line(a->realm, sizeof a->realm, val, strlen(val));
        else if (!strcasecmp(key, "nonce"))
            copy_line(a->nonce, sizeof a->nonce, val, strlen(val));
        else if (!strcasecmp(key, "opaque"))
            copy_line(a->opaque, sizeof a->opaque, val, strlen(val));
        else if (!strcasecmp(key, "stale"))
            a->stale = !strcasecmp(val, "true");
        else if (!strcasecmp(key, "algorithm")) {
            if (!strcasecmp(val, "SHA-256"))
                a->sha256 = true;
            else if (strcasecmp(val, "MD5"))
                return PD_ERR_UNSUPPORTED;
        } else if (!strcasecmp(key, "qop")) {
            for (const char *q = val; (q = strstr(q, "auth")); q += 4)
                if ((q == val || q[-1] == ',' || q[-1] == ' ') && (!q[4] || q[4] == ',' || q[4] == ' '))
                    a->qop_auth = true;
        }
    }
    if (a->scheme == PD_RTSP_DIGEST && !a->nonce[0])
        return PD_ERR_PARSE;
    return PD_OK;
}

/* H of the parts joined by ':', in lowercase hex */
static void hash_hex(bool sha256, const char *const *parts, size_t n, char out[65])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    out[0] = '\0';
    if (!ctx)
        return;
    EVP_DigestInit_ex(ctx, sha256 ? EVP_sha256() : EVP_md5(), NULL);
    for (size_t i = 0; i < n; i++) {
        if (i)
            EVP_DigestUpdate(ctx, ":", 1);
        EVP_DigestUpdate(ctx, parts[i], strlen(parts[i]));
    }
    EVP_DigestFinal_ex(ctx, md, &len);
    EVP_MD_CTX_free(ctx);
    for (unsigned i = 0; i < len; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

void pd_rtsp_digest(bool sha256, const char *user, const char *realm, const char *pass,
                    const char *method, const char *uri, const char *nonce, const char *nc,
                    const char *cnonce, const char *qop, char out[65])
{
    char ha1[65], ha2[65];
    hash_hex(sha256, (const char *const[]){user, realm, pass}, 3, ha1);
    hash_hex(sha256, (const char *const[]){method, uri}, 2, ha2);
    if (qop)
        hash_hex(sha256, (const char *const[]){ha1, nonce, nc, cnonce, qop, ha2}, 6, out);
    else
        hash_hex(sha256, (const char *const[]){ha1, nonce, ha2}, 3, out);
}

pd_err pd_rtsp_auth_header(pd_rtsp_auth *a, const char *user, const char *pass, const char *method,
                           const char *uri, const char *cnonce, char *out, size_t outlen)
{
    int w;
    if (a->scheme == PD_RTSP_BASIC) {
        char plain[192];
        unsigned char b64[260];
        int pl = snprintf(plain, sizeof plain, "%s:%s", user, pass);
        if (pl < 0 || (size_t)pl >= sizeof plain)
            return PD_ERR_TOOBIG;
        EVP_EncodeBlock(b64, (const unsigned char *)plain, pl);
        w = snprintf(out, outlen, "Basic %s", b64);
    } else {
        char nc[9], resp[65];
        snprintf(nc, sizeof nc, "%08x", ++a->nc);
        pd_rtsp_digest(a->sha256, user, a->realm, pass, method, uri, a->nonce, nc, cnonce,
                       a->qop_auth ? "auth" : NULL, resp);
        w = snprintf(out, outlen, "Digest username=\"%s\", realm=\"%s\", nonce=\"%s\", uri=\"%s\", "
                     "response=\"%s\"%s%s%s%s%s%s%s%s%s", user, a->realm, a->nonce, uri, resp,
                     a->sha256 ? ", algorithm=SHA-256" : "",
                     a->opaque[0] ? ", opaque=\"" : "", a->opaque, a->opaque[0] ? "\"" : "",
                     a->qop_auth ? ", qop=auth, nc=" : "", a->qop_auth ? nc : "",
                     a->qop_auth ? ", cnonce=\"" : "", a->qop_auth ? cnonce : "",
                     a->qop_auth ? "\"" : "");
    }
    return w < 0 || (size_t)w >= outlen ? PD_ERR_TOOBIG : PD_OK;
}

/* --- SDP ----------------------------------------------------------------------------------- */

static void copy_line(char *out, size_t outlen, const char *s, size_t n)
{
    size_t k = n < outlen - 1 ? n : outlen - 1;
    memcpy(out, s, k);
    out[k] = '\0';
}

pd_err pd_rtsp_sdp_video(const char *sdp, size_t n, pd_rtsp_track *t)
{
    memset(t, 0, sizeof *t);
    t->pt = -1;
    bool video = false, found = false;
    for (size_t i = 0; i < n;) {
        const char *l = sdp + i;
        const char *nl = memchr(l, '\n', n - i);
        size_t len = nl ? (size_t)(nl - l) : n - i;
        i += len + 1;
        if (len && l[len - 1] == '\r')
            len--;
        char line[1200];
        copy_line(line, sizeof line, l, len);
        if (!strncmp(line, "m=", 2)) {
            if (found)
                break;  /* the first video track only */
            video = !strncmp(line, "m=video ", 8);
            int pt;
            if (video && sscanf(line, "m=video %*s %*s %d", &pt) == 1) {
                t->pt = pt;
                found = true;
            }
            continue;
        }
        if (!video)
            continue;
        int pt;
        char *v;
        if (!strncmp(line, "a=control:", 10)) {
            copy_line(t->control, sizeof t->control, line + 10, strlen(line + 10));
        } else if (sscanf(line, "a=rtpmap:%d", &pt) == 1 && pt == t->pt && (v = strchr(line, ' '))) {
            size_t k = strcspn(v + 1, "/");
            copy_line(t->codec, sizeof t->codec, v + 1, k);
        } else if (sscanf(line, "a=fmtp:%d", &pt) == 1 && pt == t->pt &&
                   (v = strstr(line, "sprop-parameter-sets="))) {
            v += strlen("sprop-parameter-sets=");
            copy_line(t->sprop, sizeof t->sprop, v, strcspn(v, "; "));
        }
    }
    return found ? PD_OK : PD_ERR_NOTFOUND;
}

pd_err pd_rtsp_url_join(const char *base, const char *control, char *out, size_t outlen)
{
    int w;
    if (!strncasecmp(control, "rtsp://", 7) || !strncasecmp(control, "rtsps://", 8))
        w = snprintf(out, outlen, "%s", control);
    else if (!control[0] || !strcmp(control, "*"))
        w = snprintf(out, outlen, "%s", base);
    else
        w = snprintf(out, outlen, "%s%s%s", base, base[0] && base[strlen(base) - 1] == '/' ? "" : "/",
                     control);
    return w < 0 || (size_t)w >= outlen ? PD_ERR_TOOBIG : PD_OK;
}

size_t pd_rtsp_sprop(const char *sprop, unsigned char *out, size_t cap)
{
    size_t w = 0;
    for (const char *s = sprop; *s;) {
        size_t k = strcspn(s, ",");
        /* base64 without padding is allowed here; EVP_DecodeBlock wants it padded */
        char b64[512];
        unsigned char raw[400];
        if (k && k + 3 < sizeof b64) {
            memcpy(b64, s, k);
            size_t pk = k;
            while (pk % 4)
                b64[pk++] = '=';
            b64[pk] = '\0';
            int n = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)pk);
            for (size_t i = pk; n > 0 && i > 0 && b64[i - 1] == '='; i--)
                n--;
            if (n > 0 && w + 4 + (size_t)n <= cap) {
                memcpy(out + w, "\0\0\0\1", 4);
                memcpy(out + w + 4, raw, (size_t)n);
                w += 4 + (size_t)n;
            }
        }
        s += k;
        if (*s)
            s++;
    }
    return w;
}

/* --- H.264 over RTP ------------------------------------------------------------------------ */

void pd_rtsp_h264_init(pd_rtsp_h264 *h, int pt, size_t max)
{
    memset(h, 0, sizeof *h);
    h->pt = pt;
    h->max = max;
}

void pd_rtsp_h264_reset(pd_rtsp_h264 *h)
{
    free(h->au);
    pd_rtsp_h264_init(h, h->pt, h->max);
}

static void au_drop(pd_rtsp_h264 *h)
{
    if (h->len || h->broken)
        h->dropped++;
    h->len = 0;
    h->in_fu = h->broken = h->key = false;
}

static bool au_put(pd_rtsp_h264 *h, const unsigned char *d, size_t n)
{
    if (h->broken)
        return true;
    if (h->len + n > h->max) {
        h->broken = true;
        return true;
    }
    if (h->len + n > h->cap) {
        size_t cap = h->cap ? h->cap : 65536;
        while (cap < h->len + n)
            cap *= 2;
        if (cap > h->max)
            cap = h->max;
        unsigned char *p = realloc(h->au, cap);
        if (!p)
            return false;
        h->au = p;
        h->cap = cap;
    }
    memcpy(h->au + h->len, d, n);
    h->len += n;
    return true;
}

static bool nal_start(pd_rtsp_h264 *h, unsigned char hdr)
{
    if ((hdr & 0x1f) == 5)
        h->key = true;
    return au_put(h, (const unsigned char *)"\0\0\0\1", 4) && au_put(h, &hdr, 1);
}

static void au_emit(pd_rtsp_h264 *h, pd_rtsp_au_fn fn, void *ud)
{
    if (h->len && !h->broken && !h->in_fu)
        fn(h->au, h->len, h->key, ud);
    else if (h->len || h->broken)
        h->dropped++;
    h->len = 0;
    h->in_fu = h->broken = h->key = false;
}

pd_err pd_rtsp_h264_rtp(pd_rtsp_h264 *h, const unsigned char *p, size_t n, pd_rtsp_au_fn fn,
                        void *ud, char *why, size_t whylen)
{
    if (n < 12 || p[0] >> 6 != 2) {
        snprintf(why, whylen, "the camera sent a packet that is not RTP");
        return PD_ERR_PARSE;
    }
    size_t off = 12 + 4 * (size_t)(p[0] & 0x0f), end = n;
    if (p[0] & 0x10) {  /* an extension: 4 bytes, then its length in words */
        if (off + 4 > n)
            goto skip;
        off += 4 + 4 * ((size_t)p[off + 2] << 8 | p[off + 3]);
    }
    if (p[0] & 0x20) {  /* padding: its count is the last byte */
        if (!n || p[n - 1] > n)
            goto skip;
        end -= p[n - 1];
    }
    if (off >= end || (p[1] & 0x7f) != h->pt)
        goto skip;
    bool marker = p[1] & 0x80;
    uint16_t seq = (uint16_t)(p[2] << 8 | p[3]);
    uint32_t ts = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7];
    if (h->len && ts != h->ts)
        au_emit(h, fn, ud);  /* a unit whose last packet (marker) went missing */
    if (h->have_seq && seq != (uint16_t)(h->seq + 1) && h->in_fu)
        h->broken = true;    /* a piece of the fragmented NAL unit is gone */
    h->seq = seq;
    h->have_seq = true;
    h->ts = ts;
    const unsigned char *d = p + off;
    size_t len = end - off;
    unsigned type = d[0] & 0x1f;
    bool ok = true;
    if (type >= 1 && type <= 23) {
        if (h->in_fu)
            h->broken = true;
        ok = nal_start(h, d[0]) && au_put(h, d + 1, len - 1);
    } else if (type == 24) {  /* STAP-A: 16-bit sizes, each before its NAL unit */
        for (size_t i = 1; ok && i + 2 < len;) {
            size_t sz = (size_t)d[i] << 8 | d[i + 1];
            i += 2;
            if (!sz || i + sz > len) {
                h->broken = true;
                break;
            }
            ok = nal_start(h, d[i]) && au_put(h, d + i + 1, sz - 1);
            i += sz;
        }
    } else if (type == 28 && len >= 2) {  /* FU-A: the indicator, then S, E and the type */
        unsigned char fu = d[1];
        if (fu & 0x80) {
            if (h->in_fu)
                h->broken = true;
            h->in_fu = true;
            ok = nal_start(h, (unsigned char)((d[0] & 0xe0) | (fu & 0x1f)));
        } else if (!h->in_fu) {
            h->broken = true;  /* its start is gone */
        }
        if (ok && h->in_fu)
            ok = au_put(h, d + 2, len - 2);
        if (fu & 0x40)
            h->in_fu = false;
    } else {
        goto skip;  /* STAP-B, MTAP, FU-B: not in packetization-mode 1 */
    }
    if (!ok) {
        au_drop(h);
        snprintf(why, whylen, "out of memory");
        return PD_ERR_NOMEM;
    }
    if (marker)
        au_emit(h, fn, ud);
    return PD_OK;
skip:
    h->dropped++;
    return PD_OK;
}
