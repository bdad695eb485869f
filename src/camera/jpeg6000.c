/* The port-6000 camera source: the auth packet and the frame stream (frame.c) over a TLS
 * connection on the loop (tlsconn.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "camera/source.h"
#include "camera/tlsconn.h"

typedef enum src_state { S_CONNECTING, S_AUTHED, S_STREAMING, S_DOWN } src_state;

struct pd_cam_source {
    pd_cam_events ev;
    void *ud;
    pd_cam_end end;
    src_state st;
    bool closing;
    pd_cam_tls *conn;
    uv_timer_t timer;
    pd_cam_parser parser;
    unsigned char auth[PD_CAM_AUTH_LEN];
    size_t since_auth;        /* bytes of plaintext received after the auth packet */
    int timeout_ms;
    char host[256];
    int port;
};

static void on_timer_closed(uv_handle_t *h)
{
    pd_cam_source *s = h->data;
    pd_cam_parser_reset(&s->parser);
    free(s);
}

/* The end, told once (pd_cam_end_tell); the owner closes the source from there or later. */
static void on_end(pd_err rc, const char *why, void *ud)
{
    pd_cam_source *s = ud;
    s->st = S_DOWN;
    uv_timer_stop(&s->timer);
    s->ev.down(rc, why, s->ud);
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

/* the client speaks first: nothing comes before the auth packet (OpenBambuAPI) */
static void on_ready(void *ud)
{
    pd_cam_source *s = ud;
    s->st = S_AUTHED;
    pd_cam_tls_write(s->conn, s->auth, sizeof s->auth);
}

static void on_data(const unsigned char *d, size_t n, void *ud)
{
    pd_cam_source *s = ud;
    if (s->st != S_AUTHED && s->st != S_STREAMING)
        return;
    s->since_auth += n;
    char why[200];
    pd_err rc = pd_cam_parse(&s->parser, d, n, on_frame, s, why, sizeof why);
    if (rc)
        pd_cam_end_tell(&s->end, rc, "%s", why);
}

/* A printer that ends the connection right after the auth packet, before a single byte,
 * refused the access code (ha-bambulab, bambulabs_api). */
static void on_conn_down(pd_err rc, const char *why, bool eof, void *ud)
{
    pd_cam_source *s = ud;
    if (eof && s->st == S_AUTHED && !s->since_auth)
        pd_cam_end_tell(&s->end, PD_ERR_AUTH, "the printer closed the camera connection right after the access "
                "code was sent: wrong access code");
    else
        pd_cam_end_tell(&s->end, rc, "%s", why);
}

static void on_timeout(uv_timer_t *t)
{
    pd_cam_source *s = t->data;
    if (s->st == S_STREAMING)
        pd_cam_end_tell(&s->end, PD_ERR_TIMEOUT, "the camera sent no frame for %d s", s->timeout_ms / 1000);
    else
        pd_cam_end_tell(&s->end, PD_ERR_TIMEOUT, "the camera at %s:%d sent no frame within %d s of connecting",
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
    s->ev = *ev;
    s->ud = ud;
    s->end = (pd_cam_end){.down = on_end, .ud = s};
    s->timeout_ms = t->timeout_ms;
    s->port = t->port;
    snprintf(s->host, sizeof s->host, "%s", t->host);
    static const pd_cam_tls_cb cb = {on_ready, on_data, on_conn_down};
    pd_err rc = pd_cam_tls_open(loop, t, &cb, s, &s->conn);
    if (rc) {
        free(s);
        return rc;
    }
    pd_cam_parser_init(&s->parser, PD_CAM_FRAME_MAX);
    uv_timer_init(loop, &s->timer);
    s->timer.data = s;
    uv_timer_start(&s->timer, on_timeout, (uint64_t)t->timeout_ms, (uint64_t)t->timeout_ms);
    *out = s;
    return PD_OK;
}

static void jpeg_close(pd_cam_source **sp)
{
    pd_cam_source *s = *sp;
    *sp = NULL;
    if (!s)
        return;
    s->closing = s->end.told = true;
    pd_cam_tls_close(&s->conn);
    uv_close((uv_handle_t *)&s->timer, on_timer_closed);
}

const pd_cam_source_ops pd_cam_jpeg6000 = {"jpeg6000", jpeg_open, jpeg_close};
