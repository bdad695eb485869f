#include "core/curlm.h"

#include <stdbool.h>
#include <stdlib.h>

typedef struct sock_watch sock_watch;
struct sock_watch {
    uv_poll_t poll;
    pd_curlm *m;
    curl_socket_t fd;
    sock_watch *next;            /* in m->watches */
};

struct pd_curlm {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    sock_watch *watches;
    pd_curlm_done_fn done;
    void *ud;
};

static void check_done(pd_curlm *m)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(m->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *easy = msg->easy_handle;
        CURLcode cc = msg->data.result;
        char *priv = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
        /* msg belongs to the multi handle: not used once the callback removed the transfer */
        m->done(easy, priv, cc, m->ud);
    }
}

static void on_timer(uv_timer_t *t)
{
    pd_curlm *m = t->data;
    int running;
    curl_multi_socket_action(m->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(m);
}

static int timer_fn(CURLM *multi, long timeout_ms, void *ud)
{
    (void)multi;
    pd_curlm *m = ud;
    if (timeout_ms < 0)
        uv_timer_stop(&m->timer);
    else /* 0 too: curl must not be called back from inside itself */
        uv_timer_start(&m->timer, on_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    sock_watch *w = h->data;
    pd_curlm *m = w->m;
    int flags = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    int running;
    curl_multi_socket_action(m->multi, w->fd, flags, &running);
    check_done(m);
}

static void watch_closed(uv_handle_t *h) { free(h->data); }

static void unwatch(pd_curlm *m, sock_watch *w)
{
    for (sock_watch **pp = &m->watches; *pp; pp = &(*pp)->next)
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    uv_poll_stop(&w->poll);
    uv_close((uv_handle_t *)&w->poll, watch_closed);
}

static int socket_fn(CURL *easy, curl_socket_t s, int what, void *ud, void *sockp)
{
    (void)easy;
    pd_curlm *m = ud;
    sock_watch *w = sockp;
    if (what == CURL_POLL_REMOVE) {
        if (w) {
            unwatch(m, w);
            curl_multi_assign(m->multi, s, NULL);
        }
        return 0;
    }
    if (!w) {
        if (!(w = calloc(1, sizeof *w)))
            return -1;
        w->m = m;
        w->fd = s;
        if (uv_poll_init_socket(m->loop, &w->poll, s)) {
            free(w);
            return -1;
        }
        w->poll.data = w;
        w->next = m->watches;
        m->watches = w;
        curl_multi_assign(m->multi, s, w);
    }
    int ev = (what & CURL_POLL_IN ? UV_READABLE : 0) | (what & CURL_POLL_OUT ? UV_WRITABLE : 0);
    uv_poll_start(&w->poll, ev, on_poll);
    return 0;
}

pd_err pd_curlm_new(uv_loop_t *loop, pd_curlm_done_fn done, void *ud, pd_curlm **out)
{
    static bool global_done;
    if (!global_done) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT))
            return PD_ERR_INTERNAL;
        global_done = true;
    }
    pd_curlm *m = calloc(1, sizeof *m);
    if (!m)
        return PD_ERR_NOMEM;
    if (!(m->multi = curl_multi_init())) {
        free(m);
        return PD_ERR_NOMEM;
    }
    m->loop = loop;
    m->done = done;
    m->ud = ud;
    curl_multi_setopt(m->multi, CURLMOPT_SOCKETFUNCTION, socket_fn);
    curl_multi_setopt(m->multi, CURLMOPT_SOCKETDATA, m);
    curl_multi_setopt(m->multi, CURLMOPT_TIMERFUNCTION, timer_fn);
    curl_multi_setopt(m->multi, CURLMOPT_TIMERDATA, m);
    uv_timer_init(loop, &m->timer);
    m->timer.data = m;
    *out = m;
    return PD_OK;
}

pd_err pd_curlm_add(pd_curlm *m, CURL *easy)
{
    return curl_multi_add_handle(m->multi, easy) ? PD_ERR_INTERNAL : PD_OK;
}

void pd_curlm_remove(pd_curlm *m, CURL *easy) { curl_multi_remove_handle(m->multi, easy); }

void pd_curlm_perform(pd_curlm *m)
{
    int running;
    curl_multi_perform(m->multi, &running);
    check_done(m);
}

static void timer_closed(uv_handle_t *h) { free(h->data); }

void pd_curlm_free(pd_curlm **mp)
{
    pd_curlm *m = *mp;
    if (!m)
        return;
    *mp = NULL;
    /* curl closes its cached connections here: no callback into a half-freed m */
    curl_multi_setopt(m->multi, CURLMOPT_SOCKETFUNCTION, NULL);
    curl_multi_setopt(m->multi, CURLMOPT_TIMERFUNCTION, NULL);
    curl_multi_cleanup(m->multi);
    while (m->watches)
        unwatch(m, m->watches);
    uv_timer_stop(&m->timer);
    uv_close((uv_handle_t *)&m->timer, timer_closed);
}
