#include "api/hub.h"

#include <stdlib.h>

#include "core/clock.h"

static pd_hub *hubs;  /* every started hub: a drop reaches them all */

static void sessions_check(uv_timer_t *t);

void pd_hub_init(pd_hub *h, uv_loop_t *loop, pd_auth *auth, void (*release)(pd_hub_client *c))
{
    *h = (pd_hub){.auth = auth, .release = release};
    uv_timer_init(loop, &h->sessions);
    h->sessions.data = h;
    h->sweep_due_ms = pd_clock_wall_ms() + PD_AUTH_TOUCH_S * 1000;
    h->next_hub = hubs;
    hubs = h;
}

void pd_hub_add(pd_hub *h, pd_hub_client *c)
{
    c->dropped = false;
    c->prev = NULL;
    c->next = h->head;
    if (h->head)
        h->head->prev = c;
    h->head = c;
    h->n++;
    if (c->who.expires_at &&
        (!uv_is_active((uv_handle_t *)&h->sessions) ||
         (int64_t)uv_timer_get_due_in(&h->sessions) > c->who.expires_at * 1000 - pd_clock_wall_ms()))
        sessions_check(&h->sessions);
}

void pd_hub_gone(pd_hub *h, pd_hub_client *c)
{
    if (h->release)
        h->release(c);
    if (c->prev)
        c->prev->next = c->next;
    else
        h->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    h->n--;
    free(c);
}

bool pd_hub_write(pd_hub *h, pd_hub_client *c, const char *data, size_t len)
{
    /* a failed write drops the client rather than leave it a stream with gaps */
    if (!c->dropped && pd_stream_write(c->s, data, len)) {
        c->dropped = true;
        h->dropped++;
    }
    return c->dropped;
}

/* Its on_close does not run: the hub lets go of it here. */
void pd_hub_close(pd_hub *h, pd_hub_client *c)
{
    pd_stream_close(c->s);
    pd_hub_gone(h, c);
}

void pd_hub_stop(pd_hub *h)
{
    while (h->head)
        pd_hub_close(h, h->head);
    uv_timer_stop(&h->sessions);
    uv_close((uv_handle_t *)&h->sessions, NULL);
    for (pd_hub **p = &hubs; *p; p = &(*p)->next_hub)
        if (*p == h) {
            *p = h->next_hub;
            break;
        }
}

/* Closes the streams whose session (or signed URL) has expired, and on a sweep those whose
 * session has ended otherwise (keeping the others in use); arms itself for the next end or sweep
 * while such a stream is open. A database error keeps a stream: the next sweep asks again. */
static void sessions_check(uv_timer_t *t)
{
    pd_hub *h = t->data;
    int64_t now = pd_clock_wall_ms(), next = INT64_MAX;
    bool sweep = now >= h->sweep_due_ms;
    if (sweep)
        h->sweep_due_ms = now + PD_AUTH_TOUCH_S * 1000;
    for (pd_hub_client *c = h->head, *nx; c; c = nx) {
        nx = c->next;
        if (!c->who.expires_at || c->dropped)
            continue;
        int64_t end_ms = c->who.expires_at * 1000;
        bool session = c->who.kind == PD_IDENT_SESSION && h->auth;
        if (now >= end_ms || (sweep && session &&
                              pd_auth_session_touch(h->auth, c->who.session_id) == PD_ERR_NOTFOUND)) {
            pd_hub_close(h, c);
            continue;
        }
        next = end_ms < next ? end_ms : next;
        if (session)
            next = h->sweep_due_ms < next ? h->sweep_due_ms : next;
    }
    if (next == INT64_MAX)
        uv_timer_stop(&h->sessions);
    else
        uv_timer_start(&h->sessions, sessions_check, (uint64_t)(next - now), 0);
}

static void drop_where(int64_t user_id, int64_t token_id, int64_t session_id, int64_t keep)
{
    for (pd_hub *h = hubs; h; h = h->next_hub)
        for (pd_hub_client *c = h->head, *next; c; c = next) {
            next = c->next;
            bool session = c->who.kind == PD_IDENT_SESSION;
            bool match = (user_id && c->who.user_id == user_id) ||
                         (token_id && c->who.token_id == token_id) ||
                         (session_id && session && c->who.session_id == session_id);
            if (!match || c->dropped || (keep && session && c->who.session_id == keep))
                continue;
            pd_hub_close(h, c);
        }
}

void pd_hub_drop_user(int64_t user_id, int64_t keep_session_id) { drop_where(user_id, 0, 0, keep_session_id); }
void pd_hub_drop_token(int64_t token_id) { drop_where(0, token_id, 0, 0); }
void pd_hub_drop_session(int64_t session_id) { drop_where(0, 0, session_id, 0); }
