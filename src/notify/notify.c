/* The dispatcher (bus events → messages → deliveries to the channels that asked for them) and
 * the deliveries themselves: one curl easy handle per attempt on the shared multi glue, a
 * timer per delivery between attempts. Everything on the loop; nothing here waits. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "camera/camera.h"
#include "core/clock.h"
#include "core/curlm.h"
#include "core/log.h"
#include "notify/notify.h"
#include "notify/types.h"
#include "printer/printer.h"

/* The digest's hour is looked for once a minute: a digest goes out at the first check in its
 * local hour, once per local day (so a restart within the hour does not send it again). */
#define DIGEST_CHECK_MS 60000
/* What quiet hours held waits this long for a digest at most (a digest hour that never comes:
 * the channel disabled, printdeck stopped). */
#define HELD_KEEP_S (2 * 86400)
/* The lines a digest lists of each part before it says how many more there were. */
#define DIGEST_LINES 12

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
    uint64_t ticket;             /* the sender's, while it sends */
    char curl_err[CURL_ERROR_SIZE];
    char reply[PD_NOTIFY_REPLY_MAX];  /* the reply's first bytes: what a refusal says */
    size_t reply_len;
    uv_timer_t retry;
    pd_notify_test_cb cb;        /* a test's: called once with the outcome */
    void *ud;
    bool ended;                  /* closing: its memory goes with the timer */
};

struct pd_notify {
    uv_loop_t *loop;
    pd_bus *bus;
    pd_db *db;
    pd_fleet *fleet;
    pd_notify_opts o;
    int sub;
    pd_curlm *curlm;
    const pd_notify_sender *sender;
    void *sender_ctx;
    delivery *all;
    int n_all;
    struct outbox *waiting;     /* messages waiting for their printer's snapshot */
    uint64_t next_handle;
    pd_notify_rate rate;
    uv_timer_t digest;
    uint64_t logged;            /* attempts written, for the log's trim */
};

/* --- the log ------------------------------------------------------------------------------ */

/* The log keeps the last LOG_KEEP attempts: enough for weeks of a farm's messages, bounded
 * for one that retries against a dead receiver for months. Trimmed every LOG_TRIM_EVERY. */
#define LOG_KEEP 20000
#define LOG_TRIM_EVERY 500

static void log_row(pd_notify *n, int64_t channel_id, const char *event, int64_t printer_id, const char *title,
                    int attempt, bool ok, long status, const char *words, bool last)
{
    int64_t now = pd_clock_wall_ms() / 1000;
    pd_sqlv v[] = {PD_SQL_I(channel_id), PD_SQL_S(event), printer_id ? PD_SQL_I(printer_id) : PD_SQL_NUL,
                   PD_SQL_S(title), PD_SQL_I(attempt), PD_SQL_I(ok), status ? PD_SQL_I(status) : PD_SQL_NUL,
                   ok ? PD_SQL_NUL : PD_SQL_S(words), PD_SQL_I(now)};
    pd_err rc = pd_db_run(n->db, "INSERT INTO notify_log (channel_id, event, printer_id, title, attempt, ok, "
                          "status, error, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", v, 9, NULL);
    if (!rc && ++n->logged % LOG_TRIM_EVERY == 0) {
        pd_sqlv keep[] = {PD_SQL_I(LOG_KEEP)};
        rc = pd_db_run(n->db, "DELETE FROM notify_log WHERE id <= (SELECT max(id) FROM notify_log) - ?", keep, 1, NULL);
    }
    pd_sqlv w[] = {ok ? PD_SQL_NUL : PD_SQL_S(words), PD_SQL_I(now), PD_SQL_I(channel_id)};
    if (!rc && ok)
        rc = pd_db_run(n->db, "UPDATE notify_channel SET last_ok_at = ? WHERE id = ?", w + 1, 2, NULL);
    else if (!rc && last)
        rc = pd_db_run(n->db, "UPDATE notify_channel SET last_error = ?, last_error_at = ? WHERE id = ?", w, 3, NULL);
    if (rc)
        pd_warn("notify", "cannot keep the delivery log: %s", pd_strerror(rc));
}

static void log_attempt(pd_notify *n, delivery *d, bool ok, long status, const char *words, bool last)
{
    log_row(n, d->channel_id, d->event, d->printer_id, d->title, d->attempt, ok, status, words, last);
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
    if (d->ticket) {
        d->n->sender->cancel(d->n->sender_ctx, d->ticket);
        d->ticket = 0;
    }
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

static void on_sent(void *ud, bool ok, const char *words)
{
    delivery *d = ud;
    d->ticket = 0;
    attempt_done(d, ok, 0, words, true);
}

static void on_send_timeout(uv_timer_t *t)
{
    delivery *d = t->data;
    char words[64];
    snprintf(words, sizeof words, "no acknowledgement within %d s", d->n->o.timeout_s);
    attempt_done(d, false, 0, words, true);
}

/* The retry timer bounds the attempt: a sender has no timeout of its own. */
static void send_attempt(delivery *d)
{
    pd_notify *n = d->n;
    if (!n->sender) {
        attempt_done(d, false, 0, "no MQTT broker is configured ([homeassistant] url)", false);
        return;
    }
    uv_timer_start(&d->retry, on_send_timeout, (uint64_t)n->o.timeout_s * 1000, 0);
    if (n->sender->send(n->sender_ctx, d->req.url, d->req.body, d->req.body_len, on_sent, d, &d->ticket))
        attempt_done(d, false, 0, "cannot hand the message to the broker connection", true);
}

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
    if (d->t->via_sender) {
        send_attempt(d);
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
    if (d->req.mime) {
        curl_easy_setopt(e, CURLOPT_MIMEPOST, d->req.mime);
    } else if (!d->t->transfer) {
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
    if (cc == CURLE_OK && d->t->answered)
        d->t->answered(d->n->db, d->cfg, status);
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
    if (d->m.snapshot)
        pd_cam_frame_ref(d->m.snapshot);
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

static void local_now(struct tm *tm)
{
    time_t now = (time_t)(pd_clock_wall_ms() / 1000);
    if (!localtime_r(&now, tm))
        memset(tm, 0, sizeof *tm);
}

/* The configurations m goes to over a channel: its own, or each of its type's targets (NULL
 * when they cannot be read). */
static json_t *targets_of(pd_notify *n, int64_t channel_id, const pd_notify_type *t, const json_t *cfg,
                          const pd_notify_msg *m)
{
    json_t *list = NULL;
    pd_err rc = t->targets ? t->targets(n->db, cfg, m, &list) : (list = json_pack("[O]", cfg)) ? PD_OK : PD_ERR_NOMEM;
    if (rc)
        pd_warn("notify", "channel %lld: cannot list its receivers: %s", (long long)channel_id, pd_strerror(rc));
    return list;
}

/* Delivers m to each receiver of the channel: its own configuration, or each of its type's
 * targets. cb hears the first one's outcome (a channel of several receivers is tested on them
 * all; each one's outcome is in the log), or that there was nobody to send it to. */
static uint64_t deliver_all(pd_notify *n, int64_t channel_id, const pd_notify_type *t, const json_t *cfg,
                            const pd_notify_msg *m, int attempts, pd_notify_test_cb cb, void *ud)
{
    json_t *list = targets_of(n, channel_id, t, cfg, m), *one;
    uint64_t first = 0;
    size_t i;
    json_array_foreach(list, i, one) {
        uint64_t h = deliver(n, channel_id, t, one, m, attempts, i ? NULL : cb, i ? NULL : ud);
        if (!i)
            first = h;
    }
    if (cb && !json_array_size(list))
        cb(false, 0, !list ? "the channel's receivers cannot be read" : "nobody to send it to: no device "
           "has subscribed", ud);
    json_decref(list);
    return first;
}

/* m as channel's templates say it, delivered (or dropped with a log row, deliver's way). */
static uint64_t send_msg(pd_notify *n, int64_t channel_id, const pd_notify_type *t, const json_t *cfg, const json_t *rules,
                         const pd_notify_msg *m, int attempts, pd_notify_test_cb cb, void *ud)
{
    const char *title = pd_notify_rules_template(rules, m->event, "title");
    const char *text = pd_notify_rules_template(rules, m->event, "text");
    if (!title && !text)
        return deliver_all(n, channel_id, t, cfg, m, attempts, cb, ud);
    pd_notify_msg *own = malloc(sizeof *own);  /* 4 KB of facts: not on the loop's stack twice */
    if (!own) {
        if (cb)
            cb(false, 0, "out of memory", ud);
        return 0;
    }
    *own = *m;
    if (title)
        pd_notify_tpl_render(title, m, own->title, sizeof own->title);
    if (text)
        pd_notify_tpl_render(text, m, own->text, sizeof own->text);
    uint64_t h = deliver_all(n, channel_id, t, cfg, own, attempts, cb, ud);
    free(own);
    return h;
}

/* A channel's row: id, type, events, config, rules, owner_id, the owner's account id and
 * printers, the local day of its last digest (the columns in this order in every query). */
#define CHAN_SQL "SELECT c.id, c.type, c.events, c.config, c.rules, c.owner_id, a.id, a.printers, c.digest_day " \
                 "FROM notify_channel c LEFT JOIN account a ON a.id = c.owner_id "

/* Whether a channel owned as the row says may hear of printer_id: a user's channel only of
 * the printers that user sees (their list; "" every one), and nothing once they are gone. */
static bool owner_sees(const pd_row *row, int64_t printer_id)
{
    if (pd_row_null(row, 5))
        return true;
    if (pd_row_null(row, 6))
        return false;
    char id[24];
    snprintf(id, sizeof id, "%lld", (long long)printer_id);
    return !*pd_row_text(row, 7) || (printer_id && pd_notify_kinds_has(pd_row_text(row, 7), id));
}

/* A message and the channels it goes to, sent once its printer's snapshot is there (or has
 * failed: the camera's own bound, snapshot_wait_s, ends the wait). */
typedef struct recipient {
    int64_t id;
    const pd_notify_type *t;
    json_t *cfg, *rules;
} recipient;

typedef struct outbox {
    pd_notify *n;
    pd_notify_msg *m;            /* owned */
    recipient *to;
    size_t nto, cap;
    pd_cam_snap *snap;           /* the snapshot waited for */
    struct outbox *next;         /* in n->waiting */
} outbox;

static void outbox_free(outbox *ob)
{
    for (size_t i = 0; i < ob->nto; i++) {
        json_decref(ob->to[i].cfg);
        json_decref(ob->to[i].rules);
    }
    free(ob->to);
    pd_notify_msg_clear(ob->m);
    free(ob->m);
    free(ob);
}

static void outbox_send(outbox *ob)
{
    for (size_t i = 0; i < ob->nto; i++)
        send_msg(ob->n, ob->to[i].id, ob->to[i].t, ob->to[i].cfg, ob->to[i].rules, ob->m, ob->n->o.attempts, NULL,
                 NULL);
    outbox_free(ob);
}

static void outbox_unlink(outbox *ob)
{
    for (outbox **pp = &ob->n->waiting; *pp; pp = &(*pp)->next)
        if (*pp == ob) {
            *pp = ob->next;
            return;
        }
}

static void outbox_snapshot(pd_cam_frame *f, pd_err rc, const char *why, void *ud)
{
    outbox *ob = ud;
    ob->snap = NULL;
    outbox_unlink(ob);
    if (f)
        ob->m->snapshot = pd_cam_frame_ref(f);
    else
        pd_info("notify", "printer %lld: %s sent without a snapshot: %s (%s)", (long long)ob->m->printer_id,
                ob->m->event, why, pd_strerror(rc));
    outbox_send(ob);
}

/* Sends ob, with the pictures its channels' types show when p's camera can give them. */
static void outbox_go(outbox *ob, pd_printer *p)
{
    pd_notify *n = ob->n;
    bool file = false, url = false;
    for (size_t i = 0; i < ob->nto; i++) {
        file |= ob->to[i].t->picture == PD_NOTIFY_PICTURE_FILE;
        url |= ob->to[i].t->picture == PD_NOTIFY_PICTURE_URL;
    }
    char why[8];
    if (!p || !n->o.camera || !(file || url) || pd_camera_usable(n->o.camera, p, why, sizeof why)) {
        outbox_send(ob);
        return;
    }
    const char *base = n->o.dashboard_url;
    size_t blen = strlen(base);
    if (url && blen) {
        char path[PD_CAM_SIGNED_MAX];
        pd_camera_signed_path(n->o.camera, pd_printer_id(p), "snapshot", path);
        snprintf(ob->m->snapshot_url, sizeof ob->m->snapshot_url, "%.*s%s", (int)(blen - (base[blen - 1] == '/')),
                 base, path);
    }
    pd_cam_frame *fresh = NULL;
    if (!file || pd_camera_snapshot(n->o.camera, p, 0, outbox_snapshot, ob, &fresh, &ob->snap) || fresh) {
        ob->m->snapshot = fresh;  /* the reference handed back, or NULL: sent without */
        outbox_send(ob);
        return;
    }
    ob->next = n->waiting;
    n->waiting = ob;
}

typedef struct fanout {
    pd_notify *n;
    outbox *ob;
    struct tm local;
} fanout;

static pd_err channel_row(const pd_row *row, void *ud)
{
    fanout *f = ud;
    pd_notify *n = f->n;
    const pd_notify_msg *m = f->ob->m;
    int64_t id = pd_row_int(row, 0);
    const pd_notify_type *t = pd_notify_type_find(pd_row_text(row, 1));
    json_t *cfg = json_loads(pd_row_text(row, 3), 0, NULL), *rules = json_loads(pd_row_text(row, 4), 0, NULL);
    if (!t || !cfg || !rules || !owner_sees(row, m->printer_id) ||
        !pd_notify_rules_wants(rules, pd_row_text(row, 2), m->printer_id, m->event))
        goto out;
    uint64_t gap = (uint64_t)pd_notify_rules_interval(rules, n->o.min_interval_s) * 1000;
    if (!pd_notify_rate_ok(&n->rate, id, m->event, m->printer_id, uv_now(n->loop), gap))
        goto out;
    if (pd_notify_rules_quiet(rules, &f->local) && !(m->critical && pd_notify_rules_critical_passes(rules))) {
        bool digest = pd_notify_rules_digest_hour(rules) >= 0;
        pd_sqlv v[] = {PD_SQL_I(id), PD_SQL_S(m->event), m->printer_id ? PD_SQL_I(m->printer_id) : PD_SQL_NUL,
                       PD_SQL_S(m->title), PD_SQL_I(pd_clock_wall_ms() / 1000)};
        if (digest && pd_db_run(n->db, "INSERT INTO notify_held (channel_id, event, printer_id, title, at) "
                                "VALUES (?, ?, ?, ?, ?)", v, 5, NULL))
            pd_warn("notify", "channel %lld: cannot hold a message for the digest", (long long)id);
        log_row(n, id, m->event, m->printer_id, m->title, 0, false, 0,
                digest ? "held by quiet hours for the digest" : "held by quiet hours: not sent (no digest)", false);
        goto out;
    }
    outbox *ob = f->ob;
    if (ob->nto == ob->cap) {
        size_t cap = ob->cap ? ob->cap * 2 : 8;
        recipient *to = realloc(ob->to, cap * sizeof *to);
        if (!to) {
            send_msg(n, id, t, cfg, rules, m, n->o.attempts, NULL, NULL);  /* at once, without a picture */
            goto out;
        }
        ob->to = to;
        ob->cap = cap;
    }
    ob->to[ob->nto++] = (recipient){id, t, json_incref(cfg), json_incref(rules)};
out:
    json_decref(cfg);
    json_decref(rules);
    return PD_OK;
}

typedef struct printer_kinds {
    const char *kind;
    bool found, has;
} printer_kinds;

static pd_err printer_kinds_row(const pd_row *row, void *ud)
{
    printer_kinds *k = ud;
    k->found = true;
    k->has = pd_notify_kinds_has(pd_row_text(row, 0), k->kind);
    return PD_OK;
}

/* Whether the printer's own preferences (notify_printer; none: every kind) let it tell kind. */
static bool printer_tells(pd_notify *n, int64_t printer_id, const char *kind)
{
    printer_kinds k = {kind, false, false};
    pd_sqlv v = PD_SQL_I(printer_id);
    if (printer_id && pd_db_query(n->db, "SELECT events FROM notify_printer WHERE printer_id = ?", &v, 1,
                                  printer_kinds_row, &k))
        pd_warn("notify", "cannot read printer %lld's preferences", (long long)printer_id);
    return !k.found || k.has;
}

static void on_bus(const pd_event *ev, void *ud)
{
    pd_notify *n = ud;
    pd_printer *p = ev->printer_id ? pd_fleet_find_id(n->fleet, ev->printer_id) : NULL;
    const pd_state *st = p ? pd_printer_state(p) : NULL;
    /* offline matters mid-print only; the state still says what it was doing when it went */
    if (ev->type == PD_EV_OFFLINE &&
        (!st || (strcmp(st->gcode_state, "RUNNING") && strcmp(st->gcode_state, "PAUSE") &&
                 strcmp(st->gcode_state, "PREPARE"))))
        return;
    pd_notify_msg *m = malloc(sizeof *m);
    if (!m)
        return;
    if (!pd_notify_msg_from_event(ev, m)) {
        free(m);
        return;
    }
    if (p && (!m->printer[0] || ev->type != PD_EV_JOB))  /* a name people know it by */
        snprintf(m->printer, sizeof m->printer, "%s", pd_printer_rec_get(p)->name);
    bool printing = st && (!strcmp(st->gcode_state, "RUNNING") || !strcmp(st->gcode_state, "PAUSE") ||
                           !strcmp(st->gcode_state, "PREPARE"));
    pd_notify_live live = {.job = printing ? st->subtask : NULL, .progress = printing ? st->progress : -1,
                           .layer = printing ? st->layer : -1, .total_layers = st ? st->total_layers : -1,
                           .remaining_min = printing ? st->remaining_min : -1,
                           .model = p ? pd_printer_model(p) : PD_MODEL_UNKNOWN};
    pd_notify_msg_enrich(m, &live, n->o.dashboard_url);
    outbox *ob = printer_tells(n, m->printer_id, m->event) ? calloc(1, sizeof *ob) : NULL;
    if (!ob) {
        pd_notify_msg_clear(m);
        free(m);
        return;
    }
    *ob = (outbox){.n = n, .m = m};
    fanout f = {n, ob, {0}};
    local_now(&f.local);
    pd_err rc = pd_db_query(n->db, CHAN_SQL "WHERE c.enabled = 1 ORDER BY c.id", NULL, 0, channel_row, &f);
    if (rc)
        pd_warn("notify", "cannot read the channels: %s", pd_strerror(rc));
    outbox_go(ob, p);
}

/* --- the daily digest ------------------------------------------------------------------------- */

typedef struct digest {
    const pd_row *chan;          /* the channel's row, for whom it may tell */
    const json_t *rules;
    pd_notify_msg m;
    int completed, failed, listed, alerts, held;
    int64_t held_max;
} digest;

static bool digest_hears(const digest *g, int64_t printer_id)
{
    return owner_sees(g->chan, printer_id) && pd_notify_rules_hears(g->rules, printer_id);
}

static void line(digest *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void line(digest *g, const char *fmt, ...)
{
    size_t n = strlen(g->m.text);
    if (n + 2 >= sizeof g->m.text)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g->m.text + n, sizeof g->m.text - n, fmt, ap);
    va_end(ap);
}

/* job rows: printer_id, printer_name, name, status, started_at, ended_at, grams */
static pd_err digest_job(const pd_row *row, void *ud)
{
    digest *g = ud;
    if (!digest_hears(g, pd_row_int(row, 0)))
        return PD_OK;
    bool ok = !strcmp(pd_row_text(row, 3), "completed");
    ok ? g->completed++ : g->failed++;
    if (g->listed++ < DIGEST_LINES) {
        long long min = (pd_row_int(row, 5) - pd_row_int(row, 4) + 30) / 60;
        line(g, "\n- %.80s on %.60s: %s after %lldh%02lld, %.1f g", pd_row_text(row, 2), pd_row_text(row, 1),
             ok ? "completed" : "failed", min / 60, min % 60, pd_row_real(row, 6));
    }
    return PD_OK;
}

/* alert rows: printer_id, kind */
static pd_err digest_alert(const pd_row *row, void *ud)
{
    digest *g = ud;
    if (digest_hears(g, pd_row_null(row, 0) ? 0 : pd_row_int(row, 0)) && g->alerts++ < DIGEST_LINES)
        line(g, "%s%s", g->alerts > 1 ? ", " : "\nAlerts raised: ", pd_row_text(row, 1));
    return PD_OK;
}

/* held rows: id, title */
static pd_err digest_held(const pd_row *row, void *ud)
{
    digest *g = ud;
    g->held_max = pd_row_int(row, 0);
    if (g->held++ < DIGEST_LINES)
        line(g, "%s\n- %.150s", g->held > 1 ? "" : "\nHeld by quiet hours:", pd_row_text(row, 1));
    return PD_OK;
}

/* The day's summary for the channel of row, sent; its held messages go with it. */
static void digest_send(pd_notify *n, const pd_row *row, const pd_notify_type *t, const json_t *cfg, const json_t *rules)
{
    int64_t id = pd_row_int(row, 0), now = pd_clock_wall_ms() / 1000;
    digest *g = calloc(1, sizeof *g);
    if (!g)
        return;
    g->chan = row;
    g->rules = rules;
    pd_notify_msg *m = &g->m;
    snprintf(m->event, sizeof m->event, "digest");
    m->priority = 2;
    snprintf(m->tags, sizeof m->tags, "calendar");
    m->ts = now;
    m->data = json_object();
    snprintf(m->title, sizeof m->title, "printdeck: the last 24 hours");
    pd_sqlv since = PD_SQL_I(now - 86400), idv = PD_SQL_I(id);
    pd_err rc = pd_db_query(n->db, "SELECT j.printer_id, j.printer_name, j.name, j.status, j.started_at, j.ended_at, "
                            "(SELECT coalesce(sum(u.grams), 0) FROM filament_usage u WHERE u.job_id = j.id) "
                            "FROM job j WHERE j.ended_at >= ? AND j.status IN ('completed', 'failed') "
                            "AND j.printer_id IS NOT NULL ORDER BY j.ended_at, j.id", &since, 1, digest_job, g);
    if (!rc)
        rc = pd_db_query(n->db, "SELECT printer_id, kind FROM alert WHERE raised_at >= ? ORDER BY id", &since, 1,
                         digest_alert, g);
    if (!rc)
        rc = pd_db_query(n->db, "SELECT id, title FROM notify_held WHERE channel_id = ? ORDER BY id", &idv, 1,
                         digest_held, g);
    char head[160];
    snprintf(head, sizeof head, "%d print%s completed, %d failed; %d alert%s; %d message%s held.", g->completed,
             g->completed == 1 ? "" : "s", g->failed, g->alerts, g->alerts == 1 ? "" : "s", g->held,
             g->held == 1 ? "" : "s");
    size_t hl = strlen(head), tl = strlen(m->text);
    if (tl + hl >= sizeof m->text)
        tl = sizeof m->text - hl - 1;
    memmove(m->text + hl, m->text, tl);
    memcpy(m->text, head, hl);
    m->text[hl + tl] = '\0';
    json_object_set_new(m->data, "completed", json_integer(g->completed));
    json_object_set_new(m->data, "failed", json_integer(g->failed));
    json_object_set_new(m->data, "alerts", json_integer(g->alerts));
    json_object_set_new(m->data, "held", json_integer(g->held));
    pd_sqlv del[] = {PD_SQL_I(id), PD_SQL_I(g->held_max)};
    if (!rc && g->held)
        rc = pd_db_run(n->db, "DELETE FROM notify_held WHERE channel_id = ? AND id <= ?", del, 2, NULL);
    if (rc)
        pd_warn("notify", "channel %lld: cannot make the digest: %s", (long long)id, pd_strerror(rc));
    else
        send_msg(n, id, t, cfg, rules, m, n->o.attempts, NULL, NULL);
    pd_notify_msg_clear(m);
    free(g);
}

typedef struct digest_scan {
    pd_notify *n;
    int64_t only;                /* a channel asked for now, else 0: those whose hour it is */
    struct tm local;
    bool found;
} digest_scan;

static pd_err digest_row(const pd_row *row, void *ud)
{
    digest_scan *s = ud;
    int64_t id = pd_row_int(row, 0);
    s->found = true;
    const pd_notify_type *t = pd_notify_type_find(pd_row_text(row, 1));
    json_t *cfg = json_loads(pd_row_text(row, 3), 0, NULL), *rules = json_loads(pd_row_text(row, 4), 0, NULL);
    bool due = s->only || pd_notify_digest_due(rules, &s->local, pd_row_null(row, 8) ? 0 : (int)pd_row_int(row, 8));
    if (t && cfg && rules && due) {
        pd_sqlv v[] = {PD_SQL_I(pd_notify_local_day(&s->local)), PD_SQL_I(id)};
        if (!s->only && pd_db_run(s->n->db, "UPDATE notify_channel SET digest_day = ? WHERE id = ?", v, 2, NULL))
            pd_warn("notify", "channel %lld: cannot note its digest", (long long)id);
        else
            digest_send(s->n, row, t, cfg, rules);
    }
    json_decref(cfg);
    json_decref(rules);
    return PD_OK;
}

static pd_err digest_scan_run(pd_notify *n, int64_t only, bool *found)
{
    digest_scan s = {.n = n, .only = only};
    local_now(&s.local);
    pd_sqlv v = PD_SQL_I(only);
    pd_err rc = only ? pd_db_query(n->db, CHAN_SQL "WHERE c.id = ?", &v, 1, digest_row, &s)
                     : pd_db_query(n->db, CHAN_SQL "WHERE c.enabled = 1 ORDER BY c.id", NULL, 0,
                                   digest_row, &s);
    *found = s.found;
    return rc;
}

static void on_digest_tick(uv_timer_t *h)
{
    pd_notify *n = h->data;
    bool found;
    pd_sqlv old = PD_SQL_I(pd_clock_wall_ms() / 1000 - HELD_KEEP_S);
    pd_err rc = pd_db_run(n->db, "DELETE FROM notify_held WHERE at < ?", &old, 1, NULL);
    if (!rc)
        rc = digest_scan_run(n, 0, &found);
    if (rc)
        pd_warn("notify", "cannot look for digests due: %s", pd_strerror(rc));
}

pd_err pd_notify_digest_now(pd_notify *n, int64_t channel_id)
{
    bool found = false;
    pd_err rc = digest_scan_run(n, channel_id, &found);
    return rc ? rc : found ? PD_OK : PD_ERR_NOTFOUND;
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
    json_t *cfg = json_loads(pd_row_text(row, 1), 0, NULL), *rules = json_loads(pd_row_text(row, 2), 0, NULL);
    pd_notify_msg m;
    pd_notify_msg_test(&m, pd_clock_wall_ms() / 1000);
    if (t && cfg && rules)
        *c->handle = send_msg(c->n, c->id, t, cfg, rules, &m, 1, c->cb, c->ud);
    else
        c->cb(false, 0, "the channel's stored configuration is unreadable", c->ud);
    json_decref(cfg);
    json_decref(rules);
    pd_notify_msg_clear(&m);
    return PD_OK;
}

pd_err pd_notify_test(pd_notify *n, int64_t channel_id, pd_notify_test_cb cb, void *ud, uint64_t *handle)
{
    test_ctx c = {n, channel_id, cb, ud, handle, false};
    *handle = 0;
    pd_sqlv v = PD_SQL_I(channel_id);
    pd_err rc = pd_db_query(n->db, "SELECT type, config, rules FROM notify_channel WHERE id = ?", &v, 1, test_row, &c);
    return rc ? rc : c.found ? PD_OK : PD_ERR_NOTFOUND;
}

void pd_notify_test_target(pd_notify *n, int64_t channel_id, const pd_notify_type *t, const json_t *target,
                           pd_notify_test_cb cb, void *ud, uint64_t *handle)
{
    pd_notify_msg m;
    pd_notify_msg_test(&m, pd_clock_wall_ms() / 1000);
    *handle = deliver(n, channel_id, t, target, &m, 1, cb, ud);
    pd_notify_msg_clear(&m);
}

void pd_notify_test_cancel(pd_notify *n, uint64_t handle)
{
    for (delivery *d = n->all; d; d = d->next)
        if (d->handle == handle) {
            d->cb = NULL;
            return;
        }
}

void pd_notify_set_sender(pd_notify *n, const pd_notify_sender *s, void *ctx)
{
    n->sender = s;
    n->sender_ctx = ctx;
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
    n->sub = pd_bus_subscribe(bus, PD_EV_JOB | PD_EV_ALERT | PD_EV_PROMPT | PD_EV_HMS_RAISED | PD_EV_LAYER |
                              PD_EV_OFFLINE, on_bus, n);
    if (!n->sub) {
        pd_curlm_free(&n->curlm);
        free(n);
        return PD_ERR_INTERNAL;
    }
    uv_timer_init(loop, &n->digest);
    n->digest.data = n;
    uv_timer_start(&n->digest, on_digest_tick, DIGEST_CHECK_MS, DIGEST_CHECK_MS);
    *out = n;
    return PD_OK;
}

static void digest_closed(uv_handle_t *h) { free(h->data); }

void pd_notify_stop(pd_notify **np)
{
    pd_notify *n = *np;
    if (!n)
        return;
    *np = NULL;
    pd_bus_unsubscribe(n->bus, n->sub);
    while (n->waiting) {
        outbox *ob = n->waiting;
        n->waiting = ob->next;
        pd_camera_snapshot_cancel(&ob->snap);
        outbox_free(ob);
    }
    while (n->all)
        delivery_end(n->all);
    pd_curlm_free(&n->curlm);
    uv_close((uv_handle_t *)&n->digest, digest_closed);
}
