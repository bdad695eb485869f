#include "core/mqttio.h"

#include <openssl/ssl.h>
#include <stdlib.h>

/* With TLS, one socket read can leave whole MQTT packets decoded inside OpenSSL where
 * poll cannot see them; drain them, but bounded so one busy client cannot starve the loop. */
#define MAX_READS_PER_WAKE 256

struct pd_mqttio {
    uv_poll_t h;   /* first: the close callback frees through the handle pointer */
    int fd;
    int events;    /* what h watches now, 0 before the first start */
};

static void poll_closed(uv_handle_t *h) { free(h); }

void pd_mqttio_unwatch(pd_mqttio **io)
{
    pd_mqttio *w = *io;
    if (!w)
        return;
    *io = NULL;
    uv_poll_stop(&w->h);
    w->h.data = NULL;
    uv_close((uv_handle_t *)&w->h, poll_closed);
}

pd_err pd_mqttio_watch(pd_mqttio **io, uv_loop_t *loop, struct mosquitto *m, uv_poll_cb cb, void *data)
{
    int fd = m ? mosquitto_socket(m) : -1;
    if (*io && (*io)->fd != fd)
        pd_mqttio_unwatch(io);
    if (fd < 0)
        return PD_OK;
    if (!*io) {
        pd_mqttio *w = calloc(1, sizeof *w);
        if (!w)
            return PD_ERR_NOMEM;
        if (uv_poll_init_socket(loop, &w->h, fd)) {
            free(w);
            return PD_ERR_INTERNAL;
        }
        w->fd = fd;
        w->h.data = data;
        *io = w;
    }
    /* libuv re-registers the fd on every uv_poll_start, even with the same events (two
     * epoll_ctl calls); clients re-arm after each packet, so only a change is applied */
    int ev = UV_READABLE | UV_DISCONNECT | (mosquitto_want_write(m) ? UV_WRITABLE : 0);
    if (ev != (*io)->events && !uv_poll_start(&(*io)->h, ev, cb))
        (*io)->events = ev;
    return PD_OK;
}

int pd_mqttio_service(struct mosquitto **mp, int events, bool connecting)
{
    int rc = MOSQ_ERR_SUCCESS;
    if ((events & UV_READABLE) || connecting) {
        for (int i = 0; i < MAX_READS_PER_WAKE && *mp; i++) {
            rc = mosquitto_loop_read(*mp, 1);
            SSL *ssl = *mp ? mosquitto_ssl_get(*mp) : NULL;
            if (rc || !ssl || SSL_pending(ssl) <= 0)
                break;
        }
    }
    /* A TCP connect refused under the TLS handshake is, to libmosquitto, one not finished
     * yet: it would retry on every wake-up while the dead socket polls readable for good. */
    if (rc == MOSQ_ERR_SUCCESS && (events & UV_DISCONNECT) && connecting)
        rc = MOSQ_ERR_CONN_LOST;
    if (rc == MOSQ_ERR_SUCCESS && *mp && mosquitto_want_write(*mp))
        rc = mosquitto_loop_write(*mp, 1);
    return rc;
}

int pd_mqttio_jitter(int ms)
{
    return ms - ms / 4 + (int)(random() % (ms / 2 + 1));
}
