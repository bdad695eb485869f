/* The simulator's cameras: each simulated printer listens on its own TLS port. An X1, P2S, H2
 * or X2D model speaks RTSP there, as the printer does on 322 (rtsp.c). A port-6000 model
 * (A1, A1 mini, P1P, P1S, A2L) does as the printer does on 6000 (docs/camera.md): the
 * client's 80-byte auth packet first (a wrong access code closes the connection at once,
 * as printers do), then a 16-byte header and a baseline 1280x720 JPEG per frame, made with
 * libjpeg-turbo from a test pattern that shows the frame number. Only max_conns connections
 * at once get frames; one past that is accepted and then stalls, as a printer's does.
 * Everything runs on the simulator's loop; TLS through memory BIOs over uv_tcp. */
#include <stdio.h>  /* before jpeglib.h, which uses size_t and FILE without them */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "camera/decode.h"
#include "core/log.h"
#include "sim.h"

#define CAM_LOG "sim-camera"
#define CAM_W 1280
#define CAM_H 720
#define CAM_NOISE_H 64
/* the frame number in bits across the top, for the benchmark (docs/simulator.md) */
#define CAM_STAMP_BITS 32
/* a connection with this much unsent skips frames, as a printer's would */
#define CAM_BACKLOG (2u << 20)

typedef struct cam_srv cam_srv;

typedef struct cam_conn {
    cam_srv *srv;
    uv_tcp_t tcp;
    SSL *ssl;
    BIO *rbio, *wbio;
    unsigned char auth[80];
    size_t auth_got;
    bool authed, fed;         /* fed: within the connection limit, so it gets frames */
    bool closing;
    sim_rtsp *rtsp;           /* an RTSPS camera's connection */
    struct cam_conn *prev, *next;
} cam_conn;

struct cam_srv {
    const char *serial;
    int port;
    uv_tcp_t listener;
    uv_timer_t timer;
    SSL_CTX *ctx;
    sim_h264 *enc;            /* an RTSPS camera's encoder; NULL: port 6000 */
    cam_conn *conns;
    int open, fed, peak;
    unsigned long frames;
};

/* A test pattern, shared by every camera of its size. */
typedef struct picture {
    int w, h;
    unsigned char *rgb;
} picture;

static struct {
    cam_srv *srv;
    size_t n;
    const char *code;
    int max_conns;
    int fps;                  /* an RTSPS camera's, for its RTP clock */
    picture jpeg, rtsp;       /* the port-6000 cameras' (720p) and the RTSPS cameras' */
    FILE *log;                /* each frame's number and when it went out, for the benchmark */
} cams;

/* --- pictures ----------------------------------------------------------------------------- */

static void fill(picture *p, int x0, int y0, int w, int h, const unsigned char rgb[3])
{
    for (int y = y0; y < y0 + h && y < p->h; y++)
        for (int x = x0; x < x0 + w && x < p->w; x++)
            memcpy(p->rgb + ((size_t)y * (size_t)p->w + (size_t)x) * 3, rgb, 3);
}

static int picture_init(picture *p, int w, int h)
{
    static const unsigned char bars[8][3] = {{235, 235, 235}, {235, 235, 16}, {16, 235, 235},
                                             {16, 235, 16},    {235, 16, 235}, {235, 16, 16},
                                             {16, 16, 235},    {16, 16, 16}};
    p->w = w;
    p->h = h;
    /* a line and 64 bytes to spare: libswscale's SIMD reads past the last line's end when it
     * makes the RTSP camera's H.264 (src/camera/decode.c, sws_picture_size) */
    if (!(p->rgb = malloc((size_t)w * ((size_t)h + 1) * 3 + 64)))
        return -1;
    for (int i = 0; i < 8; i++)
        fill(p, i * w / 8, 0, w / 8 + 1, h, bars[i]);
    return 0;
}

/* The frame number, bit 31 first, as CAM_STAMP_BITS white (1) or black (0) squares across
 * the top: what the benchmark's viewers read back after the relay (bench/camera.sh), at any
 * size a viewer asks for, as the squares scale with the picture. */
static void draw_stamp(picture *p, unsigned long v)
{
    static const unsigned char black[3] = {0, 0, 0}, white[3] = {255, 255, 255};
    int b = p->w / CAM_STAMP_BITS;
    for (int i = 0; i < CAM_STAMP_BITS; i++)
        fill(p, i * b, 0, b, b, (v >> (CAM_STAMP_BITS - 1 - i)) & 1 ? white : black);
}

/* The frame number in seven-segment digits on a black panel, so a person (or a test) sees
 * frames advance. */
static void draw_number(picture *p, unsigned long v)
{
    static const unsigned char seg[10] = {0x3f, 0x06, 0x5b, 0x4f, 0x66, 0x6d, 0x7d, 0x07, 0x7f, 0x6f};
    static const unsigned char black[3] = {0, 0, 0}, white[3] = {255, 255, 255};
    const int s = 10, dw = 6 * s, dh = 11 * s, x0 = 40, y0 = p->w / CAM_STAMP_BITS + 40, digits = 8;
    fill(p, x0 - s, y0 - s, digits * (dw + 2 * s) + s, dh + 2 * s, black);
    for (int d = digits - 1; d >= 0; d--, v /= 10) {
        int x = x0 + d * (dw + 2 * s), m = seg[v % 10];
        if (m & 0x01) fill(p, x, y0, dw, s, white);
        if (m & 0x02) fill(p, x + dw - s, y0, s, dh / 2, white);
        if (m & 0x04) fill(p, x + dw - s, y0 + dh / 2, s, dh / 2, white);
        if (m & 0x08) fill(p, x, y0 + dh - s, dw, s, white);
        if (m & 0x10) fill(p, x, y0 + dh / 2, s, dh / 2, white);
        if (m & 0x20) fill(p, x, y0, s, dh / 2, white);
        if (m & 0x40) fill(p, x, y0 + dh / 2 - s / 2, dw, s, white);
    }
}

/* A band of noise, new in every frame: a real camera's picture of a print bed compresses to
 * 60-250 KB (docs/camera.md, "The port-6000 protocol"), where bars alone would make 30 KB
 * frames that never press on a viewer's socket the way real ones do. */
static void draw_noise(picture *p, unsigned long number)
{
    uint64_t rng = number * 0x9E3779B97F4A7C15ull + 1;
    unsigned char *at = p->rgb + (size_t)(p->h - CAM_NOISE_H) * (size_t)p->w * 3;
    for (size_t i = 0; i < (size_t)CAM_NOISE_H * (size_t)p->w * 3; i++) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        at[i] = (unsigned char)rng;
    }
}

static void draw(picture *p, unsigned long number)
{
    draw_stamp(p, number);
    draw_number(p, number);
    draw_noise(p, number);
}

/* The frame went out (to the sockets' queues): the benchmark's "in" time. */
static void log_sent(const cam_srv *s)
{
    if (!cams.log)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    fprintf(cams.log, "%s %lu %lld\n", s->serial, s->frames & 0xffffffffu,
            (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
}

/* --- connections -------------------------------------------------------------------------- */

static void conn_closed(uv_handle_t *h)
{
    cam_conn *c = h->data;
    sim_rtsp_free(c->rtsp);
    SSL_free(c->ssl);
    free(c);
}

static void conn_close(cam_conn *c)
{
    cam_srv *s = c->srv;
    if (c->closing)
        return;
    c->closing = true;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (c->authed) {
        s->open--;
        s->fed -= c->fed;
        pd_info(CAM_LOG, "camera %s: viewer gone (%d open)", s->serial, s->open);
    }
    uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

static void on_written(uv_write_t *w, int status)
{
    free(w);
}

static void flush(cam_conn *c)
{
    size_t n = (size_t)BIO_ctrl_pending(c->wbio);
    if (!n || c->closing)
        return;
    uv_write_t *w = malloc(sizeof *w + n);
    if (!w) {
        conn_close(c);
        return;
    }
    char *data = (char *)(w + 1);
    BIO_read(c->wbio, data, (int)n);
    uv_buf_t b = uv_buf_init(data, (unsigned)n);
    if (uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, on_written)) {
        free(w);
        conn_close(c);
    }
}

static void check_auth(cam_conn *c)
{
    cam_srv *s = c->srv;
    char code[33] = {0};
    memcpy(code, c->auth + 48, 32);
    bool ok = c->auth[0] == 0x40 && c->auth[4] == 0x00 && c->auth[5] == 0x30 &&
              !memcmp(c->auth + 16, "bblp", 5) && !strcmp(code, cams.code);
    if (!ok) {
        pd_info(CAM_LOG, "camera %s: wrong access code or malformed auth packet: closed", s->serial);
        conn_close(c);
        return;
    }
    c->authed = true;
    s->open++;
    if (s->open > s->peak)
        s->peak = s->open;
    c->fed = s->fed < cams.max_conns;
    s->fed += c->fed;
    pd_info(CAM_LOG, "camera %s: viewer connected (%d open, peak %d)%s", s->serial, s->open,
            s->peak, c->fed ? "" : ": over the connection limit, it gets no frames");
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    static char buf[16384];
    *b = uv_buf_init(buf, sizeof buf);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    cam_conn *c = st->data;
    if (n < 0) {
        conn_close(c);
        return;
    }
    BIO_write(c->rbio, b->base, (int)n);
    if (!SSL_is_init_finished(c->ssl)) {
        int r = SSL_do_handshake(c->ssl);
        flush(c);
        if (r != 1) {
            int e = SSL_get_error(c->ssl, r);
            if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
                ERR_clear_error();
                conn_close(c);
            }
            return;
        }
    }
    unsigned char in[512];
    int r;
    while (!c->closing && (r = SSL_read(c->ssl, in, sizeof in)) > 0) {
        if (c->rtsp) {
            if (sim_rtsp_input(c->rtsp, in, (size_t)r)) {
                flush(c);
                conn_close(c);
            }
            continue;
        }
        /* the auth packet; whatever follows it is ignored, as the printer does */
        size_t take = (size_t)r < sizeof c->auth - c->auth_got ? (size_t)r : sizeof c->auth - c->auth_got;
        memcpy(c->auth + c->auth_got, in, take);
        c->auth_got += take;
        if (take && c->auth_got == sizeof c->auth)
            check_auth(c);
    }
    if (!c->closing) {
        int e = SSL_get_error(c->ssl, r);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
            ERR_clear_error();
            conn_close(c);
            return;
        }
        flush(c);
    }
}

/* What an RTSPS connection sends; flushed once the request or the frame is all written. */
static void rtsp_out(void *conn, const void *d, size_t n)
{
    cam_conn *c = conn;
    if (!c->closing && SSL_write(c->ssl, d, (int)n) != (int)n)
        ERR_clear_error();
}

static void on_connection(uv_stream_t *l, int status)
{
    cam_srv *s = l->data;
    cam_conn *c = calloc(1, sizeof *c);
    if (status || !c) {
        free(c);
        return;
    }
    c->srv = s;
    uv_tcp_init(l->loop, &c->tcp);
    c->tcp.data = c;
    c->ssl = SSL_new(s->ctx);
    c->rbio = BIO_new(BIO_s_mem());
    c->wbio = BIO_new(BIO_s_mem());
    if (uv_accept(l, (uv_stream_t *)&c->tcp) || !c->ssl || !c->rbio || !c->wbio) {
        if (c->ssl && c->rbio && c->wbio) {
            SSL_set_bio(c->ssl, c->rbio, c->wbio);
        } else {
            BIO_free(c->rbio);
            BIO_free(c->wbio);
        }
        c->closing = true;
        uv_close((uv_handle_t *)&c->tcp, conn_closed);
        return;
    }
    SSL_set_bio(c->ssl, c->rbio, c->wbio);
    SSL_set_accept_state(c->ssl);
    if (s->enc) {
        sim_rtsp_ctx rc = {s->serial, cams.code, s->port, &s->open, &s->peak, cams.max_conns, s->enc};
        if (!(c->rtsp = sim_rtsp_new(&rc, rtsp_out, c))) {
            c->closing = true;
            uv_close((uv_handle_t *)&c->tcp, conn_closed);
            return;
        }
    }
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

/* The header alone first, as printers send it (ha-bambulab: "always delivered by themselves"),
 * then the picture, which TLS cuts into records of 16 KB at most. */
static void send_frame(cam_conn *c, const unsigned char *jpeg, unsigned long len)
{
    unsigned char hdr[16] = {0};
    for (int i = 0; i < 4; i++)
        hdr[i] = (unsigned char)(len >> (8 * i));
    hdr[8] = 1;
    if (SSL_write(c->ssl, hdr, sizeof hdr) != (int)sizeof hdr ||
        SSL_write(c->ssl, jpeg, (int)len) != (int)len) {
        ERR_clear_error();
        conn_close(c);
        return;
    }
    flush(c);
}

/* An RTSPS camera's frame: one H.264 access unit to every playing session, a key frame when
 * one has just started. */
static void rtsp_tick(cam_srv *s)
{
    bool key = false;
    for (cam_conn *c = s->conns; c; c = c->next)
        key |= c->rtsp && sim_rtsp_wants_key(c->rtsp);
    const unsigned char *au;
    size_t len;
    draw(&cams.rtsp, ++s->frames);
    if (sim_h264_encode(s->enc, cams.rtsp.rgb, key, &au, &len))
        return;
    uint32_t ts = (uint32_t)(s->frames * 90000 / (unsigned long)cams.fps);
    for (cam_conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        if (c->tcp.write_queue_size < CAM_BACKLOG) {
            sim_rtsp_send(c->rtsp, au, len, key, ts);
            flush(c);
        }
    }
    log_sent(s);
}

static void on_tick(uv_timer_t *t)
{
    cam_srv *s = t->data;
    if (s->enc) {
        if (s->open)
            rtsp_tick(s);
        return;
    }
    if (!s->fed)
        return;
    draw(&cams.jpeg, ++s->frames);
    /* baseline (SOF0) JPEG: what Bambu Studio takes from this stream (sksat/bambu-rs) */
    pd_cam_frame *jpeg = pd_cam_jpeg_encode(cams.jpeg.rgb, CAM_W, CAM_H, 75);
    for (cam_conn *c = s->conns, *next; jpeg && c; c = next) {
        next = c->next;
        if (c->fed && c->tcp.write_queue_size < CAM_BACKLOG)
            send_frame(c, jpeg->data, jpeg->len);
    }
    if (jpeg)
        log_sent(s);
    pd_cam_frame_unref(&jpeg);
}

/* --- start and stop ----------------------------------------------------------------------- */

static SSL_CTX *server_ctx(const char *dir, const char *serial)
{
    char crt[4096], key[4096];
    snprintf(crt, sizeof crt, "%s/%s.crt", dir, serial);
    snprintf(key, sizeof key, "%s/%s.key", dir, serial);
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx && SSL_CTX_use_certificate_chain_file(ctx, crt) == 1 &&
        SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) == 1)
        return ctx;
    pd_error(CAM_LOG, "camera %s: cannot load %s and %s", serial, crt, key);
    SSL_CTX_free(ctx);
    return NULL;
}

int sim_camera_start(uv_loop_t *loop, sim_printer *printers, size_t n, const sim_opts *o)
{
    if (!o->camera_port)
        return 0;
    if (!o->cert_dir) {
        pd_error(CAM_LOG, "--camera-port needs --cert-dir (the broker's certificates)");
        return -1;
    }
    cams.code = o->access_code;
    cams.max_conns = o->camera_max;
    cams.fps = o->camera_fps >= 1 ? (int)o->camera_fps : 1;
    if (picture_init(&cams.jpeg, CAM_W, CAM_H) ||
        picture_init(&cams.rtsp, o->camera_rtsp_w, o->camera_rtsp_h) ||
        !(cams.srv = calloc(n, sizeof *cams.srv)))
        return -1;
    if (o->camera_log && !(cams.log = fopen(o->camera_log, "a"))) {
        pd_error(CAM_LOG, "cannot open %s", o->camera_log);
        return -1;
    }
    if (cams.log)
        setvbuf(cams.log, NULL, _IOLBF, 0);
    for (size_t i = 0; i < n; i++) {
        cam_srv *s = &cams.srv[cams.n];
        s->serial = printers[i].serial;
        if ((printers[i].model->flags & SIM_F_RTSP) &&
            !(s->enc = sim_h264_new(cams.rtsp.w, cams.rtsp.h, cams.fps))) {
            pd_error(CAM_LOG, "camera %s: no H.264 encoder in this FFmpeg", s->serial);
            return -1;
        }
        s->port = o->camera_port + (int)i;
        if (!(s->ctx = server_ctx(o->cert_dir, s->serial)))
            return -1;
        struct sockaddr_in addr;
        uv_ip4_addr("127.0.0.1", s->port, &addr);
        uv_tcp_init(loop, &s->listener);
        uv_timer_init(loop, &s->timer);
        s->listener.data = s->timer.data = s;
        cams.n++;
        int rc = uv_tcp_bind(&s->listener, (const struct sockaddr *)&addr, 0);
        if (!rc)
            rc = uv_listen((uv_stream_t *)&s->listener, 16, on_connection);
        if (rc) {
            pd_error(CAM_LOG, "camera %s: cannot listen on 127.0.0.1:%d: %s", s->serial, s->port,
                     uv_strerror(rc));
            return -1;
        }
        uint64_t ms = (uint64_t)(1000.0 / o->camera_fps);
        uv_timer_start(&s->timer, on_tick, ms, ms);
        pd_info(CAM_LOG, "camera %s listening on 127.0.0.1:%d, %s, %g fps", s->serial, s->port,
                s->enc ? "RTSPS" : "port-6000 protocol", o->camera_fps);
    }
    return 0;
}

void sim_camera_stop(void)
{
    for (size_t i = 0; i < cams.n; i++) {
        cam_srv *s = &cams.srv[i];
        while (s->conns)
            conn_close(s->conns);
        uv_close((uv_handle_t *)&s->listener, NULL);
        uv_close((uv_handle_t *)&s->timer, NULL);
    }
}

void sim_camera_free(void)
{
    for (size_t i = 0; i < cams.n; i++) {
        SSL_CTX_free(cams.srv[i].ctx);
        sim_h264_free(cams.srv[i].enc);
    }
    free(cams.srv);
    free(cams.jpeg.rgb);
    free(cams.rtsp.rgb);
    if (cams.log)
        fclose(cams.log);
    memset(&cams, 0, sizeof cams);
}
