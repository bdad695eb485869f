/* The dispatcher (bus events → messages → deliveries to the channels that asked for them) and
 * the deliveries themselves: one curl easy handle per attempt on the shared multi glue, a
 * timer per delivery between attempts. Everything on the loop; nothing here waits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/curlm.h"
#include "core/log.h"
#include "notify/notify.h"
#include "notify/types.h"
#include "printer/printer.h"

#define RATE_SLOTS 512  /* (kind, printer) pairs remembered for the minimum interval */

typedef struct delivery delivery;
struct delivery {
    delivery *next;              /* in n->all */
    pd_notify *n;
    uint64_t handle;
    int64_t channel_id;
    char event[PD_NOTIFY_KIND_MAX];
    int64_t printer_id;
    char title[160];
    const pd_notify_type *t;
    json_t *cfg;                 /* the channel's, as it was when the event came */
    pd_notify_msg m;             /* its data held: each attempt is signed anew */
    pd_notify_req req;
    int attempt, max_attempts;
    CURL *easy;
    char curl_err[CURL_ERROR_SIZE];
    char reply[PD_NOTIFY_REPLY_MAX];  /* the reply's first bytes: what a refusal says */
    size_t reply_len;
    uv_timer_t retry;
    pd_notify_test_cb cb;        /* a test's: called once with the outcome */
    void *ud;
    bool ended;                  /* closing: its memory goes with the timer */
};

typedef struct rate_slot {
    char event[PD_NOTIFY_KIND_MAX];
    int64_t printer_id;
    uint64_t at_ms;              /* monotonic */
} rate_slot;

struct pd_notify {
    uv_loop_t *loop;
    pd_bus *bus;
    pd_db *db;
    pd_fleet *fleet;
    pd_notify_opts o;
    int sub;
    pd_curlm *curlm;
    delivery *all;
    int n_all;
    uint64_t next_handle;
    rate_slot rate[RATE_SLOTS];
    uint64_t logged;            /* attempts written, for the log's trim */
};

/* --- the log ------------------------------------------------------------------------------ */

/* The log keeps the last LOG_KEEP attempts: enough for weeks of a farm's messages, bounded
 * for one that retries against a dead receiver for months. Trimmed every LOG_TRIM_EVERY. */
#define LOG_KEEP 20000
#define LOG_TRIM_EVERY 500

static void log_attempt(pd_notify *n, delivery *d, bool ok, long status, const char *words, bool last)
{
    int64_t now = pd_clock_wall_ms() / 1000;
    pd_sqlv v[] = {PD_SQL_I(d->channel_id), PD_SQL_S(d->event),
                   d->printer_id ? PD_SQL_I(d->printer_id) : PD_SQL_NUL, PD_SQL_S(d->title),
                   PD_SQL_I(d->attempt), PD_SQL_I(ok), status ? PD_SQL_I(status) : PD_SQL_NUL,
                   ok ? PD_SQL_NUL : PD_SQL_S(words), PD_SQL_I(now)};
    pd_err rc = pd_db_run(n->db, "INSERT INTO notify_log (channel_id, event, printer_id, title, attempt, ok, "
                          "status, error, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", v, 9, NULL);
    if (!rc && ++n->logged % LOG_TRIM_EVERY == 0) {
        pd_sqlv keep[] = {PD_SQL_I(LOG_KEEP)};
        rc = pd_db_run(n->db, "DELETE FROM notify_log WHERE id <= (SELECT max(id) FROM notify_log) - ?", keep, 1, NULL);
    }
    pd_sqlv w[] = {ok ? PD_SQL_NUL : PD_SQL_S(words), PD_SQL_I(now), PD_SQL_I(d->channel_id)};
    if (!rc && ok)
        rc = pd_db_run(n->db, "UPDATE notify_channel SET last_ok_at = ? WHERE id = ?", w + 1, 2, NULL);
    else if (!rc && last)
        rc = pd_db_run(n->db, "UPDATE notify_channel SET last_error = ?, last_error_at = ? WHERE id = ?", w, 3, NULL);
    if (rc)
        pd_warn("notify", "cannot keep the delivery log: %s", pd_strerror(rc));
}

/* --- deliveries ------------------------------------------------------------------------------- */

static void delivery_closed(uv_handle_t *h)
{
    delivery *d = h->data;
    pd_notify_req_clear(&d->req);
    pd_notify_msg_clear(&d->m);
    json_decref(d->cfg);
    free(d);
}

static void easy_drop(delivery *d)
{
    if (d->easy) {
        pd_curlm_remove(d->n->curlm, d->easy);
        curl_easy_cleanup(d->easy);
        d->easy = NULL;
    }
}

static void delivery_end(delivery *d)
{
    pd_notify *n = d->n;
    d->ended = true;
    for (delivery **pp = &n->all; *pp; pp = &(*pp)->next)
        if (*pp == d) {
            *pp = d->next;
            n->n_all--;
            break;
        }
    easy_drop(d);
    uv_timer_stop(&d->retry);
    uv_close((uv_handle_t *)&d->retry, delivery_closed);
}

static size_t keep(char *data, size_t size, size_t nmemb, void *ud)
{
    delivery *d = ud;
    size_t n = size * nmemb, room = sizeof d->reply - d->reply_len;
    memcpy(d->reply + d->reply_len, data, n < room ? n : room);
    d->reply_len += n < room ? n : room;
    return n;
}

static void attempt_done(delivery *d, bool ok, long status, const char *words, bool retry);

static void attempt(delivery *d)
{
    pd_notify *n = d->n;
    d->attempt++;
    d->curl_err[0] = '\0';
    d->reply_len = 0;
    pd_notify_req_clear(&d->req);
    if (d->t->build(d->cfg, &d->m, pd_clock_wall_ms() / 1000, &d->req)) {
        attempt_done(d, false, 0, "cannot make the request", false);
        return;
    }
    CURL *e = d->easy = curl_easy_init();
    if (!e) {
        attempt_done(d, false, 0, "out of memory", true);
        return;
    }
    curl_easy_setopt(e, CURLOPT_PRIVATE, d);
    curl_easy_setopt(e, CURLOPT_URL, d->req.url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, d->curl_err);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, d->req.headers);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "printdeck");
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)n->o.timeout_s * 1000);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, keep);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, d);
    if (!d->t->transfer) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, d->req.body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)d->req.body_len);
    } else if (d->t->transfer(d->cfg, &d->m, &d->req, e)) {
        attempt_done(d, false, 0, "cannot make the request", false);
        return;
    }
    if (pd_curlm_add(n->curlm, e))
        attempt_done(d, false, 0, "cannot start the transfer", true);
}

static void on_retry(uv_timer_t *t) { attempt(t->data); }

/* The attempt's outcome: logged; then the delivery ends, or waits for its next attempt. */
static void attempt_done(delivery *d, bool ok, long status, const char *words, bool retry)
{
    pd_notify *n = d->n;
    easy_drop(d);
    bool last = ok || !retry || d->attempt >= d->max_attempts;
    log_attempt(n, d, ok, status, words, last);
    if (!ok)
        pd_info("notify", "channel %lld, %s, attempt %d: %s", (long long)d->channel_id, d->event, d->attempt, words);
    if (!last) {
        uint64_t wait = (uint64_t)n->o.retry_base_ms << (d->attempt - 1);
        uv_timer_start(&d->retry, on_retry, wait, 0);
        return;
    }
    if (d->cb)
        d->cb(ok, status, words, d->ud);
    delivery_end(d);
}

static void on_done(CURL *easy, void *priv, CURLcode cc, void *ud)
{
    (void)ud;
    delivery *d = priv;
    char words[CURL_ERROR_SIZE + 160];
    long status = 0;
    char *scheme = NULL;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(easy, CURLINFO_SCHEME, &scheme);
    /* e-mail's status is the SMTP server's last reply code */
    const char *proto = scheme && !strncasecmp(scheme, "smtp", 4) ? "SMTP" : "HTTP";
    const char *detail = d->curl_err[0] ? d->curl_err : curl_easy_strerror(cc);
    bool ok = false, retry = true;
    if (cc == CURLE_OPERATION_TIMEDOUT) {
        snprintf(words, sizeof words, "no answer within %d s: %s", d->n->o.timeout_s, detail);
    } else if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST) {
        snprintf(words, sizeof words, "cannot connect: %s", detail);
    } else if (cc == CURLE_LOGIN_DENIED) {
        retry = false;
        snprintf(words, sizeof words, "the server refused the user name or password: %s", detail);
    } else if (cc != CURLE_OK) {
        snprintf(words, sizeof words, "the request failed: %s", detail);
    } else if (status >= 200 && status < 300) {
        ok = true;
        snprintf(words, sizeof words, "delivered (%s %ld)", proto, status);
    } else {
        /* the receiver's own fault may pass; a refusal of the request will not */
        retry = status >= 500 || status == 429 || status == 408;
        char why[160];
        pd_notify_reply_words(d->reply, d->reply_len, why, sizeof why);
        snprintf(words, sizeof words, "the receiver answered HTTP %ld%s%s%s", status, why[0] ? ": " : "", why,
                 status == 401 || status == 403 ? " (check the token or secret)" : "");
    }
    attempt_done(d, ok, status, words, retry);
}

/* A delivery of m to channel (type t, config cfg): started, or dropped with a log row when
 * the queue is full or the request cannot be made. Its handle, or 0 when it has ended already
 * (cb, if any, has run). */
static uint64_t deliver(pd_notify *n, int64_t channel_id, const pd_notify_type *t, const json_t *cfg,
                        const pd_notify_msg *m, int max_attempts, pd_notify_test_cb cb, void *ud)
{
    delivery *d = calloc(1, sizeof *d);
    if (!d) {
        if (cb)
            cb(false, 0, "out of memory", ud);
        return 0;
    }
    d->n = n;
    d->cb = cb;
    d->ud = ud;
    d->handle = ++n->next_handle;
    d->channel_id = channel_id;
    d->printer_id = m->printer_id;
    d->max_attempts = max_attempts;
    snprintf(d->event, sizeof d->event, "%s", m->event);
    snprintf(d->title, sizeof d->title, "%s", m->title);
    d->t = t;
    d->cfg = json_incref((json_t *)cfg);
    d->m = *m;
    json_incref(d->m.data);
    snprintf(d->m.id, sizeof d->m.id, "%llx-%llx", (unsigned long long)pd_clock_wall_ms(),
             (unsigned long long)d->handle);
    uv_timer_init(n->loop, &d->retry);
    d->retry.data = d;
    d->next = n->all;
    n->all = d;
    n->n_all++;
    if (n->n_all > n->o.max_queue) {
        d->attempt = 1;
        attempt_done(d, false, 0, "dropped: too many deliveries under way", false);
        return 0;
    }
    attempt(d);
    return d->ended ? 0 : d->handle;
}

/* --- the dispatcher --------------------------------------------------------------------------- */

/* Whether (event, printer) may be told now: once per min_interval_s. The oldest pair is
 * forgotten when the table is full. */
static bool rate_ok(pd_notify *n, const pd_notify_msg *m)
{
    uint64_t now = uv_now(n->loop), gap = (uint64_t)n->o.min_interval_s * 1000;
    rate_slot *free_slot = NULL;
    for (size_t i = 0; i < RATE_SLOTS; i++) {
        rate_slot *s = &n->rate[i];
        if (s->event[0] && s->printer_id == m->printer_id && !strcmp(s->event, m->event)) {
            if (now - s->at_ms < gap)
                return false;
            s->at_ms = now;
            return true;
        }
        if (!free_slot || !s->event[0] || (free_slot->event[0] && s->at_ms < free_slot->at_ms))
            free_slot = s;
    }
    snprintf(free_slot->event, sizeof free_slot->event, "%s", m->event);
    free_slot->printer_id = m->printer_id;
    free_slot->at_ms = now;
    return true;
}

typedef struct fanout {
    pd_notify *n;
    const pd_notify_msg *m;
} fanout;

/* events is a comma-separated list of kinds */
static bool wants(const char *events, const char *kind)
{
    size_t k = strlen(kind);
    for (const char *p = events; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == k && !strncmp(p, kind, k))
            return true;
        if (!end)
            break;
        p = end + 1;
    }
    return false;
}

static pd_err channel_row(const pd_row *row, void *ud)
{
    fanout *f = ud;
    if (!wants(pd_row_text(row, 2), f->m->event))
        return PD_OK;
    const pd_notify_type *t = pd_notify_type_find(pd_row_text(row, 1));
    json_t *cfg = json_loads(pd_row_text(row, 3), 0, NULL);
    if (t && cfg)
        deliver(f->n, pd_row_int(row, 0), t, cfg, f->m, f->n->o.attempts, NULL, NULL);
    json_decref(cfg);
    return PD_OK;
}

static void on_bus(const pd_event *ev, void *ud)
{
    pd_notify *n = ud;
    pd_notify_msg m;
    if (!pd_notify_msg_from_event(ev, &m))
        return;
    if (!m.printer[0] || ev->type != PD_EV_JOB) {
        /* a name people know the printer by, where the event did not say it */
        pd_printer *p = m.printer_id ? pd_fleet_find_id(n->fleet, m.printer_id) : NULL;
        if (p)
            snprintf(m.printer, sizeof m.printer, "%s", pd_printer_rec_get(p)->name);
    }
    if (rate_ok(n, &m)) {
        fanout f = {n, &m};
        pd_err rc = pd_db_query(n->db, "SELECT id, type, events, config FROM notify_channel WHERE enabled = 1 "
                                "ORDER BY id", NULL, 0, channel_row, &f);
        if (rc)
            pd_warn("notify", "cannot read the channels: %s", pd_strerror(rc));
    }
    pd_notify_msg_clear(&m);
}

/* --- tests ------------------------------------------------------------------------------------ */

typedef struct test_ctx {
    pd_notify *n;
    int64_t id;
    pd_notify_test_cb cb;
    void *ud;
    uint64_t *handle;
    bool found;
} test_ctx;

static pd_err test_row(const pd_row *row, void *ud)
{
    test_ctx *c = ud;
    c->found = true;
    const pd_notify_type *t = pd_notify_type_find(pd_row_text(row, 0));
    json_t *cfg = json_loads(pd_row_text(row, 1), 0, NULL);
    pd_notify_msg m;
    pd_notify_msg_test(&m, pd_clock_wall_ms() / 1000);
    if (t && cfg)
        *c->handle = deliver(c->n, c->id, t, cfg, &m, 1, c->cb, c->ud);
    else
        c->cb(false, 0, "the channel's stored configuration is unreadable", c->ud);
    json_decref(cfg);
    pd_notify_msg_clear(&m);
    return PD_OK;
}

pd_err pd_notify_test(pd_notify *n, int64_t channel_id, pd_notify_test_cb cb, void *ud, uint64_t *handle)
{
    test_ctx c = {n, channel_id, cb, ud, handle, false};
    *handle = 0;
    pd_sqlv v = PD_SQL_I(channel_id);
    pd_err rc = pd_db_query(n->db, "SELECT type, config FROM notify_channel WHERE id = ?", &v, 1, test_row, &c);
    return rc ? rc : c.found ? PD_OK : PD_ERR_NOTFOUND;
}

void pd_notify_test_cancel(pd_notify *n, uint64_t handle)
{
    for (delivery *d = n->all; d; d = d->next)
        if (d->handle == handle) {
            d->cb = NULL;
            return;
        }
}

/* --- start, stop ------------------------------------------------------------------------------ */

pd_err pd_notify_start(pd_notify **out, uv_loop_t *loop, pd_bus *bus, pd_db *db, pd_fleet *fleet,
                       const pd_notify_opts *o)
{
    pd_notify *n = calloc(1, sizeof *n);
    if (!n)
        return PD_ERR_NOMEM;
    *n = (pd_notify){.loop = loop, .bus = bus, .db = db, .fleet = fleet, .o = *o};
    if (pd_curlm_new(loop, on_done, n, &n->curlm)) {
        free(n);
        return PD_ERR_NOMEM;
    }
    n->sub = pd_bus_subscribe(bus, PD_EV_JOB | PD_EV_ALERT | PD_EV_PROMPT | PD_EV_HMS_RAISED, on_bus, n);
    if (!n->sub) {
        pd_curlm_free(&n->curlm);
        free(n);
        return PD_ERR_INTERNAL;
    }
    *out = n;
    return PD_OK;
}

void pd_notify_stop(pd_notify **np)
{
    pd_notify *n = *np;
    if (!n)
        return;
    *np = NULL;
    pd_bus_unsubscribe(n->bus, n->sub);
    while (n->all)
        delivery_end(n->all);
    pd_curlm_free(&n->curlm);
    free(n);
}
