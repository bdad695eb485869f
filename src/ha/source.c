#include "ha/source.h"

#include <arpa/inet.h>
#include <libwebsockets.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/mqttio.h"
#include "ha/entities.h"
#include "ha/ha.h"
#include "ha/inbound.h"
#include "ha/wsmsg.h"

#define TICK_MS 1000
/* from the socket's connect to the subscription's result */
#define SETUP_WAIT_MS 30000
/* a buffer that held a big message is given back rather than kept for the next */
#define RX_KEEP 65536

typedef enum phase { IDLE, RESOLVING, OPENING, AUTHORIZING, SUBSCRIBING, LIVE } phase;

/* A printer followed: its entities, and what changed since it was last fed. */
typedef struct watched {
    int64_t printer_id;
    char ids[PD_HA_E_COUNT][PD_HA_ENTITY_MAX];
    bool print_dirty;
    uint32_t trays_dirty;
} watched;

typedef struct resolving {
    uv_getaddrinfo_t req;
    pd_ha_source *s;  /* NULL once the source stopped */
} resolving;

struct pd_ha_source {
    uv_loop_t *loop;
    struct lws_context *lws;
    struct lws_vhost *vh;
    pd_fleet *fleet;
    bool tls;
    char host[256], path[256], token[1024];
    int port;
    int backoff_min, backoff_max, backoff_ms;
    int64_t ping_every_ms, pong_wait_ms;  /* Home Assistant answers a ping with a pong */
    uv_timer_t timer;
    struct lws *wsi;
    resolving *res;
    phase ph;
    int64_t next_attempt, opened_at, ping_at, ping_sent;
    int64_t next_id, sub_id, ping_id;
    bool send_auth, send_sub, send_ping;
    pd_buf rx, tx;
    watched *w;
    size_t nw;
    json_t *cache;   /* entity id -> its state (ha/wsmsg.h) */
    json_t *where;   /* entity id -> [watched index * PD_HA_E_COUNT + entity index, ...] */
    pd_link_state state;
    char error[320];
};

/* --- the printers followed ------------------------------------------------------------------ */

static void set_state(pd_ha_source *s, pd_link_state st, const char *error)
{
    s->state = st;
    snprintf(s->error, sizeof s->error, "%s", error ? error : "");
    for (size_t i = 0; i < s->nw; i++) {
        pd_printer *p = pd_fleet_find_id(s->fleet, s->w[i].printer_id);
        if (p)
            pd_fleet_source_state(p, st, error);
    }
}

typedef struct collect {
    watched *v;
    size_t n, cap;
    bool nomem;
} collect;

static void collect_one(pd_printer *p, void *ud)
{
    collect *c = ud;
    const pd_printer_rec *rec = pd_printer_rec_get(p);
    if (rec->source != PD_PRINTER_HA || !rec->ha_device[0] || c->nomem)
        return;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 4;
        watched *nv = realloc(c->v, cap * sizeof *nv);
        if (!nv) {
            c->nomem = true;
            return;
        }
        c->v = nv;
        c->cap = cap;
    }
    watched *w = &c->v[c->n++];
    memset(w, 0, sizeof *w);
    w->printer_id = rec->id;
    pd_ha_entity_ids(rec, w->ids);
}

static bool same_watch(const pd_ha_source *s, const collect *c)
{
    if (c->n != s->nw)
        return false;
    for (size_t i = 0; i < c->n; i++)
        if (c->v[i].printer_id != s->w[i].printer_id || memcmp(c->v[i].ids, s->w[i].ids, sizeof c->v[i].ids))
            return false;
    return true;
}

/* The cache and the index of the entities followed; false when out of memory. */
static bool index_watch(pd_ha_source *s)
{
    json_decref(s->cache);
    json_decref(s->where);
    s->cache = json_object();
    s->where = json_object();
    for (size_t i = 0; s->cache && s->where && i < s->nw; i++)
        for (int k = 0; k < PD_HA_E_COUNT; k++) {
            const char *id = s->w[i].ids[k];
            json_t *at = json_object_get(s->where, id);
            if (!at && (json_object_set_new(s->where, id, at = json_array()) ||
                        json_object_set_new(s->cache, id, json_null())))
                return false;
            if (json_array_append_new(at, json_integer((json_int_t)(i * PD_HA_E_COUNT + (size_t)k))))
                return false;
        }
    return s->cache && s->where;
}

static void drop(pd_ha_source *s, bool in_callback);

/* Reads which printers are followed; a change reconnects at once, subscribed to the new set. */
static void refresh_watch(pd_ha_source *s)
{
    collect c = {0};
    pd_fleet_foreach(s->fleet, collect_one, &c);
    if (c.nomem || same_watch(s, &c)) {
        free(c.v);
        return;
    }
    if (s->ph != IDLE)
        drop(s, false);
    for (size_t i = 0; i < s->nw; i++) {  /* printers no longer followed say so */
        pd_printer *p = pd_fleet_find_id(s->fleet, s->w[i].printer_id);
        bool still = false;
        for (size_t j = 0; j < c.n && !still; j++)
            still = c.v[j].printer_id == s->w[i].printer_id;
        if (p && !still)
            pd_fleet_source_state(p, PD_LINK_DISCONNECTED, NULL);
    }
    free(s->w);
    s->w = c.v;
    s->nw = c.n;
    if (!index_watch(s))
        s->nw = 0;  /* tried again when the set next changes */
    s->next_attempt = 0;
    s->backoff_ms = 0;
}

/* --- the news fed to the fleet ------------------------------------------------------------------ */

static void entity_changed(const char *id, void *ud)
{
    pd_ha_source *s = ud;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(s->where, id), i, v) {
        size_t at = (size_t)json_integer_value(v), n = at / PD_HA_E_COUNT;
        int k = (int)(at % PD_HA_E_COUNT);
        if (n >= s->nw)
            continue;
        if (k < PD_HA_E_PRINT)
            s->w[n].print_dirty = true;
        else
            s->w[n].trays_dirty |= 1u << (k - PD_HA_E_PRINT);
    }
}

static void feed_report(pd_printer *p, json_t *report)
{
    if (report)
        pd_fleet_feed(p, report);
    json_decref(report);
}

/* The trays first: a print that starts with them has their remain in its start snapshot. */
static void feed(pd_ha_source *s, watched *w)
{
    pd_printer *p = pd_fleet_find_id(s->fleet, w->printer_id);
    const char *serial = p ? pd_printer_rec_get(p)->serial : "";
    const char *field;
    char why[256];
    for (int k = 0; p && k < PD_HA_UNITS * PD_HA_TRAYS; k++) {
        json_t *body = w->trays_dirty & (1u << k) ? pd_ha_tray_body(serial, s->cache, w->ids, PD_HA_E_PRINT + k)
                                                  : NULL;
        pd_ha_ams_update u;
        if (body && !pd_ha_parse_ams_update(body, &u, &field, why, sizeof why))
            feed_report(p, pd_ha_ams_update_report(&u));
        else if (body)
            pd_debug("ha", "%s: %s: %s", w->ids[PD_HA_E_PRINT + k], field, why);
        json_decref(body);
    }
    json_t *body = p && w->print_dirty ? pd_ha_print_body(serial, s->cache, w->ids) : NULL;
    pd_ha_print_event e;
    /* unknown, unavailable and offline say nothing of the print: nothing changes */
    if (body && !pd_ha_parse_print_event(body, &e, &field, why, sizeof why) && e.state[0])
        feed_report(p, pd_ha_print_event_report(&e));
    json_decref(body);
    w->print_dirty = false;
    w->trays_dirty = 0;
}

/* --- the connection ------------------------------------------------------------------------------ */

static void schedule(pd_ha_source *s)
{
    s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : s->backoff_min;
    if (s->backoff_ms > s->backoff_max)
        s->backoff_ms = s->backoff_max;
    s->next_attempt = (int64_t)uv_now(s->loop) + pd_mqttio_jitter(s->backoff_ms);
}

static void drop(pd_ha_source *s, bool in_callback)
{
    if (s->wsi) {
        /* its callbacks from here on find no source: the close is not a new failure */
        lws_set_wsi_user(s->wsi, NULL);
        if (!in_callback)
            lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        s->wsi = NULL;
    }
    if (s->res) {
        s->res->s = NULL;
        uv_cancel((uv_req_t *)&s->res->req);
        s->res = NULL;
    }
    s->ph = IDLE;
    s->send_auth = s->send_sub = s->send_ping = false;
    s->ping_id = 0;  /* a ping unanswered on this connection is not owed by the next one */
    pd_buf_free(&s->rx);
}

static void fail(pd_ha_source *s, bool in_callback, pd_link_state st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void fail(pd_ha_source *s, bool in_callback, pd_link_state st, const char *fmt, ...)
{
    char why[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    drop(s, in_callback);
    schedule(s);
    set_state(s, st, why);
}

static void connect_to(pd_ha_source *s, const char *addr)
{
    struct lws_client_connect_info ci = {0};
    ci.context = s->lws;
    ci.vhost = s->vh;
    ci.address = addr;
    ci.port = s->port;
    ci.path = s->path;
    ci.host = s->host;
    ci.origin = s->host;
    ci.ssl_connection = s->tls ? LCCSCF_USE_SSL : 0;
    ci.local_protocol_name = "pd-ha-source";
    ci.userdata = s;
    ci.pwsi = &s->wsi;
    s->ph = OPENING;
    s->opened_at = (int64_t)uv_now(s->loop);
    pd_buf_reset(&s->rx);
    if (!lws_client_connect_via_info(&ci) && s->ph == OPENING)
        fail(s, false, PD_LINK_BACKOFF, "unreachable: cannot open a connection to %s:%d", s->host, s->port);
}

static void resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *ai)
{
    resolving *r = req->data;
    pd_ha_source *s = r->s;
    char addr[INET6_ADDRSTRLEN] = "";
    if (s && !status && ai)
        inet_ntop(ai->ai_family,
                  ai->ai_family == AF_INET ? (void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr
                                           : (void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr,
                  addr, sizeof addr);
    uv_freeaddrinfo(ai);
    free(r);
    if (!s)
        return;
    s->res = NULL;
    if (!addr[0])
        fail(s, false, PD_LINK_BACKOFF, "unreachable: cannot resolve %s: %s", s->host,
             status ? uv_strerror(status) : "no address");
    else
        connect_to(s, addr);
}

/* The name is resolved in libuv's thread pool: lws 4.1 would resolve it on the loop. */
static void attempt(pd_ha_source *s)
{
    resolving *r = calloc(1, sizeof *r);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    if (!r) {
        schedule(s);
        return;
    }
    r->s = s;
    r->req.data = r;
    if (s->state != PD_LINK_CONNECTING)
        set_state(s, PD_LINK_CONNECTING, s->error[0] ? s->error : NULL);
    if (uv_getaddrinfo(s->loop, &r->req, resolved, s->host, NULL, &hints)) {
        free(r);
        fail(s, false, PD_LINK_BACKOFF, "unreachable: cannot resolve %s", s->host);
        return;
    }
    s->res = r;
    s->ph = RESOLVING;
}

static void tick(uv_timer_t *t)
{
    pd_ha_source *s = t->data;
    int64_t now = (int64_t)uv_now(s->loop);
    refresh_watch(s);
    if (!s->nw)
        return;
    if (s->ph == IDLE && now >= s->next_attempt) {
        attempt(s);
    } else if (s->ph >= OPENING && s->ph < LIVE && now - s->opened_at > SETUP_WAIT_MS) {
        fail(s, false, PD_LINK_BACKOFF, "Home Assistant did not complete the authentication and "
             "subscription within %d s", SETUP_WAIT_MS / 1000);
    } else if (s->ph == LIVE && s->ping_id && now - s->ping_sent > s->pong_wait_ms) {
        fail(s, false, PD_LINK_STALE, "Home Assistant stopped answering: no pong in %lld s ([homeassistant] "
             "api_pong_timeout_s); connecting again", (long long)(s->pong_wait_ms / 1000));
    } else if (s->ph == LIVE && !s->ping_id && now >= s->ping_at && s->wsi) {
        s->send_ping = true;
        lws_callback_on_writable(s->wsi);
    }
}

/* One message out: the auth, the subscription or a ping, in that order. */
static int send_next(pd_ha_source *s)
{
    json_t *m = NULL;
    if (s->send_auth) {
        s->send_auth = false;
        m = json_pack("{s:s,s:s}", "type", "auth", "access_token", s->token);
    } else if (s->send_sub) {
        s->send_sub = false;
        s->sub_id = s->next_id++;
        json_t *ids = json_array();
        const char *id;
        json_t *v;
        json_object_foreach(s->cache, id, v)
            json_array_append_new(ids, json_string(id));
        m = json_pack("{s:I,s:s,s:o}", "id", (json_int_t)s->sub_id, "type", "subscribe_entities",
                      "entity_ids", ids);
    } else if (s->send_ping) {
        s->send_ping = false;
        s->ping_id = s->next_id++;
        s->ping_sent = (int64_t)uv_now(s->loop);
        m = json_pack("{s:I,s:s}", "id", (json_int_t)s->ping_id, "type", "ping");
    }
    if (!m)
        return 0;
    size_t len = json_dumpb(m, NULL, 0, JSON_COMPACT);
    pd_buf_reset(&s->tx);
    char *at = pd_buf_extend(&s->tx, LWS_PRE + len);
    if (at)
        json_dumpb(m, at + LWS_PRE, len, JSON_COMPACT);
    json_decref(m);
    int rc = at && lws_write(s->wsi, (unsigned char *)at + LWS_PRE, len, LWS_WRITE_TEXT) >= (int)len ? 0 : -1;
    if (at)  /* the auth message held the token */
        sodium_memzero(at, LWS_PRE + len);
    else if (pd_buf_err(&s->tx) == PD_ERR_TOOBIG)
        fail(s, true, PD_LINK_BACKOFF, "the message to Home Assistant would be %zu bytes, more than "
             "[homeassistant] api_max_message: follow fewer printers or raise it", len);
    pd_buf_free(&s->tx);
    if (!rc && (s->send_auth || s->send_sub || s->send_ping))
        lws_callback_on_writable(s->wsi);
    return rc;
}

/* One whole message from Home Assistant; -1 to drop the connection. */
static int on_message(pd_ha_source *s, const char *text, size_t len)
{
    pd_ha_ws_msg m;
    if (pd_ha_ws_parse(text, len, &m)) {
        pd_debug("ha", "Home Assistant sent a message that is not a JSON object with a type: ignored");
        return 0;
    }
    int rc = 0;
    switch (m.kind) {
    case PD_HA_WS_AUTH_REQUIRED:
        s->ph = AUTHORIZING;
        s->send_auth = true;
        lws_callback_on_writable(s->wsi);
        break;
    case PD_HA_WS_AUTH_OK:
        s->ph = SUBSCRIBING;
        s->send_sub = true;
        lws_callback_on_writable(s->wsi);
        break;
    case PD_HA_WS_AUTH_INVALID:
        fail(s, true, PD_LINK_AUTH_FAILED, "the token was refused (auth_invalid%s%s): set [homeassistant] "
             "token to a long-lived access token", m.error[0] ? ": " : "", m.error);
        rc = -1;
        break;
    case PD_HA_WS_RESULT:
        if (m.id == s->sub_id && !m.success) {
            fail(s, true, PD_LINK_BACKOFF, "Home Assistant refused subscribe_entities: %s",
                 m.error[0] ? m.error : "no reason given");
            rc = -1;
        } else if (m.id == s->sub_id && s->ph == SUBSCRIBING) {
            s->ph = LIVE;
            s->backoff_ms = 0;
            s->ping_at = (int64_t)uv_now(s->loop) + s->ping_every_ms;
            set_state(s, PD_LINK_CONNECTED, NULL);
        }
        break;
    case PD_HA_WS_EVENT:
        if (m.id == s->sub_id && pd_ha_ws_apply(s->cache, m.event, entity_changed, s))
            for (size_t i = 0; i < s->nw; i++)
                if (s->w[i].print_dirty || s->w[i].trays_dirty)
                    feed(s, &s->w[i]);
        break;
    case PD_HA_WS_PONG:
        if (m.id == s->ping_id) {
            s->ping_id = 0;
            s->ping_at = (int64_t)uv_now(s->loop) + s->ping_every_ms;
        }
        break;
    case PD_HA_WS_OTHER:
        break;
    }
    pd_ha_ws_msg_free(&m);
    return rc;
}

static int on_receive(pd_ha_source *s, struct lws *wsi, const char *in, size_t len)
{
    if (pd_buf_add(&s->rx, in, len)) {
        fail(s, true, PD_LINK_BACKOFF, "Home Assistant sent a message of more than %zu bytes "
             "([homeassistant] api_max_message): the connection was dropped", s->rx.max);
        return -1;
    }
    if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
        return 0;
    int rc = on_message(s, pd_buf_ptr(&s->rx) ? pd_buf_ptr(&s->rx) : "", pd_buf_len(&s->rx));
    if (s->rx.cap > RX_KEEP)
        pd_buf_free(&s->rx);
    else
        pd_buf_reset(&s->rx);
    return rc;
}

static int source_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    switch (reason) {
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
    case LWS_CALLBACK_CLIENT_RECEIVE:
    case LWS_CALLBACK_CLIENT_WRITEABLE:
    case LWS_CALLBACK_CLIENT_CLOSED:
        break;
    default:  /* the vhost's and protocol's own: user is not the source there */
        return 0;
    }
    pd_ha_source *s = user;
    if (!s || (s->wsi && s->wsi != wsi))
        return 0;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
        const char *why = in && len ? (const char *)in : "no answer";
        bool tls = strstr(why, "SSL") || strstr(why, "ssl") || strstr(why, "certificate") ||
                   strstr(why, "verify");
        fail(s, true, tls ? PD_LINK_TLS_FAILED : PD_LINK_BACKOFF, "%s: %s",
             tls ? "the certificate did not verify" : "unreachable", why);
        return 0;
    }
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        s->wsi = wsi;
        s->ph = AUTHORIZING;
        return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        return on_receive(s, wsi, in, len);
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        return send_next(s);
    case LWS_CALLBACK_CLIENT_CLOSED:
        fail(s, true, PD_LINK_BACKOFF, "Home Assistant closed the connection");
        return 0;
    default:
        return 0;
    }
}

static const struct lws_protocols source_protocols[] = {
    {.name = "pd-ha-source", .callback = source_cb, .rx_buffer_size = 16384},
    {0},
};

pd_err pd_ha_source_start(pd_ha_source **out, uv_loop_t *loop, struct lws_context *lws, pd_fleet *fleet,
                          const pd_config *cfg)
{
    *out = NULL;
    if (!cfg->ha_api_url[0])
        return PD_OK;
    if (!cfg->ha_token[0]) {
        pd_error("ha", "[homeassistant] api_url needs a token (a long-lived access token: "
                 "PRINTDECK_HOMEASSISTANT_TOKEN)");
        return PD_ERR_INVAL;
    }
    pd_ha_source *s = calloc(1, sizeof *s);
    if (!s)
        return PD_ERR_NOMEM;
    if (pd_ha_parse_api_url(cfg->ha_api_url, &s->tls, s->host, sizeof s->host, &s->port, s->path, sizeof s->path)) {
        free(s);
        return PD_ERR_INVAL;
    }
    s->loop = loop;
    s->lws = lws;
    s->fleet = fleet;
    snprintf(s->token, sizeof s->token, "%s", cfg->ha_token);
    s->backoff_min = cfg->reconnect_min_ms;
    s->backoff_max = cfg->reconnect_max_ms;
    s->ping_every_ms = (int64_t)cfg->ha_api_ping_s * 1000;
    s->pong_wait_ms = (int64_t)cfg->ha_api_pong_timeout_s * 1000;
    s->next_id = 1;
    pd_buf_init(&s->rx, (size_t)cfg->ha_api_max_message);
    /* what we send has the same bound: the subscription names every followed entity (about
     * 1 KB a printer), so a house of thousands of printers is refused in words, not grown */
    pd_buf_init(&s->tx, LWS_PRE + (size_t)cfg->ha_api_max_message);
    struct lws_context_creation_info info = {0};
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = source_protocols;
    info.vhost_name = "pd-ha-source";
    info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.client_ssl_ca_filepath = cfg->ha_api_ca_file[0] ? cfg->ha_api_ca_file : NULL;
    if (!(s->vh = lws_create_vhost(lws, &info))) {
        pd_error("ha", "cannot set up the client for %s (api_ca_file %s readable?)", cfg->ha_api_url,
                 cfg->ha_api_ca_file[0] ? cfg->ha_api_ca_file : "-");
        free(s);
        return PD_ERR_INVAL;
    }
    uv_timer_init(loop, &s->timer);
    s->timer.data = s;
    uv_timer_start(&s->timer, tick, 0, TICK_MS);
    pd_info("ha", "following Home Assistant's printers through %s://%s:%d%s", s->tls ? "wss" : "ws", s->host,
            s->port, s->path);
    *out = s;
    return PD_OK;
}

static void timer_closed(uv_handle_t *h)
{
    pd_ha_source *s = h->data;
    json_decref(s->cache);
    json_decref(s->where);
    free(s->w);
    free(s);
}

void pd_ha_source_stop(pd_ha_source **sp)
{
    pd_ha_source *s = *sp;
    if (!s)
        return;
    *sp = NULL;
    drop(s, false);
    pd_buf_free(&s->tx);
    uv_timer_stop(&s->timer);
    uv_close((uv_handle_t *)&s->timer, timer_closed);
}
