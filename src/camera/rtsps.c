/* The RTSPS camera source of the X1, P2S, H2 and X2D series (docs/camera.md): RTSP over a TLS
 * connection on the loop (tlsconn.h; printdeck terminates the TLS itself, as Debian's FFmpeg
 * with GnuTLS loses P2S streams after a few seconds), Digest auth with user bblp and the
 * access code, the video over the same connection (interleaved, RTP/AVP/TCP), H.264 access
 * units taken out of RTP on the loop (rtsp.c) and decoded into JPEG frames on a worker
 * (decode.c). At most one decoding job per camera: units that come meanwhile wait in one
 * bounded batch, sent as the next job; when the batch overflows, or the pool takes no more
 * work, it is dropped and decoding starts again at the next key frame. */
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "camera/decode.h"
#include "camera/rtsp.h"
#include "camera/source.h"
#include "camera/tlsconn.h"

#define USER "bblp"
#define PATH "/streaming/live/1"
/* a batch of access units waiting for the worker: a second of 30 fps video, or 8 MiB */
#define BATCH_UNITS 32
#define BATCH_MAX (8u << 20)
/* RFC 2326 §12.37: the session times out after 60 s unless the server says otherwise */
#define SESSION_TIMEOUT_S 60

typedef enum src_state { S_CONNECTING, S_OPTIONS, S_DESCRIBE, S_SETUP, S_PLAY, S_PLAYING, S_DOWN } src_state;
static const char *const methods[] = {"", "OPTIONS", "DESCRIBE", "SETUP", "PLAY", "", ""};

typedef struct batch {
    unsigned char *data;
    size_t len, cap;
    size_t ends[BATCH_UNITS];
    size_t n;
} batch;

typedef struct dec_job {
    pd_cam_source *s;
    batch b;
    bool jpeg;
    pd_cam_frame *out;
    pd_err rc;
    char why[200];
} dec_job;

struct pd_cam_source {
    pd_cam_events ev;
    void *ud;
    pd_cam_end end;
    src_state st;
    bool closing, frames;
    int refs;                 /* two timers, a job in flight */
    pd_cam_tls *conn;
    uv_timer_t timer, keepalive;
    int timeout_ms;
    char host[256], code[64];
    int port;
    /* RTSP */
    unsigned cseq;
    char url[300], track_url[600], session[200];
    int session_timeout_s;
    bool get_parameter;       /* the server lists GET_PARAMETER: the keep-alive */
    pd_rtsp_auth auth;
    bool auth_sent, stale_retried;
    char cnonce[17];
    pd_rtsp_h264 h264;
    unsigned char sprop[1100];
    size_t sprop_len;
    /* decoding */
    pd_work_pool *work;
    uint64_t *dropped;
    pd_cam_dec *dec;
    dec_job *job;             /* in flight */
    batch pending;
    bool need_key;            /* units are dropped until a key frame */
    uint64_t period_ms, next_due;
    uv_loop_t *loop;
    pd_rtsp_reader reader;    /* last: 72 KB */
};

static void source_release(pd_cam_source *s)
{
    if (--s->refs)
        return;
    pd_rtsp_h264_reset(&s->h264);
    pd_cam_dec_free(&s->dec);
    free(s->pending.data);
    free(s);
}

static void on_timer_closed(uv_handle_t *h) { source_release(h->data); }

/* The end, told once (pd_cam_end_tell); the owner closes the source from there or later. */
static void on_end(pd_err rc, const char *why, void *ud)
{
    pd_cam_source *s = ud;
    s->st = S_DOWN;
    uv_timer_stop(&s->timer);
    uv_timer_stop(&s->keepalive);
    s->ev.down(rc, why, s->ud);
}

/* --- requests ------------------------------------------------------------------------------ */

static void send_request(pd_cam_source *s, const char *method, const char *uri, const char *extra)
{
    char auth[700] = "";
    if (s->auth.scheme != PD_RTSP_NONE) {
        char v[640];
        if (pd_rtsp_auth_header(&s->auth, USER, s->code, method, uri, s->cnonce, v, sizeof v) == PD_OK)
            snprintf(auth, sizeof auth, "Authorization: %s\r\n", v);
        s->auth_sent = true;
    }
    char sess[230] = "";
    if (s->session[0])
        snprintf(sess, sizeof sess, "Session: %s\r\n", s->session);
    char req[2048];
    int n = snprintf(req, sizeof req, "%s %s RTSP/1.0\r\nCSeq: %u\r\nUser-Agent: printdeck\r\n%s%s%s\r\n",
                     method, uri, ++s->cseq, auth, sess, extra);
    if (n > 0 && (size_t)n < sizeof req)
        pd_cam_tls_write(s->conn, req, (size_t)n);
}

/* The request of the state the source is in (again, after a 401). */
static void send_step(pd_cam_source *s)
{
    switch (s->st) {
    case S_OPTIONS: send_request(s, "OPTIONS", s->url, ""); break;
    case S_DESCRIBE: send_request(s, "DESCRIBE", s->url, "Accept: application/sdp\r\n"); break;
    case S_SETUP:
        send_request(s, "SETUP", s->track_url, "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n");
        break;
    case S_PLAY: send_request(s, "PLAY", s->url, "Range: npt=0.000-\r\n"); break;
    default: break;
    }
}

static void on_keepalive(uv_timer_t *t)
{
    pd_cam_source *s = t->data;
    send_request(s, s->get_parameter ? "GET_PARAMETER" : "OPTIONS", s->url, "");
}

/* --- decoding on a worker ------------------------------------------------------------------ */

static void job_run(void *ud)
{
    dec_job *j = ud;
    j->rc = pd_cam_dec_run(j->s->dec, j->b.data, j->b.ends, j->b.n, j->jpeg, &j->out, j->why,
                           sizeof j->why);
}

static void submit(pd_cam_source *s);

static void job_done(void *ud, bool cancelled)
{
    dec_job *j = ud;
    pd_cam_source *s = j->s;
    pd_cam_frame *f = j->out;
    s->job = NULL;
    /* the batch's buffer is kept for the next one, unless units that came meanwhile are in
     * the pending one's: its ends point into it */
    if (!s->pending.len && (!s->pending.data || s->pending.cap < j->b.cap)) {
        free(s->pending.data);
        s->pending.data = j->b.data;
        s->pending.cap = j->b.cap;
        j->b.data = NULL;
    }
    free(j->b.data);
    if (s->closing || cancelled || s->st == S_DOWN) {
        pd_cam_frame_unref(&f);
    } else if (j->rc) {
        pd_cam_end_tell(&s->end, j->rc, "cannot decode the camera's video: %s", j->why);
    } else if (f) {
        s->frames = true;
        uv_timer_again(&s->timer);  /* the longest gap between frames starts again */
        s->ev.frame(f, s->ud);
    }
    free(j);
    if (s->pending.n && !s->closing && s->st == S_PLAYING)
        submit(s);
    source_release(s);
}

/* The units waiting go unseen: decoding starts again at the next key frame. */
static void batch_drop(pd_cam_source *s)
{
    s->pending.len = s->pending.n = 0;
    s->need_key = true;
    if (s->dropped)
        (*s->dropped)++;
}

static void submit(pd_cam_source *s)
{
    dec_job *j = calloc(1, sizeof *j);
    uint64_t now = uv_now(s->loop);
    if (!j) {
        batch_drop(s);
        return;
    }
    j->s = s;
    j->b = s->pending;
    j->jpeg = now >= s->next_due;
    /* due on a fixed cadence, not a period after the last: a camera at exactly rtsp_fps,
     * whose units come a millisecond early now and then, would lose every other picture;
     * one that fell behind starts again from now */
    if (j->jpeg && (s->next_due += s->period_ms) <= now)
        s->next_due = now + s->period_ms / 2;
    memset(&s->pending, 0, sizeof s->pending);
    if (pd_work_submit(s->work, job_run, job_done, j)) {
        /* the pool is full of other work: this camera skips pictures rather than queue them */
        s->pending = j->b;
        batch_drop(s);
        free(j);
        return;
    }
    s->job = j;
    s->refs++;
}

static bool batch_add(batch *b, const unsigned char *pre, size_t plen, const unsigned char *d, size_t n)
{
    if (b->n == BATCH_UNITS || b->len + plen + n > BATCH_MAX)
        return false;
    if (b->len + plen + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256 * 1024;
        while (cap < b->len + plen + n)
            cap *= 2;
        unsigned char *p = realloc(b->data, cap);
        if (!p)
            return false;
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, pre, plen);
    memcpy(b->data + b->len + plen, d, n);
    b->len += plen + n;
    b->ends[b->n++] = b->len;
    return true;
}

static void on_unit(const unsigned char *au, size_t n, bool key, void *ud)
{
    pd_cam_source *s = ud;
    if (s->need_key && !key)
        return;
    /* the SDP's SPS and PPS go before each key frame: a camera may send them only there */
    if (!batch_add(&s->pending, s->sprop, key ? s->sprop_len : 0, au, n)) {
        batch_drop(s);
        return;
    }
    s->need_key = false;
    if (!s->job)
        submit(s);
}

/* --- responses ----------------------------------------------------------------------------- */

static void take_sdp(pd_cam_source *s, const pd_rtsp_msg *m)
{
    char base[300];
    size_t pos = 0;
    if (!pd_rtsp_header(m, "Content-Base", &pos, base, sizeof base) &&
        !pd_rtsp_header(m, "Content-Location", &(size_t){0}, base, sizeof base))
        snprintf(base, sizeof base, "%s", s->url);
    pd_rtsp_track t;
    if (pd_rtsp_sdp_video((const char *)m->body, m->body_len, &t)) {
        pd_cam_end_tell(&s->end, PD_ERR_UNSUPPORTED, "the camera's stream has no video track");
        return;
    }
    if (strcasecmp(t.codec, "H264")) {
        pd_cam_end_tell(&s->end, PD_ERR_UNSUPPORTED, "the camera's video is %s, not H.264", t.codec[0] ? t.codec : "of an unknown codec");
        return;
    }
    if (pd_rtsp_url_join(base, t.control, s->track_url, sizeof s->track_url)) {
        pd_cam_end_tell(&s->end, PD_ERR_TOOBIG, "the camera's track URL is too long");
        return;
    }
    pd_rtsp_h264_init(&s->h264, t.pt, PD_CAM_FRAME_MAX);
    s->sprop_len = pd_rtsp_sprop(t.sprop, s->sprop, sizeof s->sprop);
    s->st = S_SETUP;
    send_step(s);
}

static void take_session(pd_cam_source *s, const pd_rtsp_msg *m)
{
    char v[200];
    size_t pos = 0;
    if (!pd_rtsp_header(m, "Session", &pos, v, sizeof v)) {
        pd_cam_end_tell(&s->end, PD_ERR_PARSE, "the camera answered SETUP without a session");
        return;
    }
    char *semi = strchr(v, ';'), *t = semi ? strstr(semi, "timeout=") : NULL;
    if (semi)
        *semi = '\0';
    snprintf(s->session, sizeof s->session, "%s", v);
    int timeout = t ? atoi(t + 8) : 0;
    s->session_timeout_s = timeout >= 10 && timeout <= 3600 ? timeout : SESSION_TIMEOUT_S;
    s->st = S_PLAY;
    send_step(s);
}

static void refused(pd_cam_source *s, const pd_rtsp_msg *m)
{
    int len = (int)(m->line_len > 12 ? m->line_len - 13 : 0);
    const char *reason = m->line + (m->line_len > 12 ? 13 : m->line_len);
    if (m->status == 404 && s->st == S_DESCRIBE)
        pd_cam_end_tell(&s->end, PD_ERR_NOTFOUND, "the camera has no stream at %s (404)", s->url);
    else if (m->status == 453 || m->status == 503)
        pd_cam_end_tell(&s->end, PD_ERR_BUSY, "the camera refused %s: %d %.*s (the printer takes very few "
                "camera connections: is another app or the slicer watching?)", methods[s->st],
                m->status, len, reason);
    else
        pd_cam_end_tell(&s->end, PD_ERR_REFUSED, "the camera answered %s with %d %.*s", methods[s->st], m->status,
                len, reason);
}

static void unauthorized(pd_cam_source *s, const pd_rtsp_msg *m)
{
    pd_rtsp_auth a = {0}, cand;
    char v[600];
    /* Digest over Basic, when both are offered: Basic sends the code itself */
    for (size_t pos = 0; pd_rtsp_header(m, "WWW-Authenticate", &pos, v, sizeof v);)
        if (!pd_rtsp_auth_parse(&cand, v) && cand.scheme >= a.scheme)
            a = cand;
    if (a.scheme == PD_RTSP_NONE) {
        pd_cam_end_tell(&s->end, PD_ERR_AUTH, "the camera asks for a login it does not say how to give (401 "
                "without a Basic or Digest challenge)");
        return;
    }
    if (s->auth_sent && !(a.stale && !s->stale_retried)) {
        pd_cam_end_tell(&s->end, PD_ERR_AUTH, "the camera refused user bblp with the access code (401 after %s "
                "auth): wrong access code", s->auth.scheme == PD_RTSP_DIGEST ? "Digest" : "Basic");
        return;
    }
    s->stale_retried = s->auth_sent;
    s->auth = a;
    if (s->st == S_PLAYING)
        return;  /* a keep-alive: the next one carries the new nonce */
    send_step(s);
}

static bool on_msg(const pd_rtsp_msg *m, void *ud)
{
    pd_cam_source *s = ud;
    if (!m->status || s->st == S_DOWN)
        return s->st != S_DOWN;  /* a request from the server: nothing printdeck has to do */
    if (m->status == 401) {
        unauthorized(s, m);
        return s->st != S_DOWN;
    }
    if (s->st == S_PLAYING)
        return true;  /* a keep-alive's answer */
    if (m->status < 200 || m->status > 299) {
        refused(s, m);
        return false;
    }
    char v[200];
    size_t pos = 0;
    switch (s->st) {
    case S_OPTIONS:
        s->get_parameter = pd_rtsp_header(m, "Public", &pos, v, sizeof v) && strstr(v, "GET_PARAMETER");
        s->st = S_DESCRIBE;
        send_step(s);
        break;
    case S_DESCRIBE: take_sdp(s, m); break;
    case S_SETUP: take_session(s, m); break;
    case S_PLAY: {
        s->st = S_PLAYING;
        uint64_t ka = (uint64_t)s->session_timeout_s * 1000 / 2;
        uv_timer_start(&s->keepalive, on_keepalive, ka, ka);
        break;
    }
    default: break;
    }
    return s->st != S_DOWN;
}

static bool on_packet(unsigned channel, const unsigned char *d, size_t n, void *ud)
{
    pd_cam_source *s = ud;
    if (s->st != S_PLAYING || channel != 0)
        return s->st != S_DOWN;  /* RTCP, or video before PLAY was answered */
    char why[160];
    pd_err rc = pd_rtsp_h264_rtp(&s->h264, d, n, on_unit, s, why, sizeof why);
    if (rc)
        pd_cam_end_tell(&s->end, rc, "%s", why);
    return s->st != S_DOWN;
}

/* --- the connection ------------------------------------------------------------------------ */

static void on_ready(void *ud)
{
    pd_cam_source *s = ud;
    s->st = S_OPTIONS;
    send_step(s);
}

static void on_data(const unsigned char *d, size_t n, void *ud)
{
    pd_cam_source *s = ud;
    static const pd_rtsp_sink sink = {on_msg, on_packet};
    char why[200];
    pd_err rc = pd_rtsp_feed(&s->reader, d, n, &sink, s, why, sizeof why);
    if (rc)
        pd_cam_end_tell(&s->end, rc, "%s", why);
}

/* An H2 with LAN liveview off closes port 322 (OpenBambuAPI video.md): a refusal before the
 * TLS handshake is said with what to check. */
static void on_conn_down(pd_err rc, const char *why, bool eof, void *ud)
{
    pd_cam_source *s = ud;
    if (s->st == S_CONNECTING)
        pd_cam_end_tell(&s->end, rc, "%s; if the printer's \"LAN Mode Liveview\" is off, its port 322 is closed", why);
    else if (eof && s->st != S_PLAYING)
        pd_cam_end_tell(&s->end, PD_ERR_IO, "the camera at %s:%d closed the connection during RTSP %s", s->host,
                s->port, methods[s->st]);
    else
        pd_cam_end_tell(&s->end, rc, "%s", why);
}

static void on_timeout(uv_timer_t *t)
{
    pd_cam_source *s = t->data;
    if (s->frames)
        pd_cam_end_tell(&s->end, PD_ERR_TIMEOUT, "the camera sent no frame for %d s", s->timeout_ms / 1000);
    else if (s->st == S_PLAYING)
        pd_cam_end_tell(&s->end, PD_ERR_TIMEOUT, "the camera at %s:%d sent no picture within %d s of connecting "
                "(%llu units of video dropped)", s->host, s->port, s->timeout_ms / 1000,
                (unsigned long long)s->h264.dropped);
    else
        pd_cam_end_tell(&s->end, PD_ERR_TIMEOUT, "the camera at %s:%d did not answer RTSP %s within %d s",
                s->host, s->port, methods[s->st], s->timeout_ms / 1000);
}

static pd_err rtsps_open(uv_loop_t *loop, const pd_cam_target *t, const pd_cam_events *ev, void *ud,
                         pd_cam_source **out)
{
    if (!t->work || strlen(t->access_code) >= sizeof ((pd_cam_source *)0)->code)
        return PD_ERR_INVAL;
    pd_cam_source *s = calloc(1, sizeof *s);
    if (!s)
        return PD_ERR_NOMEM;
    s->ev = *ev;
    s->ud = ud;
    s->end = (pd_cam_end){.down = on_end, .ud = s};
    s->loop = loop;
    s->work = t->work;
    s->dropped = t->dropped;
    s->timeout_ms = t->timeout_ms;
    s->port = t->port;
    s->need_key = true;
    s->period_ms = 1000u / (unsigned)(t->fps > 0 ? t->fps : 1);
    snprintf(s->host, sizeof s->host, "%s", t->host);
    snprintf(s->code, sizeof s->code, "%s", t->access_code);
    /* an IPv6 literal goes in brackets in a URL */
    snprintf(s->url, sizeof s->url, strchr(s->host, ':') ? "rtsps://[%s]:%d" PATH : "rtsps://%s:%d" PATH,
             s->host, s->port);
    unsigned char rnd[8];
    RAND_bytes(rnd, sizeof rnd);
    for (int i = 0; i < 8; i++)
        snprintf(s->cnonce + 2 * i, 3, "%02x", rnd[i]);
    pd_err rc = pd_cam_dec_new(t->width, &s->dec);
    if (rc) {
        free(s);
        return rc;
    }
    static const pd_cam_tls_cb cb = {on_ready, on_data, on_conn_down};
    if ((rc = pd_cam_tls_open(loop, t, &cb, s, &s->conn))) {
        pd_cam_dec_free(&s->dec);
        free(s);
        return rc;
    }
    uv_timer_init(loop, &s->timer);
    uv_timer_init(loop, &s->keepalive);
    s->timer.data = s->keepalive.data = s;
    s->refs = 2;
    uv_timer_start(&s->timer, on_timeout, (uint64_t)t->timeout_ms, (uint64_t)t->timeout_ms);
    *out = s;
    return PD_OK;
}

static void rtsps_close(pd_cam_source **sp)
{
    pd_cam_source *s = *sp;
    *sp = NULL;
    if (!s)
        return;
    /* the printer holds very few sessions: end ours rather than let it time out */
    if (s->session[0] && s->st != S_DOWN)
        send_request(s, "TEARDOWN", s->url, "");
    s->closing = s->end.told = true;
    pd_cam_tls_close(&s->conn);
    uv_close((uv_handle_t *)&s->timer, on_timer_closed);
    uv_close((uv_handle_t *)&s->keepalive, on_timer_closed);
}

const pd_cam_source_ops pd_cam_rtsps = {"rtsps", rtsps_open, rtsps_close};
