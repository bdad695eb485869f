/* /api/v1/events: the bus as Server-Sent Events.
 *
 * Each event is serialised once into one frame and written to every client that wants it;
 * a client that cannot keep up hits its backlog and is dropped by the HTTP layer. The first
 * thing a client gets is a snapshot (one `printer` event per printer), sent in slices of
 * half the backlog as the socket drains, so a large fleet never overflows a fresh client.
 *
 * Resume: the live frames are also kept in a ring bounded by count and bytes
 * (`server.sse_replay`). A client that comes back with a Last-Event-ID the ring still holds
 * gets the frames it missed, in order and in the same slices, instead of the snapshot; any
 * other id gets the snapshot. Ids start at the wall clock in microseconds, so an id from
 * before a restart is never mistaken for one of this run. Only frames a client can resume
 * from carry an id: the snapshot's have none, and neither have the live frames a client
 * gets while its snapshot is still being sent (its state is whole only at the end of it).
 *
 * Patches (`?patch=1`): after its snapshot such a client gets a printer's change as the members
 * that changed (`printer.patch`, pd_jw_patch) instead of the whole object again: with a farm
 * of a thousand printers reporting every second that is a tenth of the bytes to write, gzip
 * and send per client. The patch is made once per change, against the object as the stream
 * last carried it (kept per printer while anyone watches), so it holds for every patch client
 * at once: each one has had every frame since, or a snapshot no older than that object, since
 * every change of a printer's object is carried (connection and version changes included).
 * Where a patch cannot say the change (a member gone) the whole object goes, to them too.
 *
 * Batches (`?batch=1`): a live client's stream is held (pd_stream_hold) and let go every
 * BATCH_MS, so its frames go out together. A farm's thousand reports a second are otherwise a
 * thousand writes, socket polls and gzip flushes a second for each dashboard, most of what
 * twenty dashboards cost the daemon; a person does not see a quarter of a second. A snapshot
 * or replay is written as it is made: the stream is held only once the client is live.
 *
 * A stream lives no longer than the session it was opened with (api/hub.h). */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "api/auth.h"
#include "api/hub.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/jw.h"
#include "core/log.h"

#define SNAPSHOT_DONE INT64_MAX
#define REPLAY_DONE UINT64_MAX
#define REPLAY_MAX 8192          /* frames kept for resume, whatever their size */
/* With no client for this long the ring is emptied and frames are no longer made: a daemon
 * nobody watches spends nothing on it, and a client gone longer gets the snapshot anyway. */
#define REPLAY_IDLE_MS (10 * 60 * 1000)
#define BATCH_MS 250

typedef struct ev_client {
    pd_hub_client base;      /* first: the hub list frees the client */
    int64_t printer_id;      /* only this printer's events; 0 = every printer */
    int64_t snapshot_after;  /* snapshot sent up to this printer id; SNAPSHOT_DONE at the end */
    uint64_t replay_after;   /* replayed up to this event id; REPLAY_DONE when live */
    bool patch;              /* takes printer changes as patches */
    bool batch;              /* takes its live frames every BATCH_MS */
} ev_client;

typedef struct ring_frame {
    uint64_t id;
    int64_t printer_id;
    size_t len, id_len;      /* id_len: the "id: N\n" line the frame starts with */
    char *f;
    char *alt;               /* the frame for patch clients (with the same id line), or NULL */
    size_t alt_len;
} ring_frame;

/* A printer's object as the stream last carried it: what its next patch is made against. */
typedef struct sent_printer {
    int64_t id;
    char *json;
    size_t len;
} sent_printer;

static struct {
    pd_app *app;
    bool running;
    int sub;
    uv_timer_t heartbeat;
    uv_timer_t batches;      /* writes the batched clients' frames, while there are some */
    size_t nbatch;           /* batched clients */
    size_t npatch;           /* patch clients: without one no patch is made */
    pd_hub list;
    uint64_t last_id;
    ring_frame ring[REPLAY_MAX];
    size_t head, n, bytes;   /* oldest at head */
    int64_t idle_since_ms;   /* mono time the last client left; INT64_MIN: none yet */
    sent_printer *sent;      /* by id, while anyone watches */
    size_t nsent, capsent;
    pd_buf patch;            /* the patch being made, its memory kept */
} hub;

static const struct {
    pd_event_type type;
    const char *name;
} event_names[] = {
    {PD_EV_JOB_PHASE, "job"},          {PD_EV_LAYER, "layer"},
    {PD_EV_TRAY, "tray"},              {PD_EV_HMS_RAISED, "hms_raised"},
    {PD_EV_HMS_CLEARED, "hms_cleared"}, {PD_EV_ONLINE, "online"},
    {PD_EV_OFFLINE, "offline"},        {PD_EV_CONNECTION, "connection"},
    {PD_EV_PRINTER_ADDED, "printer_added"}, {PD_EV_PRINTER_REMOVED, "printer_removed"},
};

/* --- the replay ring ------------------------------------------------------------------------ */

static ring_frame *ring_at(size_t i) { return &hub.ring[(hub.head + i) % REPLAY_MAX]; }

static void ring_drop_oldest(void)
{
    ring_frame *e = ring_at(0);
    hub.bytes -= e->len + e->alt_len;
    free(e->f);
    free(e->alt);
    hub.head = (hub.head + 1) % REPLAY_MAX;
    hub.n--;
}

/* Skips an id too: a client whose last event was the newest one dropped must not resume
 * from the next frame made, events may have gone by unframed in between. */
static void ring_clear(void)
{
    while (hub.n)
        ring_drop_oldest();
    hub.last_id++;
}

/* --- what the stream last carried of each printer ------------------------------------------ */

/* The entry of printer id, made (empty) if `add`; NULL when absent or out of memory. */
static sent_printer *sent_find(int64_t id, bool add)
{
    size_t lo = 0, hi = hub.nsent;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (hub.sent[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < hub.nsent && hub.sent[lo].id == id)
        return &hub.sent[lo];
    if (!add)
        return NULL;
    if (hub.nsent == hub.capsent) {
        size_t cap = hub.capsent ? hub.capsent * 2 : 64;
        sent_printer *v = realloc(hub.sent, cap * sizeof *v);
        if (!v)
            return NULL;
        hub.sent = v;
        hub.capsent = cap;
    }
    memmove(&hub.sent[lo + 1], &hub.sent[lo], (hub.nsent - lo) * sizeof *hub.sent);
    hub.nsent++;
    hub.sent[lo] = (sent_printer){.id = id};
    return &hub.sent[lo];
}

static void sent_forget(int64_t id)
{
    sent_printer *e = sent_find(id, false);
    if (!e)
        return;
    free(e->json);
    size_t i = (size_t)(e - hub.sent);
    memmove(e, e + 1, (hub.nsent - i - 1) * sizeof *e);
    hub.nsent--;
}

/* Nobody watches: nothing to patch against, and a change could go by uncarried. */
static void sent_clear(void)
{
    for (size_t i = 0; i < hub.nsent; i++)
        free(hub.sent[i].json);
    free(hub.sent);
    hub.sent = NULL;
    hub.nsent = hub.capsent = 0;
    pd_buf_free(&hub.patch);
}

/* Frames are made for the ring only while someone may resume: a client is connected, or one
 * left less than REPLAY_IDLE_MS ago. */
static bool recording(void)
{
    if (!hub.app->cfg->sse_replay || hub.idle_since_ms == INT64_MIN)
        return false;
    if (hub.list.head || pd_clock_mono_ms() - hub.idle_since_ms < REPLAY_IDLE_MS)
        return true;
    ring_clear();
    return false;
}

/* Takes f. A frame larger than the whole ring is not kept: the ring is emptied instead, so
 * no client resumes across it. */
static void ring_push(ring_frame fr)
{
    size_t max = (size_t)hub.app->cfg->sse_replay, len = fr.len + fr.alt_len;
    while (hub.n && (hub.n == REPLAY_MAX || hub.bytes + len > max))
        ring_drop_oldest();
    if (len > max) {
        free(fr.f);
        free(fr.alt);
        return;
    }
    *ring_at(hub.n) = fr;
    hub.n++;
    hub.bytes += len;
}

/* The ring can resume a client whose last event was `id`: it holds the event after it. */
static bool ring_resumes(uint64_t id)
{
    return hub.n && id >= ring_at(0)->id - 1 && id <= hub.last_id;
}

/* "[id: N\n]event: NAME\ndata: DATA\n\n"; DATA is compact JSON, which has no raw newline.
 * id: a live event's, or 0 for a snapshot frame. */
static char *frame_new(uint64_t id, const char *event, const char *data, size_t dlen,
                       size_t *flen, size_t *id_len)
{
    char head[96];
    int il = id ? snprintf(head, sizeof head, "id: %" PRIu64 "\n", id) : 0;
    int hn = il + snprintf(head + il, sizeof head - (size_t)il, "event: %s\ndata: ", event);
    char *f = malloc((size_t)hn + dlen + 2);
    if (!f)
        return NULL;
    memcpy(f, head, (size_t)hn);
    memcpy(f + hn, data, dlen);
    memcpy(f + hn + dlen, "\n\n", 2);
    *flen = (size_t)hn + dlen + 2;
    *id_len = (size_t)il;
    return f;
}

static void batches_flush(uv_timer_t *t)
{
    (void)t;
    for (pd_hub_client *hc = hub.list.head; hc; hc = hc->next) {
        ev_client *c = (ev_client *)hc;
        if (c->batch && !hc->dropped && c->snapshot_after == SNAPSHOT_DONE && c->replay_after == REPLAY_DONE)
            pd_stream_hold(hc->s, true);  /* live: from now on its frames wait for the next tick */
        if (c->batch && !hc->dropped)
            pd_stream_flush(hc->s);
    }
}

/* Writes one live frame to every client that follows printer_id and keeps it for resume; a
 * client still replaying gets it from the ring in its turn. Patch clients get the frame of
 * alt_event/alt instead when there is one. */
static void broadcast_alt(int64_t printer_id, const char *event, const char *data, size_t dlen,
                          const char *alt_event, const char *alt, size_t alen)
{
    bool keep = recording();
    if (!keep && !hub.list.head)
        return;
    ring_frame fr = {.id = ++hub.last_id, .printer_id = printer_id};
    size_t il;
    fr.f = frame_new(fr.id, event, data, dlen, &fr.len, &fr.id_len);
    fr.alt = alt_event ? frame_new(fr.id, alt_event, alt, alen, &fr.alt_len, &il) : NULL;
    if (!fr.f || (alt_event && !fr.alt)) {
        pd_warn("events", "out of memory: '%s' event not sent", event);
        free(fr.f);
        free(fr.alt);
        ring_clear();  /* a resume across the lost event would hide it */
        return;
    }
    for (pd_hub_client *hc = hub.list.head; hc; hc = hc->next) {
        ev_client *c = (ev_client *)hc;
        if ((c->printer_id && c->printer_id != printer_id) || c->replay_after != REPLAY_DONE ||
            !pd_auth_sees(&c->base.who, printer_id))
            continue;
        size_t skip = c->snapshot_after == SNAPSHOT_DONE ? 0 : fr.id_len;
        bool a = c->patch && fr.alt;
        if (a && skip && printer_id > c->snapshot_after)
            continue;  /* a patch to a printer its snapshot has yet to send, as it is now */
        pd_hub_write(&hub.list, hc, (a ? fr.alt : fr.f) + skip, (a ? fr.alt_len : fr.len) - skip);
    }
    if (keep) {
        ring_push(fr);
    } else {
        free(fr.f);
        free(fr.alt);
    }
}

static void broadcast(int64_t printer_id, const char *event, const char *data, size_t dlen)
{
    broadcast_alt(printer_id, event, data, dlen, NULL, NULL, 0);
}

/* A printer's change, whole and as a patch against what the stream carried last. The patch
 * is made only while a patch client is connected (a farm's every report otherwise costs a
 * diff nobody reads); what was carried is kept all the same, so the first patch of a client
 * that comes later is made against the right object. A patch client that resumes from frames
 * made meanwhile gets them whole, which it applies as well. */
static void broadcast_printer(pd_printer *p, const char *s, size_t len)
{
    int64_t id = pd_printer_id(p);
    sent_printer *was = sent_find(id, true);
    bool patched = false;
    if (hub.npatch && was && was->json) {
        if (!hub.patch.max)
            pd_buf_init(&hub.patch, (size_t)1 << 20);
        pd_buf_reset(&hub.patch);
        patched = !pd_jw_patch(was->json, was->len, s, len, "id", &hub.patch);
    }
    if (patched)
        broadcast_alt(id, "printer", s, len, "printer.patch", pd_buf_ptr(&hub.patch),
                      pd_buf_len(&hub.patch));
    else
        broadcast(id, "printer", s, len);
    if (!was)
        return;
    char *copy = len > was->len ? realloc(was->json, len) : was->json;
    if (!copy) {
        free(was->json);  /* the next change goes whole */
        *was = (sent_printer){.id = id};
        return;
    }
    memcpy(copy, s, len);
    was->json = copy;
    was->len = len;
}

static void send_printer(ev_client *only, pd_printer *p)
{
    size_t len;
    const char *s = pd_printer_json_str(p, &len);
    if (!only) {
        broadcast_printer(p, s, len);
        return;
    }
    size_t flen, il;
    char *f = frame_new(0, "printer", s, len, &flen, &il);
    if (!f) {
        pd_warn("events", "out of memory: snapshot not sent");
        return;
    }
    pd_hub_write(&hub.list, &only->base, f, flen);
    free(f);
}

/* --- snapshot ------------------------------------------------------------------------------ */

typedef struct snap {
    ev_client *c;
    size_t budget;
    bool full;
} snap;

static void snapshot_one(pd_printer *p, void *ud)
{
    snap *sn = ud;
    ev_client *c = sn->c;
    int64_t id = pd_printer_id(p);
    if (sn->full || c->base.dropped || id <= c->snapshot_after ||
        (c->printer_id && id != c->printer_id) || !pd_auth_sees(&c->base.who, id))
        return;
    if (pd_stream_queued(c->base.s) >= sn->budget) {
        sn->full = true;  /* the rest follows when the socket has taken this much */
        return;
    }
    send_printer(c, p);
    c->snapshot_after = id;
}

static void snapshot_continue(ev_client *c)
{
    snap sn = {c, (size_t)hub.app->cfg->sse_backlog / 2, false};
    pd_fleet_foreach(hub.app->fleet, snapshot_one, &sn);
    if (!sn.full)
        c->snapshot_after = SNAPSHOT_DONE;
}

/* --- replay --------------------------------------------------------------------------------- */

/* The frames after c->replay_after, with their ids, as far as half the backlog allows. A
 * client that falls so far behind that the ring lets go of a frame it has not had gets the
 * snapshot instead. */
static void replay_continue(ev_client *c)
{
    size_t budget = (size_t)hub.app->cfg->sse_backlog / 2, i = 0;
    if (!ring_resumes(c->replay_after)) {
        c->replay_after = REPLAY_DONE;
        c->snapshot_after = 0;
        snapshot_continue(c);
        return;
    }
    while (i < hub.n && ring_at(i)->id <= c->replay_after)
        i++;
    for (; i < hub.n && !c->base.dropped; i++) {
        ring_frame *e = ring_at(i);
        if ((!c->printer_id || c->printer_id == e->printer_id) && pd_auth_sees(&c->base.who, e->printer_id)) {
            if (pd_stream_queued(c->base.s) >= budget)
                return;  /* the rest follows when the socket has taken this much */
            bool a = c->patch && e->alt;
            pd_hub_write(&hub.list, &c->base, a ? e->alt : e->f, a ? e->alt_len : e->len);
        }
        c->replay_after = e->id;
    }
    c->replay_after = REPLAY_DONE;
}

static void client_drained(pd_stream *s, void *ud)
{
    (void)s;
    ev_client *c = ud;
    if (c->replay_after != REPLAY_DONE)
        replay_continue(c);
    else if (c->snapshot_after != SNAPSHOT_DONE)
        snapshot_continue(c);
}

/* Before the hub frees a client: the batch timer runs only while a client is batched. */
static void client_release(pd_hub_client *hc)
{
    ev_client *c = (ev_client *)hc;
    if (c->batch && !--hub.nbatch)
        uv_timer_stop(&hub.batches);
    hub.npatch -= c->patch;
}

static void client_closed(pd_stream *s, void *ud)
{
    (void)s;
    pd_hub_gone(&hub.list, ud);
    hub.idle_since_ms = pd_clock_mono_ms();
}

/* --- live events ---------------------------------------------------------------------------- */

static json_t *str_or_null(const char *s) { return s ? json_string(s) : json_null(); }

static json_t *event_data(const pd_event *ev)
{
    json_t *o = json_pack("{s:I,s:o,s:I}", "printer_id", (json_int_t)ev->printer_id, "serial",
                          str_or_null(ev->serial), "ts", (json_int_t)ev->ts_ms);
    if (!o)
        return NULL;
    switch (ev->type) {
    case PD_EV_JOB_PHASE:
        json_object_set_new(o, "from", str_or_null(ev->u.phase.from));
        json_object_set_new(o, "to", str_or_null(ev->u.phase.to));
        break;
    case PD_EV_LAYER:
        json_object_set_new(o, "layer", json_integer(ev->u.layer.layer));
        json_object_set_new(o, "total", json_integer(ev->u.layer.total));
        break;
    case PD_EV_TRAY:
        json_object_set_new(o, "ams_id", json_integer(ev->u.tray.ams_id));
        json_object_set_new(o, "tray_id", json_integer(ev->u.tray.tray_id));
        break;
    case PD_EV_HMS_RAISED:
    case PD_EV_HMS_CLEARED:
        json_object_set_new(o, "code", str_or_null(ev->u.hms.code));
        json_object_set_new(o, "text", str_or_null(ev->u.hms.text));
        break;
    case PD_EV_CONNECTION:
        json_object_set_new(o, "state", str_or_null(ev->u.conn.state));
        json_object_set_new(o, "error", str_or_null(ev->u.conn.error));
        break;
    default:
        break;
    }
    return o;
}

/* job.started, job.paused, job.resumed, job.updated, job.warning, job.ended: the job object
 * itself; usage.recorded, usage.corrected: the job's usage; alert.raised, alert.cleared,
 * alert.acked: the alert object; prompt.raised, prompt.answered, prompt.dismissed,
 * prompt.replaced: the prompt object */
static void send_object(const char *kind, const char *change, const char *payload, size_t len, int64_t printer_id)
{
    char name[32];
    snprintf(name, sizeof name, "%s.%s", kind, change);
    broadcast(printer_id, name, payload, len);
}

static void send_typed(const pd_event *ev)
{
    const char *name = NULL;
    for (size_t i = 0; i < sizeof event_names / sizeof *event_names; i++)
        if (event_names[i].type == ev->type)
            name = event_names[i].name;
    json_t *o = name ? event_data(ev) : NULL;
    char *data = o ? json_dumps(o, PD_JSON_FLAGS) : NULL;
    json_decref(o);
    if (!data) {
        pd_warn("events", "event %#x not sent", (unsigned)ev->type);
        return;
    }
    broadcast(ev->printer_id, name, data, strlen(data));
    free(data);
}

static void on_event(const pd_event *ev, void *ud)
{
    (void)ud;
    if (!hub.list.head && !recording()) {
        sent_clear();
        return;
    }
    if (ev->type == PD_EV_JOB)
        send_object("job", ev->u.job.change, ev->u.job.payload, ev->u.job.payload_len, ev->printer_id);
    else if (ev->type == PD_EV_ALERT)
        send_object("alert", ev->u.alert.change, ev->u.alert.payload, ev->u.alert.payload_len, ev->printer_id);
    else if (ev->type == PD_EV_USAGE)
        send_object("usage", ev->u.usage.change, ev->u.usage.payload, ev->u.usage.payload_len, ev->printer_id);
    else if (ev->type == PD_EV_PROMPT)
        send_object("prompt", ev->u.prompt.change, ev->u.prompt.payload, ev->u.prompt.payload_len, ev->printer_id);
    else if (ev->type != PD_EV_STATE)
        send_typed(ev);
    /* every change of the printer's object is carried (a patch relies on it); a new printer
     * comes with its whole object, like the snapshot would have given it */
    if (ev->type & (PD_EV_STATE | PD_EV_PRINTER_ADDED | PD_EV_CONNECTION | PD_EV_ONLINE | PD_EV_OFFLINE)) {
        pd_printer *p = pd_fleet_find_id(hub.app->fleet, ev->printer_id);
        if (p)
            send_printer(NULL, p);
    } else if (ev->type == PD_EV_PRINTER_REMOVED) {
        sent_forget(ev->printer_id);
    }
}

static void heartbeat(uv_timer_t *t)
{
    (void)t;
    char beat[64];
    int n = snprintf(beat, sizeof beat, ": heartbeat %lld\n\n", (long long)time(NULL));
    for (pd_hub_client *c = hub.list.head; c; c = c->next)
        pd_hub_write(&hub.list, c, beat, (size_t)n);
}

/* --- route ---------------------------------------------------------------------------------- */

static void events_get(pd_req *r)
{
    if (!hub.running) {
        pd_req_reply_error(r, PD_ERR_INTERNAL, "the event hub is not running");
        return;
    }
    char key[256];
    int64_t only = 0;
    if (pd_req_query(r, "printer", key, sizeof key)) {
        pd_printer *p = pd_fleet_find(hub.app->fleet, key);
        if (p && !pd_api_printer_visible(r, pd_printer_id(p)))
            p = NULL;
        if (!p) {
            pd_req_reply_error(r, PD_ERR_NOTFOUND, "no printer '%.*s'",
                               pd_jw_utf8_cut(key, 64), key);
            return;
        }
        only = pd_printer_id(p);
    }
    ev_client *c = calloc(1, sizeof *c);
    if (!c) {
        pd_req_reply_error(r, PD_ERR_NOMEM, NULL);
        return;
    }
    c->base.s = pd_req_stream_begin(r, client_closed, c);
    if (!c->base.s) {
        free(c);
        return;
    }
    c->printer_id = only;
    c->replay_after = REPLAY_DONE;
    c->patch = pd_req_query(r, "patch", key, sizeof key) && !strcmp(key, "1");
    c->batch = pd_req_query(r, "batch", key, sizeof key) && !strcmp(key, "1");
    hub.npatch += c->patch;
    if (c->batch && !hub.nbatch++)
        uv_timer_start(&hub.batches, batches_flush, BATCH_MS, BATCH_MS);
    c->base.who = *pd_req_ident(r);
    pd_hub_add(&hub.list, &c->base);
    hub.idle_since_ms = pd_clock_mono_ms();
    pd_stream_on_drain(c->base.s, client_drained);
    char last[32], *end = NULL;
    unsigned long long id = 0;
    if (pd_req_header(r, "last-event-id", last, sizeof last) && last[0] >= '0' &&
        last[0] <= '9') {
        id = strtoull(last, &end, 10);
        if (*end)
            id = 0;
    }
    if (id && ring_resumes(id)) {
        c->snapshot_after = SNAPSHOT_DONE;
        c->replay_after = id;
        replay_continue(c);
    } else {
        snapshot_continue(c);
    }
}

const pd_route pd_api_events_routes[] = {
    {"GET", "/api/v1/events", events_get, 0},
};
const size_t pd_api_events_nroutes = sizeof pd_api_events_routes / sizeof *pd_api_events_routes;

pd_err pd_api_events_start(pd_app *app)
{
    if (hub.running)
        return PD_OK;
    /* printer events only: inventory changes (PD_EV_INVENTORY) go to the Spoolman websockets
     * of changes.c, in the shape Spoolman's clients read */
    uint32_t mask = PD_EV_STATE | PD_EV_PRINTER_ADDED | PD_EV_PRINTER_REMOVED | PD_EV_JOB | PD_EV_ALERT | PD_EV_USAGE | PD_EV_PROMPT;
    for (size_t i = 0; i < sizeof event_names / sizeof *event_names; i++)
        mask |= event_names[i].type;
    hub.sub = pd_bus_subscribe(app->bus, mask, on_event, NULL);
    if (!hub.sub)
        return PD_ERR_BUSY;
    hub.app = app;
    hub.last_id = (uint64_t)pd_clock_wall_ms() * 1000;
    hub.idle_since_ms = INT64_MIN;
    uint64_t every = (uint64_t)app->cfg->heartbeat_s * 1000;
    uv_timer_init(app->loop, &hub.heartbeat);
    uv_timer_start(&hub.heartbeat, heartbeat, every, every);
    uv_timer_init(app->loop, &hub.batches);
    hub.nbatch = hub.npatch = 0;
    pd_hub_init(&hub.list, app->loop, app->auth, client_release);
    hub.running = true;
    return PD_OK;
}

void pd_api_events_stop(void)
{
    if (!hub.running)
        return;
    pd_bus_unsubscribe(hub.app->bus, hub.sub);
    uv_timer_stop(&hub.heartbeat);
    uv_close((uv_handle_t *)&hub.heartbeat, NULL);
    pd_hub_stop(&hub.list);  /* first: its clients' release stops the batch timer */
    uv_close((uv_handle_t *)&hub.batches, NULL);
    ring_clear();
    sent_clear();
    hub.running = false;
}

size_t pd_api_events_clients(void) { return hub.list.n; }
uint64_t pd_api_events_dropped(void) { return hub.list.dropped; }
