/* Filament accounting (accounting.h, docs/accounting.md): the job's file fetched and analysed,
 * the warning before a print runs out, and the grams of every ended job on its spools. */
#include "track/accounting.h"

#include <jansson.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"
#include "files/fetchplan.h"
#include "files/files.h"
#include "track/jobs.h"
#include "track/split.h"
#include "track/usage.h"

#define LOG "accounting"
#define TICK_MS 1000
#define MAX_THUMB (256 * 1024)   /* bytes of PNG kept with a job */
#define MAX_FILAMENTS_TEXT (64 * 1024)

typedef enum fstate {
    F_WAIT,          /* waiting for the moment the model has the file */
    F_BUSY,          /* a transfer or an analysis is under way */
    F_DONE,          /* fetched and analysed, or given up: job_file says which */
} fstate;

/* The trays as last seen, to tell a spool swapped into a tray while a job prints. */
typedef struct seen_tray {
    int unit, slot;
    bool present;
    char uuid[33], type[24], color[10];
    int remain;
} seen_tray;

typedef struct tracker {
    struct pd_acct *a;           /* the owner: transfers' callbacks carry the tracker */
    int64_t printer_id, job_id;  /* job_id 0: nothing to fetch or watch */
    bool open;                   /* the job still prints */
    fstate fs;
    bool armed;                  /* the moment has come (or the job ended): try when due */
    int attempts, max_attempts, interval_s;
    int64_t next_ms;
    char name[128], file[256];
    char cand[PD_FETCHPLAN_MAX][PD_FETCHPLAN_PATH_MAX];
    size_t ncand, at;
    char why[768];               /* the last failure, for the job */
    uint64_t handle;             /* the transfer under way, 0 none */
    int nseen;
    seen_tray seen[PD_SPLIT_MAX_TRAYS];
} tracker;

struct pd_acct {
    uv_loop_t *loop;
    pd_bus *bus;
    pd_fleet *fleet;
    pd_inv *inv;
    pd_db *db;
    pd_ftps *ftps;
    pd_work_pool *work;
    pd_acct_opts opts;
    int sub;
    uv_timer_t timer;
    bool stopping;
    int inflight;                /* analyses running in the pool */
    tracker **v;
    size_t n, cap;
};

static int64_t now_s(void) { return pd_clock_wall_ms() / 1000; }

static tracker *find(pd_acct *a, int64_t printer_id)
{
    for (size_t i = 0; i < a->n; i++)
        if (a->v[i]->printer_id == printer_id)
            return a->v[i];
    return NULL;
}

static tracker *get(pd_acct *a, int64_t printer_id)
{
    tracker *t = find(a, printer_id);
    if (t)
        return t;
    if (a->n == a->cap) {
        size_t cap = a->cap ? 2 * a->cap : 16;
        tracker **v = realloc(a->v, cap * sizeof *v);
        if (!v)
            return NULL;
        a->v = v;
        a->cap = cap;
    }
    if (!(t = calloc(1, sizeof *t)))
        return NULL;
    t->a = a;
    t->printer_id = printer_id;
    a->v[a->n++] = t;
    return t;
}

static pd_err file_state(pd_acct *a, int64_t job_id, const char *state, const char *why)
{
    pd_sqlv v[] = {PD_SQL_S(state), why && *why ? PD_SQL_S(why) : PD_SQL_NUL, PD_SQL_I(now_s()), PD_SQL_I(job_id)};
    return pd_db_run(a->db, "UPDATE job_file SET state = ?, reason = ?, updated_at = ? WHERE job_id = ?", v, 4, NULL);
}

/* --- the analysis, on a worker ------------------------------------------------------------- */

typedef struct analysis {
    pd_acct *a;
    int64_t printer_id, job_id;
    int plate;                   /* the job's, 0 unknown */
    char path[PD_FTPS_PATH_MAX + 64], src[PD_FETCHPLAN_PATH_MAX];
    int64_t deadline_ms;
    /* worker → loop */
    pd_err rc;
    char err[256];
    int plate_used;
    double weight_g;
    int64_t prediction_s;
    char *filaments, *curve, *thumb;
} analysis;

static char *base64(const unsigned char *p, size_t n)
{
    char *s = malloc(4 * ((n + 2) / 3) + 1);
    if (s)
        EVP_EncodeBlock((unsigned char *)s, p, (int)n);
    return s;
}

static char *curve_text(const pd_files_result *r, int plate)
{
    pd_split_curve *c = malloc(sizeof *c);
    if (!c)
        return NULL;
    pd_split_curve_from(c, r, plate);
    json_t *layers = json_array(), *grams = json_array();
    for (size_t i = 0; i < c->n; i++)
        json_array_append_new(layers, json_integer(c->layers[i]));
    for (int f = 0; f < c->nfil; f++) {
        json_t *g = json_array();
        for (size_t i = 0; i < c->n; i++)
            json_array_append_new(g, json_real(round(c->grams[f][i] * 1000) / 1000));
        json_array_append_new(grams, g);
    }
    json_t *o = json_pack("{s:o,s:o}", "layers", layers, "grams", grams);
    char *s = c->n && o ? json_dumps(o, PD_JSON_FLAGS) : NULL;
    json_decref(o);
    free(c);
    return s;
}

static void run(void *ud)
{
    analysis *w = ud;
    pd_files_limits lim;
    pd_files_limits_default(&lim);
    lim.deadline_ms = w->deadline_ms;
    lim.max_thumbnail = MAX_THUMB;
    pd_files_result *r = NULL;
    w->rc = pd_files_analyze_path(w->path, &lim, &r, w->err, sizeof w->err);
    unlink(w->path);
    if (w->rc)
        return;
    const pd_files_plate *pl = NULL;
    for (int i = 0; i < r->nplates && !pl; i++)
        if (r->plates[i].index == w->plate || (!w->plate && r->nplates == 1))
            pl = &r->plates[i];
    if (!pl && !w->plate && r->nplates)
        pl = &r->plates[0];
    if (!pl) {
        /* a file of the same name sliced for other plates would charge their filament */
        w->rc = PD_ERR_NOTFOUND;
        snprintf(w->err, sizeof w->err, "%.200s has no plate %d", w->src, w->plate);
        pd_files_result_free(&r);
        return;
    }
    w->plate_used = pl->index;
    w->weight_g = pl->weight_g;
    w->prediction_s = pl->prediction_s;
    json_t *fil = json_array();
    for (int i = 0; i < pl->nfil; i++) {
        const pd_files_filament *f = &pl->fil[i];
        double g = f->used_g >= 0 ? f->used_g : pd_files_mm_to_g(f->gcode_mm, f->diameter, f->density);
        json_array_append_new(fil, json_pack("{s:i,s:s,s:s,s:f,s:o}", "id", f->id, "type", f->type, "color",
                                             f->color, "grams", g, "meters",
                                             f->used_m >= 0 ? json_real(f->used_m) : json_null()));
    }
    w->filaments = json_dumps(fil, PD_JSON_FLAGS);
    json_decref(fil);
    if (w->filaments && strlen(w->filaments) > MAX_FILAMENTS_TEXT) {
        free(w->filaments);
        w->filaments = NULL;
    }
    w->curve = curve_text(r, pl->index);
    if (pl->thumb && pl->thumb_len <= MAX_THUMB)
        w->thumb = base64(pl->thumb, pl->thumb_len);
    if (!w->filaments) {
        w->rc = PD_ERR_NOMEM;
        snprintf(w->err, sizeof w->err, "out of memory");
    }
    pd_files_result_free(&r);
}

static void analysis_free(analysis *w)
{
    free(w->filaments);
    free(w->curve);
    free(w->thumb);
    free(w);
}

static void acct_free(pd_acct *a);
static void settled(pd_acct *a, tracker *t, int64_t job_id);

static void analysed(void *ud, bool cancelled)
{
    analysis *w = ud;
    pd_acct *a = w->a;
    a->inflight--;
    if (cancelled)
        unlink(w->path);
    /* printdeck stops: the file stays pending, to be fetched again after the restart */
    if (a->stopping || cancelled) {
        analysis_free(w);
        if (a->stopping && !a->inflight && !a->timer.loop)
            acct_free(a);
        return;
    }
    tracker *t = find(a, w->printer_id);
    pd_err rc;
    if (w->rc) {
        char why[768];
        snprintf(why, sizeof why, "%.400s could not be analysed: %s", w->src, w->err);
        rc = file_state(a, w->job_id, "unavailable", why);
    } else {
        pd_sqlv v[] = {PD_SQL_S(w->src), PD_SQL_I(w->plate_used),
                       w->weight_g >= 0 ? PD_SQL_D(w->weight_g) : PD_SQL_NUL,
                       w->prediction_s >= 0 ? PD_SQL_I(w->prediction_s) : PD_SQL_NUL, PD_SQL_S(w->filaments),
                       w->curve ? PD_SQL_S(w->curve) : PD_SQL_NUL, w->thumb ? PD_SQL_S(w->thumb) : PD_SQL_NUL,
                       PD_SQL_I(now_s()), PD_SQL_I(w->job_id)};
        rc = pd_db_run(a->db, "UPDATE job_file SET state = 'fetched', reason = NULL, path = ?, plate = ?, "
                              "weight_g = ?, prediction_s = ?, filaments = ?, curve = ?, thumbnail = ?, "
                              "updated_at = ? WHERE job_id = ?", v, 9, NULL);
        pd_info(LOG, "job %lld: %s analysed", (long long)w->job_id, w->src);
    }
    if (rc)
        pd_error(LOG, "job %lld: cannot keep the analysis: %s", (long long)w->job_id, pd_strerror(rc));
    int64_t job_id = w->job_id;
    analysis_free(w);
    settled(a, t && t->job_id == job_id ? t : NULL, job_id);
}

/* --- fetching -------------------------------------------------------------------------------- */

static void attempt(pd_acct *a, tracker *t);
static void next_candidate(pd_acct *a, tracker *t);

/* An attempt that found nothing: later again, or given up with the reason. */
static void attempt_failed(pd_acct *a, tracker *t)
{
    t->handle = 0;
    if (++t->attempts < t->max_attempts && t->open) {
        t->fs = F_WAIT;
        t->next_ms = pd_clock_mono_ms() + (int64_t)t->interval_s * 1000;
        return;
    }
    t->fs = F_DONE;
    char why[800];
    snprintf(why, sizeof why, "no 3MF from the printer: %s", t->why[0] ? t->why : "not found");
    pd_err rc = file_state(a, t->job_id, "unavailable", why);
    if (rc)
        pd_error(LOG, "job %lld: %s", (long long)t->job_id, pd_strerror(rc));
    pd_info(LOG, "job %lld: %s", (long long)t->job_id, why);
    settled(a, t, t->job_id);
}

static void on_fetched(pd_err rc, const char *why, const char *path, int64_t size, void *ud)
{
    tracker *t = ud;
    pd_acct *a = t->a;
    (void)size;
    t->handle = 0;
    if (rc == PD_ERR_NOTFOUND) {
        t->at++;
        next_candidate(a, t);
        return;
    }
    if (rc) {
        snprintf(t->why, sizeof t->why, "%.400s: %.300s", t->cand[t->at], why ? why : pd_strerror(rc));
        attempt_failed(a, t);
        return;
    }
    analysis *w = calloc(1, sizeof *w);
    int plate = 0;
    pd_sqlv v = PD_SQL_I(t->job_id);
    int64_t p = 0;
    if (!pd_db_scalar(a->db, "SELECT COALESCE(plate, 0) FROM job WHERE id = ?", &v, 1, &p))
        plate = (int)p;
    if (w) {
        *w = (analysis){.a = a, .printer_id = t->printer_id, .job_id = t->job_id, .plate = plate,
                        .deadline_ms = pd_clock_mono_ms() + (int64_t)a->opts.analysis_timeout_s * 1000};
        snprintf(w->path, sizeof w->path, "%s", path);
        snprintf(w->src, sizeof w->src, "%s", t->cand[t->at]);
    }
    rc = w ? pd_work_submit(a->work, run, analysed, w) : PD_ERR_NOMEM;
    if (rc) {
        unlink(path);
        free(w);
        snprintf(t->why, sizeof t->why, "%.400s: the analysis queue is full", t->cand[t->at]);
        attempt_failed(a, t);
        return;
    }
    a->inflight++;
}

static void on_listed(pd_err rc, const char *why, const pd_ftps_listing *l, void *ud)
{
    tracker *t = ud;
    pd_acct *a = t->a;
    t->handle = 0;
    const pd_ftps_entry *e = rc ? NULL : pd_fetchplan_newest_3mf(l->v, l->n);
    const char *dir = t->cand[0];
    if (rc && rc != PD_ERR_NOTFOUND) {
        snprintf(t->why, sizeof t->why, "listing %.400s: %.300s", dir, why ? why : pd_strerror(rc));
        attempt_failed(a, t);
        return;
    }
    if (!e) {
        /* "/" first, then "/cache" */
        if (!strcmp(dir, "/")) {
            snprintf(t->cand[0], sizeof t->cand[0], "/cache");
            attempt(a, t);
            return;
        }
        snprintf(t->why, sizeof t->why, "the task names no file and no .3mf is on the storage");
        attempt_failed(a, t);
        return;
    }
    char path[PD_FETCHPLAN_PATH_MAX];
    snprintf(path, sizeof path, "%.250s%s%.250s", dir, strcmp(dir, "/") ? "/" : "", e->name);
    snprintf(t->cand[0], sizeof t->cand[0], "%s", path);
    t->ncand = 1;
    t->at = 0;
    next_candidate(a, t);
}

static const pd_printer_rec *rec_of(pd_acct *a, tracker *t)
{
    pd_printer *p = pd_fleet_find_id(a->fleet, t->printer_id);
    return p ? pd_printer_rec_get(p) : NULL;
}

static void next_candidate(pd_acct *a, tracker *t)
{
    const pd_printer_rec *rec = rec_of(a, t);
    if (!rec) {
        snprintf(t->why, sizeof t->why, "the printer was removed from printdeck");
        t->attempts = t->max_attempts;
        attempt_failed(a, t);
        return;
    }
    while (t->at < t->ncand) {
        const char *why = NULL;
        pd_err rc = pd_ftps_fetch(a->ftps, rec, t->cand[t->at], a->opts.max_file, on_fetched, t, &t->handle, &why);
        if (!rc)
            return;
        if (rc != PD_ERR_INVAL) {
            snprintf(t->why, sizeof t->why, "%.400s: %.300s", t->cand[t->at], why ? why : pd_strerror(rc));
            attempt_failed(a, t);
            return;
        }
        t->at++;
    }
    if (!t->why[0] || t->ncand)
        snprintf(t->why, sizeof t->why, "%.400s not found on the printer's storage%s", t->ncand ? t->cand[0] : "the file",
                 t->ncand > 1 ? " (nor its other names)" : "");
    attempt_failed(a, t);
}

static void attempt(pd_acct *a, tracker *t)
{
    t->fs = F_BUSY;
    t->why[0] = '\0';
    t->at = 0;
    const pd_printer_rec *ha = rec_of(a, t);
    if (ha && ha->source == PD_PRINTER_HA) {
        snprintf(t->why, sizeof t->why, "the printer is fed by Home Assistant: printdeck cannot reach its storage");
        t->attempts = t->max_attempts;
        attempt_failed(a, t);
        return;
    }
    if (strcmp(t->cand[0], "/cache") || t->ncand)
        t->ncand = pd_fetchplan_candidates(t->name, t->file, t->cand, PD_FETCHPLAN_MAX);
    if (t->ncand) {
        next_candidate(a, t);
        return;
    }
    /* the task names nothing usable (the printer rebooted): the newest .3mf */
    const pd_printer_rec *rec = rec_of(a, t);
    const char *why = NULL;
    if (strcmp(t->cand[0], "/cache"))
        snprintf(t->cand[0], sizeof t->cand[0], "/");
    pd_err rc = rec ? pd_ftps_list(a->ftps, rec, t->cand[0], on_listed, t, &t->handle, &why) : PD_ERR_OFFLINE;
    if (rc) {
        snprintf(t->why, sizeof t->why, "listing %.400s: %.300s", t->cand[0], why ? why : pd_strerror(rc));
        t->cand[0][0] = '\0';
        attempt_failed(a, t);
    }
}

static void maybe_fetch(pd_acct *a, tracker *t)
{
    if (t->job_id && t->fs == F_WAIT && t->armed && pd_clock_mono_ms() >= t->next_ms) {
        t->cand[0][0] = '\0';
        attempt(a, t);
    }
}

/* Whether this report is the moment the model has the job's file (fetchplan.h). */
static void arm(pd_acct *a, tracker *t, pd_printer *p)
{
    if (t->armed || t->fs != F_WAIT)
        return;
    const pd_state *st = pd_printer_state(p);
    pd_fetch_timing tm;
    pd_fetchplan_timing(pd_printer_model(p), &tm);
    t->max_attempts = tm.attempts;
    t->interval_s = tm.interval_s;
    bool running = !strcmp(st->gcode_state, "RUNNING") || !strcmp(st->gcode_state, "PAUSE");
    if (tm.moment == PD_FETCH_AT_PREPARE) {
        json_int_t pct = json_integer_value(json_object_get(json_object_get(pd_printer_raw(p), "print"),
                                                            "gcode_file_prepare_percent"));
        const json_t *raw = json_object_get(json_object_get(pd_printer_raw(p), "print"), "gcode_file_prepare_percent");
        if (json_is_string(raw))
            pct = atoi(json_string_value(raw));
        t->armed = running || (!strcmp(st->gcode_state, "PREPARE") && pct >= tm.prepare_percent);
    } else {
        t->armed = running;
    }
}

/* --- the trays while a job prints ------------------------------------------------------------- */

static seen_tray *seen_of(tracker *t, int unit, int slot)
{
    for (int i = 0; i < t->nseen; i++)
        if (t->seen[i].unit == unit && t->seen[i].slot == slot)
            return &t->seen[i];
    if (t->nseen == PD_SPLIT_MAX_TRAYS)
        return NULL;
    t->seen[t->nseen] = (seen_tray){.unit = unit, .slot = slot, .remain = -1};
    return &t->seen[t->nseen++];
}

/* A tray that shows another spool than before (another RFID tag, or another material or colour)
 * while the job prints: the swap is logged with the layer and both remains, so the grams before
 * it go to the old spool and those after to the new one. */
static void watch_tray(pd_acct *a, tracker *t, const pd_state *st, int unit, int slot, const pd_tray *tr, bool log)
{
    seen_tray *s = seen_of(t, unit, slot);
    if (!s || !tr->present)
        return;
    bool other = s->present && (strcmp(s->uuid, tr->uuid) || strcmp(s->type, tr->type) ||
                                strncmp(s->color, tr->color, 7));
    if (other && log && t->open && t->job_id) {
        pd_sqlv v[] = {PD_SQL_I(t->job_id), PD_SQL_I(unit), PD_SQL_I(slot), PD_SQL_S(tr->uuid), PD_SQL_S(tr->type),
                       PD_SQL_S(tr->color), s->remain >= 0 ? PD_SQL_I(s->remain) : PD_SQL_NUL,
                       tr->remain >= 0 ? PD_SQL_I(tr->remain) : PD_SQL_NUL, PD_SQL_I(st->layer), PD_SQL_I(now_s())};
        pd_err rc = pd_db_run(a->db, "INSERT INTO job_swap (job_id, unit, slot, tray_uuid, material, color, "
                                     "remain_before, remain_after, layer, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                              v, 10, NULL);
        if (rc)
            pd_warn(LOG, "job %lld: cannot record the spool swap: %s", (long long)t->job_id, pd_strerror(rc));
        else
            pd_info(LOG, "job %lld: another spool in unit %d slot %d at layer %d", (long long)t->job_id, unit,
                    slot, st->layer);
    }
    s->present = true;
    snprintf(s->uuid, sizeof s->uuid, "%s", tr->uuid);
    snprintf(s->type, sizeof s->type, "%s", tr->type);
    snprintf(s->color, sizeof s->color, "%s", tr->color);
    s->remain = tr->remain;
}

static void watch_trays(pd_acct *a, tracker *t, const pd_state *st, bool log)
{
    for (int i = 0; i < st->n_ams; i++)
        for (int k = 0; k < st->ams[i].n_trays; k++)
            watch_tray(a, t, st, st->ams[i].id, st->ams[i].trays[k].id, &st->ams[i].trays[k], log);
    if (st->has_external)
        watch_tray(a, t, st, PD_INV_EXTERNAL_UNIT, 0, &st->external, log);
}

static char *trays_text(const pd_state *st)
{
    json_t *o = json_array();
    for (int i = 0; i < st->n_ams; i++)
        for (int k = 0; k < st->ams[i].n_trays; k++)
            if (st->ams[i].trays[k].present)
                json_array_append_new(o, json_pack("[i,i,i,i]", st->ams[i].id, st->ams[i].trays[k].id,
                                                   st->ams[i].trays[k].remain, st->ams[i].trays[k].tray_weight));
    if (st->has_external && st->external.present)
        json_array_append_new(o, json_pack("[i,i,i,i]", PD_INV_EXTERNAL_UNIT, 0, st->external.remain,
                                           st->external.tray_weight));
    char *s = json_dumps(o, PD_JSON_FLAGS);
    json_decref(o);
    return s;
}

/* --- the job's facts, read back ---------------------------------------------------------------- */

typedef struct facts {
    bool found;
    int64_t printer_id;
    char status[16], origin[16];
    int layer, total_layers, progress;
    bool accounted;
    json_t *mapping, *trays_end;
    /* job_file */
    char fstate[16], freason[800];
    json_t *filaments, *curve;
    int ntrays;
    pd_split_tray trays[PD_SPLIT_MAX_TRAYS];
    int remain0[PD_SPLIT_MAX_TRAYS];       /* at the start, -1 unknown */
    size_t nev;
    pd_split_event ev[PD_SPLIT_MAX_EVENTS];
    int64_t ev_at[PD_SPLIT_MAX_EVENTS];
    int ev_before[PD_SPLIT_MAX_EVENTS], ev_after[PD_SPLIT_MAX_EVENTS]; /* swaps: remains */
} facts;

static void facts_free(facts *f)
{
    json_decref(f->mapping);
    json_decref(f->trays_end);
    json_decref(f->filaments);
    json_decref(f->curve);
    free(f);
}

static pd_err job_row(const pd_row *row, void *ud)
{
    facts *f = ud;
    f->found = true;
    f->printer_id = pd_row_int(row, 0);
    snprintf(f->status, sizeof f->status, "%s", pd_row_text(row, 1));
    snprintf(f->origin, sizeof f->origin, "%s", pd_row_text(row, 2));
    f->layer = (int)pd_row_int(row, 3);
    f->total_layers = (int)pd_row_int(row, 4);
    f->progress = (int)pd_row_int(row, 5);
    f->accounted = !pd_row_null(row, 6);
    f->mapping = json_loads(pd_row_text(row, 7), 0, NULL);
    f->trays_end = json_loads(pd_row_text(row, 8), 0, NULL);
    snprintf(f->fstate, sizeof f->fstate, "%s", pd_row_text(row, 9));
    snprintf(f->freason, sizeof f->freason, "%s", pd_row_text(row, 10));
    f->filaments = json_loads(pd_row_text(row, 11), 0, NULL);
    f->curve = json_loads(pd_row_text(row, 12), 0, NULL);
    return PD_OK;
}

static pd_err snap_row(const pd_row *row, void *ud)
{
    facts *f = ud;
    if (f->ntrays == PD_SPLIT_MAX_TRAYS)
        return PD_OK;
    pd_split_tray *t = &f->trays[f->ntrays];
    *t = (pd_split_tray){(int)pd_row_int(row, 0), (int)pd_row_int(row, 1), pd_row_int(row, 2), "", ""};
    snprintf(t->material, sizeof t->material, "%s", pd_row_text(row, 3));
    snprintf(t->color, sizeof t->color, "%s", pd_row_text(row, 4));
    f->remain0[f->ntrays++] = pd_row_null(row, 5) ? -1 : (int)pd_row_int(row, 5);
    return PD_OK;
}

/* job_tray and job_swap rows, merged by time (then tray changes first) */
static pd_err event_row(const pd_row *row, void *ud)
{
    facts *f = ud;
    if (f->nev == PD_SPLIT_MAX_EVENTS)
        return PD_OK;
    size_t i = f->nev++;
    bool swap = pd_row_int(row, 0) == 1;
    int unit = (int)pd_row_int(row, 1), slot = (int)pd_row_int(row, 2);
    f->ev[i] = (pd_split_event){swap ? PD_SPLIT_SWAP : PD_SPLIT_FEED, unit, slot, pd_row_int(row, 3),
                                /* the layer being printed: half of it was done */
                                pd_row_int(row, 4) > 0 ? (double)pd_row_int(row, 4) - 0.5 : 0};
    f->ev_at[i] = pd_row_int(row, 5);
    f->ev_before[i] = pd_row_null(row, 6) ? -1 : (int)pd_row_int(row, 6);
    f->ev_after[i] = pd_row_null(row, 7) ? -1 : (int)pd_row_int(row, 7);
    if (!swap && pd_row_null(row, 1))
        f->nev--;  /* none: the tube empties before the backup loads, no tray changed */
    return PD_OK;
}

static pd_err facts_load(pd_db *db, int64_t job_id, int64_t printer_id, facts *f)
{
    pd_sqlv id = PD_SQL_I(job_id);
    pd_err rc = pd_db_query(db, "SELECT j.printer_id, j.status, j.origin, j.layer, j.total_layers, j.progress, "
                                "j.accounted_at, j.mapping, j.trays_end, f.state, f.reason, f.filaments, f.curve "
                                "FROM job j LEFT JOIN job_file f ON f.job_id = j.id WHERE j.id = ?",
                            &id, 1, job_row, f);
    if (!rc && f->found)
        rc = pd_db_query(db, "SELECT unit, slot, COALESCE(spool_id, 0), material, color, remain FROM job_snapshot "
                             "WHERE job_id = ? ORDER BY unit, slot", &id, 1, snap_row, f);
    /* a swapped-in spool: the inventory's spool with its RFID tag, else the slot's spool when
     * the slot still reports what the swap saw */
    if (!rc && f->found)
        rc = pd_db_query(db, "SELECT 0, unit, slot, 0, layer, at, NULL, NULL, id FROM job_tray WHERE job_id = ? "
                             "UNION ALL SELECT 1, w.unit, w.slot, COALESCE((SELECT max(s.id) FROM spool s WHERE "
                             "w.tray_uuid <> '' AND s.tray_uuid = w.tray_uuid), (SELECT a.spool_id FROM ams_slot a "
                             "WHERE a.printer_id = ? AND a.unit = w.unit AND a.slot = w.slot AND "
                             "COALESCE(a.reported_material, '') = w.material AND "
                             "COALESCE(a.reported_color, '') = w.color), 0), w.layer, w.at, w.remain_before, "
                             "w.remain_after, w.id FROM job_swap w WHERE w.job_id = ? ORDER BY 6, 1, 9",
                         (const pd_sqlv[]){PD_SQL_I(job_id), PD_SQL_I(printer_id), PD_SQL_I(job_id)}, 3, event_row, f);
    return rc;
}

/* --- accounting ---------------------------------------------------------------------------------- */

typedef struct urow {
    int64_t spool_id;
    int unit, slot;
    double grams, meters;
} urow;

static void add_row(urow *rows, size_t *n, size_t max, int64_t spool, int unit, int slot, double g, double m)
{
    if (g <= 0)
        return;
    for (size_t i = 0; i < *n; i++)
        if (rows[i].spool_id == spool && rows[i].unit == unit && rows[i].slot == slot) {
            rows[i].grams += g;
            if (m >= 0 && rows[i].meters >= 0)
                rows[i].meters += m;
            else
                rows[i].meters = -1;
            return;
        }
    if (*n < max)
        rows[(*n)++] = (urow){spool, unit, slot, g, m};
}

static void curve_load(pd_split_curve *c, json_t *o)
{
    json_t *layers = json_object_get(o, "layers"), *grams = json_object_get(o, "grams");
    c->n = json_array_size(layers) < PD_SPLIT_CURVE_MAX ? json_array_size(layers) : PD_SPLIT_CURVE_MAX;
    c->nfil = json_array_size(grams) < PD_FILES_MAX_FILAMENTS ? (int)json_array_size(grams) : PD_FILES_MAX_FILAMENTS;
    for (size_t i = 0; i < c->n; i++) {
        c->layers[i] = (int)json_integer_value(json_array_get(layers, i));
        for (int f = 0; f < c->nfil; f++)
            c->grams[f][i] = (float)json_number_value(json_array_get(json_array_get(grams, (size_t)f), i));
    }
}

static int end_remain(const facts *f, int unit, int slot, int *weight)
{
    size_t i;
    json_t *t;
    json_array_foreach(f->trays_end, i, t)
        if (json_integer_value(json_array_get(t, 0)) == unit && json_integer_value(json_array_get(t, 1)) == slot) {
            *weight = (int)json_integer_value(json_array_get(t, 3));
            return (int)json_integer_value(json_array_get(t, 2));
        }
    return -1;
}

/* grams in a spool: its initial weight, else its filament's; else what the tray says */
static double spool_net(pd_db *db, int64_t spool_id, int tray_weight)
{
    int64_t g = 0;
    pd_sqlv v = PD_SQL_I(spool_id);
    if (spool_id && !pd_db_scalar(db, "SELECT CAST(COALESCE(s.initial_weight, f.weight, 0) AS INTEGER) FROM spool s "
                                      "JOIN filament f ON f.id = s.filament_id WHERE s.id = ?", &v, 1, &g) && g > 0)
        return (double)g;
    return tray_weight > 0 ? tray_weight : 1000;
}

/* The AMS remain % deltas × the spool's weight, only for trays the job fed from: from the start
 * (or a swap) to the end (or the next swap). */
static size_t by_remain(pd_db *db, const facts *f, urow *rows, size_t max, char *note, size_t notelen)
{
    size_t n = 0;
    int unknown = 0;
    for (int k = 0; k < f->ntrays; k++) {
        const pd_split_tray *t = &f->trays[k];
        bool fed = false;
        for (size_t i = 0; i < f->nev && !fed; i++)
            fed = f->ev[i].kind == PD_SPLIT_FEED && f->ev[i].unit == t->unit && f->ev[i].slot == t->slot;
        if (!fed)
            continue;
        int64_t spool = t->spool_id;
        int from = f->remain0[k], weight = 0, end = end_remain(f, t->unit, t->slot, &weight);
        for (size_t i = 0; i <= f->nev; i++) {
            bool last = i == f->nev;
            if (!last && (f->ev[i].kind != PD_SPLIT_SWAP || f->ev[i].unit != t->unit || f->ev[i].slot != t->slot))
                continue;
            int to = last ? end : f->ev_before[i];
            if (from >= 0 && to >= 0 && from > to)
                add_row(rows, &n, max, spool, t->unit, t->slot, (from - to) / 100.0 * spool_net(db, spool, weight), -1);
            else if (from < 0 || to < 0)
                unknown++;
            if (!last) {
                spool = f->ev[i].spool_id;
                from = f->ev_after[i];
            }
        }
    }
    snprintf(note, notelen, "%.300s%s", f->fstate[0] ? f->freason : "no 3MF",
             unknown ? "; the AMS does not report remain for some trays the job used: nothing charged for them" : "");
    return n;
}

/* A filament whose spool is one of several alike trays: asked about once the job is accounted
 * (pd_inv_prompt_job_filament), charged to the answer when it comes (answered_row). */
typedef struct ask {
    int fil;
    pd_split_fil what;
    int64_t spools[PD_SPLIT_MAX_CANDIDATES];
    size_t n;
} ask;

/* A job's filament prompts: the answered spool, or -1 still asked (left open as it is, so an
 * answer to one filament does not replace the question about another). */
static pd_err answered_row(const pd_row *row, void *ud)
{
    int64_t *ans = ud;
    int64_t fil = pd_row_int(row, 0);
    if (fil >= 0 && fil < PD_FILES_MAX_FILAMENTS)
        ans[fil] = pd_row_null(row, 1) ? -1 : pd_row_int(row, 1);
    return PD_OK;
}

/* The grams of an ended job per spool, written with the job marked accounted in one
 * transaction: a second call (after a restart, a duplicate event) finds it accounted. */
static pd_err account(pd_acct *a, int64_t job_id)
{
    facts *f = calloc(1, sizeof *f);
    pd_split_curve *curve = calloc(1, sizeof *curve);
    if (!f || !curve) {
        free(f);
        free(curve);
        return PD_ERR_NOMEM;
    }
    pd_err rc = facts_load(a->db, job_id, 0, f);
    if (!rc && f->found) {
        /* again with the printer for the swaps' slot lookup */
        int64_t pid = f->printer_id;
        facts_free(f);
        if (!(f = calloc(1, sizeof *f))) {
            free(curve);
            return PD_ERR_NOMEM;
        }
        rc = facts_load(a->db, job_id, pid, f);
    }
    if (rc || !f->found || f->accounted || !strcmp(f->origin, "manual") || !strcmp(f->status, "printing") ||
        !strcmp(f->status, "paused")) {
        facts_free(f);
        free(curve);
        return rc;
    }
    urow rows[PD_SPLIT_MAX_PIECES];
    size_t nrows = 0;
    pd_usage_source src = PD_USAGE_REMAIN;
    char note[512] = "";
    json_t *cands = json_array();
    int nfil = (int)json_array_size(f->filaments);
    int64_t answer[PD_FILES_MAX_FILAMENTS] = {0};
    ask asks[PD_FILES_MAX_FILAMENTS];
    size_t nasks = 0;
    pd_sqlv jv = PD_SQL_I(job_id);
    rc = pd_db_query(a->db, "SELECT filament_index, CASE WHEN status = 'answered' THEN spool_id END FROM prompt "
                            "WHERE job_id = ? AND kind = 'job_filament' AND (status = 'open' OR (status = 'answered' "
                            "AND spool_id IS NOT NULL)) ORDER BY id",
                     &jv, 1, answered_row, answer);
    if (!rc && !strcmp(f->fstate, "fetched") && nfil > 0) {
        if (nfil > PD_FILES_MAX_FILAMENTS)
            nfil = PD_FILES_MAX_FILAMENTS;
        pd_split_fil fil[PD_FILES_MAX_FILAMENTS];
        curve_load(curve, f->curve);
        bool completed = !strcmp(f->status, "completed");
        /* the layer being printed when it stopped: half of it was done */
        double end = completed ? (curve->n ? curve->layers[curve->n - 1] : 0) : (f->layer > 0 ? f->layer - 0.5 : 0);
        src = completed ? PD_USAGE_3MF : PD_USAGE_GCODE;
        for (int i = 0; i < nfil; i++) {
            json_t *o = json_array_get(f->filaments, (size_t)i);
            json_t *m = json_object_get(o, "meters");
            fil[i] = (pd_split_fil){"", "", json_number_value(json_object_get(o, "grams")),
                                    json_is_number(m) ? json_number_value(m) : -1};
            snprintf(fil[i].type, sizeof fil[i].type, "%s", json_string_value(json_object_get(o, "type")) ?: "");
            snprintf(fil[i].color, sizeof fil[i].color, "%s", json_string_value(json_object_get(o, "color")) ?: "");
            if (!completed) {
                double total = fil[i].grams;
                fil[i].grams = curve->n ? pd_split_curve_at(curve, i, end) : total * f->progress / 100.0;
                if (fil[i].meters >= 0 && total > 0)
                    fil[i].meters *= fil[i].grams / total;
            }
        }
        if (!completed && !curve->n)
            snprintf(note, sizeof note, "the 3MF has no G-code curve: charged by progress (%d %%)", f->progress);
        int cmd[PD_FILES_MAX_FILAMENTS], ncmd = 0;
        for (size_t i = 0; i < json_array_size(f->mapping) && ncmd < PD_FILES_MAX_FILAMENTS; i++)
            cmd[ncmd++] = json_is_integer(json_array_get(f->mapping, i))
                              ? (int)json_integer_value(json_array_get(f->mapping, i)) : -1;
        pd_split_map map[PD_FILES_MAX_FILAMENTS];
        pd_split_map_filaments(fil, nfil, f->trays, f->ntrays, cmd, ncmd, f->ev, f->nev, map);
        pd_split_piece pieces[PD_SPLIT_MAX_PIECES];
        size_t np = pd_split_pieces(fil, nfil, map, f->trays, f->ntrays, f->ev, f->nev, curve,
                                    end, pieces, PD_SPLIT_MAX_PIECES);
        /* a person's answer names the spool of an ambiguous filament */
        for (size_t i = 0; i < np; i++) {
            int fi = pieces[i].fil;
            int64_t spool = answer[fi] > 0 ? answer[fi] : map[fi].how == PD_MAP_AMBIGUOUS ? 0 : pieces[i].spool_id;
            add_row(rows, &nrows, PD_SPLIT_MAX_PIECES, spool, pieces[i].unit, pieces[i].slot, pieces[i].grams,
                    pieces[i].meters);
        }
        for (int i = 0; i < nfil; i++) {
            if ((map[i].how != PD_MAP_AMBIGUOUS && map[i].how != PD_MAP_NONE) || answer[i] > 0)
                continue;
            ask *q = &asks[nasks];
            *q = (ask){.fil = i, .what = fil[i]};
            for (int k = 0; k < map[i].ncand && q->n < PD_SPLIT_MAX_CANDIDATES; k++)
                if (f->trays[map[i].cand[k]].spool_id)
                    q->spools[q->n++] = f->trays[map[i].cand[k]].spool_id;
            nasks += map[i].how == PD_MAP_AMBIGUOUS && q->n > 0 && !answer[i];
            json_t *trays = json_array();
            for (int k = 0; k < map[i].ncand; k++) {
                const pd_split_tray *t = &f->trays[map[i].cand[k]];
                json_array_append_new(trays, json_pack("{s:i,s:i,s:o}", "unit", t->unit, "slot", t->slot, "spool_id",
                                                       t->spool_id ? json_integer(t->spool_id) : json_null()));
            }
            json_array_append_new(cands, json_pack("{s:i,s:s,s:s,s:f,s:s,s:o}", "filament_id", i + 1, "type",
                                                   fil[i].type, "color", fil[i].color, "grams", fil[i].grams, "why",
                                                   pd_split_how_name(map[i].how), "trays", trays));
        }
    } else if (!rc) {
        nrows = by_remain(a->db, f, rows, PD_SPLIT_MAX_PIECES, note, sizeof note);
    }
    int64_t changed = 0, now = now_s();
    bool began = !rc && !(rc = pd_db_begin(a->db));
    if (began) {
        char *ctext = json_array_size(cands) ? json_dumps(cands, PD_JSON_FLAGS) : NULL;
        pd_sqlv v[] = {PD_SQL_I(now), ctext ? PD_SQL_S(ctext) : PD_SQL_NUL, note[0] ? PD_SQL_S(note) : PD_SQL_NUL,
                       PD_SQL_I(job_id)};
        rc = pd_db_run(a->db, "UPDATE job SET accounted_at = ?, accounted_as = status, candidates = ?, "
                              "usage_note = ? WHERE id = ? AND accounted_at IS NULL", v, 4, &changed);
        free(ctext);
    }
    pd_inv_err e = {0};
    for (size_t i = 0; !rc && changed && i < nrows; i++) {
        pd_usage u = {.job_id = job_id, .spool_id = rows[i].spool_id, .printer_id = f->printer_id,
                      .unit = rows[i].unit, .slot = rows[i].slot, .grams = rows[i].grams,
                      .meters = rows[i].meters, .source = src, .at = now};
        rc = pd_usage_record(a->inv, &u, NULL, &e);
    }
    if (began)
        rc = pd_db_end(a->db, rc);
    json_decref(cands);
    if (!rc && changed) {
        double total = 0;
        for (size_t i = 0; i < nrows; i++)
            total += rows[i].grams;
        pd_info(LOG, "job %lld (%s): %.2f g on %zu tray%s, from %s", (long long)job_id, f->status, total, nrows,
                nrows == 1 ? "" : "s", pd_usage_source_name(src));
        pd_usage_announce(a->db, a->bus, job_id, "recorded");
        pd_jobs_announce(a->db, a->bus, job_id, "updated");
        for (size_t i = 0; i < nasks; i++)
            if (pd_inv_prompt_job_filament(a->inv, f->printer_id, job_id, asks[i].fil, asks[i].what.type, asks[i].what.color,
                                           asks[i].spools, asks[i].n, NULL))
                pd_warn(LOG, "job %lld: cannot ask which spool filament %d came from", (long long)job_id,
                        asks[i].fil + 1);
    }
    facts_free(f);
    free(curve);
    return rc;
}

/* --- the warning before it runs out ---------------------------------------------------------- */

static double have_grams(pd_db *db, int64_t spool_id, const pd_state *st, int unit, int slot)
{
    if (spool_id) {
        int64_t g = -1;
        pd_sqlv v = PD_SQL_I(spool_id);
        if (!pd_db_scalar(db, "SELECT CAST(COALESCE(s.initial_weight, f.weight) - s.used_weight AS INTEGER) "
                              "FROM spool s JOIN filament f ON f.id = s.filament_id WHERE s.id = ? AND "
                              "COALESCE(s.initial_weight, f.weight) IS NOT NULL", &v, 1, &g))
            return (double)g;
    }
    const pd_tray *tr = NULL;
    if (unit == PD_INV_EXTERNAL_UNIT)
        tr = st->has_external ? &st->external : NULL;
    for (int i = 0; i < st->n_ams && !tr; i++)
        if (st->ams[i].id == unit)
            for (int k = 0; k < st->ams[i].n_trays; k++)
                if (st->ams[i].trays[k].id == slot)
                    tr = &st->ams[i].trays[k];
    return tr && tr->remain >= 0 && tr->tray_weight > 0 ? tr->remain * tr->tray_weight / 100.0 : -1;
}

/* Once the analysis is known and the job still prints: what each filament needs against what
 * its mapped spool holds. The shortfalls go on the job (`warnings`) and out as job.warning. */
static void check_enough(pd_acct *a, int64_t job_id)
{
    facts *f = calloc(1, sizeof *f);
    if (!f)
        return;
    pd_err rc = facts_load(a->db, job_id, 0, f);
    int nfil = (int)json_array_size(f->filaments);
    pd_printer *p = f->found ? pd_fleet_find_id(a->fleet, f->printer_id) : NULL;
    if (rc || !p || strcmp(f->fstate, "fetched") || !nfil || (strcmp(f->status, "printing") && strcmp(f->status, "paused"))) {
        facts_free(f);
        return;
    }
    if (nfil > PD_FILES_MAX_FILAMENTS)
        nfil = PD_FILES_MAX_FILAMENTS;
    pd_split_fil fil[PD_FILES_MAX_FILAMENTS];
    for (int i = 0; i < nfil; i++) {
        json_t *o = json_array_get(f->filaments, (size_t)i);
        fil[i] = (pd_split_fil){"", "", json_number_value(json_object_get(o, "grams")), -1};
        snprintf(fil[i].type, sizeof fil[i].type, "%s", json_string_value(json_object_get(o, "type")) ?: "");
        snprintf(fil[i].color, sizeof fil[i].color, "%s", json_string_value(json_object_get(o, "color")) ?: "");
    }
    int cmd[PD_FILES_MAX_FILAMENTS], ncmd = 0;
    for (size_t i = 0; i < json_array_size(f->mapping) && ncmd < PD_FILES_MAX_FILAMENTS; i++)
        cmd[ncmd++] = (int)json_integer_value(json_array_get(f->mapping, i));
    pd_split_map map[PD_FILES_MAX_FILAMENTS];
    pd_split_map_filaments(fil, nfil, f->trays, f->ntrays, cmd, ncmd, f->ev, f->nev, map);
    /* filaments sharing a tray share its grams: the shortfall is the tray's */
    double need[PD_SPLIT_MAX_TRAYS] = {0};
    for (int i = 0; i < nfil; i++)
        if (map[i].tray != PD_SPLIT_NO_TRAY && map[i].how != PD_MAP_AMBIGUOUS)
            need[map[i].tray] += fil[i].grams;
    const pd_state *st = pd_printer_state(p);
    json_t *warn = json_array();
    pd_alert_need needs[PD_FILES_MAX_FILAMENTS];
    size_t nneeds = 0;
    for (int i = 0; i < nfil; i++) {
        if (map[i].tray == PD_SPLIT_NO_TRAY || map[i].how == PD_MAP_AMBIGUOUS)
            continue;
        const pd_split_tray *t = &f->trays[map[i].tray];
        double have = have_grams(a->db, t->spool_id, st, t->unit, t->slot);
        if (have < 0 || need[map[i].tray] <= have)
            continue;
        size_t k = 0;
        while (k < nneeds && (needs[k].unit != t->unit || needs[k].slot != t->slot))
            k++;
        if (k == nneeds)  /* once per tray: the shortfall is the tray's */
            needs[nneeds++] = (pd_alert_need){.spool_id = t->spool_id, .unit = t->unit, .slot = t->slot,
                                          .material = fil[i].type, .needed_g = round(need[map[i].tray] * 100) / 100,
                                          .remaining_g = round(have * 100) / 100};
        json_array_append_new(warn, json_pack("{s:s,s:i,s:s,s:s,s:i,s:i,s:o,s:f,s:f,s:f}", "kind",
                                              "insufficient_filament", "filament_id", i + 1, "type", fil[i].type,
                                              "color", fil[i].color, "unit", t->unit, "slot", t->slot, "spool_id",
                                              t->spool_id ? json_integer(t->spool_id) : json_null(), "needed_g",
                                              round(need[map[i].tray] * 100) / 100, "remaining_g",
                                              round(have * 100) / 100, "short_g",
                                              round((need[map[i].tray] - have) * 100) / 100));
    }
    char *text = json_dumps(warn, PD_JSON_FLAGS);
    pd_sqlv v[] = {text ? PD_SQL_S(text) : PD_SQL_NUL, PD_SQL_I(job_id)};
    rc = text ? pd_db_run(a->db, "UPDATE job SET warnings = ? WHERE id = ?", v, 2, NULL) : PD_ERR_NOMEM;
    if (!rc && json_array_size(warn)) {
        pd_warn(LOG, "job %lld: the mapped spools hold less than the print needs: %s", (long long)job_id, text);
        pd_jobs_announce(a->db, a->bus, job_id, "warning");
        if (a->opts.alerts && pd_alerts_insufficient(a->opts.alerts, f->printer_id, job_id, needs, nneeds, NULL))
            pd_warn(LOG, "job %lld: cannot raise the insufficient-filament alert", (long long)job_id);
    }
    free(text);
    json_decref(warn);
    facts_free(f);
}

/* The file is settled (analysed or given up): warn while it prints, account once it ended. */
static void settled(pd_acct *a, tracker *t, int64_t job_id)
{
    if (t)
        t->fs = F_DONE;
    if (t && t->open) {
        check_enough(a, job_id);
        pd_jobs_announce(a->db, a->bus, job_id, "updated");
        return;
    }
    pd_err rc = account(a, job_id);
    if (rc)
        pd_error(LOG, "job %lld: cannot account the filament: %s (%s)", (long long)job_id, pd_strerror(rc),
                 pd_db_last_error(a->db));
    if (t && t->job_id == job_id)
        t->job_id = 0;
}

/* --- the job's life ---------------------------------------------------------------------------- */

static void cancel_transfer(pd_acct *a, tracker *t)
{
    if (t->handle)
        pd_ftps_cancel(a->ftps, t->handle);
    t->handle = 0;
}

static pd_err name_row(const pd_row *row, void *ud)
{
    tracker *t = ud;
    snprintf(t->name, sizeof t->name, "%s", pd_row_text(row, 0));
    snprintf(t->file, sizeof t->file, "%s", pd_row_text(row, 1));
    return PD_OK;
}

static void track_job(pd_acct *a, tracker *t, int64_t job_id, const char *fs, bool open)
{
    cancel_transfer(a, t);
    t->job_id = job_id;
    t->open = open;
    t->fs = !strcmp(fs, "pending") ? F_WAIT : F_DONE;
    t->armed = false;
    t->attempts = 0;
    t->max_attempts = 1;
    t->next_ms = 0;
    t->why[0] = '\0';
    t->name[0] = t->file[0] = '\0';
    pd_sqlv v = PD_SQL_I(job_id);
    if (pd_db_query(a->db, "SELECT name, file FROM job WHERE id = ?", &v, 1, name_row, t))
        pd_warn(LOG, "job %lld: cannot read its task", (long long)job_id);
}

static void on_started(pd_acct *a, int64_t job_id, int64_t printer_id)
{
    pd_printer *p = pd_fleet_find_id(a->fleet, printer_id);
    tracker *t = p ? get(a, printer_id) : NULL;
    if (!t)
        return;
    const json_t *mapping = json_object_get(json_object_get(pd_printer_raw(p), "print"), "mapping");
    char *mtext = json_is_array(mapping) && json_array_size(mapping) ? json_dumps(mapping, PD_JSON_FLAGS) : NULL;
    pd_err rc = pd_db_begin(a->db);
    if (!rc)
        rc = pd_db_run(a->db, "INSERT INTO job_file (job_id, state, updated_at) SELECT ?, 'pending', ? "
                              "WHERE NOT EXISTS (SELECT 1 FROM job_file WHERE job_id = ?)",
                       (const pd_sqlv[]){PD_SQL_I(job_id), PD_SQL_I(now_s()), PD_SQL_I(job_id)}, 3, NULL);
    if (!rc)
        rc = pd_db_run(a->db, "UPDATE job SET mapping = COALESCE(mapping, ?) WHERE id = ?",
                       (const pd_sqlv[]){mtext ? PD_SQL_S(mtext) : PD_SQL_NUL, PD_SQL_I(job_id)}, 2, NULL);
    rc = pd_db_end(a->db, rc);
    free(mtext);
    if (rc) {
        pd_error(LOG, "job %lld: cannot prepare its accounting: %s", (long long)job_id, pd_strerror(rc));
        return;
    }
    track_job(a, t, job_id, "pending", true);
    t->nseen = 0;
    watch_trays(a, t, pd_printer_state(p), false);
    arm(a, t, p);
    maybe_fetch(a, t);
}

/* A job closed as unknown that comes back, or was accounted and turns out to print still: its
 * usage is taken back, to be counted again at its real end. */
static void on_resumed(pd_acct *a, int64_t job_id, int64_t printer_id)
{
    pd_inv_err e;
    pd_err rc = pd_db_begin(a->db);
    int64_t was = 0;
    pd_sqlv v = PD_SQL_I(job_id);
    if (!rc)
        rc = pd_db_scalar(a->db, "SELECT count(*) FROM job WHERE id = ? AND accounted_at IS NOT NULL", &v, 1, &was);
    if (!rc && was)
        rc = pd_usage_reverse_job(a->inv, job_id, &e);
    if (!rc && was)
        rc = pd_db_run(a->db, "UPDATE job SET accounted_at = NULL, accounted_as = NULL, candidates = NULL, "
                              "usage_note = NULL WHERE id = ?",
                       &v, 1, NULL);
    rc = pd_db_end(a->db, rc);
    if (rc)
        pd_error(LOG, "job %lld: cannot take its usage back: %s", (long long)job_id, pd_strerror(rc));
    else if (was)
        pd_usage_announce(a->db, a->bus, job_id, "corrected");
    tracker *t = get(a, printer_id);
    if (!t || t->job_id == job_id)
        return;
    char fs[16] = "";
    int64_t pending = 0;
    pd_db_scalar(a->db, "SELECT count(*) FROM job_file WHERE job_id = ? AND state = 'pending'", &v, 1, &pending);
    snprintf(fs, sizeof fs, "%s", pending ? "pending" : "done");
    track_job(a, t, job_id, fs, true);
}

static void on_ended(pd_acct *a, int64_t job_id, int64_t printer_id)
{
    pd_printer *p = pd_fleet_find_id(a->fleet, printer_id);
    tracker *t = find(a, printer_id);
    if (p) {
        char *text = trays_text(pd_printer_state(p));
        pd_sqlv v[] = {text ? PD_SQL_S(text) : PD_SQL_NUL, PD_SQL_I(job_id)};
        if (pd_db_run(a->db, "UPDATE job SET trays_end = ? WHERE id = ? AND accounted_at IS NULL", v, 2, NULL))
            pd_warn(LOG, "job %lld: cannot keep the trays at its end", (long long)job_id);
        free(text);
    }
    if (t && t->job_id == job_id) {
        t->open = false;
        if (t->fs == F_BUSY)
            return;  /* the transfer or analysis under way settles it */
        if (t->fs == F_WAIT) {
            /* the file may still be there: one last attempt, now */
            t->armed = true;
            t->next_ms = 0;
            t->attempts = t->max_attempts > 0 ? t->max_attempts - 1 : 0;
            if (t->attempts < 0)
                t->attempts = 0;
            maybe_fetch(a, t);
            return;
        }
    }
    settled(a, t && t->job_id == job_id ? t : NULL, job_id);
}

/* Takes a job's usage back and accounts it again from what is known now. */
static void reaccount(pd_acct *a, int64_t job_id)
{
    pd_inv_err e;
    pd_sqlv v = PD_SQL_I(job_id);
    /* one transaction: a new accounting that fails leaves the old one in place, never a job
     * whose grams went back to the spools and nowhere else */
    pd_err rc = pd_db_begin(a->db);
    if (!rc)
        rc = pd_usage_reverse_job(a->inv, job_id, &e);
    if (!rc)
        rc = pd_db_run(a->db, "UPDATE job SET accounted_at = NULL, accounted_as = NULL, candidates = NULL, "
                              "usage_note = NULL WHERE id = ?", &v, 1, NULL);
    if (!rc)
        rc = account(a, job_id);
    rc = pd_db_end(a->db, rc);
    if (rc)
        pd_error(LOG, "job %lld: cannot account it again: %s", (long long)job_id, pd_strerror(rc));
}

/* A job closed as unknown that learnt its outcome while the printer was away (or a failure that
 * was a cancel after all): accounted again as what it was. */
static void on_updated(pd_acct *a, const pd_event *ev)
{
    json_t *o = json_loadb(ev->u.job.payload, ev->u.job.payload_len, 0, NULL);
    const char *st = json_string_value(json_object_get(o, "status"));
    bool ended = st && strcmp(st, "printing") && strcmp(st, "paused");
    json_decref(o);
    int64_t other = 0;
    pd_sqlv v = PD_SQL_I(ev->u.job.id);
    if (!ended || pd_db_scalar(a->db, "SELECT count(*) FROM job WHERE id = ? AND accounted_as <> status AND "
                                          "accounted_as <> 'manual'", &v, 1,
                               &other) || !other)
        return;
    reaccount(a, ev->u.job.id);
}

/* A job's filament prompt answered: the job is accounted again with that spool. */
static void on_prompt(pd_acct *a, const pd_event *ev)
{
    if (strcmp(ev->u.prompt.change, "answered"))
        return;
    json_t *o = json_loadb(ev->u.prompt.payload, ev->u.prompt.payload_len, 0, NULL);
    json_t *job = json_object_get(o, "job_id");
    int64_t job_id = json_is_integer(job) && !strcmp(json_string_value(json_object_get(o, "kind")) ?: "", "job_filament")
                         ? json_integer_value(job) : 0;
    json_decref(o);
    int64_t done = 0;
    pd_sqlv v = PD_SQL_I(job_id);
    /* one corrected by hand stays as the person typed it */
    if (job_id && !pd_db_scalar(a->db, "SELECT count(*) FROM job WHERE id = ? AND accounted_at IS NOT NULL AND "
                                        "accounted_as <> 'manual'", &v, 1, &done) && done)
        reaccount(a, job_id);
}

static void on_state(pd_acct *a, int64_t printer_id)
{
    tracker *t = find(a, printer_id);
    pd_printer *p = t && t->job_id ? pd_fleet_find_id(a->fleet, printer_id) : NULL;
    if (!p || !t->open)
        return;
    watch_trays(a, t, pd_printer_state(p), true);
    arm(a, t, p);
    maybe_fetch(a, t);
}

static void on_event(const pd_event *ev, void *ud)
{
    pd_acct *a = ud;
    if (ev->type == PD_EV_STATE) {
        on_state(a, ev->printer_id);
        return;
    }
    if (ev->type == PD_EV_PROMPT) {
        on_prompt(a, ev);
        return;
    }
    if (ev->type != PD_EV_JOB || !ev->printer_id)
        return;
    const char *c = ev->u.job.change;
    if (!strcmp(c, "started"))
        on_started(a, ev->u.job.id, ev->printer_id);
    else if (!strcmp(c, "resumed"))
        on_resumed(a, ev->u.job.id, ev->printer_id);
    else if (!strcmp(c, "ended"))
        on_ended(a, ev->u.job.id, ev->printer_id);
    else if (!strcmp(c, "updated"))
        on_updated(a, ev);
}

static void on_tick(uv_timer_t *h)
{
    pd_acct *a = h->data;
    for (size_t i = 0; i < a->n; i++)
        maybe_fetch(a, a->v[i]);
}

/* --- start and stop ---------------------------------------------------------------------------- */

typedef struct loaded {
    size_t n;
    int64_t job[256], printer[256];
    bool open[256], pending[256];
} loaded;

static pd_err loaded_row(const pd_row *row, void *ud)
{
    loaded *l = ud;
    if (l->n == sizeof l->job / sizeof *l->job)
        return PD_OK;
    l->job[l->n] = pd_row_int(row, 0);
    l->printer[l->n] = pd_row_int(row, 1);
    l->open[l->n] = pd_row_null(row, 2);
    l->pending[l->n++] = !strcmp(pd_row_text(row, 3), "pending");
    return PD_OK;
}

pd_err pd_acct_start(pd_acct **out, uv_loop_t *loop, pd_bus *bus, pd_fleet *fleet, pd_inv *inv,
                     pd_ftps *ftps, pd_work_pool *work, const pd_acct_opts *opts)
{
    pd_acct *a = calloc(1, sizeof *a);
    if (!a)
        return PD_ERR_NOMEM;
    *a = (pd_acct){.loop = loop, .bus = bus, .fleet = fleet, .inv = inv, .db = inv->db, .ftps = ftps,
                   .work = work, .opts = *opts};
    loaded *l = calloc(1, sizeof *l);
    pd_err rc = l ? PD_OK : PD_ERR_NOMEM;
    /* open jobs (their fetch resumes), and ended ones not yet accounted (printdeck stopped
     * between the end and the accounting) */
    if (!rc)
        rc = pd_db_query(a->db, "SELECT j.id, j.printer_id, j.ended_at, COALESCE(f.state, 'pending') FROM job j "
                                "LEFT JOIN job_file f ON f.job_id = j.id WHERE j.origin = 'printer' AND "
                                "j.printer_id IS NOT NULL AND j.accounted_at IS NULL AND (j.ended_at IS NULL OR "
                                "j.status <> 'unknown' OR f.state IS NOT NULL) ORDER BY j.id LIMIT 256", NULL, 0, loaded_row, l);
    if (!rc && uv_timer_init(loop, &a->timer))
        rc = PD_ERR_INTERNAL;
    if (!rc) {
        a->timer.data = a;
        uv_timer_start(&a->timer, on_tick, TICK_MS, TICK_MS);
        a->sub = pd_bus_subscribe(bus, PD_EV_STATE | PD_EV_JOB | PD_EV_PROMPT, on_event, a);
        if (!a->sub)
            rc = PD_ERR_BUSY;
    }
    for (size_t i = 0; !rc && i < l->n; i++) {
        tracker *t = get(a, l->printer[i]);
        if (!t)
            continue;
        if (l->open[i] || l->pending[i]) {
            track_job(a, t, l->job[i], l->pending[i] ? "pending" : "done", l->open[i]);
            if (!l->open[i]) {
                t->armed = true;  /* ended while printdeck was away: one attempt now */
                t->max_attempts = 1;
            }
        } else {
            account(a, l->job[i]);
        }
    }
    free(l);
    if (rc) {
        pd_acct_stop(&a);
        return rc;
    }
    *out = a;
    return PD_OK;
}

static void acct_free(pd_acct *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->v[i]);
    free(a->v);
    free(a);
}

static void timer_closed(uv_handle_t *h)
{
    pd_acct *a = h->data;
    a->timer.loop = NULL;
    if (!a->inflight)
        acct_free(a);
}

void pd_acct_stop(pd_acct **ap)
{
    pd_acct *a = *ap;
    if (!a)
        return;
    *ap = NULL;
    a->stopping = true;
    if (a->sub)
        pd_bus_unsubscribe(a->bus, a->sub);
    for (size_t i = 0; i < a->n; i++)
        cancel_transfer(a, a->v[i]);
    if (a->timer.loop)
        uv_close((uv_handle_t *)&a->timer, timer_closed);
    else if (!a->inflight)
        acct_free(a);
}
