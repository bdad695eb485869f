/* The fleet registry, each printer's merged report and typed state, and its API object. */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "printer/printer_priv.h"
#include "printer/report.h"

/* A tick drives MQTT keepalives, silence detection, command timeouts and reconnects for the
 * whole fleet: one timer instead of one per printer keeps thousands of printers cheap. */
#define FLEET_TICK_MS 200
/* Bambu Studio asks for a full report after this many deltas arrive without a base. It asks
 * again after every five more; a P1P lags when asked more often than every few minutes
 * (docs/bambu-protocol.md §3.1), so a printer that keeps not answering is asked at most
 * once per mqtt.pushall_retry_s (a minute by default). */
#define DELTAS_BEFORE_PUSHALL 5
/* While connects keep starting (printers that stay unreachable), trim at most this often. */
#define TRIM_MAX_WAIT_MS 60000
/* A printer's API JSON is a few KB (an H2D with six AMS units: 9 KB); far past that is a bug */
#define PRINTER_JSON_MAX (256 * 1024)

/* A TLS handshake allocates tens of KB of temporaries among the few KB a link keeps, so
 * connects leave the heap riddled with free holes, and glibc gives memory back only from the
 * top of the heap. Once the connects are over, return the free pages inside it too (1.8 MB
 * after 1,000 printers connect at start; 13 MB when they all connected at once). */
static void fleet_trim(pd_fleet *f, size_t connecting, int64_t now)
{
    if (!f->connects_since_trim || (connecting && now - f->trimmed_ms < TRIM_MAX_WAIT_MS))
        return;
    malloc_trim(0);
    f->connects_since_trim = 0;
    f->trimmed_ms = now;
}

static void fleet_tick(uv_timer_t *t)
{
    pd_fleet *f = t->data;
    int64_t now = pd_clock_mono_ms();
    size_t connecting = 0;
    for (size_t i = 0; i < f->n; i++) {
        pd_link_tick(f->v[i], now);
        connecting += f->v[i]->lstate == PD_LINK_CONNECTING;
    }
    fleet_trim(f, connecting, now);
}

pd_err pd_fleet_new(uv_loop_t *loop, pd_bus *bus, const pd_fleet_opts *opts, pd_fleet **out)
{
    pd_fleet *f = calloc(1, sizeof *f);
    if (!f)
        return PD_ERR_NOMEM;
    f->loop = loop;
    f->bus = bus;
    f->opts = *opts;
    f->next_handle = 1;
    f->trimmed_ms = pd_clock_mono_ms();
    uv_timer_init(loop, &f->tick);
    f->tick.data = f;
    uv_timer_start(&f->tick, fleet_tick, FLEET_TICK_MS, FLEET_TICK_MS);
    *out = f;
    return PD_OK;
}

static void printer_free(pd_printer *p)
{
    pd_link_stop(p);
    json_decref(p->raw);
    free(p->json_cache);
    free(p);
}

static void fleet_tick_closed(uv_handle_t *h)
{
    free(h->data);
}

void pd_fleet_free(pd_fleet **fp)
{
    pd_fleet *f = *fp;
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++)
        printer_free(f->v[i]);
    free(f->v);
    uv_timer_stop(&f->tick);
    uv_close((uv_handle_t *)&f->tick, fleet_tick_closed);
    *fp = NULL;
}

static size_t fleet_index(const pd_fleet *f, int64_t id)
{
    size_t lo = 0, hi = f->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (f->v[mid]->rec.id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

pd_printer *pd_fleet_find_id(pd_fleet *f, int64_t id)
{
    size_t i = fleet_index(f, id);
    return i < f->n && f->v[i]->rec.id == id ? f->v[i] : NULL;
}

pd_printer *pd_fleet_find_ha(pd_fleet *f, const char *ha_id)
{
    for (size_t i = 0; i < f->n; i++)
        if (f->v[i]->rec.ha_id[0] && !strcmp(f->v[i]->rec.ha_id, ha_id))
            return f->v[i];
    return NULL;
}

pd_printer *pd_fleet_find(pd_fleet *f, const char *key)
{
    char *end;
    long long id = strtoll(key, &end, 10);
    if (*key && !*end) {
        pd_printer *p = pd_fleet_find_id(f, id);
        if (p)
            return p;
    }
    for (size_t i = 0; i < f->n; i++)
        if (!strcasecmp(f->v[i]->rec.serial, key))
            return f->v[i];
    return NULL;
}

size_t pd_fleet_count(const pd_fleet *f) { return f->n; }

void pd_fleet_foreach(pd_fleet *f, void (*fn)(pd_printer *p, void *ud), void *ud)
{
    for (size_t i = 0; i < f->n; i++)
        fn(f->v[i], ud);
}

/* A model the user typed wins (odd firmware can misreport), then get_version, then the
 * serial's prefix. */
static pd_model printer_model_guess(const pd_printer_rec *rec, pd_model detected)
{
    pd_model m = rec->model[0] ? pd_model_parse(rec->model) : PD_MODEL_UNKNOWN;
    if (m == PD_MODEL_UNKNOWN)
        m = detected;
    return m != PD_MODEL_UNKNOWN ? m : pd_model_from_serial(rec->serial);
}

void pd_fleet_emit_simple(pd_printer *p, pd_event_type type)
{
    pd_event ev = {.type = type, .printer_id = p->rec.id, .serial = p->rec.serial,
                   .ts_ms = pd_clock_wall_ms()};
    if (type == PD_EV_CONNECTION) {
        ev.u.conn.state = pd_link_state_name(p->lstate);
        ev.u.conn.error = p->last_error[0] ? p->last_error : NULL;
    }
    pd_bus_emit(p->fleet->bus, &ev);
}

static void printer_invalidate(pd_printer *p)
{
    free(p->json_cache);
    p->json_cache = NULL;
}

pd_err pd_fleet_add(pd_fleet *f, const pd_printer_rec *rec, pd_printer **out)
{
    if ((int)f->n >= f->opts.max_printers)
        return PD_ERR_BUSY;
    if (pd_fleet_find_id(f, rec->id))
        return PD_ERR_EXISTS;
    for (size_t i = 0; i < f->n; i++)
        if (!strcmp(f->v[i]->rec.serial, rec->serial))
            return PD_ERR_EXISTS;
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 16;
        pd_printer **nv = realloc(f->v, cap * sizeof *nv);
        if (!nv)
            return PD_ERR_NOMEM;
        f->v = nv;
        f->cap = cap;
    }
    pd_printer *p = calloc(1, sizeof *p);
    if (!p)
        return PD_ERR_NOMEM;
    p->raw = json_pack("{s:{},s:{}}", "print", "info");
    if (!p->raw) {
        free(p);
        return PD_ERR_NOMEM;
    }
    p->fleet = f;
    p->rec = *rec;
    p->model = printer_model_guess(rec, PD_MODEL_UNKNOWN);
    pd_state_init(&p->state);
    p->since_ms = pd_clock_wall_ms();

    size_t at = fleet_index(f, rec->id);
    memmove(&f->v[at + 1], &f->v[at], (f->n - at) * sizeof *f->v);
    f->v[at] = p;
    f->n++;
    pd_fleet_emit_simple(p, PD_EV_PRINTER_ADDED);
    pd_link_start(p);
    if (out)
        *out = p;
    return PD_OK;
}

void pd_fleet_remove(pd_fleet *f, pd_printer *p)
{
    size_t at = fleet_index(f, p->rec.id);
    if (at >= f->n || f->v[at] != p)
        return;
    memmove(&f->v[at], &f->v[at + 1], (f->n - at - 1) * sizeof *f->v);
    f->n--;
    pd_fleet_emit_simple(p, PD_EV_PRINTER_REMOVED);
    printer_free(p);
}

pd_err pd_fleet_update(pd_fleet *f, pd_printer *p, const pd_printer_rec *rec)
{
    for (size_t i = 0; i < f->n; i++)
        if (f->v[i] != p && !strcmp(f->v[i]->rec.serial, rec->serial))
            return PD_ERR_EXISTS;
    bool relink = rec->source == PD_PRINTER_MQTT &&
                  (p->rec.source != rec->source || strcmp(p->rec.serial, rec->serial) ||
                   strcmp(p->rec.host, rec->host) || p->rec.port != rec->port ||
                   strcmp(p->rec.access_code, rec->access_code) ||
                   strcmp(p->rec.ca_file, rec->ca_file) || p->rec.tls_verify != rec->tls_verify);
    if (strcmp(p->rec.serial, rec->serial)) {
        /* another printer now: what get_version told us described the old one */
        p->detected = PD_MODEL_UNKNOWN;
        p->firmware[0] = 0;
    }
    int64_t id = p->rec.id;
    p->rec = *rec;
    p->rec.id = id;
    p->model = printer_model_guess(&p->rec, p->detected);
    printer_invalidate(p);
    if (relink) {
        pd_link_stop(p);
        pd_link_start(p);
    }
    pd_fleet_emit_simple(p, PD_EV_STATE);
    return PD_OK;
}

/* --- accessors ---------------------------------------------------------------------- */
const pd_printer_rec *pd_printer_rec_get(const pd_printer *p) { return &p->rec; }
int64_t pd_printer_id(const pd_printer *p) { return p->rec.id; }
pd_model pd_printer_model(const pd_printer *p) { return p->model; }
const char *pd_printer_firmware(const pd_printer *p) { return p->firmware; }
bool pd_printer_online(const pd_printer *p) { return p->online; }
pd_link_state pd_printer_link_state(const pd_printer *p) { return p->lstate; }
const pd_state *pd_printer_state(const pd_printer *p) { return &p->state; }
const json_t *pd_printer_raw(const pd_printer *p) { return p->raw; }
void pd_printer_counters_get(const pd_printer *p, pd_printer_counters *out)
{
    *out = p->counters;
    out->commands_pending = 0;
    for (int i = 0; i < PD_MAX_PENDING_CMDS; i++)
        out->commands_pending += p->pending[i].handle != 0;
}

static void iso_time(pd_jw *w, const char *key, int64_t ms)
{
    pd_jw_key(w, key);
    if (ms <= 0) {
        pd_jw_null(w);
        return;
    }
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    char buf[40];
    size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, sizeof buf - n, ".%03dZ", (int)(ms % 1000));
    pd_jw_str(w, buf);
}

/* camera{type, host, port, url, enabled}: the source the model's camera speaks, where it is
 * reached (a relay's host and port when set), and the MJPEG stream's path (docs/camera.md) */
static void printer_render_camera(pd_jw *w, const pd_printer *p)
{
    int port;
    const char *type = pd_model_camera(p->model, &port);
    char url[64];
    snprintf(url, sizeof url, "/api/v1/printers/%lld/camera", (long long)p->rec.id);
    pd_jw_key(w, "camera");
    pd_jw_open(w, '{');
    pd_jw_key(w, "type");
    pd_jw_str(w, type);
    pd_jw_key(w, "host");
    pd_jw_str(w, p->rec.camera_host[0] ? p->rec.camera_host : p->rec.host);
    pd_jw_key(w, "port");
    pd_jw_int(w, p->rec.camera_port ? p->rec.camera_port : port);
    pd_jw_key(w, "url");
    pd_jw_str(w, url);
    pd_jw_key(w, "enabled");
    pd_jw_bool(w, p->rec.camera_enabled);
    pd_jw_close(w, '}');
}

static void opt_int(pd_jw *w, const char *key, int v)
{
    pd_jw_key(w, key);
    if (v == PD_REC_UNSET)
        pd_jw_null(w);
    else
        pd_jw_int(w, v);
}

/* timelapse{enabled, mode, interval_s, fps}: the printer's own settings, null where
 * [timelapse]'s apply (docs/camera.md, Timelapses) */
static void printer_render_timelapse(pd_jw *w, const pd_printer *p)
{
    pd_jw_key(w, "timelapse");
    pd_jw_open(w, '{');
    pd_jw_key(w, "enabled");
    if (p->rec.timelapse_enabled == PD_REC_UNSET)
        pd_jw_null(w);
    else
        pd_jw_bool(w, p->rec.timelapse_enabled);
    pd_jw_key(w, "mode");
    pd_jw_str(w, p->rec.timelapse_mode[0] ? p->rec.timelapse_mode : NULL);
    opt_int(w, "interval_s", p->rec.timelapse_interval_s);
    opt_int(w, "fps", p->rec.timelapse_fps);
    pd_jw_close(w, '}');
}

/* The printer as the API shows it (docs/api.md), rendered once per change and reused by every
 * list, GET and event stream until the next. */
static char *printer_render(pd_printer *p, size_t *len)
{
    pd_jw w;
    pd_jw_init(&w, PRINTER_JSON_MAX);
    pd_jw_open(&w, '{');
    pd_jw_key(&w, "id");
    pd_jw_int(&w, p->rec.id);
    const char *texts[][2] = {
        {"name", p->rec.name},
        {"serial", p->rec.serial},
        {"host", p->rec.host},
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        pd_jw_key(&w, texts[i][0]);
        pd_jw_str(&w, texts[i][1]);
    }
    pd_jw_key(&w, "source");
    pd_jw_str(&w, pd_printer_source_name(p->rec.source));
    pd_jw_key(&w, "ha_printer_id");
    pd_jw_str(&w, p->rec.ha_id[0] ? p->rec.ha_id : NULL);
    if (p->rec.ha_device[0]) {
        /* followed through Home Assistant's API: its device and the entity ids set over the
         * defaults (null: the default) */
        const char *ha[][2] = {
            {"ha_device", p->rec.ha_device}, {"ha_print_status", p->rec.ha_print_status},
            {"ha_task_name", p->rec.ha_task_name}, {"ha_gcode_file", p->rec.ha_gcode_file},
            {"ha_print_progress", p->rec.ha_print_progress}, {"ha_current_layer", p->rec.ha_current_layer},
            {"ha_total_layers", p->rec.ha_total_layers}, {"ha_active_tray", p->rec.ha_active_tray},
            {"ha_ams_tray", p->rec.ha_ams_tray},
        };
        for (size_t i = 0; i < sizeof ha / sizeof ha[0]; i++) {
            pd_jw_key(&w, ha[i][0]);
            pd_jw_str(&w, ha[i][1][0] ? ha[i][1] : NULL);
        }
    }
    pd_jw_key(&w, "webhook_secret_set");  /* write-only, as the access code: never shown */
    pd_jw_bool(&w, p->rec.webhook_secret[0] != '\0');
    pd_jw_key(&w, "port");
    pd_jw_int(&w, p->rec.port);
    pd_jw_key(&w, "ftps_port");
    pd_jw_int(&w, p->rec.ftps_port);
    printer_render_camera(&w, p);
    printer_render_timelapse(&w, p);
    pd_jw_key(&w, "model");
    pd_jw_str(&w, p->model ? pd_model_key(p->model) : NULL);
    pd_jw_key(&w, "model_name");
    pd_jw_str(&w, p->model ? pd_model_name(p->model) : NULL);
    pd_jw_key(&w, "firmware");
    pd_jw_str(&w, p->firmware[0] ? p->firmware : NULL);
    pd_jw_key(&w, "tls_verify");
    pd_jw_bool(&w, p->rec.tls_verify);
    pd_jw_key(&w, "online");
    pd_jw_bool(&w, p->online);
    pd_jw_key(&w, "connection");
    pd_jw_open(&w, '{');
    pd_jw_key(&w, "state");
    pd_jw_str(&w, pd_link_state_name(p->lstate));
    pd_jw_key(&w, "error");
    pd_jw_str(&w, p->last_error[0] ? p->last_error : NULL);
    iso_time(&w, "since", p->since_ms);
    pd_jw_close(&w, '}');
    pd_state_write_json(&p->state, p->model, &w);
    iso_time(&w, "updated_at", p->state.updated_at_ms);
    pd_jw_close(&w, '}');
    return pd_jw_finish(&w, len);
}

const char *pd_printer_json_str(pd_printer *p, size_t *len)
{
    if (!p->json_cache) {
        p->json_cache = printer_render(p, &p->json_len);
        if (!p->json_cache) {
            *len = 2;
            return "{}";
        }
    }
    *len = p->json_len;
    return p->json_cache;
}

/* --- incoming messages ------------------------------------------------------------- */
static void drop(pd_printer *p, const char *why)
{
    p->counters.dropped++;
    /* a broken printer can send thousands a minute: log the first and then every 1000th */
    if (p->counters.dropped % 1000 == 1)
        pd_warn("printer", "%s: dropped report (%s); %llu dropped so far", p->rec.name, why,
                (unsigned long long)p->counters.dropped);
}

static void on_version(pd_printer *p, json_t *info)
{
    json_object_set(p->raw, "info", info);
    char fw[32] = "";
    pd_model m = pd_model_from_version(info, fw, sizeof fw);
    if (fw[0])
        snprintf(p->firmware, sizeof p->firmware, "%s", fw);
    if (m != PD_MODEL_UNKNOWN)
        p->detected = m;
    p->model = printer_model_guess(&p->rec, p->detected);
}

static void on_report(pd_printer *p, json_t *body, bool full)
{
    json_t *base = json_object_get(p->raw, "print");
    if (!full && !p->have_full && ++p->delta_misses > DELTAS_BEFORE_PUSHALL &&
        pd_clock_mono_ms() - p->pushall_ms >= (int64_t)p->fleet->opts.pushall_retry_s * 1000) {
        p->delta_misses = 0;
        pd_link_request_pushall(p);
    }
    pd_err rc = pd_report_merge(base, body, full);
    if (rc) {
        drop(p, pd_strerror(rc));
        return;
    }
    if (full)
        p->have_full = true;

    /* the new state is in place before the events go out: subscribers read it */
    pd_state old = p->state;
    if (full)
        pd_state_init(&p->state);
    pd_state_extract(&p->state, base, p->model);
    pd_event ev = {.printer_id = p->rec.id, .serial = p->rec.serial, .ts_ms = pd_clock_wall_ms()};
    p->state.updated_at_ms = ev.ts_ms;
    bool changed = pd_state_diff(&old, &p->state, p->model, p->fleet->bus, &ev);
    if (changed || full) {
        printer_invalidate(p);
        ev.type = PD_EV_STATE;
        pd_bus_emit(p->fleet->bus, &ev);
    }
}

void pd_fleet_feed(pd_printer *p, json_t *delta)
{
    if (p->rec.source != PD_PRINTER_HA)
        return;
    p->counters.messages++;
    /* what Home Assistant tells is all there is: no full report will ever come to ask for */
    p->have_full = true;
    if (!p->online) {
        p->online = true;
        printer_invalidate(p);
        pd_fleet_emit_simple(p, PD_EV_ONLINE);
    }
    on_report(p, delta, false);
}

void pd_fleet_source_state(pd_printer *p, pd_link_state s, const char *error)
{
    if (p->rec.source == PD_PRINTER_HA)
        pd_link_set_state(p, s, error);
}

void pd_fleet_on_message(pd_printer *p, const char *payload, size_t len)
{
    p->counters.messages++;
    json_error_t jerr;
    json_t *msg = json_loadb(payload, len, 0, &jerr);
    if (!msg) {
        drop(p, jerr.text);
        return;
    }
    const char *category = NULL;
    json_t *body = NULL;
    switch (pd_report_classify(msg, &category, &body)) {
    case PD_MSG_FULL:
        on_report(p, body, true);
        pd_link_on_full_report(p);
        break;
    case PD_MSG_DELTA:
        on_report(p, body, false);
        break;
    case PD_MSG_ACK:
        pd_link_on_ack(p, body);
        break;
    case PD_MSG_VERSION:
        on_version(p, body);
        printer_invalidate(p);
        pd_fleet_emit_simple(p, PD_EV_STATE);  /* its firmware and model are in its object */
        break;
    case PD_MSG_OTHER:
        break;
    case PD_MSG_INVALID:
        drop(p, "not a report");
        break;
    }
    json_decref(msg);
}
