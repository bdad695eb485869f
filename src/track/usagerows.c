/* The usage rows as the API sees them (usage.h): one column table drives the SELECT list, the
 * object and the CSV; lists use the inventory's filter, sort and paging rules, as the job rows
 * do (jobrows.c). */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/json.h"
#include "store/sqlb.h"
#include "track/jobs.h"
#include "track/split.h"
#include "track/usage.h"

static const pd_inv_col cols[] = {
    {"id", "u.id", PD_INV_COL_INT},
    {"job_id", "u.job_id", PD_INV_COL_INT},
    {"job_name", "j.name", PD_INV_COL_TEXT},
    {"spool_id", "u.spool_id", PD_INV_COL_INT},
    {"printer_id", "u.printer_id", PD_INV_COL_INT},
    {"unit", "u.unit", PD_INV_COL_INT},
    {"slot", "u.slot", PD_INV_COL_INT},
    {"grams", "u.grams", PD_INV_COL_REAL},
    {"meters", "u.meters", PD_INV_COL_REAL},
    {"source", "u.source", PD_INV_COL_TEXT},
    {"material", "u.material", PD_INV_COL_TEXT},
    {"cost", "u.cost", PD_INV_COL_REAL},
    {"at", "u.at", PD_INV_COL_TIME},
};
#define NCOLS (sizeof cols / sizeof cols[0])
#define COL_UNIT 5

/* The SELECT list, from the column table once */
static char cols_sql[NCOLS * 24];

static void cols_init(void)
{
    size_t len = 0;
    if (cols_sql[0])
        return;
    for (size_t i = 0; i < NCOLS; i++)
        len += (size_t)snprintf(cols_sql + len, sizeof cols_sql - len, "%s%s", i ? ", " : "", cols[i].sql);
}

static pd_err fetch_row(const pd_row *row, void *ud)
{
    json_t *o = json_object();
    for (size_t i = 0; i < NCOLS; i++)
        json_object_set_new(o, cols[i].name, pd_inv_col_json(&cols[i], row, (int)i));
    /* tray as tray_now numbers it (254 the external holder) */
    json_object_set_new(o, "tray", pd_row_null(row, COL_UNIT) ? json_null()
                                   : json_integer(pd_split_tray_now((int)pd_row_int(row, COL_UNIT),
                                                                    (int)pd_row_int(row, COL_UNIT + 1))));
    return json_array_append_new(ud, o) ? PD_ERR_NOMEM : PD_OK;
}

static const pd_inv_filter filters[] = {
    {"spool_id", "spool", "u.spool_id", PD_INV_F_IDS_NULL},
    {"printer_id", "printer", "u.printer_id", PD_INV_F_IDS_NULL},
    {"job_id", "job", "u.job_id", PD_INV_F_IDS_NULL},
    {"material", NULL, "u.material", PD_INV_F_TEXT_REQ},
    {"source", NULL, "u.source", PD_INV_F_TEXT_REQ},
    {"at", "date", "u.at", PD_INV_F_DATES},
};

static bool sort_expr(void *ud, const char *field, char *out, size_t outlen)
{
    (void)ud;
    return pd_inv_col_sort(cols, NCOLS, field, out, outlen);
}

static pd_err fail_rc(pd_inv_err *e, pd_err rc)
{
    if (rc && !e->code)
        pd_inv_fail(e, rc, NULL, NULL, "%s", pd_strerror(rc));
    return rc;
}

static pd_err table_fetch(pd_db *db, const pd_sqlb *b, json_t *rows, bool csv)
{
    (void)csv;
    return pd_db_query(db, b->sql, b->args, b->nargs, fetch_row, rows);
}

static const char *const csv_cols[] = {
    "id", "job_id", "job_name", "spool_id", "printer_id", "unit", "slot", "grams", "meters", "source",
    "material", "cost", "at",
};

static const pd_inv_table usage_table = {
    .alias = "u", .from = " FROM filament_usage u LEFT JOIN job j ON j.id = u.job_id", .cols = cols_sql,
    .filters = filters, .nfilters = sizeof filters / sizeof filters[0], .sort_expr = sort_expr,
    .default_sort = "at:desc,id:desc", .fetch = table_fetch, .csv_cols = csv_cols,
    .ncsv = sizeof csv_cols / sizeof csv_cols[0], .csv_decimals = 3,
};

pd_err pd_usage_list_open(pd_inv *inv, const pd_inv_param *p, size_t n, bool csv, pd_inv_cursor **out,
                          pd_inv_err *e)
{
    cols_init();
    return pd_inv_table_open(inv, &usage_table, p, n, csv, out, e);
}

void pd_usage_announce(pd_db *db, pd_bus *bus, int64_t job_id, const char *change)
{
    json_t *job = NULL;
    pd_inv_err e = {0};
    if (!bus || pd_jobs_get(db, job_id, false, &job, &e))
        return;
    json_t *o = json_pack("{s:I,s:s,s:O,s:O,s:O}", "job_id", (json_int_t)job_id, "change", change, "filament",
                          json_object_get(job, "filament"), "grams", json_object_get(job, "grams"), "cost",
                          json_object_get(job, "cost"));
    char *text = o ? json_dumps(o, PD_JSON_FLAGS) : NULL;
    if (text) {
        json_t *pid = json_object_get(job, "printer_id");
        pd_event ev = {.type = PD_EV_USAGE, .printer_id = json_is_integer(pid) ? json_integer_value(pid) : 0,
                       .ts_ms = pd_clock_wall_ms()};
        ev.u.usage.job_id = job_id;
        ev.u.usage.change = change;
        ev.u.usage.payload = text;
        ev.u.usage.payload_len = strlen(text);
        pd_bus_emit(bus, &ev);
    }
    free(text);
    json_decref(o);
    json_decref(job);
}

/* --- the thumbnail ------------------------------------------------------------------------------ */

typedef struct thumb {
    bool found;
    unsigned char *png;
    size_t len;
} thumb;

static pd_err thumb_row(const pd_row *row, void *ud)
{
    thumb *t = ud;
    const char *b64 = pd_row_text(row, 0);
    size_t n = strlen(b64);
    t->found = true;
    if (!n || n % 4)
        return PD_OK;
    if (!(t->png = malloc(n / 4 * 3)))
        return PD_ERR_NOMEM;
    int len = EVP_DecodeBlock(t->png, (const unsigned char *)b64, (int)n);
    if (len < 0) {
        free(t->png);
        t->png = NULL;
        return PD_OK;
    }
    /* EVP_DecodeBlock counts the padding as bytes */
    t->len = (size_t)len - (n >= 1 && b64[n - 1] == '=') - (n >= 2 && b64[n - 2] == '=');
    return PD_OK;
}

pd_err pd_jobs_thumbnail(pd_db *db, int64_t id, unsigned char **png, size_t *len, pd_inv_err *e)
{
    thumb t = {0};
    pd_sqlv a = PD_SQL_I(id);
    pd_err rc = pd_db_query(db, "SELECT thumbnail FROM job_file WHERE job_id = ? AND thumbnail IS NOT NULL", &a, 1,
                            thumb_row, &t);
    if (rc)
        return fail_rc(e, rc);
    if (!t.png)
        return pd_inv_fail(e, PD_ERR_NOTFOUND, "path", "id", "Job %lld has no thumbnail.", (long long)id);
    *png = t.png;
    *len = t.len;
    return PD_OK;
}
