/* The usage rows as the API sees them (usage.h): one column table drives the SELECT list, the
 * object and the CSV; lists use the inventory's filter, sort and paging rules, as the job rows
 * do (jobrows.c). */
#include <math.h>
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

typedef enum ucol_kind { U_INT, U_REAL, U_TEXT, U_TIME } ucol_kind;

typedef struct ucol {
    const char *name;            /* JSON key */
    const char *sql;             /* its expression */
    ucol_kind kind;
} ucol;

static const ucol cols[] = {
    {"id", "u.id", U_INT},
    {"job_id", "u.job_id", U_INT},
    {"job_name", "j.name", U_TEXT},
    {"spool_id", "u.spool_id", U_INT},
    {"printer_id", "u.printer_id", U_INT},
    {"unit", "u.unit", U_INT},
    {"slot", "u.slot", U_INT},
    {"grams", "u.grams", U_REAL},
    {"meters", "u.meters", U_REAL},
    {"source", "u.source", U_TEXT},
    {"material", "u.material", U_TEXT},
    {"cost", "u.cost", U_REAL},
    {"at", "u.at", U_TIME},
};
#define NCOLS (sizeof cols / sizeof cols[0])
#define COL_UNIT 5

static void select_from(pd_sqlb *b, bool count)
{
    pd_sqlb_add(b, "SELECT ");
    if (count)
        pd_sqlb_add(b, "count(*)");
    for (size_t i = 0; !count && i < NCOLS; i++)
        pd_sqlb_add(b, "%s%s", i ? ", " : "", cols[i].sql);
    pd_sqlb_add(b, " FROM filament_usage u LEFT JOIN job j ON j.id = u.job_id WHERE 1 = 1");
}

static pd_err fetch_row(const pd_row *row, void *ud)
{
    json_t *o = json_object();
    for (size_t i = 0; i < NCOLS; i++) {
        json_t *v;
        if (pd_row_null(row, (int)i))
            v = json_null();
        else if (cols[i].kind == U_INT)
            v = json_integer(pd_row_int(row, (int)i));
        else if (cols[i].kind == U_REAL)
            v = json_real(round(pd_row_real(row, (int)i) * 1000) / 1000);
        else if (cols[i].kind == U_TIME)
            v = pd_inv_time_json(pd_row_int(row, (int)i));
        else
            v = json_string(pd_row_text(row, (int)i));
        json_object_set_new(o, cols[i].name, v);
    }
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

static pd_err where(pd_inv *inv, const pd_inv_param *p, size_t n, pd_sqlb *b, pd_inv_err *e)
{
    pd_err rc = PD_OK;
    for (size_t i = 0; i < sizeof filters / sizeof filters[0] && !rc; i++) {
        const char *v = pd_inv_param_get(p, n, filters[i].param);
        if (!v && filters[i].alias)
            v = pd_inv_param_get(p, n, filters[i].alias);
        if (v)
            rc = pd_inv_filter_add(inv, &filters[i], v, b, e);
    }
    return rc;
}

static bool sort_expr(void *ud, const char *field, char *out, size_t outlen)
{
    (void)ud;
    for (size_t i = 0; i < NCOLS; i++)
        if (!strcmp(cols[i].name, field)) {
            snprintf(out, outlen, "%s", cols[i].sql);
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

pd_err pd_usage_list_get(pd_inv *inv, const pd_inv_param *p, size_t n, pd_usage_list *out, pd_inv_err *e)
{
    int64_t limit, offset;
    out->items = NULL;
    out->total = 0;
    pd_err rc = pd_inv_paging(p, n, &limit, &offset, e);
    if (rc)
        return rc;
    pd_sqlb *b = malloc(sizeof *b);
    if (!b || !(out->items = json_array())) {
        free(b);
        return pd_inv_fail(e, PD_ERR_NOMEM, NULL, NULL, "out of memory");
    }
    pd_sqlb_init(b);
    select_from(b, true);
    rc = where(inv, p, n, b, e);
    if (!rc)
        rc = pd_sqlb_ok(b) ? pd_db_scalar(inv->db, b->sql, b->args, b->nargs, &out->total) : PD_ERR_TOOBIG;
    pd_sqlb_free(b);
    pd_sqlb_init(b);
    select_from(b, false);
    const char *sort = pd_inv_param_get(p, n, "sort");
    if (!rc && !(rc = where(inv, p, n, b, e)) &&
        !(rc = pd_inv_order_add("u", sort && *sort ? sort : "at:desc,id:desc", sort_expr, NULL, b, e))) {
        pd_sqlb_add(b, " LIMIT ? OFFSET ?");
        pd_sqlb_arg(b, PD_SQL_I(limit < 0 ? INT64_MAX : limit));
        pd_sqlb_arg(b, PD_SQL_I(offset));
        rc = pd_sqlb_ok(b) ? pd_db_query(inv->db, b->sql, b->args, b->nargs, fetch_row, out->items) : PD_ERR_TOOBIG;
    }
    pd_sqlb_free(b);
    free(b);
    if (rc) {
        json_decref(out->items);
        out->items = NULL;
    }
    return fail_rc(e, rc);
}

pd_err pd_usage_export_csv(pd_inv *inv, const pd_inv_param *p, size_t n, char **out, size_t *len,
                           pd_inv_err *e)
{
    pd_inv_param q[64];
    size_t nq = 0;
    for (size_t i = 0; i < n && nq < 64; i++)
        if (strcmp(p[i].name, "limit") && strcmp(p[i].name, "offset") && strcmp(p[i].name, "fmt"))
            q[nq++] = p[i];
    pd_usage_list l;
    pd_err rc = pd_usage_list_get(inv, q, nq, &l, e);
    if (rc)
        return rc;
    pd_buf o;
    pd_buf_init(&o, (size_t)1 << 30);
    for (size_t c = 0; c < NCOLS; c++) {
        pd_buf_add_str(&o, c ? "," : "");
        pd_buf_add_str(&o, cols[c].name);
    }
    pd_buf_add_str(&o, "\r\n");
    size_t i;
    json_t *it;
    json_array_foreach(l.items, i, it) {
        for (size_t c = 0; c < NCOLS; c++) {
            json_t *v = json_object_get(it, cols[c].name);
            char num[32] = "";
            if (json_is_integer(v))
                snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
            else if (json_is_real(v))
                snprintf(num, sizeof num, "%.3f", json_real_value(v));
            pd_buf_add_str(&o, c ? "," : "");
            pd_buf_add_csv(&o, json_is_string(v) ? json_string_value(v) : num);
        }
        pd_buf_add_str(&o, "\r\n");
    }
    json_decref(l.items);
    if ((rc = pd_buf_err(&o))) {
        pd_buf_free(&o);
        return fail_rc(e, rc);
    }
    *out = pd_buf_detach(&o, len);
    return *out ? PD_OK : fail_rc(e, PD_ERR_NOMEM);
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
