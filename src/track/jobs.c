/* The job state machine and the recorder that keeps its jobs in the database (jobs.h). The
 * protocol facts it relies on are in docs/jobs.md. */
#include "track/jobs.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"
#include "printer/hms.h"
#include "track/rollup.h"
#include "track/slots.h"
#include "track/split.h"

static const char *const status_names[] = {
    [PD_JOB_PRINTING] = "printing", [PD_JOB_PAUSED] = "paused",
    [PD_JOB_COMPLETED] = "completed", [PD_JOB_FAILED] = "failed",
    [PD_JOB_CANCELLED] = "cancelled", [PD_JOB_UNKNOWN] = "unknown",
};

const char *pd_job_status_name(pd_job_status s)
{
    return (unsigned)s <= PD_JOB_UNKNOWN ? status_names[s] : "unknown";
}

bool pd_job_status_parse(const char *s, pd_job_status *out)
{
    for (int i = 0; i <= PD_JOB_UNKNOWN; i++)
        if (!strcmp(s, status_names[i])) {
            *out = (pd_job_status)i;
            return true;
        }
    return false;
}

/* --- the state machine ------------------------------------------------------------------ */

/* SLICING: X1 slicing on the printer before PREPARE. */
static bool active(const char *s)
{
    return !strcmp(s, "PREPARE") || !strcmp(s, "RUNNING") || !strcmp(s, "PAUSE") ||
           !strcmp(s, "SLICING");
}

/* Cloud ids are "0" or "" on LAN prints, so the name and file decide there. */
static bool real_id(const char *id) { return *id && strcmp(id, "0"); }

static bool same_task(const pd_jobs_track *t, const pd_jobs_obs *o)
{
    if (real_id(t->task_id) && real_id(o->task_id))
        return !strcmp(t->task_id, o->task_id);
    if (*t->name && *o->name)
        return !strcmp(t->name, o->name);
    return !*t->file || !*o->file || !strcmp(t->file, o->file);
}

static void take_task(pd_jobs_track *t, const pd_jobs_obs *o)
{
    snprintf(t->task_id, sizeof t->task_id, "%s", o->task_id);
    snprintf(t->name, sizeof t->name, "%s", o->name);
    snprintf(t->file, sizeof t->file, "%s", o->file);
}

static void close_as(pd_jobs_track *t, pd_jobs_result *r, pd_job_status st, const char *why,
                     uint32_t err, int64_t now_ms)
{
    r->actions |= PD_JOBS_CLOSE;
    r->status = st;
    r->reason = why;
    r->error = err;
    t->closed_id = st == PD_JOB_FAILED ? t->job_id : 0;
    t->closed_ms = now_ms;
    t->open = false;
    t->job_id = 0;
}

/* FAILED is a cancel when the stop code was seen during the job or comes with it. */
static void close_failed(pd_jobs_track *t, const pd_jobs_obs *o, pd_jobs_result *r, int64_t now_ms)
{
    if (t->cancel_seen || o->print_error == PD_JOBS_CANCEL_ERROR)
        close_as(t, r, PD_JOB_CANCELLED, "stopped by the user", PD_JOBS_CANCEL_ERROR, now_ms);
    else
        close_as(t, r, PD_JOB_FAILED, o->reason ? o->reason : "the printer reported the print failed",
                 o->print_error, now_ms);
}

static void open_job(pd_jobs_track *t, const pd_jobs_obs *o, pd_jobs_result *r)
{
    r->actions |= PD_JOBS_OPEN;
    pd_jobs_track fresh = {.open = true, .status = PD_JOB_PRINTING, .feed = o->feed,
                           .closed_id = t->closed_id, .closed_ms = t->closed_ms};
    memcpy(fresh.prev, t->prev, sizeof fresh.prev);
    *t = fresh;
    take_task(t, o);
}

/* The first report after printdeck (re)started, for a job it had open: how did it go? */
static void first_with_job(pd_jobs_track *t, const pd_jobs_obs *o, pd_jobs_result *r, int64_t now_ms)
{
    const char *s = o->gcode_state;
    bool same = same_task(t, o);
    if (active(s) && same)
        return;  /* still printing it: the machine carries on below */
    if (!strcmp(s, "FINISH") && same)
        close_as(t, r, PD_JOB_COMPLETED, NULL, 0, now_ms);
    else if (!strcmp(s, "FAILED") && same)
        close_failed(t, o, r, now_ms);
    else
        close_as(t, r, PD_JOB_UNKNOWN, active(s) ? "another print started before this one was seen to end"
                                                 : "it ended while printdeck was not watching", 0, now_ms);
}

void pd_jobs_step(pd_jobs_track *t, const pd_jobs_obs *o, int64_t now_ms, pd_jobs_result *r)
{
    *r = (pd_jobs_result){0};
    const char *s = o->gcode_state;
    if (!*s)
        return;
    bool first = !t->prev[0], changed = strcmp(t->prev, s) != 0;
    char prev[sizeof t->prev];
    snprintf(prev, sizeof prev, "%s", t->prev);
    snprintf(t->prev, sizeof t->prev, "%s", s);

    /* the stop code shows for a few seconds, possibly just after the state changed */
    if (o->print_error == PD_JOBS_CANCEL_ERROR) {
        if (t->open)
            t->cancel_seen = true;
        else if (t->closed_id && now_ms - t->closed_ms <= PD_JOBS_AMEND_MS) {
            r->actions |= PD_JOBS_AMEND;
            t->closed_id = 0;
        }
    }
    if (t->open && first)
        first_with_job(t, o, r, now_ms);
    else if (t->open && active(s) && !same_task(t, o))
        close_as(t, r, PD_JOB_UNKNOWN, "another print started before this one was seen to end", 0, now_ms);

    if (!t->open) {
        if (active(s))
            open_job(t, o, r);
        else if ((changed || first) && !(r->actions & PD_JOBS_CLOSE) &&
                 (!strcmp(s, "FINISH") || !strcmp(s, "FAILED"))) {
            r->actions |= PD_JOBS_SETTLE;
            bool cancel = o->print_error == PD_JOBS_CANCEL_ERROR;
            r->status = !strcmp(s, "FINISH") ? PD_JOB_COMPLETED : cancel ? PD_JOB_CANCELLED : PD_JOB_FAILED;
            r->reason = r->status == PD_JOB_FAILED ? o->reason : cancel ? "stopped by the user" : NULL;
            r->error = r->status == PD_JOB_COMPLETED ? 0 : o->print_error;
        }
        if (!t->open)
            return;
    }

    if (!strcmp(s, "FINISH")) {
        close_as(t, r, PD_JOB_COMPLETED, NULL, 0, now_ms);
        return;
    }
    if (!strcmp(s, "FAILED")) {
        close_failed(t, o, r, now_ms);
        return;
    }
    if (!active(s)) {
        /* IDLE straight after printing: the user stopped it (some firmware skips FAILED) */
        if (active(prev))
            close_as(t, r, PD_JOB_CANCELLED, "stopped by the user",
                     t->cancel_seen ? PD_JOBS_CANCEL_ERROR : 0, now_ms);
        return;
    }
    if (!strcmp(s, "PAUSE") && t->status != PD_JOB_PAUSED) {
        t->status = PD_JOB_PAUSED;
        r->actions |= PD_JOBS_PAUSE;
        r->pause_reason = o->reason;
    } else if (strcmp(s, "PAUSE") && t->status == PD_JOB_PAUSED) {
        t->status = PD_JOB_PRINTING;
        r->actions |= PD_JOBS_RESUME;
    }
    /* firmware resets progress and layer to 0 on a stop: only forward counts */
    if (o->progress > t->progress || o->layer > t->layer ||
        (o->total_layers > 0 && o->total_layers != t->total_layers)) {
        if (o->progress > t->progress)
            t->progress = o->progress > 100 ? 100 : o->progress;
        if (o->layer > t->layer)
            t->layer = o->layer;
        if (o->total_layers > 0)
            t->total_layers = o->total_layers;
        r->actions |= PD_JOBS_PROGRESS;
    }
    /* gated on the open job, not on RUNNING: P2S leaves RUNNING briefly during an AMS
     * auto-fallback, which is exactly the change to log */
    if (o->feed.unit != t->feed.unit || o->feed.slot != t->feed.slot) {
        t->feed = o->feed;
        r->actions |= PD_JOBS_TRAY;
    }
}

/* --- the recorder -------------------------------------------------------------------------- */

typedef struct env_stat {
    double min, max, sum;
    int64_t n;
} env_stat;

typedef struct env_unit {
    int unit;
    env_stat humidity, temp;
} env_unit;

#define MATERIALS_LEN 128

typedef struct tracker {
    int64_t printer_id;
    pd_jobs_track m;
    int64_t started_at;          /* wall seconds, of the open job */
    int64_t offline_since_ms;    /* monotonic; 0 while the printer is seen */
    bool gap_open;               /* an offline gap row waits for its end */
    bool estimated;              /* estimated_s is stored */
    char materials[MATERIALS_LEN];
    env_stat chamber;
    int n_units;
    env_unit units[PD_MAX_AMS];
} tracker;

struct pd_jobs {
    pd_bus *bus;
    pd_fleet *fleet;
    pd_db *db;
    int64_t timeout_ms;
    int sub;
    uv_timer_t timer;
    tracker **v;                 /* sorted by printer_id */
    size_t n, cap;
};

static tracker *find(pd_jobs *j, int64_t printer_id, size_t *at)
{
    size_t lo = 0, hi = j->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (j->v[mid]->printer_id < printer_id)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (at)
        *at = lo;
    return lo < j->n && j->v[lo]->printer_id == printer_id ? j->v[lo] : NULL;
}

static tracker *get(pd_jobs *j, int64_t printer_id)
{
    size_t at;
    tracker *t = find(j, printer_id, &at);
    if (t)
        return t;
    if (j->n == j->cap) {
        size_t cap = j->cap ? 2 * j->cap : 64;
        tracker **v = realloc(j->v, cap * sizeof *v);
        if (!v)
            return NULL;
        j->v = v;
        j->cap = cap;
    }
    if (!(t = calloc(1, sizeof *t)))
        return NULL;
    t->printer_id = printer_id;
    memmove(j->v + at + 1, j->v + at, (j->n - at) * sizeof *j->v);
    j->v[at] = t;
    j->n++;
    return t;
}

/* --- environment ---------------------------------------------------------------------------- */

static void stat_add(env_stat *s, double v)
{
    if (!s->n || v < s->min)
        s->min = v;
    if (!s->n || v > s->max)
        s->max = v;
    s->sum += v;
    s->n++;
}

static void env_reset(tracker *t)
{
    t->chamber = (env_stat){0};
    t->n_units = 0;
}

static env_unit *env_unit_of(tracker *t, int unit)
{
    for (int i = 0; i < t->n_units; i++)
        if (t->units[i].unit == unit)
            return &t->units[i];
    if (t->n_units == PD_MAX_AMS)
        return NULL;
    t->units[t->n_units] = (env_unit){.unit = unit};
    return &t->units[t->n_units++];
}

static void env_sample(tracker *t, const pd_state *st)
{
    if (!isnan(st->chamber_temp))
        stat_add(&t->chamber, st->chamber_temp);
    for (int i = 0; i < st->n_ams; i++) {
        const pd_ams_unit *a = &st->ams[i];
        env_unit *u = env_unit_of(t, a->id);
        if (!u)
            continue;
        if (a->humidity_pct >= 0)
            stat_add(&u->humidity, a->humidity_pct);
        if (a->temp > 0)
            stat_add(&u->temp, a->temp);
    }
}

static json_t *stat_json(const env_stat *s)
{
    if (!s->n)
        return json_null();
    return json_pack("{s:f,s:f,s:f,s:I}", "min", s->min, "avg", s->sum / (double)s->n, "max", s->max,
                     "samples", (json_int_t)s->n);
}

static char *env_text(const tracker *t)
{
    json_t *units = json_array();
    for (int i = 0; i < t->n_units; i++)
        json_array_append_new(units, json_pack("{s:i,s:o,s:o}", "unit", t->units[i].unit, "humidity_pct",
                                               stat_json(&t->units[i].humidity), "temp",
                                               stat_json(&t->units[i].temp)));
    json_t *o = json_pack("{s:o,s:o}", "chamber_temp", stat_json(&t->chamber), "ams", units);
    char *s = o ? json_dumps(o, PD_JSON_FLAGS) : NULL;
    json_decref(o);
    return s;
}

static void stat_load(env_stat *s, json_t *o)
{
    json_int_t n = json_integer_value(json_object_get(o, "samples"));
    if (n <= 0)
        return;
    *s = (env_stat){json_number_value(json_object_get(o, "min")), json_number_value(json_object_get(o, "max")),
                    json_number_value(json_object_get(o, "avg")) * (double)n, n};
}

/* The stored averages carry on after a restart: sum = avg × samples. */
static void env_load(tracker *t, const char *text)
{
    json_t *o = *text ? json_loads(text, 0, NULL) : NULL;
    stat_load(&t->chamber, json_object_get(o, "chamber_temp"));
    size_t i;
    json_t *u;
    json_array_foreach(json_object_get(o, "ams"), i, u) {
        env_unit *eu = env_unit_of(t, (int)json_integer_value(json_object_get(u, "unit")));
        if (eu) {
            stat_load(&eu->humidity, json_object_get(u, "humidity_pct"));
            stat_load(&eu->temp, json_object_get(u, "temp"));
        }
    }
    json_decref(o);
}

/* --- reading a report ------------------------------------------------------------------------ */

static const char *raw_text(const json_t *print, const char *key, char *buf, size_t n)
{
    const json_t *v = json_object_get(print, key);
    if (json_is_string(v))
        snprintf(buf, n, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(buf, n, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else
        buf[0] = '\0';
    return buf;
}

static const char *stage_reason(int stage)
{
    switch (stage) {
    case 5: return "paused by the G-code (M400)";
    case 6: return "filament ran out";
    case 16: return "paused by the user";
    case 17: return "front cover falling";
    case 20: return "nozzle temperature malfunction";
    case 21: return "heatbed temperature malfunction";
    case 26: return "AMS lost";
    default: return NULL;
    }
}

/* Why a job paused or failed: the print_error, then (for a pause) the stage, then the first
 * HMS alert. */
static const char *reason_of(const pd_state *st, pd_model model, bool pause, char *buf, size_t n)
{
    if (st->print_error && st->print_error != PD_JOBS_CANCEL_ERROR) {
        char code[10];
        pd_print_error_format(st->print_error, code);
        const char *text = pd_print_error_text(st->print_error, model);
        snprintf(buf, n, "%s: %s", code, text ? text : "unknown print error");
        return buf;
    }
    const char *stage = pause ? stage_reason(st->stage) : NULL;
    if (stage)
        return stage;
    if (st->n_hms) {
        char code[24];
        pd_hms_format(st->hms[0].attr, st->hms[0].code, code);
        const char *text = pd_hms_text(st->hms[0].attr, st->hms[0].code, model);
        snprintf(buf, n, "%s: %s", code, text ? text : "unknown HMS alert");
        return buf;
    }
    return NULL;
}

/* --- writing ---------------------------------------------------------------------------------- */

static int64_t now_s(void) { return pd_clock_wall_ms() / 1000; }

static pd_err run(pd_db *db, const char *sql, const pd_sqlv *a, size_t n)
{
    return pd_db_run(db, sql, a, n, NULL);
}

#define RUN(db, sql, ...) run(db, sql, (const pd_sqlv[]){__VA_ARGS__}, \
                              sizeof (pd_sqlv[]){__VA_ARGS__} / sizeof(pd_sqlv))

static pd_sqlv text_or_null(const char *s) { return s && *s ? PD_SQL_S(s) : PD_SQL_NUL; }

/* A pause or an offline gap begins. A flapping Wi-Fi link would add a row per drop, and every
 * row goes out with the job: a gap starting within PD_JOBS_GAP_MERGE_S of the previous gap's
 * end continues that gap, and past PD_JOBS_MAX_PAUSES rows a job stores no more of them, while
 * job.interruptions counts them all. */
static pd_err interval_begin(pd_db *db, int64_t job_id, const char *kind, int64_t at, const char *why)
{
    int64_t changed = 0, rows = 0;
    pd_err rc = PD_OK;
    if (!strcmp(kind, "offline"))
        rc = pd_db_run(db, "UPDATE job_pause SET ended_at = NULL WHERE id = (SELECT max(id) FROM job_pause "
                           "WHERE job_id = ?) AND kind = 'offline' AND ended_at >= ?",
                       (const pd_sqlv[]){PD_SQL_I(job_id), PD_SQL_I(at - PD_JOBS_GAP_MERGE_S)}, 2, &changed);
    if (rc || changed)
        return rc;
    rc = RUN(db, "UPDATE job SET interruptions = interruptions + 1 WHERE id = ?", PD_SQL_I(job_id));
    if (!rc)
        rc = pd_db_scalar(db, "SELECT count(*) FROM job_pause WHERE job_id = ?", (const pd_sqlv[]){PD_SQL_I(job_id)},
                          1, &rows);
    if (!rc && rows < PD_JOBS_MAX_PAUSES)
        rc = RUN(db, "INSERT INTO job_pause (job_id, kind, started_at, reason) VALUES (?, ?, ?, ?)",
                 PD_SQL_I(job_id), PD_SQL_S(kind), PD_SQL_I(at), text_or_null(why));
    return rc;
}

/* An offline gap in a transaction of its own (the link's event, printdeck's start). */
static pd_err gap_begin(pd_db *db, int64_t job_id, int64_t at, const char *why)
{
    pd_err rc = pd_db_begin(db);
    return rc ? rc : pd_db_end(db, interval_begin(db, job_id, "offline", at, why));
}

static pd_err intervals_end(pd_db *db, int64_t job_id, const char *kind, int64_t at)
{
    return RUN(db, "UPDATE job_pause SET ended_at = ? WHERE job_id = ? AND kind = ? AND ended_at IS NULL",
               PD_SQL_I(at), PD_SQL_I(job_id), PD_SQL_S(kind));
}

/* A change of the tray feeding the job: unit and slot, and `tray` numbered as tray_now numbers
 * trays (255 none: also the tube emptying before an AMS refill). */
static pd_err feed_row(pd_db *db, int64_t job_id, pd_feed f, int layer, int64_t at)
{
    bool none = f.unit < 0;
    return RUN(db, "INSERT INTO job_tray (job_id, tray, unit, slot, layer, at) VALUES (?, ?, ?, ?, ?, ?)",
               PD_SQL_I(job_id), PD_SQL_I(none ? 255 : pd_split_tray_now(f.unit, f.slot)),
               none ? PD_SQL_NUL : PD_SQL_I(f.unit), none ? PD_SQL_NUL : PD_SQL_I(f.slot), PD_SQL_I(layer),
               PD_SQL_I(at));
}

/* The material of the tray now feeding, added to the job's list when new. */
static bool materials_add(tracker *t, const pd_state *st)
{
    const pd_tray *tr = pd_track_tray(st, t->m.feed.unit, t->m.feed.slot);
    if (!tr || !tr->present || !*tr->type)
        return false;
    size_t len = strlen(t->materials), tl = strlen(tr->type);
    for (const char *p = t->materials; (p = strstr(p, tr->type)); p += tl)
        if ((p == t->materials || p[-1] == ',') && (p[tl] == ',' || !p[tl]))
            return false;
    if (len + tl + 2 > sizeof t->materials)
        return false;
    snprintf(t->materials + len, sizeof t->materials - len, "%s%s", len ? "," : "", tr->type);
    return true;
}

static pd_err snapshot_tray(pd_db *db, int64_t job_id, int64_t printer_id, int unit, int slot,
                            const pd_tray *tr)
{
    if (!tr->present)
        return PD_OK;
    return RUN(db, "INSERT INTO job_snapshot (job_id, unit, slot, spool_id, tray_uuid, material, color, remain) "
                   "VALUES (?, ?, ?, (SELECT spool_id FROM ams_slot WHERE printer_id = ? AND unit = ? AND slot = ?), "
                   "?, ?, ?, ?)",
               PD_SQL_I(job_id), PD_SQL_I(unit), PD_SQL_I(slot), PD_SQL_I(printer_id), PD_SQL_I(unit),
               PD_SQL_I(slot), PD_SQL_S(tr->uuid), PD_SQL_S(tr->type), PD_SQL_S(tr->color),
               tr->remain >= 0 ? PD_SQL_I(tr->remain) : PD_SQL_NUL);
}

/* The trays as they are at the start, with the spool the slot map names for each: a spool
 * assigned later is charged only from then on. */
static pd_err snapshot(pd_db *db, int64_t job_id, int64_t printer_id, const pd_state *st)
{
    pd_err rc = PD_OK;
    for (int i = 0; i < st->n_ams && !rc; i++)
        for (int k = 0; k < st->ams[i].n_trays && !rc; k++)
            rc = snapshot_tray(db, job_id, printer_id, st->ams[i].id, st->ams[i].trays[k].id, &st->ams[i].trays[k]);
    if (!rc && st->has_external)
        rc = snapshot_tray(db, job_id, printer_id, PD_INV_EXTERNAL_UNIT, 0, &st->external);
    return rc;
}

typedef struct latest {
    int64_t id;
    char status[16], task_id[32], name[128], file[256];
} latest;

static pd_err latest_row(const pd_row *row, void *ud)
{
    latest *l = ud;
    l->id = pd_row_int(row, 0);
    snprintf(l->status, sizeof l->status, "%s", pd_row_text(row, 1));
    snprintf(l->task_id, sizeof l->task_id, "%s", pd_row_text(row, 2));
    snprintf(l->name, sizeof l->name, "%s", pd_row_text(row, 3));
    snprintf(l->file, sizeof l->file, "%s", pd_row_text(row, 4));
    return PD_OK;
}

/* The printer's newest job when it was closed as unknown (the printer was away) and is the
 * task the report names: the same print, so it is that job again, not a second one. */
static int64_t unknown_same(pd_db *db, int64_t printer_id, const pd_jobs_obs *o)
{
    latest l = {0};
    if (pd_db_query(db, "SELECT id, status, task_id, name, file FROM job WHERE printer_id = ? AND origin = 'printer' "
                        "ORDER BY id DESC LIMIT 1", (const pd_sqlv[]){PD_SQL_I(printer_id)}, 1, latest_row, &l))
        return 0;
    pd_jobs_track was = {0};
    snprintf(was.task_id, sizeof was.task_id, "%s", l.task_id);
    snprintf(was.name, sizeof was.name, "%s", l.name);
    snprintf(was.file, sizeof was.file, "%s", l.file);
    return l.id && !strcmp(l.status, "unknown") && same_task(&was, o) ? l.id : 0;
}

/* The plate: plate_idx where the firmware sends it, else N of Metadata/plate_N.gcode. */
static int plate_of(const json_t *print, const char *file)
{
    json_int_t v = json_integer_value(json_object_get(print, "plate_idx"));
    if (v > 0 && v < 1000)
        return (int)v;
    const char *p = strstr(file, "plate_");
    return p ? atoi(p + 6) : 0;
}

static pd_err open_row(pd_jobs *j, tracker *t, pd_printer *p, const pd_jobs_obs *o, const char **change)
{
    const pd_state *st = pd_printer_state(p);
    const json_t *print = json_object_get(pd_printer_raw(p), "print");
    int64_t now = now_s(), id = unknown_same(j->db, t->printer_id, o);
    pd_err rc;
    env_reset(t);
    t->materials[0] = '\0';
    t->estimated = false;
    t->started_at = now;
    if (id) {
        /* the job comes back, and the time it was not seen becomes its gap */
        *change = "resumed";
        rc = RUN(j->db, "INSERT INTO job_pause (job_id, kind, started_at, ended_at, reason) "
                        "SELECT id, 'offline', ended_at, ?, 'the printer was not seen' FROM job WHERE id = ?",
                 PD_SQL_I(now), PD_SQL_I(id));
        if (!rc)
            rc = pd_rollup_job(j->db, id, -1);
        if (!rc)
            rc = RUN(j->db, "UPDATE job SET status = 'printing', ended_at = NULL, reason = NULL, seen_at = ? "
                            "WHERE id = ?", PD_SQL_I(now), PD_SQL_I(id));
        t->m.job_id = id;
        return rc;
    }
    *change = "started";
    char subtask[32], profile[32], type[16];
    pd_printer *pr = pd_fleet_find_id(j->fleet, t->printer_id);
    rc = pd_db_insert(j->db, "INSERT INTO job (printer_id, printer_name, name, file, plate, task_id, subtask_id, "
                             "profile_id, print_type, origin, status, started_at, seen_at) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'printer', 'printing', ?, ?) RETURNING id",
                      (const pd_sqlv[]){PD_SQL_I(t->printer_id), PD_SQL_S(pr ? pd_printer_rec_get(pr)->name : ""),
                                        PD_SQL_S(*o->name ? o->name : *o->file ? o->file : "unnamed print"),
                                        PD_SQL_S(o->file), plate_of(print, o->file) ? PD_SQL_I(plate_of(print, o->file)) : PD_SQL_NUL,
                                        PD_SQL_S(o->task_id), PD_SQL_S(raw_text(print, "subtask_id", subtask, sizeof subtask)),
                                        PD_SQL_S(raw_text(print, "profile_id", profile, sizeof profile)),
                                        PD_SQL_S(raw_text(print, "print_type", type, sizeof type)),
                                        PD_SQL_I(now), PD_SQL_I(now)},
                      11, &t->m.job_id);
    if (!rc)
        rc = snapshot(j->db, t->m.job_id, t->printer_id, st);
    if (!rc && o->feed.unit >= 0)
        rc = feed_row(j->db, t->m.job_id, o->feed, o->layer, now);
    return rc;
}

/* progress, layer, estimate, materials and environment: the bounded write per change */
static pd_err progress_row(pd_jobs *j, tracker *t, int64_t id, const pd_jobs_track *m, int remaining_min)
{
    int64_t now = now_s();
    pd_sqlv est = PD_SQL_NUL;
    if (!t->estimated && remaining_min > 0 && m->progress > 0) {
        est = PD_SQL_I(now - t->started_at + (int64_t)remaining_min * 60);
        t->estimated = true;
    }
    char *env = env_text(t);
    pd_err rc = RUN(j->db, "UPDATE job SET progress = ?, layer = ?, total_layers = ?, "
                           "estimated_s = COALESCE(estimated_s, ?), materials = ?, environment = ?, seen_at = ? "
                           "WHERE id = ?",
                    PD_SQL_I(m->progress), PD_SQL_I(m->layer), PD_SQL_I(m->total_layers), est,
                    PD_SQL_S(t->materials), text_or_null(env), PD_SQL_I(now), PD_SQL_I(id));
    free(env);
    return rc;
}

static pd_err close_row(pd_jobs *j, tracker *t, int64_t id, const pd_jobs_track *m, const pd_jobs_result *r)
{
    int64_t now = now_s();
    pd_err rc = progress_row(j, t, id, m, 0);
    if (!rc)
        rc = RUN(j->db, "UPDATE job SET status = ?, ended_at = ?, reason = ?, error_code = ? WHERE id = ?",
                 PD_SQL_S(pd_job_status_name(r->status)), PD_SQL_I(now), text_or_null(r->reason),
                 r->error ? PD_SQL_I(r->error) : PD_SQL_NUL, PD_SQL_I(id));
    if (!rc)
        rc = RUN(j->db, "UPDATE job_pause SET ended_at = ? WHERE job_id = ? AND ended_at IS NULL",
                 PD_SQL_I(now), PD_SQL_I(id));
    if (!rc)
        rc = pd_rollup_job(j->db, id, 1);
    t->gap_open = false;
    return rc;
}

/* A job closed as unknown while its printer was away, whose outcome the printer now shows. */
static pd_err settle_row(pd_jobs *j, int64_t id, const pd_jobs_result *r)
{
    pd_err rc = pd_rollup_job(j->db, id, -1);
    if (!rc)
        rc = RUN(j->db, "UPDATE job SET status = ?, reason = ?, error_code = ? WHERE id = ? AND status = 'unknown'",
                 PD_SQL_S(pd_job_status_name(r->status)), text_or_null(r->reason),
                 r->error ? PD_SQL_I(r->error) : PD_SQL_NUL, PD_SQL_I(id));
    return rc ? rc : pd_rollup_job(j->db, id, 1);
}

typedef struct announce {
    int64_t id;
    const char *change;
} announce;

/* Applies one step's actions in one transaction; *ann gets what to announce after it. */
static pd_err apply(pd_jobs *j, tracker *t, pd_printer *p, const pd_jobs_track *before,
                    const pd_jobs_obs *o, const pd_jobs_result *r, announce ann[4], size_t *nann)
{
    const pd_state *st = pd_printer_state(p);
    int64_t now = now_s();
    pd_err rc = pd_db_begin(j->db);
    *nann = 0;
    if (!rc && t->gap_open && before->job_id) {
        rc = intervals_end(j->db, before->job_id, "offline", now);
        t->gap_open = false;
    }
    if (!rc && (r->actions & PD_JOBS_AMEND) && before->closed_id) {
        rc = pd_rollup_job(j->db, before->closed_id, -1);
        if (!rc)
            rc = RUN(j->db, "UPDATE job SET status = 'cancelled', reason = 'stopped by the user', error_code = ? "
                            "WHERE id = ? AND status = 'failed'",
                     PD_SQL_I(PD_JOBS_CANCEL_ERROR), PD_SQL_I(before->closed_id));
        if (!rc)
            rc = pd_rollup_job(j->db, before->closed_id, 1);
        ann[(*nann)++] = (announce){before->closed_id, "updated"};
    }
    if (!rc && (r->actions & PD_JOBS_CLOSE) && before->job_id) {
        rc = close_row(j, t, before->job_id, before, r);
        ann[(*nann)++] = (announce){before->job_id, "ended"};
    }
    if (!rc && (r->actions & PD_JOBS_SETTLE)) {
        int64_t id = unknown_same(j->db, t->printer_id, o);
        if (id && !(rc = settle_row(j, id, r)))
            ann[(*nann)++] = (announce){id, "updated"};
    }
    const char *change = "updated";
    if (!rc && (r->actions & PD_JOBS_OPEN))
        rc = open_row(j, t, p, o, &change);
    int64_t id = t->m.job_id;
    if (!rc && id && (r->actions & PD_JOBS_PAUSE)) {
        rc = interval_begin(j->db, id, "pause", now, r->pause_reason);
        if (!rc)
            rc = RUN(j->db, "UPDATE job SET status = 'paused' WHERE id = ?", PD_SQL_I(id));
        change = "paused";
    }
    if (!rc && id && (r->actions & PD_JOBS_RESUME)) {
        rc = intervals_end(j->db, id, "pause", now);
        if (!rc)
            rc = RUN(j->db, "UPDATE job SET status = 'printing' WHERE id = ?", PD_SQL_I(id));
        change = "resumed";
    }
    if (!rc && id && (r->actions & PD_JOBS_TRAY) && !(r->actions & PD_JOBS_OPEN))
        rc = feed_row(j->db, id, t->m.feed, t->m.layer, now);
    bool more = id && (r->actions & (PD_JOBS_TRAY | PD_JOBS_OPEN)) && materials_add(t, st);
    if (!rc && id && (more || (r->actions & (PD_JOBS_PROGRESS | PD_JOBS_OPEN))))
        rc = progress_row(j, t, id, &t->m, o->remaining_min);
    if (id && (r->actions & (PD_JOBS_OPEN | PD_JOBS_PAUSE | PD_JOBS_RESUME | PD_JOBS_PROGRESS | PD_JOBS_TRAY)))
        ann[(*nann)++] = (announce){id, change};
    return pd_db_end(j->db, rc);
}

static void on_report(pd_jobs *j, const pd_event *ev)
{
    pd_printer *p = pd_fleet_find_id(j->fleet, ev->printer_id);
    tracker *t = p ? get(j, ev->printer_id) : NULL;
    if (!t)
        return;
    const pd_state *st = pd_printer_state(p);
    const json_t *print = json_object_get(pd_printer_raw(p), "print");
    char task[32], reason[320];
    bool pause = !strcmp(st->gcode_state, "PAUSE");
    pd_jobs_obs o = {
        .gcode_state = st->gcode_state, .print_error = st->print_error, .progress = st->progress,
        .layer = st->layer, .total_layers = st->total_layers, .remaining_min = st->remaining_min,
        .feed = st->feed, .task_id = raw_text(print, "task_id", task, sizeof task),
        .name = st->subtask, .file = st->gcode_file,
        .reason = pause || !strcmp(st->gcode_state, "FAILED")
                      ? reason_of(st, pd_printer_model(p), pause, reason, sizeof reason) : NULL,
    };
    /* the whole tracker, so a write the database refuses leaves it as it was: the next report
     * makes the same step again, and no job id the rollback gave back (SQLite reuses it for
     * the next insert, maybe another printer's) stays in memory */
    tracker saved = *t;
    pd_jobs_track before = t->m;
    pd_jobs_result r;
    pd_jobs_step(&t->m, &o, pd_clock_mono_ms(), &r);
    t->offline_since_ms = 0;
    if (t->m.open && strcmp(st->gcode_state, "FINISH") && strcmp(st->gcode_state, "FAILED"))
        env_sample(t, st);
    if (!r.actions && !t->gap_open)
        return;
    announce ann[4];
    size_t nann = 0;
    pd_err rc = apply(j, t, p, &before, &o, &r, ann, &nann);
    if (rc) {
        pd_error("jobs", "printer %lld: cannot record the job (retried with the next report): %s (%s)",
                 (long long)ev->printer_id, pd_strerror(rc), pd_db_last_error(j->db));
        *t = saved;
        t->offline_since_ms = 0;  /* it was seen all the same */
        return;
    }
    for (size_t i = 0; i < nann; i++)
        pd_jobs_announce(j->db, j->bus, ann[i].id, ann[i].change);
}

static void on_offline(pd_jobs *j, int64_t printer_id, const char *why)
{
    tracker *t = find(j, printer_id, NULL);
    if (!t || !t->m.open || t->offline_since_ms)
        return;
    t->offline_since_ms = pd_clock_mono_ms();
    if (t->gap_open || !t->m.job_id)
        return;
    pd_err rc = gap_begin(j->db, t->m.job_id, now_s(), why);
    if (rc)
        pd_warn("jobs", "job %lld: cannot record the offline gap: %s", (long long)t->m.job_id, pd_strerror(rc));
    t->gap_open = !rc;
}

static void on_event(const pd_event *ev, void *ud)
{
    pd_jobs *j = ud;
    if (ev->type == PD_EV_STATE)
        on_report(j, ev);
    else if (ev->type == PD_EV_OFFLINE)
        on_offline(j, ev->printer_id, "the printer went offline");
    else if (ev->type == PD_EV_PRINTER_REMOVED)
        on_offline(j, ev->printer_id, "the printer was removed from printdeck");
}

/* An open job whose printer stays away past the timeout ends as unknown; it reopens if the
 * printer comes back still printing it. */
static void on_timer(uv_timer_t *h)
{
    pd_jobs *j = h->data;
    int64_t now = pd_clock_mono_ms();
    for (size_t i = 0; i < j->n; i++) {
        tracker *t = j->v[i];
        if (!t->m.open || !t->offline_since_ms || now - t->offline_since_ms < j->timeout_ms)
            continue;
        tracker saved = *t;
        pd_jobs_result r = {.actions = PD_JOBS_CLOSE, .status = PD_JOB_UNKNOWN,
                            .reason = "the printer was not seen for longer than [jobs] offline_timeout_s"};
        pd_err rc = PD_OK;
        if (saved.m.job_id && !(rc = pd_db_begin(j->db)))
            rc = pd_db_end(j->db, close_row(j, t, saved.m.job_id, &saved.m, &r));
        if (rc) {
            /* still open in memory: the next tick tries again */
            *t = saved;
            pd_error("jobs", "job %lld: cannot close it (retried): %s", (long long)saved.m.job_id, pd_strerror(rc));
            continue;
        }
        t->m.open = false;
        t->m.job_id = 0;
        t->m.prev[0] = '\0';
        t->offline_since_ms = 0;
        if (saved.m.job_id)
            pd_jobs_announce(j->db, j->bus, saved.m.job_id, "ended");
    }
}

/* --- start ------------------------------------------------------------------------------------ */

static pd_err load_row(const pd_row *row, void *ud)
{
    pd_jobs *j = ud;
    tracker *t = get(j, pd_row_int(row, 1));
    if (!t)
        return PD_ERR_NOMEM;
    pd_jobs_track *m = &t->m;
    m->open = true;
    m->job_id = pd_row_int(row, 0);
    m->status = !strcmp(pd_row_text(row, 2), "paused") ? PD_JOB_PAUSED : PD_JOB_PRINTING;
    snprintf(m->task_id, sizeof m->task_id, "%s", pd_row_text(row, 3));
    snprintf(m->name, sizeof m->name, "%s", pd_row_text(row, 4));
    snprintf(m->file, sizeof m->file, "%s", pd_row_text(row, 5));
    m->progress = (int)pd_row_int(row, 6);
    m->layer = (int)pd_row_int(row, 7);
    m->total_layers = (int)pd_row_int(row, 8);
    env_load(t, pd_row_text(row, 9));
    int64_t seen = pd_row_int(row, 10);
    t->estimated = !pd_row_null(row, 11);
    m->feed = pd_row_null(row, 12) ? (pd_feed){-1, -1} : (pd_feed){(int)pd_row_int(row, 12), (int)pd_row_int(row, 15)};
    snprintf(t->materials, sizeof t->materials, "%s", pd_row_text(row, 13));
    t->started_at = pd_row_int(row, 14);
    /* unseen since its last write: the timeout counts from then */
    int64_t away_ms = (now_s() - seen) * 1000;
    t->offline_since_ms = pd_clock_mono_ms() - (away_ms > 0 ? away_ms : 0);
    if (!t->offline_since_ms)
        t->offline_since_ms = 1;
    t->gap_open = true;
    return gap_begin(j->db, m->job_id, seen, "printdeck was not running");
}

pd_err pd_jobs_start(pd_jobs **out, uv_loop_t *loop, pd_bus *bus, pd_fleet *fleet, pd_db *db,
                     int offline_timeout_s)
{
    pd_jobs *j = calloc(1, sizeof *j);
    if (!j)
        return PD_ERR_NOMEM;
    j->bus = bus;
    j->fleet = fleet;
    j->db = db;
    j->timeout_ms = (int64_t)offline_timeout_s * 1000;
    pd_err rc = pd_db_begin(db);
    if (!rc)
        rc = pd_db_query(db, "SELECT j.id, j.printer_id, j.status, j.task_id, j.name, j.file, j.progress, j.layer, "
                             "j.total_layers, j.environment, j.seen_at, j.estimated_s, "
                             "(SELECT t.unit FROM job_tray t WHERE t.job_id = j.id ORDER BY t.id DESC LIMIT 1), "
                             "j.materials, j.started_at, "
                             "(SELECT t.slot FROM job_tray t WHERE t.job_id = j.id ORDER BY t.id DESC LIMIT 1) FROM job j "
                             "WHERE j.ended_at IS NULL AND j.origin = 'printer' AND j.printer_id IS NOT NULL",
                         NULL, 0, load_row, j);
    rc = pd_db_end(db, rc);
    if (!rc && uv_timer_init(loop, &j->timer))
        rc = PD_ERR_INTERNAL;
    if (!rc) {
        j->timer.data = j;
        int64_t every = j->timeout_ms / 10 < 1000 ? 1000 : j->timeout_ms / 10 > 30000 ? 30000 : j->timeout_ms / 10;
        uv_timer_start(&j->timer, on_timer, (uint64_t)every, (uint64_t)every);
        j->sub = pd_bus_subscribe(bus, PD_EV_STATE | PD_EV_OFFLINE | PD_EV_PRINTER_REMOVED, on_event, j);
        if (!j->sub)
            rc = PD_ERR_BUSY;
    }
    if (rc) {
        pd_jobs_stop(&j);
        return rc;
    }
    size_t open = 0;
    for (size_t i = 0; i < j->n; i++)
        open += j->v[i]->m.open;
    if (open)
        pd_info("jobs", "%zu print job%s open from before the restart", open, open == 1 ? "" : "s");
    *out = j;
    return PD_OK;
}

static void free_after_close(uv_handle_t *h) { free(h->data); }

void pd_jobs_stop(pd_jobs **jp)
{
    pd_jobs *j = *jp;
    if (!j)
        return;
    *jp = NULL;
    if (j->sub)
        pd_bus_unsubscribe(j->bus, j->sub);
    for (size_t i = 0; i < j->n; i++)
        free(j->v[i]);
    free(j->v);
    if (j->timer.loop)
        uv_close((uv_handle_t *)&j->timer, free_after_close);
    else
        free(j);
}
