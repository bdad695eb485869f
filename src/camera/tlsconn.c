#include "camera/tlsconn.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/tls.h"

#define READ_CHUNK 16384

typedef enum conn_state { C_RESOLVE, C_CONNECT, C_HANDSHAKE, C_OPEN, C_DOWN } conn_state;

struct pd_cam_tls {
    pd_cam_tls_cb cb;
    void *ud;
    conn_state st;
    bool closing;
    pd_cam_end end;
    bool eof;                 /* the end is the peer's: see pd_cam_tls_cb.down */
    int handles;              /* open libuv handles and requests; freed when none is left */
    uv_getaddrinfo_t gai;
    uv_tcp_t tcp;
    uv_connect_t conn;
    SSL_CTX *ctx;
    SSL *ssl;
    BIO *rbio, *wbio;         /* network → OpenSSL, OpenSSL → network */
    char host[256], serial[32];
    int port;
    char rx[READ_CHUNK];
};

typedef struct write_req {
    uv_write_t req;
    pd_cam_tls *c;
    char data[];
} write_req;

static void conn_release(pd_cam_tls *c)
{
    if (--c->handles)
        return;
    SSL_free(c->ssl);  /* frees both BIOs */
    SSL_CTX_free(c->ctx);
    free(c);
}

static void on_handle_closed(uv_handle_t *h) { conn_release(h->data); }

/* The end, told once (pd_cam_end_tell). */
static void on_end(pd_err rc, const char *why, void *ud)
{
    pd_cam_tls *c = ud;
    c->st = C_DOWN;
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->cb.down(rc, why, c->eof, c->ud);
}

static void on_written(uv_write_t *req, int status)
{
    write_req *w = (write_req *)req;
    pd_cam_tls *c = w->c;
    free(w);
    if (status && status != UV_ECANCELED)
        pd_cam_end_tell(&c->end, PD_ERR_IO, "cannot write to the camera at %s:%d: %s", c->host, c->port,
                uv_strerror(status));
    conn_release(c);
}

/* Sends what OpenSSL has written into its outgoing BIO. */
static void flush_tls(pd_cam_tls *c)
{
    size_t n = (size_t)BIO_ctrl_pending(c->wbio);
    if (!n || c->st == C_DOWN || c->closing)
        return;
    write_req *w = malloc(sizeof *w + n);
    if (!w) {
        pd_cam_end_tell(&c->end, PD_ERR_NOMEM, "out of memory");
        return;
    }
    w->c = c;
    int got = BIO_read(c->wbio, w->data, (int)n);
    uv_buf_t b = uv_buf_init(w->data, got > 0 ? (unsigned)got : 0);
    int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_written);
    if (rc) {
        free(w);
        pd_cam_end_tell(&c->end, PD_ERR_IO, "cannot write to the camera: %s", uv_strerror(rc));
        return;
    }
    c->handles++;
}

static void tls_failed(pd_cam_tls *c)
{
    long v = SSL_get_verify_result(c->ssl);
    if (v != X509_V_OK) {
        pd_cam_end_tell(&c->end, PD_ERR_TLS, "the camera's certificate did not verify: %s (expected name "
                "%s); set ca_file or tls_verify=false", X509_verify_cert_error_string(v), c->serial);
    } else {
        char err[160];
        ERR_error_string_n(ERR_peek_last_error(), err, sizeof err);
        pd_cam_end_tell(&c->end, PD_ERR_TLS, "TLS handshake with the camera at %s:%d failed: %s", c->host,
                c->port, err);
    }
    ERR_clear_error();
}

static void closed_in_handshake(pd_cam_tls *c)
{
    pd_cam_end_tell(&c->end, PD_ERR_TLS, "the camera at %s:%d closed the connection during the TLS "
            "handshake", c->host, c->port);
}

static void peer_closed(pd_cam_tls *c)
{
    c->eof = true;
    pd_cam_end_tell(&c->end, PD_ERR_IO, "the camera at %s:%d closed the connection", c->host,
                    c->port);
}

static bool is_eof(pd_cam_tls *c, int e)
{
    return e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && !ERR_peek_error());
}

static void drive(pd_cam_tls *c)
{
    if (c->st == C_HANDSHAKE) {
        int r = SSL_do_handshake(c->ssl);
        if (r != 1) {
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                flush_tls(c);
            else if (is_eof(c, e))
                closed_in_handshake(c);
            else
                tls_failed(c);
            return;
        }
        c->st = C_OPEN;
        c->cb.ready(c->ud);
    }
    unsigned char buf[READ_CHUNK];
    while (c->st == C_OPEN && !c->closing) {
        int r = SSL_read(c->ssl, buf, sizeof buf);
        if (r <= 0) {
            int e = SSL_get_error(c->ssl, r);
            if (is_eof(c, e))
                peer_closed(c);
            else if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
                tls_failed(c);
            break;
        }
        c->cb.data(buf, (size_t)r, c->ud);
    }
    flush_tls(c);
}

void pd_cam_tls_write(pd_cam_tls *c, const void *d, size_t n)
{
    if (c->st != C_OPEN || c->closing)
        return;
    if (SSL_write(c->ssl, d, (int)n) != (int)n) {
        tls_failed(c);
        return;
    }
    flush_tls(c);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    pd_cam_tls *c = h->data;
    *b = uv_buf_init(c->rx, sizeof c->rx);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    pd_cam_tls *c = st->data;
    /* a refusal (a wrong access code) ends the connection with a FIN or, on some firmware,
     * a reset */
    if (n == UV_EOF || (n == UV_ECONNRESET && c->st == C_OPEN)) {
        if (c->st == C_HANDSHAKE)
            closed_in_handshake(c);
        else
            peer_closed(c);
        return;
    }
    if (n < 0) {
        pd_cam_end_tell(&c->end, PD_ERR_IO, "the camera connection to %s:%d failed: %s", c->host, c->port,
                uv_strerror((int)n));
        return;
    }
    if (n > 0 && BIO_write(c->rbio, b->base, (int)n) != (int)n) {
        pd_cam_end_tell(&c->end, PD_ERR_NOMEM, "out of memory");
        return;
    }
    drive(c);
}

/* Both callbacks below hold a reference of their own (a request), dropped last: when the
 * connection was closed meanwhile, theirs may be the last. */
static void on_connect(uv_connect_t *req, int status)
{
    pd_cam_tls *c = req->data;
    if (c->closing || c->st == C_DOWN) {
    } else if (status) {
        pd_cam_end_tell(&c->end, PD_ERR_IO, "cannot connect to the camera at %s:%d: %s%s", c->host,
                c->port, uv_strerror(status), status == UV_ECONNREFUSED ? " (a printer refuses "
                "for a while as it boots)" : "");
    } else {
        c->st = C_HANDSHAKE;
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
        drive(c);
    }
    conn_release(c);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    pd_cam_tls *c = req->data;
    if (c->closing) {
    } else if (status) {
        pd_cam_end_tell(&c->end, PD_ERR_IO, "cannot resolve the camera's host %s: %s", c->host,
                uv_strerror(status));
    } else {
        c->st = C_CONNECT;
        c->conn.data = c;
        int rc = uv_tcp_connect(&c->conn, &c->tcp, res->ai_addr, on_connect);
        if (rc)
            pd_cam_end_tell(&c->end, PD_ERR_IO, "cannot connect to the camera at %s:%d: %s", c->host,
                    c->port, uv_strerror(rc));
        else
            c->handles++;
    }
    uv_freeaddrinfo(res);
    conn_release(c);
}

pd_err pd_cam_tls_open(uv_loop_t *loop, const pd_cam_target *t, const pd_cam_tls_cb *cb, void *ud,
                       pd_cam_tls **out)
{
    pd_cam_tls *c = calloc(1, sizeof *c);
    if (!c)
        return PD_ERR_NOMEM;
    c->cb = *cb;
    c->ud = ud;
    c->end = (pd_cam_end){.down = on_end, .ud = c};
    c->port = t->port;
    snprintf(c->host, sizeof c->host, "%s", t->host);
    snprintf(c->serial, sizeof c->serial, "%s", t->serial);
    c->ctx = SSL_CTX_new(TLS_client_method());
    if (!c->ctx)
        goto fail;
    SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
    if (t->tls_verify && pd_tls_trust_printer(c->ctx, t->ca_pem, t->ca_len, t->serial))
        goto fail;
    if (!t->tls_verify)
        SSL_CTX_set_verify(c->ctx, SSL_VERIFY_NONE, NULL);
    c->ssl = SSL_new(c->ctx);
    c->rbio = BIO_new(BIO_s_mem());
    c->wbio = BIO_new(BIO_s_mem());
    if (!c->ssl || !c->rbio || !c->wbio) {
        BIO_free(c->rbio);
        BIO_free(c->wbio);
        goto fail;
    }
    SSL_set_bio(c->ssl, c->rbio, c->wbio);
    SSL_set_connect_state(c->ssl);
    char port[8];
    snprintf(port, sizeof port, "%d", t->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    c->gai.data = c;
    if (uv_getaddrinfo(loop, &c->gai, on_resolved, c->host, port, &hints)) {
        SSL_free(c->ssl);
        SSL_CTX_free(c->ctx);
        free(c);
        return PD_ERR_IO;
    }
    uv_tcp_init(loop, &c->tcp);
    c->tcp.data = c;
    c->handles = 2;
    *out = c;
    return PD_OK;
fail:
    SSL_free(c->ssl);
    SSL_CTX_free(c->ctx);
    ERR_clear_error();
    free(c);
    return PD_ERR_TLS;
}

void pd_cam_tls_close(pd_cam_tls **cp)
{
    pd_cam_tls *c = *cp;
    *cp = NULL;
    if (!c)
        return;
    c->closing = c->end.told = true;
    if (c->st == C_RESOLVE)
        uv_cancel((uv_req_t *)&c->gai);
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
}
