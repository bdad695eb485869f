/* The job rows as the API sees them (jobs.h): one column table drives the SELECT list and the
 * object; lists use the inventory's filter, sort and paging rules. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/jw.h"
#include "printer/hms.h"
#include "track/jobs.h"
#include "track/split.h"
#include "track/usage.h"
#include "track/rollup.h"

typedef enum jcol_kind { J_INT, J_TEXT, J_TIME, J_JSON, J_ERROR } jcol_kind;

typedef struct jcol {
    const char *name;            /* JSON key and column of job */
    jcol_kind kind;
    bool sortable;
} jcol;

static const jcol job_cols[] = {
    {"id", J_INT, true},
    {"printer_id", J_INT, true},
    {"printer_name", J_TEXT, true},
    {"name", J_TEXT, true},
    {"file", J_TEXT, true},
    {"plate", J_INT, true},
    {"status", J_TEXT, true},
    {"origin", J_TEXT, true},
    {"print_type", J_TEXT, false},
    {"task_id", J_TEXT, false},
    {"started_at", J_TIME, true},
    {"ended_at", J_TIME, true},
    {"estimated_s", J_INT, true},
    {"progress", J_INT, true},
    {"layer", J_INT, true},
    {"total_layers", J_INT, true},
    {"reason", J_TEXT, true},
    {"error_code", J_ERROR, false},
    {"materials", J_TEXT, true},
    {"environment", J_JSON, false},
    {"notes", J_TEXT, false},
    {"rating", J_INT, true},
    {"warnings", J_JSON, false},
    {"candidates", J_JSON, false},
    {"usage_note", J_TEXT, false},
    {"accounted_at", J_TIME, true},
    {"interruptions", J_INT, true},
};
#define NCOLS (sizeof job_cols / sizeof job_cols[0])
#define COL_STARTED 10
#define COL_ENDED 11

/* The SELECT list, from the column table once */
static char cols_sql[NCOLS * 24];

static void cols_init(void)
{
    size_t len = 0;
    if (cols_sql[0])
        return;
    for (size_t i = 0; i < NCOLS; i++)
        len += (size_t)snprintf(cols_sql + len, sizeof cols_sql - len, "%sj.%s", i ? ", " : "", job_cols[i].name);
}

static json_t *col_json(const jcol *c, const pd_row *row, int i)
{
    if (pd_row_null(row, i))
        return json_null();
    switch (c->kind) {
    case J_INT: return json_integer(pd_row_int(row, i));
    case J_TIME: return pd_inv_time_json(pd_row_int(row, i));
    case J_JSON: {
        json_t *v = json_loads(pd_row_text(row, i), 0, NULL);
        return v ? v : json_null();
    }
    case J_ERROR: {
        char code[10];
        pd_print_error_format((uint32_t)pd_row_int(row, i), code);
        return json_string(code);
    }
    default: return json_string(pd_row_text(row, i));
    }
}

/* What the accounting fills in (attach_usage, attach_file): present from the start so clients
 * can rely on the shape. */
static json_t *render(const pd_row *row)
{
    json_t *o = json_object();
    for (size_t i = 0; i < NCOLS; i++)
        json_object_set_new(o, job_cols[i].name, col_json(&job_cols[i], row, (int)i));
    int64_t start = pd_row_int(row, COL_STARTED);
    int64_t end = pd_row_null(row, COL_ENDED) ? pd_clock_wall_ms() / 1000 : pd_row_int(row, COL_ENDED);
    json_object_set_new(o, "duration_s", json_integer(end > start ? end - start : 0));
    json_object_set_new(o, "pauses", json_array());
    json_object_set_new(o, "filament", json_array());
    json_object_set_new(o, "grams", json_real(0));
    json_object_set_new(o, "cost", json_null());
    json_object_set_new(o, "thumbnail", json_null());
    json_object_set_new(o, "file_status", json_null());
    json_object_set_new(o, "timelapse", json_null());
    if (json_is_null(json_object_get(o, "warnings")))
        json_object_set_new(o, "warnings", json_array());
    return o;
}

static pd_err fetch_row(const pd_row *row, void *ud)
{
    return json_array_append_new(ud, render(row)) ? PD_ERR_NOMEM : PD_OK;
}

/* --- what hangs off a job: pauses, tray log, snapshot ---------------------------------------- */

static json_t *by_id(json_t *items, int64_t id)
{
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
        if (json_integer_value(json_object_get(it, "id")) == id)
            return it;
    return NULL;
}

static json_t *time_or_null(const pd_row *row, int c)
{
    return pd_row_null(row, c) ? json_null() : pd_inv_time_json(pd_row_int(row, c));
}

static pd_err pause_row(const pd_row *row, void *ud)
{
    json_t *job = by_id(ud, pd_row_int(row, 0));
    if (!job)
        return PD_OK;
    json_t *p = json_pack("{s:s,s:o,s:o,s:o}", "kind", pd_row_text(row, 1), "started_at", time_or_null(row, 2),
                          "ended_at", time_or_null(row, 3), "reason",
                          pd_row_null(row, 4) ? json_null() : json_string(pd_row_text(row, 4)));
    return json_array_append_new(json_object_get(job, "pauses"), p) ? PD_ERR_NOMEM : PD_OK;
}

/* "IN (1, 2, …)" of the items' ids: ours, integers, written into the statement */
static void ids_in(pd_sqlb *b, json_t *items)
{
    size_t i;
    json_t *it;
    pd_sqlb_add(b, " IN (");
    json_array_foreach(items, i, it)
        pd_sqlb_add(b, "%s%" JSON_INTEGER_FORMAT, i ? ", " : "", json_integer_value(json_object_get(it, "id")));
    pd_sqlb_add(b, ")");
}

/* Runs `select … WHERE job_id IN (the items' ids) tail` with fn per row. */
static pd_err per_job(pd_db *db, json_t *items, const char *select, const char *tail, pd_row_fn fn)
{
    if (!json_array_size(items))
        return PD_OK;
    pd_sqlb *b = malloc(sizeof *b);
    if (!b)
        return PD_ERR_NOMEM;
    pd_sqlb_init(b);
    pd_sqlb_add(b, "%s", select);
    ids_in(b, items);
    pd_sqlb_add(b, "%s", tail);
    pd_err rc = pd_sqlb_ok(b) ? pd_db_query(db, b->sql, NULL, 0, fn, items) : PD_ERR_TOOBIG;
    pd_sqlb_free(b);
    free(b);
    return rc;
}

static pd_err attach_pauses(pd_db *db, json_t *items)
{
    return per_job(db, items, "SELECT job_id, kind, started_at, ended_at, reason FROM job_pause WHERE job_id",
                   " ORDER BY job_id, id", pause_row);
}

static json_t *text_or_null(const pd_row *row, int c)
{
    return pd_row_null(row, c) ? json_null() : json_string(pd_row_text(row, c));
}

/* What a person needs to tell a usage row's spool from the others: its filament's vendor, name,
 * material and colours, and whether it is archived; a deleted spool only by its id. NULL for a
 * row of no spool. Columns from 8: deleted_spool_id, vendor, name, material, color_hex,
 * multi_color_hexes, multi_color_direction, archived. */
static json_t *spool_summary(const pd_row *row)
{
    if (!pd_row_null(row, 1))
        return json_pack("{s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:b,s:b}", "id", (json_int_t)pd_row_int(row, 1), "vendor",
                         text_or_null(row, 9), "name", text_or_null(row, 10), "material", text_or_null(row, 11),
                         "color_hex", text_or_null(row, 12), "multi_color_hexes", text_or_null(row, 13),
                         "multi_color_direction", text_or_null(row, 14), "archived", pd_row_int(row, 15) != 0,
                         "deleted", false);
    if (!pd_row_null(row, 8))
        return json_pack("{s:I,s:b}", "id", (json_int_t)pd_row_int(row, 8), "deleted", true);
    return json_null();
}

/* filament[]: the job's usage rows, one per spool and tray; grams and cost their sums */
static pd_err usage_row(const pd_row *row, void *ud)
{
    json_t *job = by_id(ud, pd_row_int(row, 0));
    if (!job)
        return PD_OK;
    int unit = pd_row_null(row, 2) ? -1 : (int)pd_row_int(row, 2), slot = pd_row_null(row, 3) ? -1 : (int)pd_row_int(row, 3);
    double grams = pd_row_real(row, 4);
    json_t *f = json_pack("{s:o,s:o,s:o,s:o,s:f,s:o,s:s,s:o}", "spool_id",
                          pd_row_null(row, 1) ? json_null() : json_integer(pd_row_int(row, 1)), "tray",
                          unit >= 0 ? json_integer(pd_split_tray_now(unit, slot < 0 ? 0 : slot)) : json_null(),
                          "unit", unit >= 0 ? json_integer(unit) : json_null(), "slot",
                          slot >= 0 ? json_integer(slot) : json_null(), "grams", round(grams * 100) / 100, "meters",
                          pd_row_null(row, 5) ? json_null() : json_real(round(pd_row_real(row, 5) * 100) / 100),
                          "source", pd_row_text(row, 6), "cost",
                          pd_row_null(row, 7) ? json_null() : json_real(round(pd_row_real(row, 7) * 100) / 100));
    json_object_set_new(f, "spool", spool_summary(row));
    json_array_append_new(json_object_get(job, "filament"), f);
    json_object_set_new(job, "grams", json_real(round((json_real_value(json_object_get(job, "grams")) + grams) * 100) / 100));
    if (!pd_row_null(row, 7)) {
        json_t *c = json_object_get(job, "cost");
        json_object_set_new(job, "cost", json_real(round(((json_is_real(c) ? json_real_value(c) : 0) +
                                                          pd_row_real(row, 7)) * 100) / 100));
    }
    return PD_OK;
}

#define SPOOL_COLS "v.name, f.name, f.material, f.color_hex, f.multi_color_hexes, f.multi_color_direction, s.archived"

static pd_err attach_usage(pd_db *db, json_t *items)
{
    return per_job(db, items,
                   "SELECT u.job_id, u.spool_id, u.unit, u.slot, sum(u.grams), sum(u.meters), min(u.source), "
                   "sum(u.cost), u.deleted_spool_id, " SPOOL_COLS " FROM filament_usage u "
                   "LEFT JOIN spool s ON s.id = u.spool_id LEFT JOIN filament f ON f.id = s.filament_id "
                   "LEFT JOIN vendor v ON v.id = f.vendor_id WHERE u.job_id",
                   " GROUP BY u.job_id, u.spool_id, u.deleted_spool_id, u.unit, u.slot, " SPOOL_COLS
                   " ORDER BY u.job_id, min(u.id)", usage_row);
}

/* file_status {state, reason, path} and the thumbnail's URL */
static pd_err file_row(const pd_row *row, void *ud)
{
    json_t *job = by_id(ud, pd_row_int(row, 0));
    if (!job)
        return PD_OK;
    json_object_set_new(job, "file_status", json_pack("{s:s,s:o,s:o}", "state", pd_row_text(row, 1), "reason",
                                                      pd_row_null(row, 2) ? json_null() : json_string(pd_row_text(row, 2)),
                                                      "path", pd_row_null(row, 3) ? json_null()
                                                                                  : json_string(pd_row_text(row, 3))));
    if (pd_row_int(row, 4)) {
        char url[64];
        snprintf(url, sizeof url, "/api/v1/jobs/%lld/thumbnail", (long long)pd_row_int(row, 0));
        json_object_set_new(job, "thumbnail", json_string(url));
    }
    return PD_OK;
}

static pd_err attach_file(pd_db *db, json_t *items)
{
    return per_job(db, items, "SELECT job_id, state, reason, path, thumbnail IS NOT NULL FROM job_file WHERE job_id",
                   "", file_row);
}

/* timelapse {id, url, size, frames, duration_s, codec}: the job's newest (docs/camera.md) */
static pd_err timelapse_row(const pd_row *row, void *ud)
{
    json_t *job = by_id(ud, pd_row_int(row, 0));
    if (!job)
        return PD_OK;
    char url[64];
    snprintf(url, sizeof url, "/api/v1/timelapses/%lld/video", (long long)pd_row_int(row, 1));
    json_object_set_new(job, "timelapse", json_pack("{s:I,s:s,s:I,s:I,s:f,s:s}", "id", (json_int_t)pd_row_int(row, 1),
                                                    "url", url, "size", (json_int_t)pd_row_int(row, 2), "frames",
                                                    (json_int_t)pd_row_int(row, 3), "duration_s",
                                                    (double)pd_row_int(row, 4) / 1000, "codec", pd_row_text(row, 5)));
    return PD_OK;
}

static pd_err attach_timelapse(pd_db *db, json_t *items)
{
    return per_job(db, items, "SELECT job_id, id, size, frames, duration_ms, codec FROM timelapse WHERE job_id",
                   " ORDER BY job_id, id", timelapse_row);
}

static pd_err attach_all(pd_db *db, json_t *items)
{
    pd_err rc = attach_pauses(db, items);
    if (!rc)
        rc = attach_usage(db, items);
    if (!rc)
        rc = attach_timelapse(db, items);
    return rc ? rc : attach_file(db, items);
}

/* unit and slot null: nothing fed (the tube emptying before an AMS refill) */
static pd_err tray_row(const pd_row *row, void *ud)
{
    return json_array_append_new(ud, json_pack("{s:I,s:o,s:o,s:I,s:o}", "tray", (json_int_t)pd_row_int(row, 0), "unit",
                                               pd_row_null(row, 1) ? json_null() : json_integer(pd_row_int(row, 1)),
                                               "slot", pd_row_null(row, 2) ? json_null() : json_integer(pd_row_int(row, 2)),
                                               "layer", (json_int_t)pd_row_int(row, 3), "at",
                                               pd_inv_time_json(pd_row_int(row, 4))))
               ? PD_ERR_NOMEM : PD_OK;
}

static pd_err snapshot_row(const pd_row *row, void *ud)
{
    json_t *o = json_pack("{s:I,s:I,s:o,s:s,s:s,s:s,s:o}", "unit", (json_int_t)pd_row_int(row, 0), "slot",
                          (json_int_t)pd_row_int(row, 1), "spool_id",
                          pd_row_null(row, 2) ? json_null() : json_integer(pd_row_int(row, 2)), "tray_uuid",
                          pd_row_text(row, 3), "material", pd_row_text(row, 4), "color", pd_row_text(row, 5),
                          "remain", pd_row_null(row, 6) ? json_null() : json_integer(pd_row_int(row, 6)));
    return json_array_append_new(ud, o) ? PD_ERR_NOMEM : PD_OK;
}

static pd_err attach_detail(pd_db *db, json_t *job, int64_t id)
{
    json_t *trays = json_array(), *snap = json_array();
    json_object_set_new(job, "trays", trays);
    json_object_set_new(job, "snapshot", snap);
    pd_sqlv a = PD_SQL_I(id);
    pd_err rc = pd_db_query(db, "SELECT tray, unit, slot, layer, at FROM job_tray WHERE job_id = ? ORDER BY id", &a, 1,
                            tray_row, trays);
    return rc ? rc : pd_db_query(db, "SELECT unit, slot, spool_id, tray_uuid, material, color, remain "
                                     "FROM job_snapshot WHERE job_id = ? ORDER BY unit, slot", &a, 1,
                                 snapshot_row, snap);
}

pd_err pd_jobs_get(pd_db *db, int64_t id, bool detail, json_t **out, pd_inv_err *e)
{
    pd_sqlb b;
    pd_sqlb_init(&b);
    cols_init();
    pd_sqlb_add(&b, "SELECT %s FROM job j WHERE j.id = ?", cols_sql);
    pd_sqlb_arg(&b, PD_SQL_I(id));
    json_t *items = json_array();
    pd_err rc = items ? pd_db_query(db, b.sql, b.args, b.nargs, fetch_row, items) : PD_ERR_NOMEM;
    pd_sqlb_free(&b);
    if (!rc && !json_array_size(items))
        rc = pd_inv_fail(e, PD_ERR_NOTFOUND, "path", "id", "No job with ID %lld found.", (long long)id);
    if (!rc)
        rc = attach_all(db, items);
    if (!rc && detail)
        rc = attach_detail(db, json_array_get(items, 0), id);
    if (rc && !e->code)
        pd_inv_fail(e, rc, NULL, NULL, "%s", pd_strerror(rc));
    if (!rc)
        *out = json_incref(json_array_get(items, 0));
    json_decref(items);
    return rc;
}

void pd_jobs_announce(pd_db *db, pd_bus *bus, int64_t id, const char *change)
{
    json_t *o = NULL;
    pd_inv_err e = {0};
    if (!bus || pd_jobs_get(db, id, false, &o, &e))
        return;
    char *text = json_dumps(o, PD_JSON_FLAGS);
    if (text) {
        json_t *pid = json_object_get(o, "printer_id");
        pd_event ev = {.type = PD_EV_JOB, .printer_id = json_is_integer(pid) ? json_integer_value(pid) : 0,
                       .ts_ms = pd_clock_wall_ms()};
        ev.u.job.id = id;
        ev.u.job.change = change;
        ev.u.job.payload = text;
        ev.u.job.payload_len = strlen(text);
        pd_bus_emit(bus, &ev);
    }
    free(text);
    json_decref(o);
}

/* --- lists ------------------------------------------------------------------------------------ */

static const pd_inv_filter job_filters[] = {
    {"printer_id", "printer", "j.printer_id", PD_INV_F_IDS_NULL},
    {"status", NULL, "j.status", PD_INV_F_TEXT_REQ},
    {"origin", NULL, "j.origin", PD_INV_F_TEXT_REQ},
    {"started_at", NULL, "j.started_at", PD_INV_F_DATES},
    {"ended_at", NULL, "j.ended_at", PD_INV_F_DATES},
    {"material", NULL, "j.materials", PD_INV_F_TEXT_REQ},
    {"name", NULL, "j.name", PD_INV_F_TEXT_REQ},
    {"file", NULL, "j.file", PD_INV_F_TEXT_REQ},
    {"text", "q", "(j.name || ' ' || j.file || ' ' || COALESCE(j.notes, '') || ' ' || COALESCE(j.reason, ''))",
     PD_INV_F_TEXT_REQ},
};

static bool sort_expr(void *ud, const char *field, char *out, size_t outlen)
{
    (void)ud;
    if (!strcmp(field, "duration_s")) {
        snprintf(out, outlen, "(COALESCE(j.ended_at, %lld) - j.started_at)",
                 (long long)(pd_clock_wall_ms() / 1000));
        return true;
    }
    for (size_t i = 0; i < NCOLS; i++)
        if (job_cols[i].sortable && !strcmp(job_cols[i].name, field)) {
            snprintf(out, outlen, "j.%s", field);
            return true;
        }
    return false;
}

static pd_err fail_rc(pd_inv_err *e, pd_err rc)
{
    if (rc && !e->code)
        pd_inv_fail(e, rc, NULL, NULL, "%s", rc == PD_ERR_TOOBIG ? "Too many filter terms." : pd_strerror(rc));
    return rc;
}

/* A batch of the list: the rows, then their pauses, usage and file; the CSV shows only the
 * usage's sums. */
static pd_err table_fetch(pd_db *db, const pd_sqlb *b, json_t *rows, bool csv)
{
    pd_err rc = pd_db_query(db, b->sql, b->args, b->nargs, fetch_row, rows);
    if (!rc)
        rc = csv ? attach_usage(db, rows) : attach_all(db, rows);
    return rc;
}

static const char *const csv_cols[] = {
    "id", "printer_id", "printer_name", "name", "file", "plate", "status", "origin", "started_at",
    "ended_at", "duration_s", "estimated_s", "progress", "layer", "total_layers", "reason", "materials",
    "notes", "rating", "grams", "cost",
};

/* Newest first unless the request sorts. */
static const pd_inv_table job_table = {
    .alias = "j", .from = " FROM job j", .cols = cols_sql, .filters = job_filters,
    .nfilters = sizeof job_filters / sizeof job_filters[0], .sort_expr = sort_expr,
    .default_sort = "started_at:desc", .fetch = table_fetch, .csv_cols = csv_cols,
    .ncsv = sizeof csv_cols / sizeof csv_cols[0], .csv_decimals = 2,
};

pd_err pd_jobs_list_open(pd_inv *inv, const pd_inv_param *p, size_t n, bool csv, pd_inv_cursor **out,
                         pd_inv_err *e)
{
    cols_init();
    return pd_inv_table_open(inv, &job_table, p, n, csv, out, e);
}

/* --- writes from the API -------------------------------------------------------------------- */

static pd_err text_field(json_t *body, const char *key, size_t max, bool nullable, const char **out,
                         pd_inv_err *e)
{
    json_t *v = json_object_get(body, key);
    *out = NULL;
    if (!v || (nullable && json_is_null(v)))
        return PD_OK;
    if (!json_is_string(v) || json_string_length(v) > max)
        return pd_inv_fail(e, PD_ERR_FIELD, "body", key, "a string of at most %zu bytes expected", max);
    *out = json_string_value(v);
    return PD_OK;
}

static pd_err int_field(json_t *body, const char *key, int64_t lo, int64_t hi, bool *set, int64_t *out,
                        pd_inv_err *e)
{
    json_t *v = json_object_get(body, key);
    *set = v && !json_is_null(v);
    if (!*set)
        return PD_OK;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return pd_inv_fail(e, PD_ERR_FIELD, "body", key, "an integer from %lld to %lld expected",
                           (long long)lo, (long long)hi);
    *out = json_integer_value(v);
    return PD_OK;
}

static pd_err time_field(json_t *body, const char *key, int64_t *out, pd_inv_err *e)
{
    json_t *v = json_object_get(body, key);
    const char *why = "";
    if (!v || json_is_null(v))
        return PD_OK;
    if (!json_is_string(v) || !pd_date_parse(json_string_value(v), 0, out, &why))
        return pd_inv_fail(e, PD_ERR_FIELD, "body", key, "an ISO 8601 time expected%s%s", *why ? ": " : "", why);
    return PD_OK;
}

static pd_err only_keys(json_t *body, const char *const *keys, pd_inv_err *e)
{
    if (!json_is_object(body))
        return pd_inv_fail(e, PD_ERR_FIELD, "body", "", "a JSON object expected");
    const char *k;
    json_t *v;
    json_object_foreach(body, k, v) {
        size_t i = 0;
        while (keys[i] && strcmp(keys[i], k))
            i++;
        if (!keys[i])
            return pd_inv_fail(e, PD_ERR_FIELD, "body", k, "unknown field");
    }
    return PD_OK;
}

#define MAX_NOTES 4096

typedef struct job_head {
    bool found, open;
    char origin[16];
} job_head;

static pd_err head_row(const pd_row *row, void *ud)
{
    job_head *h = ud;
    h->found = true;
    snprintf(h->origin, sizeof h->origin, "%s", pd_row_text(row, 0));
    h->open = pd_row_null(row, 1);
    return PD_OK;
}

static pd_err job_head_get(pd_db *db, int64_t id, job_head *h, pd_inv_err *e)
{
    *h = (job_head){0};
    pd_sqlv a = PD_SQL_I(id);
    pd_err rc = pd_db_query(db, "SELECT origin, ended_at FROM job WHERE id = ?", &a, 1, head_row, h);
    if (rc)
        return pd_inv_fail(e, rc, NULL, NULL, "%s", pd_strerror(rc));
    if (!h->found)
        return pd_inv_fail(e, PD_ERR_NOTFOUND, "path", "id", "No job with ID %lld found.", (long long)id);
    return PD_OK;
}

/* Writes in one transaction, then the job as it is now, announced once committed. */
static pd_err finish(pd_inv *inv, pd_bus *bus, pd_err rc, int64_t id, const char *change, json_t **out,
                     pd_inv_err *e)
{
    rc = pd_db_end(inv->db, rc);
    if (rc)
        return fail_rc(e, rc);
    rc = pd_jobs_get(inv->db, id, true, out, e);
    if (!rc)
        pd_jobs_announce(inv->db, bus, id, change);
    return rc;
}

#define MAX_USAGE 64

/* filament: [{spool_id, grams, unit?, slot?}] checked */
static pd_err usage_check(json_t *list, pd_inv_err *e)
{
    if (!list)
        return PD_OK;
    if (!json_is_array(list) || json_array_size(list) > MAX_USAGE)
        return pd_inv_fail(e, PD_ERR_FIELD, "body", "filament", "a list of at most %d {spool_id, grams} expected",
                           MAX_USAGE);
    size_t i;
    json_t *it;
    json_array_foreach(list, i, it) {
        static const char *const keys[] = {"spool_id", "grams", "unit", "slot", "meters", NULL};
        json_t *g = json_object_get(it, "grams");
        bool set;
        int64_t v;
        char field[32];
        snprintf(field, sizeof field, "filament.%zu", i);
        pd_err rc = only_keys(it, keys, e);
        if (!rc)
            rc = int_field(it, "spool_id", 1, INT64_MAX, &set, &v, e);
        if (!rc && !set)
            rc = pd_inv_fail(e, PD_ERR_FIELD, "body", field, "spool_id is required");
        if (!rc && (!json_is_number(g) || json_number_value(g) < 0 || json_number_value(g) > 100000))
            rc = pd_inv_fail(e, PD_ERR_FIELD, "body", field, "grams: a number from 0 to 100000 expected");
        if (!rc)
            rc = int_field(it, "unit", 0, 255, &set, &v, e);
        if (!rc)
            rc = int_field(it, "slot", 0, 3, &set, &v, e);
        if (rc)
            return rc;
    }
    return PD_OK;
}

/* The tray a spool fed the job from, by its old row (-1 none). */
static pd_err tray_row_of(const pd_row *row, void *ud)
{
    int *t = ud;
    t[0] = pd_row_null(row, 0) ? -1 : (int)pd_row_int(row, 0);
    t[1] = pd_row_null(row, 1) ? -1 : (int)pd_row_int(row, 1);
    return PD_OK;
}

/* The job's usage becomes `list`, typed by a person: the old rows are taken back (their spools
 * get the grams back) and the new ones written, inside the caller's transaction. */
static pd_err usage_put(pd_inv *inv, int64_t id, json_t *list, pd_inv_err *e)
{
    size_t n = json_array_size(list), i;
    int trays[MAX_USAGE][2];
    int64_t printer = 0, now = pd_clock_wall_ms() / 1000;
    pd_sqlv a = PD_SQL_I(id);
    pd_err rc = pd_db_scalar(inv->db, "SELECT COALESCE(printer_id, 0) FROM job WHERE id = ?", &a, 1, &printer);
    json_t *it;
    json_array_foreach(list, i, it) {
        json_t *u = json_object_get(it, "unit"), *s = json_object_get(it, "slot");
        trays[i][0] = trays[i][1] = -1;
        if (!rc && json_is_integer(u)) {
            trays[i][0] = (int)json_integer_value(u);
            trays[i][1] = json_is_integer(s) ? (int)json_integer_value(s) : 0;
        } else if (!rc) {
            rc = pd_db_query(inv->db, "SELECT unit, slot FROM filament_usage WHERE job_id = ? AND spool_id = ? "
                                      "ORDER BY id LIMIT 1",
                             (const pd_sqlv[]){PD_SQL_I(id), PD_SQL_I(json_integer_value(json_object_get(it, "spool_id")))},
                             2, tray_row_of, trays[i]);
        }
    }
    if (!rc)
        rc = pd_usage_reverse_job(inv, id, e);
    for (i = 0; !rc && i < n; i++) {
        it = json_array_get(list, i);
        json_t *m = json_object_get(it, "meters");
        pd_usage u = {.job_id = id, .spool_id = json_integer_value(json_object_get(it, "spool_id")),
                      .printer_id = printer, .unit = trays[i][0], .slot = trays[i][1],
                      .grams = json_number_value(json_object_get(it, "grams")),
                      .meters = json_is_number(m) ? json_number_value(m) : -1, .source = PD_USAGE_MANUAL, .at = now};
        if (u.grams > 0)
            rc = pd_usage_record(inv, &u, NULL, e);
    }
    /* accounted by hand: the accounting leaves it alone from now on */
    if (!rc)
        rc = pd_db_run(inv->db, "UPDATE job SET accounted_at = ?, accounted_as = 'manual', candidates = NULL, "
                                "usage_note = 'entered by hand' WHERE id = ?",
                       (const pd_sqlv[]){PD_SQL_I(now), PD_SQL_I(id)}, 2, NULL);
    return rc;
}

pd_err pd_jobs_patch(pd_inv *inv, pd_bus *bus, int64_t id, json_t *body, json_t **out, pd_inv_err *e)
{
    static const char *const keys[] = {"notes", "rating", "filament", NULL};
    const char *notes;
    bool rating_set;
    int64_t rating = 0;
    job_head h;
    pd_err rc = only_keys(body, keys, e);
    if (!rc)
        rc = text_field(body, "notes", MAX_NOTES, true, &notes, e);
    if (!rc)
        rc = int_field(body, "rating", 1, 5, &rating_set, &rating, e);
    json_t *usage = json_object_get(body, "filament");
    if (!rc)
        rc = usage_check(usage, e);
    if (rc || (rc = pd_db_begin(inv->db)))
        return fail_rc(e, rc);
    rc = job_head_get(inv->db, id, &h, e);
    if (!rc && usage && h.open)
        rc = pd_inv_fail(e, PD_ERR_INVAL, "body", "filament", "Job %lld still prints: its usage is known at its end.",
                         (long long)id);
    if (!rc && usage)
        rc = usage_put(inv, id, usage, e);
    if (!rc && json_object_get(body, "notes"))
        rc = pd_db_run(inv->db, "UPDATE job SET notes = ? WHERE id = ?",
                       (const pd_sqlv[]){notes ? PD_SQL_S(notes) : PD_SQL_NUL, PD_SQL_I(id)}, 2, NULL);
    if (!rc && json_object_get(body, "rating"))
        rc = pd_db_run(inv->db, "UPDATE job SET rating = ? WHERE id = ?",
                       (const pd_sqlv[]){rating_set ? PD_SQL_I(rating) : PD_SQL_NUL, PD_SQL_I(id)}, 2, NULL);
    rc = finish(inv, bus, rc, id, "updated", out, e);
    if (!rc && usage)
        pd_usage_announce(inv->db, bus, id, "corrected");
    return rc;
}

pd_err pd_jobs_create(pd_inv *inv, pd_bus *bus, json_t *body, json_t **out, pd_inv_err *e)
{
    static const char *const keys[] = {"name", "printer_id", "printer_name", "file", "plate", "started_at",
                                       "estimated_s", "notes", NULL};
    const char *name, *pname, *file, *notes;
    bool has_printer, has_plate, has_est;
    int64_t printer_id = 0, plate = 0, est = 0, started = pd_clock_wall_ms() / 1000, id = 0;
    pd_err rc = only_keys(body, keys, e);
    if (!rc)
        rc = text_field(body, "name", 128, false, &name, e);
    if (!rc && (!name || !*name))
        rc = pd_inv_fail(e, PD_ERR_FIELD, "body", "name", "a name is required");
    if (!rc)
        rc = text_field(body, "printer_name", 64, true, &pname, e);
    if (!rc)
        rc = text_field(body, "file", 256, true, &file, e);
    if (!rc)
        rc = text_field(body, "notes", MAX_NOTES, true, &notes, e);
    if (!rc)
        rc = int_field(body, "printer_id", 1, INT64_MAX, &has_printer, &printer_id, e);
    if (!rc)
        rc = int_field(body, "plate", 1, 999, &has_plate, &plate, e);
    if (!rc)
        rc = int_field(body, "estimated_s", 0, 366LL * 86400, &has_est, &est, e);
    if (!rc)
        rc = time_field(body, "started_at", &started, e);
    if (rc || (rc = pd_db_begin(inv->db)))
        return fail_rc(e, rc);
    if (has_printer && !pname) {
        /* the printer's name is kept with the job (below): it outlives a printer removed later */
        int64_t n = 0;
        rc = pd_db_scalar(inv->db, "SELECT count(*) FROM printer WHERE id = ?", (const pd_sqlv[]){PD_SQL_I(printer_id)},
                          1, &n);
        if (!rc && !n)
            rc = pd_inv_fail(e, PD_ERR_FIELD, "body", "printer_id", "No printer with ID %lld.", (long long)printer_id);
    }
    if (!rc)
        rc = pd_db_insert(inv->db, "INSERT INTO job (printer_id, printer_name, name, file, plate, origin, status, "
                                   "started_at, estimated_s, notes, seen_at) VALUES (?, COALESCE(?, (SELECT name FROM "
                                   "printer WHERE id = ?), ''), ?, ?, ?, 'manual', 'printing', ?, ?, ?, ?) RETURNING id",
                          (const pd_sqlv[]){has_printer ? PD_SQL_I(printer_id) : PD_SQL_NUL,
                                            pname && *pname ? PD_SQL_S(pname) : PD_SQL_NUL, PD_SQL_I(printer_id),
                                            PD_SQL_S(name), PD_SQL_S(file ? file : ""),
                                            has_plate ? PD_SQL_I(plate) : PD_SQL_NUL, PD_SQL_I(started),
                                            has_est ? PD_SQL_I(est) : PD_SQL_NUL, notes ? PD_SQL_S(notes) : PD_SQL_NUL,
                                            PD_SQL_I(started)},
                          10, &id);
    return finish(inv, bus, rc, id, "started", out, e);
}

pd_err pd_jobs_end(pd_inv *inv, pd_bus *bus, int64_t id, json_t *body, json_t **out, pd_inv_err *e)
{
    static const char *const keys[] = {"status", "ended_at", "reason", "progress", "filament", NULL};
    const char *status, *reason;
    pd_job_status st = PD_JOB_COMPLETED;
    bool has_progress;
    int64_t progress = 0, ended = pd_clock_wall_ms() / 1000;
    job_head h;
    pd_err rc = body ? only_keys(body, keys, e) : PD_OK;
    if (!rc)
        rc = text_field(body, "status", 16, true, &status, e);
    if (!rc && status && (!pd_job_status_parse(status, &st) || st == PD_JOB_PRINTING || st == PD_JOB_PAUSED))
        rc = pd_inv_fail(e, PD_ERR_FIELD, "body", "status", "completed, failed, cancelled or unknown expected");
    if (!rc)
        rc = text_field(body, "reason", 512, true, &reason, e);
    if (!rc)
        rc = int_field(body, "progress", 0, 100, &has_progress, &progress, e);
    if (!rc)
        rc = time_field(body, "ended_at", &ended, e);
    json_t *usage = json_object_get(body, "filament");
    if (!rc)
        rc = usage_check(usage, e);
    if (rc || (rc = pd_db_begin(inv->db)))
        return fail_rc(e, rc);
    rc = job_head_get(inv->db, id, &h, e);
    if (!rc && strcmp(h.origin, "manual"))
        rc = pd_inv_fail(e, PD_ERR_INVAL, "path", "id",
                         "Job %lld is recorded from its printer's reports; only manual jobs are ended by hand.",
                         (long long)id);
    else if (!rc && !h.open)
        rc = pd_inv_fail(e, PD_ERR_INVAL, "path", "id", "Job %lld has already ended.", (long long)id);
    if (!rc)
        rc = pd_db_run(inv->db, "UPDATE job SET status = ?, ended_at = CASE WHEN ? < started_at THEN started_at ELSE ? END, "
                                "reason = ?, progress = COALESCE(?, CASE WHEN ? = 'completed' THEN 100 ELSE progress END), "
                                "seen_at = ? WHERE id = ?",
                       (const pd_sqlv[]){PD_SQL_S(pd_job_status_name(st)), PD_SQL_I(ended), PD_SQL_I(ended),
                                         reason ? PD_SQL_S(reason) : PD_SQL_NUL,
                                         has_progress ? PD_SQL_I(progress) : PD_SQL_NUL,
                                         PD_SQL_S(pd_job_status_name(st)), PD_SQL_I(ended), PD_SQL_I(id)},
                       8, NULL);
    if (!rc && usage)
        rc = usage_put(inv, id, usage, e);
    if (!rc)
        rc = pd_rollup_job(inv->db, id, 1);
    rc = finish(inv, bus, rc, id, "ended", out, e);
    if (!rc && usage)
        pd_usage_announce(inv->db, bus, id, "recorded");
    return rc;
}
