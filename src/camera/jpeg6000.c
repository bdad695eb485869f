/* The port-6000 camera source: a TLS client on the loop. libuv owns the socket (uv_tcp) and
 * OpenSSL runs over two memory BIOs, so no read or write ever blocks and the name lookup goes
 * to libuv's threadpool. The printer's certificate is trusted as the MQTT link and FTPS trust
 * it (core/tls.h): the Bambu CA or the printer's ca_file, the serial as the name. */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "camera/source.h"
#include "core/log.h"
#include "core/tls.h"

#define READ_CHUNK 16384

typedef enum src_state { S_RESOLVE, S_CONNECT, S_HANDSHAKE, S_AUTHED, S_STREAMING, S_DOWN } src_state;

struct pd_cam_source {
    uv_loop_t *loop;
    pd_cam_events ev;
    void *ud;
    src_state st;
    bool closing;
    int handles;              /* open libuv handles and requests; freed when none is left */
    uv_getaddrinfo_t gai;
    uv_tcp_t tcp;
    uv_connect_t conn;
    uv_timer_t timer;
    SSL_CTX *ctx;
    SSL *ssl;
    BIO *rbio, *wbio;         /* network → OpenSSL, OpenSSL → network */
    pd_cam_parser parser;
    unsigned char auth[PD_CAM_AUTH_LEN];
    size_t since_auth;        /* bytes of plaintext received after the auth packet */
    int timeout_ms;
    char host[256], serial[32];
    int port;
    char rx[READ_CHUNK];
};

typedef struct write_req {
    uv_write_t req;
    pd_cam_source *s;
    char data[];
} write_req;

static void source_release(pd_cam_source *s)
{
    if (--s->handles)
        return;
    pd_cam_parser_reset(&s->parser);
    SSL_free(s->ssl);  /* frees both BIOs */
    SSL_CTX_free(s->ctx);
    free(s);
}

static void on_handle_closed(uv_handle_t *h) { source_release(h->data); }

/* Reports the end once; the owner closes the source from there or later. */
static void go_down(pd_cam_source *s, pd_err rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void go_down(pd_cam_source *s, pd_err rc, const char *fmt, ...)
{
    if (s->st == S_DOWN || s->closing)
        return;
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    s->st = S_DOWN;
    uv_timer_stop(&s->timer);
    uv_read_stop((uv_stream_t *)&s->tcp);
    s->ev.down(rc, why, s->ud);
}

static void on_written(uv_write_t *req, int status)
{
    write_req *w = (write_req *)req;
    pd_cam_source *s = w->s;
    free(w);
    if (status && status != UV_ECANCELED)
        go_down(s, PD_ERR_IO, "cannot write to the camera at %s:%d: %s", s->host, s->port,
                uv_strerror(status));
    source_release(s);
}

/* Sends what OpenSSL has written into its outgoing BIO. */
static void flush_tls(pd_cam_source *s)
{
    size_t n = (size_t)BIO_ctrl_pending(s->wbio);
    if (!n || s->st == S_DOWN)
        return;
    write_req *w = malloc(sizeof *w + n);
    if (!w) {
        go_down(s, PD_ERR_NOMEM, "out of memory");
        return;
    }
    w->s = s;
    int got = BIO_read(s->wbio, w->data, (int)n);
    uv_buf_t b = uv_buf_init(w->data, got > 0 ? (unsigned)got : 0);
    int rc = uv_write(&w->req, (uv_stream_t *)&s->tcp, &b, 1, on_written);
    if (rc) {
        free(w);
        go_down(s, PD_ERR_IO, "cannot write to the camera: %s", uv_strerror(rc));
        return;
    }
    s->handles++;
}

static void on_frame(pd_cam_frame *f, void *ud)
{
    pd_cam_source *s = ud;
    if (s->st == S_DOWN || s->closing) {
        pd_cam_frame_unref(&f);
        return;
    }
    s->st = S_STREAMING;
    uv_timer_again(&s->timer);  /* the longest gap between frames starts again */
    s->ev.frame(f, s->ud);
}

static void tls_failed(pd_cam_source *s)
{
    long v = SSL_get_verify_result(s->ssl);
    if (v != X509_V_OK) {
        go_down(s, PD_ERR_TLS, "the camera's certificate did not verify: %s (expected name %s); "
                "set ca_file or tls_verify=false", X509_verify_cert_error_string(v), s->serial);
    } else {
        char err[160];
        ERR_error_string_n(ERR_peek_last_error(), err, sizeof err);
        go_down(s, PD_ERR_TLS, "TLS handshake with the camera at %s:%d failed: %s", s->host,
                s->port, err);
    }
    ERR_clear_error();
}

/* The connection ended from the other side. A printer that ends it right after the auth
 * packet, before a single byte, refused the access code (ha-bambulab, bambulabs_api). */
static void peer_closed(pd_cam_source *s)
{
    if (s->st == S_AUTHED && !s->since_auth)
        go_down(s, PD_ERR_AUTH, "the printer closed the camera connection right after the access "
                "code was sent: wrong access code");
    else
        go_down(s, PD_ERR_IO, "the camera at %s:%d closed the connection", s->host, s->port);
}

static void drive(pd_cam_source *s)
{
    if (s->st == S_HANDSHAKE) {
        int r = SSL_do_handshake(s->ssl);
        if (r != 1) {
            int e = SSL_get_error(s->ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                flush_tls(s);
            else if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && !ERR_peek_error()))
                go_down(s, PD_ERR_TLS, "the camera at %s:%d closed the connection during the TLS "
                        "handshake", s->host, s->port);
            else
                tls_failed(s);
            return;
        }
        /* the client speaks first: nothing comes before the auth packet (OpenBambuAPI) */
        if (SSL_write(s->ssl, s->auth, sizeof s->auth) != (int)sizeof s->auth) {
            tls_failed(s);
            return;
        }
        s->st = S_AUTHED;
    }
    char buf[READ_CHUNK];
    while (s->st == S_AUTHED || s->st == S_STREAMING) {
        int r = SSL_read(s->ssl, buf, sizeof buf);
        if (r <= 0) {
            int e = SSL_get_error(s->ssl, r);
            if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && !ERR_peek_error()))
                peer_closed(s);
            else if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
                tls_failed(s);
            break;
        }
        s->since_auth += (size_t)r;
        char why[200];
        pd_err rc = pd_cam_parse(&s->parser, (unsigned char *)buf, (size_t)r, on_frame, s, why, sizeof why);
        if (rc)
            go_down(s, rc, "%s", why);
    }
    flush_tls(s);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    pd_cam_source *s = h->data;
    *b = uv_buf_init(s->rx, sizeof s->rx);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    pd_cam_source *s = st->data;
    /* a refused access code ends the connection with a FIN or, on some firmware, a reset */
    if (n == UV_EOF || (n == UV_ECONNRESET && s->st == S_AUTHED && !s->since_auth)) {
        if (s->st == S_HANDSHAKE)
            go_down(s, PD_ERR_TLS, "the camera at %s:%d closed the connection during the TLS "
                    "handshake", s->host, s->port);
        else
            peer_closed(s);
        return;
    }
    if (n < 0) {
        go_down(s, PD_ERR_IO, "the camera connection to %s:%d failed: %s", s->host, s->port,
                uv_strerror((int)n));
        return;
    }
    if (n > 0 && BIO_write(s->rbio, b->base, (int)n) != (int)n) {
        go_down(s, PD_ERR_NOMEM, "out of memory");
        return;
    }
    drive(s);
}

/* Both callbacks below hold a reference of their own (a request), dropped last: when the
 * source was closed meanwhile, theirs may be the last. */
static void on_connect(uv_connect_t *req, int status)
{
    pd_cam_source *s = req->data;
    if (s->closing || s->st == S_DOWN) {
    } else if (status) {
        go_down(s, PD_ERR_IO, "cannot connect to the camera at %s:%d: %s%s", s->host, s->port,
                uv_strerror(status), status == UV_ECONNREFUSED ? " (a printer refuses for a while "
                "as it boots)" : "");
    } else {
        s->st = S_HANDSHAKE;
        uv_read_start((uv_stream_t *)&s->tcp, on_alloc, on_read);
        drive(s);
    }
    source_release(s);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    pd_cam_source *s = req->data;
    if (s->closing) {
    } else if (status) {
        go_down(s, PD_ERR_IO, "cannot resolve the camera's host %s: %s", s->host, uv_strerror(status));
    } else {
        s->st = S_CONNECT;
        s->conn.data = s;
        int rc = uv_tcp_connect(&s->conn, &s->tcp, res->ai_addr, on_connect);
        if (rc)
            go_down(s, PD_ERR_IO, "cannot connect to the camera at %s:%d: %s", s->host, s->port,
                    uv_strerror(rc));
        else
            s->handles++;
    }
    uv_freeaddrinfo(res);
    source_release(s);
}

static void on_timeout(uv_timer_t *t)
{
    pd_cam_source *s = t->data;
    if (s->st == S_STREAMING)
        go_down(s, PD_ERR_TIMEOUT, "the camera sent no frame for %d s", s->timeout_ms / 1000);
    else
        go_down(s, PD_ERR_TIMEOUT, "the camera at %s:%d sent no frame within %d s of connecting",
                s->host, s->port, s->timeout_ms / 1000);
}

static pd_err jpeg_open(uv_loop_t *loop, const pd_cam_target *t, const pd_cam_events *ev, void *ud,
                        pd_cam_source **out)
{
    pd_cam_source *s = calloc(1, sizeof *s);
    if (!s)
        return PD_ERR_NOMEM;
    if (pd_cam_auth_packet(s->auth, t->access_code)) {
        free(s);
        return PD_ERR_INVAL;
    }
    s->loop = loop;
    s->ev = *ev;
    s->ud = ud;
    s->timeout_ms = t->timeout_ms;
    s->port = t->port;
    snprintf(s->host, sizeof s->host, "%s", t->host);
    snprintf(s->serial, sizeof s->serial, "%s", t->serial);
    pd_cam_parser_init(&s->parser, PD_CAM_FRAME_MAX);
    s->ctx = SSL_CTX_new(TLS_client_method());
    if (!s->ctx)
        goto fail;
    SSL_CTX_set_min_proto_version(s->ctx, TLS1_2_VERSION);
    if (t->tls_verify && pd_tls_trust_printer(s->ctx, t->ca_pem, t->ca_len, t->serial))
        goto fail;
    if (!t->tls_verify)
        SSL_CTX_set_verify(s->ctx, SSL_VERIFY_NONE, NULL);
    s->ssl = SSL_new(s->ctx);
    s->rbio = BIO_new(BIO_s_mem());
    s->wbio = BIO_new(BIO_s_mem());
    if (!s->ssl || !s->rbio || !s->wbio) {
        BIO_free(s->rbio);
        BIO_free(s->wbio);
        goto fail;
    }
    SSL_set_bio(s->ssl, s->rbio, s->wbio);
    SSL_set_connect_state(s->ssl);
    uv_tcp_init(loop, &s->tcp);
    uv_timer_init(loop, &s->timer);
    s->tcp.data = s->timer.data = s->gai.data = s;
    s->handles = 2;
    uv_timer_start(&s->timer, on_timeout, (uint64_t)t->timeout_ms, (uint64_t)t->timeout_ms);
    char port[8];
    snprintf(port, sizeof port, "%d", t->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    int rc = uv_getaddrinfo(loop, &s->gai, on_resolved, s->host, port, &hints);
    if (rc) {
        *out = s;
        go_down(s, PD_ERR_IO, "cannot resolve the camera's host %s: %s", s->host, uv_strerror(rc));
        return PD_OK;
    }
    s->handles++;
    *out = s;
    return PD_OK;
fail:
    SSL_free(s->ssl);
    SSL_CTX_free(s->ctx);
    ERR_clear_error();
    free(s);
    return PD_ERR_TLS;
}

static void jpeg_close(pd_cam_source **sp)
{
    pd_cam_source *s = *sp;
    *sp = NULL;
    if (!s)
        return;
    s->closing = true;
    if (s->st == S_RESOLVE)
        uv_cancel((uv_req_t *)&s->gai);
    uv_close((uv_handle_t *)&s->timer, on_handle_closed);
    uv_close((uv_handle_t *)&s->tcp, on_handle_closed);
}

const pd_cam_source_ops pd_cam_jpeg6000 = {"jpeg6000", jpeg_open, jpeg_close};
