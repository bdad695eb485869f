/* /healthz and /metrics. Both are open: load balancers and Prometheus scrapers usually carry
 * no token, and neither says more than a printer's name and serial. Spoolman's gauges, which
 * show the inventory, are added only for a request Spoolman's routes would answer.
 *
 * /metrics is the Prometheus text format 0.0.4. The link's families (online, counters) come
 * from the table here; the state's gauges from the rows of the state's field tables that name
 * a metric (printer/state.h), which also say which value means "unknown" (then the sample is
 * left out rather than faked). With [inventory] metrics, Spoolman's gauges follow them
 * (inventory/metrics.c). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "core/log.h"
#include "track/history.h"

static void healthz_count(pd_printer *p, void *ud)
{
    if (pd_printer_online(p))
        (*(size_t *)ud)++;
}

static int64_t uptime_s(const pd_app *app)
{
    return ((int64_t)uv_now(app->loop) - app->started_ms) / 1000;
}

static void healthz(pd_req *r)
{
    pd_app *app = pd_req_app(r);
    size_t online = 0;
    pd_fleet_foreach(app->fleet, healthz_count, &online);
    pd_req_reply_json(r, 200, json_pack("{s:s,s:I,s:I,s:I}", "status", "ok", "printers",
                                        (json_int_t)pd_fleet_count(app->fleet), "online",
                                        (json_int_t)online, "uptime_s", (json_int_t)uptime_s(app)));
}

/* --- printer metric families ------------------------------------------------------------ */

typedef enum metric_scope {
    SCOPE_ONLINE,    /* the printer's online flag */
    SCOPE_COUNTERS,  /* pd_printer_counters */
    SCOPE_STATE,     /* pd_state */
    SCOPE_AMS,       /* pd_ams_unit, one sample per unit */
    SCOPE_TRAY,      /* pd_tray in an AMS unit, one sample per loaded slot */
} metric_scope;

/* The link's own families; the state's come from its field tables (state.h). */
typedef struct metric {
    const char *name, *type, *help;
    metric_scope scope;
    size_t off;        /* SCOPE_COUNTERS: a uint64_t in pd_printer_counters */
} metric;

static const metric link_metrics[] = {
    {"printdeck_printer_online", "gauge", "1 when the printer's MQTT session is up and reporting",
     SCOPE_ONLINE, 0},
    {"printdeck_printer_messages_total", "counter", "MQTT messages received", SCOPE_COUNTERS,
     offsetof(pd_printer_counters, messages)},
    {"printdeck_printer_dropped_total", "counter", "Malformed or oversized messages dropped",
     SCOPE_COUNTERS, offsetof(pd_printer_counters, dropped)},
    {"printdeck_printer_reconnects_total", "counter", "MQTT reconnections", SCOPE_COUNTERS,
     offsetof(pd_printer_counters, reconnects)},
    {"printdeck_printer_commands_total", "counter", "Commands sent to the printer",
     SCOPE_COUNTERS, offsetof(pd_printer_counters, commands)},
    {"printdeck_printer_command_failures_total", "counter",
     "Commands refused, timed out or cut off by a lost connection", SCOPE_COUNTERS,
     offsetof(pd_printer_counters, command_failures)},
    {"printdeck_printer_commands_pending", "gauge",
     "Commands sent and still waiting for the printer's answer or their deadline", SCOPE_COUNTERS,
     offsetof(pd_printer_counters, commands_pending)},
};

static const struct {
    const pd_state_table *t;
    metric_scope scope;
} state_tables[] = {
    {&pd_state_fields, SCOPE_STATE},
    {&pd_state_ams_fields, SCOPE_AMS},
    {&pd_state_tray_fields, SCOPE_TRAY},
};

/* One family: a link metric (m) or a state field (f). */
typedef struct emit {
    FILE *f;
    const char *name;
    metric_scope scope;
    const metric *m;
    const pd_state_field *field;
} emit;

/* Label values escaped as the exposition format requires: backslash, quote, newline. */
static void label_value(char *out, size_t cap, const char *in)
{
    size_t n = 0;
    for (; *in && n + 3 < cap; in++) {
        if (*in == '\\' || *in == '"' || *in == '\n') {
            out[n++] = '\\';
            out[n++] = *in == '\n' ? 'n' : *in;
        } else {
            out[n++] = *in;
        }
    }
    out[n] = '\0';
}

static void sample(const emit *e, const char *labels, double v)
{
    fprintf(e->f, "%s{%s} %.15g\n", e->name, labels, v);
}

/* A state field's sample; none when its value is unknown. */
static void field_sample(const emit *e, const char *labels, const void *rec)
{
    double v;
    if (pd_state_number(e->field, rec, &v))
        sample(e, labels, v);
}

static void emit_printer(pd_printer *p, void *ud)
{
    const emit *e = ud;
    const pd_printer_rec *rec = pd_printer_rec_get(p);
    const pd_state *st = pd_printer_state(p);
    char name[160], serial[80], type[64], labels[512], sub[640];
    label_value(name, sizeof name, rec->name);
    label_value(serial, sizeof serial, rec->serial);
    snprintf(labels, sizeof labels, "printer=\"%s\",serial=\"%s\"", name, serial);
    switch (e->scope) {
    case SCOPE_ONLINE:
        sample(e, labels, pd_printer_online(p));
        break;
    case SCOPE_COUNTERS: {
        pd_printer_counters c;
        pd_printer_counters_get(p, &c);
        sample(e, labels, (double)*(const uint64_t *)((const char *)&c + e->m->off));
        break;
    }
    case SCOPE_STATE:
        field_sample(e, labels, st);
        break;
    case SCOPE_AMS:
        for (int i = 0; i < st->n_ams && i < PD_MAX_AMS; i++) {
            snprintf(sub, sizeof sub, "%s,ams=\"%d\"", labels, st->ams[i].id);
            field_sample(e, sub, &st->ams[i]);
        }
        break;
    case SCOPE_TRAY:
        for (int i = 0; i < st->n_ams && i < PD_MAX_AMS; i++)
            for (int t = 0; t < st->ams[i].n_trays && t < PD_MAX_TRAYS; t++) {
                const pd_tray *tr = &st->ams[i].trays[t];
                if (!tr->present)
                    continue;
                label_value(type, sizeof type, tr->type);
                snprintf(sub, sizeof sub, "%s,ams=\"%d\",tray=\"%d\",type=\"%s\"", labels,
                         st->ams[i].id, tr->id, type);
                field_sample(e, sub, tr);
            }
        break;
    }
}

static void family_header(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Every row with a metric is a gauge; a group's rows live in the same record. */
static void state_families(FILE *f, pd_app *app, const pd_state_table *t, metric_scope scope)
{
    for (size_t i = 0; i < t->n; i++) {
        const pd_state_field *row = &t->rows[i];
        if (row->kind == PD_SK_GROUP)
            state_families(f, app, row->sub, scope);
        if (!row->metric)
            continue;
        emit e = {f, row->metric, scope, NULL, row};
        family_header(f, row->metric, "gauge", row->help);
        pd_fleet_foreach(app->fleet, emit_printer, &e);
    }
}

static void process_gauge(FILE *f, const char *name, const char *type, const char *help,
                          double v)
{
    family_header(f, name, type, help);
    fprintf(f, "%s %.15g\n", name, v);
}

static double resident_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, resident = 0;
    if (f) {
        if (fscanf(f, "%lu %lu", &size, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return (double)resident * (double)sysconf(_SC_PAGESIZE);
}

/* --- Spoolman's gauges ([inventory] metrics) ---------------------------------------------- */

/* Walking every spool takes tens of milliseconds at 100,000 of them, so the text is made off
 * the loop once a minute, as Spoolman refreshes its own, and each scrape appends the latest.
 * Until the first walk ends a scrape has none, as Spoolman's has none before its first. The
 * text is tens of MB at that size: a scrape streams it a piece a turn (each gzipped as it
 * goes), holding a reference, so the next walk can replace it meanwhile. */
#define SPM_EVERY_MS 60000
#define SPM_MAX (64u << 20) /* ~70 bytes a sample, three a spool: ~300,000 spools */
#define SPM_PIECE (256u << 10)
#define PROM_TYPE "text/plain; version=0.0.4; charset=utf-8"

typedef struct spm_text {
    unsigned refs;
    size_t len;
    char *p;
} spm_text;

static struct spm_state {
    pd_app *app;
    uv_timer_t timer;
    bool timer_on, reading, failing, stopped;
    spm_text *cur; /* the latest walk's; NULL before the first */
} spm;

static void spm_put(spm_text *t)
{
    if (t && !--t->refs) {
        free(t->p);
        free(t);
    }
}

static pd_err spm_work(pd_db *rd, void *ud) { return pd_inv_metrics(rd, ud); }

static void spm_done(pd_err rc, void *ud)
{
    pd_buf *b = ud;
    spm_text *t = NULL;
    spm.reading = false;
    if (!rc && !(t = calloc(1, sizeof *t)))
        rc = PD_ERR_NOMEM;
    if (!spm.stopped && rc && !spm.failing)  /* said once; the last good text stays */
        pd_warn("inventory", "Spoolman's gauges for /metrics not read: %s%s", pd_strerror(rc),
                rc == PD_ERR_TOOBIG ? " (more than 64 MB of them)" : "");
    if (!spm.stopped && !rc) {
        if (spm.failing)
            pd_info("inventory", "Spoolman's gauges for /metrics read again");
        t->refs = 1;
        t->p = pd_buf_detach(b, &t->len);
        spm_put(spm.cur);
        spm.cur = t;
        t = NULL;
    }
    spm.failing = rc != PD_OK;
    free(t);
    pd_buf_free(b);
    free(b);
}

static void spm_tick(uv_timer_t *t)
{
    (void)t;
    pd_buf *b = spm.reading ? NULL : malloc(sizeof *b);
    if (!b)
        return;
    pd_buf_init(b, SPM_MAX);
    spm.reading = true;  /* before: an in-memory database runs it all before pd_db_read returns */
    if (pd_db_read(spm.app->inv->db, spm.app->loop, spm_work, spm_done, b)) {
        spm.reading = false;  /* the readers are busy: the next minute tries again */
        free(b);
    }
}

pd_err pd_api_metrics_start(pd_app *app)
{
    spm = (struct spm_state){.app = app};
    if (!app->cfg->inventory_metrics)
        return PD_OK;
    if (uv_timer_init(app->loop, &spm.timer))
        return PD_ERR_INTERNAL;
    spm.timer_on = true;  /* closed by the stop, started or not */
    return uv_timer_start(&spm.timer, spm_tick, 0, SPM_EVERY_MS) ? PD_ERR_INTERNAL : PD_OK;
}

void pd_api_metrics_stop(void)
{
    spm.stopped = true;  /* a walk still running is freed when it ends */
    if (spm.timer_on)
        uv_close((uv_handle_t *)&spm.timer, NULL);
    spm.timer_on = false;
    spm_put(spm.cur);
    spm.cur = NULL;
}

/* A scrape with Spoolman's gauges: printdeck's own families, then the gauges, both a piece at
 * a time (at 10,000 printers printdeck's own are MBs, past what a reply may queue at once). */
typedef struct spm_reply {
    char *live; /* printdeck's families, owned here */
    size_t live_len, off; /* off: into live, then into t past live_len */
    spm_text *t;
} spm_reply;

static void spm_produce(pd_stream *s, void *ud)
{
    spm_reply *sr = ud;
    bool in_live = sr->off < sr->live_len;
    const char *from = in_live ? sr->live + sr->off : sr->t->p + (sr->off - sr->live_len);
    size_t left = in_live ? sr->live_len - sr->off : sr->live_len + sr->t->len - sr->off;
    size_t n = left < SPM_PIECE ? left : SPM_PIECE;
    if (!n) {
        pd_stream_end(s);
        return;
    }
    pd_stream_write(s, from, n);
    sr->off += n;
}

static void spm_reply_free(pd_stream *s, void *ud)
{
    (void)s;
    spm_reply *sr = ud;
    free(sr->live);
    spm_put(sr->t);
    free(sr);
}

/* Takes live over and streams it with the gauges; false, live untouched, when there is no room
 * for a stream (16 large replies already going): the scrape then gets printdeck's own alone. */
static bool spm_reply_start(pd_req *r, char *live, size_t len)
{
    spm_reply *sr = malloc(sizeof *sr);
    if (!sr)
        return false;
    *sr = (spm_reply){.live = live, .live_len = len, .t = spm.cur};
    if (!pd_req_reply_stream(r, PROM_TYPE, spm_produce, spm_reply_free, sr)) {
        free(sr);
        return false;
    }
    spm.cur->refs++;
    return true;
}

static void metrics(pd_req *r)
{
    pd_app *app = pd_req_app(r);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) {
        pd_req_reply_error(r, PD_ERR_NOMEM, NULL);
        return;
    }
    for (size_t i = 0; i < sizeof link_metrics / sizeof *link_metrics; i++) {
        const metric *m = &link_metrics[i];
        emit e = {f, m->name, m->scope, m, NULL};
        family_header(f, m->name, m->type, m->help);
        pd_fleet_foreach(app->fleet, emit_printer, &e);
    }
    for (size_t i = 0; i < sizeof state_tables / sizeof *state_tables; i++)
        state_families(f, app, state_tables[i].t, state_tables[i].scope);
    process_gauge(f, "printdeck_process_resident_memory_bytes", "gauge",
                  "Resident memory of the daemon", resident_bytes());
    process_gauge(f, "printdeck_printers", "gauge", "Printers configured",
                  (double)pd_fleet_count(app->fleet));
    process_gauge(f, "printdeck_uptime_seconds", "gauge", "Seconds since the daemon started",
                  (double)uptime_s(app));
    process_gauge(f, "printdeck_sse_clients", "gauge", "Event-stream clients connected",
                  (double)pd_api_events_clients());
    process_gauge(f, "printdeck_sse_dropped_total", "counter",
                  "Event-stream clients dropped for falling behind their backlog",
                  (double)pd_api_events_dropped());
    if (app->pw_work) {
        size_t running, queued;
        pd_work_counts(app->pw_work, &running, &queued);
        process_gauge(f, "printdeck_password_checks_running", "gauge",
                      "Password hashes and checks running now (at most auth.password_workers)",
                      (double)running);
        process_gauge(f, "printdeck_password_checks_queued", "gauge",
                      "Sign-ins and password changes waiting for a password worker", (double)queued);
    }
    if (app->camera) {
        pd_camera_totals t;
        pd_camera_totals_get(app->camera, &t);
        process_gauge(f, "printdeck_camera_connected", "gauge",
                      "Printer cameras streaming to printdeck now", (double)t.connected);
        process_gauge(f, "printdeck_camera_viewers", "gauge", "Camera viewers (MJPEG streams) now",
                      (double)t.viewers);
        process_gauge(f, "printdeck_camera_frames_in_total", "counter",
                      "Frames received from the cameras", (double)t.frames_in);
        process_gauge(f, "printdeck_camera_frames_out_total", "counter",
                      "Frames handed to camera viewers", (double)t.frames_out);
        process_gauge(f, "printdeck_camera_bytes_out_total", "counter",
                      "Bytes of the frames handed to camera viewers", (double)t.bytes_out);
        process_gauge(f, "printdeck_camera_decode_dropped_total", "counter",
                      "Camera decode or resize jobs dropped: the camera pool was full, or a "
                      "frame could not be read", (double)t.decode_dropped);
    }
    if (app->history)
        process_gauge(f, "printdeck_history_bytes", "gauge",
                      "Memory the printers' recent history holds",
                      (double)pd_history_bytes(app->history));
    if (app->loopstat) {
        family_header(f, "printdeck_loop_turn_seconds", "gauge",
                      "Time one event-loop turn took (callbacks, not the wait for I/O), last minute");
        fprintf(f, "printdeck_loop_turn_seconds{quantile=\"0.99\"} %.9g\n",
                pd_loopstat_quantile(app->loopstat, 0.99));
        process_gauge(f, "printdeck_loop_turn_max_seconds", "gauge",
                      "Longest event-loop turn in the last minute", pd_loopstat_max(app->loopstat));
    }
    bool ok = !ferror(f);
    fclose(f);
    /* the gauges show the inventory: only to whom Spoolman's routes would show it */
    if (ok && spm.cur && pd_req_spoolman_reader(r) && spm_reply_start(r, text, len))
        return;
    char *out = ok ? pd_req_reply_alloc(r, len) : NULL;
    if (out) {
        memcpy(out, text, len);
        pd_req_reply_commit(r, 200, PROM_TYPE);
    } else {
        pd_req_reply_error(r, PD_ERR_NOMEM, NULL);
    }
    free(text);
}

const pd_route pd_api_system_routes[] = {
    {"GET", "/healthz", healthz, PD_ROUTE_OPEN},
    {"GET", "/metrics", metrics, PD_ROUTE_OPEN},
};
const size_t pd_api_system_nroutes = sizeof pd_api_system_routes / sizeof *pd_api_system_routes;
