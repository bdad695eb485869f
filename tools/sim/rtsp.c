/* The simulator's RTSPS cameras (X1, P2S, H2, X2D models): RTSP 1.0 (RFC 2326) over the TLS
 * connections camera.c accepts, with Digest auth (RFC 7616) for user bblp and the access code,
 * the test pattern encoded as H.264 with FFmpeg's libavcodec and sent interleaved on the same
 * connection as RTP (RFC 6184: SPS and PPS in a STAP-A before each key frame, FU-A for NAL
 * units over 1400 bytes). Only max_sessions sessions at once: one more is refused at SETUP
 * with 453, as later X1 RTSP connections fail (docs/camera.md). */
#include <libavcodec/avcodec.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "camera/rtsp.h"
#include "core/log.h"
#include "sim.h"

#define RTSP_LOG "sim-camera"
#define RTP_MAX 1400

struct sim_h264 {
    AVCodecContext *ctx;
    AVFrame *pic;
    AVPacket *pkt;
    struct SwsContext *sws;
    int64_t pts;
    char sprop[512];
};

struct sim_rtsp {
    sim_rtsp_ctx ctx;
    void (*out)(void *conn, const void *d, size_t n);
    void *conn;
    char nonce[33], session[17];
    bool playing, keyed, bye;
    uint16_t seq;
    pd_rtsp_reader reader;
};

/* --- the encoder --------------------------------------------------------------------------- */

/* The SPS and PPS of the encoder's global header as sprop-parameter-sets (RFC 6184 §8.1). */
static void make_sprop(sim_h264 *e)
{
    const uint8_t *p = e->ctx->extradata, *end = p + e->ctx->extradata_size;
    size_t w = 0;
    while (p + 3 <= end) {
        if (p[0] || p[1] || (p[2] != 1 && (p + 4 > end || p[2] || p[3] != 1))) {
            p++;
            continue;
        }
        p += p[2] == 1 ? 3 : 4;
        const uint8_t *q = p;
        while (q + 3 <= end && (q[0] || q[1] || q[2] > 1))
            q++;
        if (q + 3 > end)
            q = end;
        if (q > p && w + 4 * ((size_t)(q - p) + 2) / 3 + 2 < sizeof e->sprop) {
            if (w)
                e->sprop[w++] = ',';
            w += (size_t)EVP_EncodeBlock((unsigned char *)e->sprop + w, p, (int)(q - p));
        }
        p = q;
    }
    e->sprop[w] = '\0';
}

sim_h264 *sim_h264_new(int w, int h, int fps)
{
    const AVCodec *c = avcodec_find_encoder_by_name("libx264");
    if (!c)
        c = avcodec_find_encoder_by_name("libopenh264");
    if (!c)
        c = avcodec_find_encoder(AV_CODEC_ID_H264);
    sim_h264 *e = c ? calloc(1, sizeof *e) : NULL;
    if (!e)
        return NULL;
    e->ctx = avcodec_alloc_context3(c);
    e->pic = av_frame_alloc();
    e->pkt = av_packet_alloc();
    if (!e->ctx || !e->pic || !e->pkt)
        goto fail;
    e->ctx->width = w;
    e->ctx->height = h;
    e->ctx->time_base = (AVRational){1, fps};
    e->ctx->framerate = (AVRational){fps, 1};
    e->ctx->pix_fmt = AV_PIX_FMT_YUV420P;
    e->ctx->gop_size = fps * 4;
    e->ctx->max_b_frames = 0;
    e->ctx->bit_rate = 2000000;
    e->ctx->thread_count = 1;
    e->ctx->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;  /* SPS and PPS for the SDP */
    av_opt_set(e->ctx->priv_data, "preset", "ultrafast", 0);
    av_opt_set(e->ctx->priv_data, "tune", "zerolatency", 0);
    av_opt_set(e->ctx->priv_data, "profile", "baseline", 0);
    if (avcodec_open2(e->ctx, c, NULL) < 0)
        goto fail;
    e->pic->format = AV_PIX_FMT_YUV420P;
    e->pic->width = w;
    e->pic->height = h;
    if (av_frame_get_buffer(e->pic, 0) < 0)
        goto fail;
    e->sws = sws_getContext(w, h, AV_PIX_FMT_RGB24, w, h, AV_PIX_FMT_YUV420P, SWS_BILINEAR, NULL, NULL, NULL);
    if (!e->sws)
        goto fail;
    make_sprop(e);
    pd_info(RTSP_LOG, "H.264 with %s, %dx%d", c->name, w, h);
    return e;
fail:
    sim_h264_free(e);
    return NULL;
}

void sim_h264_free(sim_h264 *e)
{
    if (!e)
        return;
    avcodec_free_context(&e->ctx);
    av_frame_free(&e->pic);
    av_packet_free(&e->pkt);
    sws_freeContext(e->sws);
    free(e);
}

int sim_h264_encode(sim_h264 *e, const unsigned char *rgb, bool key, const unsigned char **au,
                    size_t *len)
{
    if (av_frame_make_writable(e->pic) < 0)
        return -1;
    const uint8_t *src[1] = {rgb};
    int stride[1] = {e->ctx->width * 3};
    sws_scale(e->sws, src, stride, 0, e->ctx->height, e->pic->data, e->pic->linesize);
    e->pic->pts = e->pts++;
    e->pic->pict_type = key ? AV_PICTURE_TYPE_I : AV_PICTURE_TYPE_NONE;
    av_packet_unref(e->pkt);
    if (avcodec_send_frame(e->ctx, e->pic) < 0 || avcodec_receive_packet(e->ctx, e->pkt) < 0)
        return -1;
    *au = e->pkt->data;
    *len = (size_t)e->pkt->size;
    return 0;
}

/* --- RTP ----------------------------------------------------------------------------------- */

static void rtp_send(sim_rtsp *r, const unsigned char *hdr, size_t hn, const unsigned char *d,
                     size_t n, bool marker, uint32_t ts)
{
    unsigned char pkt[4 + 12 + 2 + RTP_MAX];
    size_t len = 12 + hn + n;
    unsigned char *p = pkt + 4;
    pkt[0] = '$';
    pkt[1] = 0;
    pkt[2] = (unsigned char)(len >> 8);
    pkt[3] = (unsigned char)len;
    p[0] = 0x80;
    p[1] = (unsigned char)(96 | (marker ? 0x80 : 0));
    p[2] = (unsigned char)(r->seq >> 8);
    p[3] = (unsigned char)r->seq;
    r->seq++;
    for (int i = 0; i < 4; i++)
        p[4 + i] = (unsigned char)(ts >> (24 - 8 * i));
    memcpy(p + 8, "\x50\x44\x53\x4d", 4);  /* SSRC */
    if (hn)
        memcpy(p + 12, hdr, hn);
    memcpy(p + 12 + hn, d, n);
    r->out(r->conn, pkt, 4 + len);
}

/* One NAL unit: whole when it fits a packet, else in FU-A fragments. */
static void send_nal(sim_rtsp *r, const unsigned char *nal, size_t n, bool last, uint32_t ts)
{
    if (n <= RTP_MAX) {
        rtp_send(r, NULL, 0, nal, n, last, ts);
        return;
    }
    unsigned char fu[2] = {(unsigned char)((nal[0] & 0xe0) | 28), (unsigned char)(0x80 | (nal[0] & 0x1f))};
    for (size_t at = 1; at < n;) {
        size_t k = n - at < RTP_MAX ? n - at : RTP_MAX;
        bool end = at + k == n;
        if (end)
            fu[1] |= 0x40;
        rtp_send(r, fu, 2, nal + at, k, last && end, ts);
        fu[1] &= (unsigned char)~0x80;
        at += k;
    }
}

/* The NAL units of an Annex B buffer, one after another. */
static const unsigned char *next_nal(const unsigned char *p, const unsigned char *end, size_t *len)
{
    while (p + 3 <= end && !(p[0] == 0 && p[1] == 0 && p[2] == 1))
        p++;
    if (p + 3 > end)
        return NULL;
    p += 3;
    const unsigned char *q = p;
    while (q + 3 <= end && !(q[0] == 0 && q[1] == 0 && q[2] <= 1))
        q++;
    if (q + 3 > end)
        q = end;
    *len = (size_t)(q - p);
    return p;
}

void sim_rtsp_send(sim_rtsp *r, const unsigned char *au, size_t n, bool key, uint32_t ts)
{
    if (!r->playing || (!r->keyed && !key))
        return;
    r->keyed = true;
    const unsigned char *end = au + n, *nal, *p = au;
    size_t len;
    if (key) {  /* SPS and PPS again, as a STAP-A */
        unsigned char stap[512] = {24};
        size_t w = 1;
        for (const unsigned char *q = au; (nal = next_nal(q, end, &len)); q = nal + len) {
            unsigned t = nal[0] & 0x1f;
            if ((t == 7 || t == 8) && w + 2 + len <= sizeof stap) {
                stap[w++] = (unsigned char)(len >> 8);
                stap[w++] = (unsigned char)len;
                memcpy(stap + w, nal, len);
                w += len;
            }
        }
        if (w > 1)
            rtp_send(r, NULL, 0, stap, w, false, ts);
    }
    const unsigned char *prev = NULL;
    size_t plen = 0;
    for (; (nal = next_nal(p, end, &len)); p = nal + len) {
        unsigned t = nal[0] & 0x1f;
        if (t == 7 || t == 8 || t == 9)
            continue;  /* SPS, PPS sent above; access unit delimiters carry nothing */
        if (prev)
            send_nal(r, prev, plen, false, ts);
        prev = nal;
        plen = len;
    }
    if (prev)
        send_nal(r, prev, plen, true, ts);
}

bool sim_rtsp_wants_key(const sim_rtsp *r) { return r->playing && !r->keyed; }

/* --- RTSP ---------------------------------------------------------------------------------- */

static void reply(sim_rtsp *r, int code, const char *reason, const char *cseq, const char *extra,
                  const char *body)
{
    char msg[4096];
    size_t blen = body ? strlen(body) : 0;
    int n = snprintf(msg, sizeof msg, "RTSP/1.0 %d %s\r\nCSeq: %s\r\nServer: printdeck-sim\r\n%s",
                     code, reason, cseq, extra);
    if (blen)
        n += snprintf(msg + n, sizeof msg - (size_t)n, "Content-Length: %zu\r\n", blen);
    n += snprintf(msg + n, sizeof msg - (size_t)n, "\r\n%s", body ? body : "");
    if (n > 0 && (size_t)n < sizeof msg)
        r->out(r->conn, msg, (size_t)n);
}

/* Whether the request carries Digest credentials for bblp and the access code with our nonce. */
static bool authorized(sim_rtsp *r, const pd_rtsp_msg *m, const char *method)
{
    char v[1024], user[64], realm[64], nonce[64], uri[512], resp[80], nc[16], cnonce[80], qop[16];
    size_t pos = 0;
    if (!pd_rtsp_header(m, "Authorization", &pos, v, sizeof v) || strncmp(v, "Digest ", 7) ||
        !pd_rtsp_param(v, "username", user, sizeof user) || !pd_rtsp_param(v, "realm", realm, sizeof realm) ||
        !pd_rtsp_param(v, "nonce", nonce, sizeof nonce) || !pd_rtsp_param(v, "uri", uri, sizeof uri) ||
        !pd_rtsp_param(v, "response", resp, sizeof resp) || strcmp(nonce, r->nonce))
        return false;
    bool has_qop = pd_rtsp_param(v, "qop", qop, sizeof qop);
    pd_rtsp_param(v, "nc", nc, sizeof nc);
    pd_rtsp_param(v, "cnonce", cnonce, sizeof cnonce);
    char want[65];
    pd_rtsp_digest(false, "bblp", realm, r->ctx.code, method, uri, nonce, nc, cnonce,
                   has_qop ? qop : NULL, want);
    return !strcmp(user, "bblp") && !strcmp(realm, "LIVE555 Streaming Media") && !strcmp(resp, want);
}

static bool on_request(const pd_rtsp_msg *m, void *ud)
{
    sim_rtsp *r = ud;
    char cseq[16] = "0", method[16] = "", extra[1024];
    size_t pos = 0;
    pd_rtsp_header(m, "CSeq", &pos, cseq, sizeof cseq);
    size_t k = strcspn(m->line, " ");
    snprintf(method, sizeof method, "%.*s", (int)(k < 15 ? k : 15), m->line);
    if (m->status)
        return true;
    if (!strcmp(method, "OPTIONS")) {
        reply(r, 200, "OK", cseq, "Public: OPTIONS, DESCRIBE, SETUP, TEARDOWN, PLAY, GET_PARAMETER\r\n", NULL);
        return true;
    }
    if (!authorized(r, m, method)) {
        snprintf(extra, sizeof extra, "WWW-Authenticate: Digest realm=\"LIVE555 Streaming Media\", "
                 "nonce=\"%s\"\r\n", r->nonce);
        reply(r, 401, "Unauthorized", cseq, extra, NULL);
        return true;
    }
    if (!strcmp(method, "DESCRIBE")) {
        if (!strstr(m->line, "/streaming/live/1")) {
            reply(r, 404, "Stream Not Found", cseq, "", NULL);
            return true;
        }
        char sdp[1024];
        snprintf(sdp, sizeof sdp, "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=printdeck-sim %s\r\n"
                 "t=0 0\r\na=control:*\r\nm=video 0 RTP/AVP 96\r\nc=IN IP4 0.0.0.0\r\n"
                 "a=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1;sprop-parameter-sets=%s\r\n"
                 "a=control:track1\r\n", r->ctx.serial, r->ctx.enc->sprop);
        snprintf(extra, sizeof extra, "Content-Base: rtsps://127.0.0.1:%d/streaming/live/1/\r\n"
                 "Content-Type: application/sdp\r\n", r->ctx.port);
        reply(r, 200, "OK", cseq, extra, sdp);
    } else if (!strcmp(method, "SETUP")) {
        char tr[256];
        pos = 0;
        if (!pd_rtsp_header(m, "Transport", &pos, tr, sizeof tr) || !strstr(tr, "interleaved")) {
            reply(r, 461, "Unsupported Transport", cseq, "", NULL);
        } else if (!r->session[0] && *r->ctx.sessions >= r->ctx.max_sessions) {
            pd_info(RTSP_LOG, "camera %s: a session over the connection limit: refused", r->ctx.serial);
            reply(r, 453, "Not Enough Bandwidth", cseq, "", NULL);
        } else {
            if (!r->session[0]) {
                unsigned char b[8];
                RAND_bytes(b, sizeof b);
                for (int i = 0; i < 8; i++)
                    snprintf(r->session + 2 * i, 3, "%02X", b[i]);
                (*r->ctx.sessions)++;
            }
            snprintf(extra, sizeof extra, "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n"
                     "Session: %s;timeout=60\r\n", r->session);
            reply(r, 200, "OK", cseq, extra, NULL);
        }
    } else if (!strcmp(method, "PLAY") && r->session[0]) {
        snprintf(extra, sizeof extra, "Session: %s\r\nRange: npt=0.000-\r\n", r->session);
        reply(r, 200, "OK", cseq, extra, NULL);
        if (!r->playing) {
            r->playing = true;
            if (*r->ctx.sessions > *r->ctx.peak)
                *r->ctx.peak = *r->ctx.sessions;
            pd_info(RTSP_LOG, "camera %s: viewer connected (%d open, peak %d)", r->ctx.serial,
                    *r->ctx.sessions, *r->ctx.peak);
        }
    } else if (!strcmp(method, "GET_PARAMETER")) {
        reply(r, 200, "OK", cseq, "", NULL);
    } else if (!strcmp(method, "TEARDOWN")) {
        reply(r, 200, "OK", cseq, "", NULL);
        r->bye = true;
        return false;
    } else {
        reply(r, 455, "Method Not Valid in This State", cseq, "", NULL);
    }
    return true;
}

static bool on_client_packet(unsigned channel, const unsigned char *d, size_t n, void *ud)
{
    return true;  /* RTCP receiver reports: nothing to do */
}

sim_rtsp *sim_rtsp_new(const sim_rtsp_ctx *ctx, void (*out)(void *conn, const void *d, size_t n),
                       void *conn)
{
    sim_rtsp *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->ctx = *ctx;
    r->out = out;
    r->conn = conn;
    unsigned char b[16];
    RAND_bytes(b, sizeof b);
    for (int i = 0; i < 16; i++)
        snprintf(r->nonce + 2 * i, 3, "%02x", b[i]);
    return r;
}

void sim_rtsp_free(sim_rtsp *r)
{
    if (!r)
        return;
    if (r->session[0]) {
        (*r->ctx.sessions)--;
        pd_info(RTSP_LOG, "camera %s: viewer gone (%d open)", r->ctx.serial, *r->ctx.sessions);
    }
    free(r);
}

int sim_rtsp_input(sim_rtsp *r, const unsigned char *d, size_t n)
{
    static const pd_rtsp_sink sink = {on_request, on_client_packet};
    char why[160];
    if (pd_rtsp_feed(&r->reader, d, n, &sink, r, why, sizeof why)) {
        pd_info(RTSP_LOG, "camera %s: %s: closed", r->ctx.serial, why);
        return -1;
    }
    return r->bye ? -1 : 0;
}
