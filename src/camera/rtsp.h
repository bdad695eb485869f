/* RTSP 1.0 (RFC 2326) as the RTSPS cameras of the X1, P2S, H2 and X2D series speak it, pure
 * and bounded: no I/O, fuzzed (tests/fuzz/fuzz_rtsp.c). What rtsps.c needs and the
 * simulator's server shares: the reader of one TCP stream carrying RTSP messages and
 * `$`-framed interleaved packets (RFC 2326 §10.12), headers, HTTP Digest (RFC 7616, RFC 2617)
 * and Basic auth, the video track of an SDP (RFC 4566, RFC 6184 §8), and H.264 access units
 * out of RTP packets (RFC 3550, RFC 6184: single NAL units, STAP-A, FU-A). */
#ifndef PD_CAMERA_RTSP_H
#define PD_CAMERA_RTSP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* A message's head (its first line and headers) and body; an SDP is a few hundred bytes */
#define PD_RTSP_HEAD_MAX 8192
#define PD_RTSP_BODY_MAX 16384
/* an interleaved packet's length is 16 bits */
#define PD_RTSP_BUF_MAX (4 + 65535 + PD_RTSP_HEAD_MAX)

typedef struct pd_rtsp_msg {
    int status;               /* a response's code; 0: a request */
    const char *line;         /* the first line, without its CRLF */
    size_t line_len;
    const char *head;         /* the header lines, each ending in CRLF */
    size_t head_len;
    const unsigned char *body;
    size_t body_len;
} pd_rtsp_msg;

/* Header name's value (case-insensitive name, the value trimmed), the first at or after *pos,
 * which moves past it (start at 0; a later call finds the next one). false: none. A value
 * longer than outlen-1 is cut. */
bool pd_rtsp_header(const pd_rtsp_msg *m, const char *name, size_t *pos, char *out, size_t outlen);

typedef struct pd_rtsp_sink {
    /* each returns false to stop the reading (the owner is going down) */
    bool (*msg)(const pd_rtsp_msg *m, void *ud);
    bool (*packet)(unsigned channel, const unsigned char *d, size_t n, void *ud);
} pd_rtsp_sink;

typedef struct pd_rtsp_reader {
    size_t len;
    unsigned char buf[PD_RTSP_BUF_MAX];
} pd_rtsp_reader;

/* Feeds n bytes as they came; each whole message or packet goes to the sink. PD_OK (also
 * when a sink stopped it: the rest is dropped), PARSE (not RTSP), TOOBIG (a head or body over
 * its bound), why in words. */
pd_err pd_rtsp_feed(pd_rtsp_reader *r, const unsigned char *d, size_t n, const pd_rtsp_sink *s,
                    void *ud, char *why, size_t whylen);

/* --- authentication ---------------------------------------------------------------------- */

typedef enum pd_rtsp_scheme { PD_RTSP_NONE, PD_RTSP_BASIC, PD_RTSP_DIGEST } pd_rtsp_scheme;

typedef struct pd_rtsp_auth {
    pd_rtsp_scheme scheme;
    bool sha256;              /* algorithm=SHA-256 (RFC 7616); else MD5 */
    bool qop_auth;            /* the server offers qop=auth */
    bool stale;               /* the nonce expired, the credentials were right */
    char realm[128], nonce[128], opaque[128];
    unsigned nc;              /* requests sent with this nonce */
} pd_rtsp_auth;

/* One WWW-Authenticate value. PARSE: not a challenge; UNSUPPORTED: a scheme or digest
 * algorithm other than Basic, Digest MD5 or SHA-256. */
pd_err pd_rtsp_auth_parse(pd_rtsp_auth *a, const char *challenge);
/* A parameter of a challenge or an Authorization value ("Digest k=v, k2=\"v2\""), unquoted.
 * false: not there. */
bool pd_rtsp_param(const char *value, const char *key, char *out, size_t outlen);
/* The digest response in hex (RFC 7616 §3.4.1): out holds 65 bytes. qop NULL: RFC 2069's
 * form without nc and cnonce. */
void pd_rtsp_digest(bool sha256, const char *user, const char *realm, const char *pass,
                    const char *method, const char *uri, const char *nonce, const char *nc,
                    const char *cnonce, const char *qop, char out[65]);
/* The Authorization value for one request (the nonce count goes up). TOOBIG when outlen is
 * short. */
pd_err pd_rtsp_auth_header(pd_rtsp_auth *a, const char *user, const char *pass, const char *method,
                           const char *uri, const char *cnonce, char *out, size_t outlen);

/* --- SDP ----------------------------------------------------------------------------------- */

typedef struct pd_rtsp_track {
    int pt;                   /* RTP payload type */
    char codec[16];           /* "H264" */
    char control[512];        /* a=control, as written */
    char sprop[1024];         /* sprop-parameter-sets, base64 SPS,PPS */
} pd_rtsp_track;

/* The first video track of an SDP. NOTFOUND: none. */
pd_err pd_rtsp_sdp_video(const char *sdp, size_t n, pd_rtsp_track *t);
/* A track's URL from the presentation's (RFC 2326 C.1.1): control absolute, "*" or empty (the
 * base), or relative. TOOBIG when it does not fit. */
pd_err pd_rtsp_url_join(const char *base, const char *control, char *out, size_t outlen);
/* The NAL units of sprop-parameter-sets, each after a start code, into out; the bytes
 * written (0: none decoded). */
size_t pd_rtsp_sprop(const char *sprop, unsigned char *out, size_t cap);

/* --- H.264 over RTP ---------------------------------------------------------------------- */

typedef void (*pd_rtsp_au_fn)(const unsigned char *au, size_t n, bool key, void *ud);

/* Access units (Annex B: a start code before each NAL unit) out of RTP packets. One unit
 * at most is held, of at most max bytes; one that would grow past it, or lost a piece of a
 * fragmented NAL unit, is dropped whole. */
typedef struct pd_rtsp_h264 {
    int pt;
    size_t max;
    unsigned char *au;
    size_t len, cap;
    uint32_t ts;
    uint16_t seq;
    bool have_seq, in_fu, broken, key;
    uint64_t dropped;         /* units dropped, packets skipped */
} pd_rtsp_h264;

void pd_rtsp_h264_init(pd_rtsp_h264 *h, int pt, size_t max);
void pd_rtsp_h264_reset(pd_rtsp_h264 *h);
/* One RTP packet; fn gets each whole unit (borrowed). PARSE: not RTP version 2; NOMEM. */
pd_err pd_rtsp_h264_rtp(pd_rtsp_h264 *h, const unsigned char *p, size_t n, pd_rtsp_au_fn fn,
                        void *ud, char *why, size_t whylen);

#endif
