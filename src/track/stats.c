#include "track/stats.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "track/rollup.h"

#define DAY 86400

/* --- the request ------------------------------------------------------------------------------ */

static pd_err int_param(const pd_inv_param *p, size_t n, const char *name, int lo, int hi, int def, int *out,
                        pd_inv_err *e)
{
    const char *v = pd_inv_param_get(p, n, name);
    char *end;
    long x = v ? strtol(v, &end, 10) : def;
    if (v && (!*v || *end || x < lo || x > hi))
        return pd_inv_fail(e, PD_ERR_FIELD, "query", name, "a whole number in %d..%d expected", lo, hi);
    *out = (int)x;
    return PD_OK;
}

static pd_err date_param(const pd_inv_param *p, size_t n, const char *name, int64_t *out, pd_inv_err *e)
{
    const char *v = pd_inv_param_get(p, n, name), *why = NULL;
    if (v && *v && !pd_date_parse(v, PD_DATE_NAIVE_UTC, out, &why))
        return pd_inv_fail(e, PD_ERR_FIELD, "query", name, "an ISO 8601 date or time expected: %s", why ? why : "");
    return PD_OK;
}

pd_err pd_stats_parse(const pd_inv_param *p, size_t n, pd_stats_req *q, pd_inv_err *e)
{
    memset(q, 0, sizeof *q);
    memset(e, 0, sizeof *e);
    q->now = pd_clock_wall_ms() / 1000;
    q->to = q->now + 1;
    pd_err rc = date_param(p, n, "from", &q->from, e);
    if (!rc)
        rc = date_param(p, n, "to", &q->to, e);
    if (!rc && q->to <= q->from)
        rc = pd_inv_fail(e, PD_ERR_FIELD, "query", "to", "to must come after from");
    if (!rc)
        rc = int_param(p, n, "top", 1, 100, 10, &q->top, e);
    if (!rc)
        rc = int_param(p, n, "days", 1, 365, 30, &q->days, e);
    if (rc)
        return rc;
    const char *period = pd_inv_param_get(p, n, "period");
    if (!period || !strcmp(period, "month"))
        q->period = PD_STATS_MONTH;
    else if (!strcmp(period, "week"))
        q->period = PD_STATS_WEEK;
    else if (!strcmp(period, "day"))
        q->period = PD_STATS_DAY;
    else
        return pd_inv_fail(e, PD_ERR_FIELD, "query", "period", "day, week or month expected");
    const char *m = pd_inv_param_get(p, n, "material");
    if (m && strlen(m) >= sizeof q->material)
        return pd_inv_fail(e, PD_ERR_FIELD, "query", "material", "at most %zu characters", sizeof q->material - 1);
    snprintf(q->material, sizeof q->material, "%s", m ? m : "");
    const char *ids = pd_inv_param_get(p, n, "printer_id");
    if (!ids)
        ids = pd_inv_param_get(p, n, "printer");
    for (const char *s = ids; s && *s;) {
        char *end;
        long long id = isdigit((unsigned char)*s) ? strtoll(s, &end, 10) : -1;
        if (id < 0 || (*end && *end != ',') || q->n_printers == PD_STATS_MAX_PRINTERS)
            return pd_inv_fail(e, PD_ERR_FIELD, "query", "printer_id", "up to %d printer ids, comma-separated",
                               PD_STATS_MAX_PRINTERS);
        q->printers[q->n_printers++] = id;
        s = *end ? end + 1 : end;
    }
    return PD_OK;
}

/* " AND <col> IN (…)" and the material condition; ids are ours (parsed integers). */
static void filters(pd_sqlb *b, const pd_stats_req *q, const char *printer_col, const char *material_sql)
{
    if (q->n_printers) {
        pd_sqlb_add(b, " AND %s IN (", printer_col);
        for (size_t i = 0; i < q->n_printers; i++)
            pd_sqlb_add(b, "%s%lld", i ? ", " : "", (long long)q->printers[i]);
        pd_sqlb_add(b, ")");
    }
    if (*q->material) {
        pd_sqlb_add(b, " AND %s", material_sql);
        pd_sqlb_arg(b, PD_SQL_S(q->material));
    }
}

/* --- where the rows come from --------------------------------------------------------------------- */

/* The rows themselves (span < 0, lo and hi in seconds) or the summaries of one span (days). */
typedef struct piece {
    int span;
    int64_t lo, hi;
} piece;

static int64_t floordiv(int64_t a, int64_t b) { return a / b - (a % b != 0 && (a < 0) != (b < 0)); }

/* [from, to) as at most five pieces, in time order: the rows of the partial days at either
 * end, the day summaries around the whole periods, the period summaries for those. */
static size_t pieces(const pd_stats_req *q, piece out[5])
{
    size_t n = 0;
    int64_t d1 = floordiv(q->from + DAY - 1, DAY), d2 = floordiv(q->to, DAY);
    if (q->raw || d1 >= d2) {
        out[n++] = (piece){-1, q->from, q->to};
        return n;
    }
    if (q->from < d1 * DAY)
        out[n++] = (piece){-1, q->from, d1 * DAY};
    int64_t p1 = pd_rollup_bucket(q->period, d1), p2 = pd_rollup_bucket(q->period, d2);
    if (p1 < d1)
        p1 = q->period == PD_STATS_WEEK ? p1 + 7 : pd_rollup_bucket(PD_STATS_MONTH, p1 + 31);
    if (p1 >= p2) {
        out[n++] = (piece){PD_STATS_DAY, d1, d2};
    } else {
        if (d1 < p1)
            out[n++] = (piece){PD_STATS_DAY, d1, p1};
        out[n++] = (piece){(int)q->period, p1, p2};
        if (p2 < d2)
            out[n++] = (piece){PD_STATS_DAY, p2, d2};
    }
    if (d2 * DAY < q->to)
        out[n++] = (piece){-1, d2 * DAY, q->to};
    return n;
}

#define JOB_MATERIAL "UPPER(',' || materials || ',') LIKE '%,' || UPPER(?) || ',%'"

/* Rows: day, printer, status, materials, failure reason, jobs, seconds, longest, first start
 * (or the start of its bucket). Open jobs are always read from the rows, the closed ones
 * from the piece. */
static void job_sql(pd_sqlb *b, const pd_stats_req *q, const piece *p, bool open)
{
    if (open)
        pd_sqlb_add(b, "SELECT started_at / %d, printer_id, status, materials, '', count(*), SUM(? - started_at), 0, "
                       "MIN(started_at) FROM job WHERE ended_at IS NULL AND started_at >= ? AND started_at < ?", DAY);
    else if (p->span < 0)
        pd_sqlb_add(b, "SELECT started_at / %d, printer_id, status, materials, "
                       "CASE WHEN status = 'failed' THEN COALESCE(reason, '') ELSE '' END, count(*), "
                       "SUM(ended_at - started_at), MAX(ended_at - started_at), MIN(started_at) FROM job "
                       "WHERE ended_at IS NOT NULL AND started_at >= ? AND started_at < ?", DAY);
    else
        pd_sqlb_add(b, "SELECT day, printer_id, status, materials, reason, SUM(jobs), SUM(print_s), MAX(max_s), "
                       "MIN(day) * %d FROM job_rollup WHERE span = %d AND day >= ? AND day < ?", DAY, p->span);
    if (open)
        pd_sqlb_arg(b, PD_SQL_I(q->now));
    pd_sqlb_arg(b, PD_SQL_I(open ? q->from : p->lo));
    pd_sqlb_arg(b, PD_SQL_I(open ? q->to : p->hi));
    filters(b, q, "printer_id", JOB_MATERIAL);
    pd_sqlb_add(b, open ? " GROUP BY 1, 2, 3, 4" : p->span < 0 ? " GROUP BY 1, 2, 3, 4, 5"
                                                            : " GROUP BY 1, 2, 3, 4, 5 HAVING SUM(jobs) <> 0");
}

/* Rows: (day, printer, material | spool, material), grams, meters, cost, last day. */
static void usage_sql(pd_sqlb *b, const pd_stats_req *q, const piece *p, bool spools)
{
    const char *keys = spools ? "spool_id, material" : p->span < 0 ? "at / 86400, printer_id, material"
                                                                    : "day, printer_id, material";
    if (p->span < 0)
        pd_sqlb_add(b, "SELECT %s, SUM(grams), COALESCE(SUM(meters), 0), COALESCE(SUM(cost), 0), MAX(at / %d) "
                       "FROM filament_usage WHERE at >= ? AND at < ?", keys, DAY);
    else
        pd_sqlb_add(b, "SELECT %s, SUM(grams), SUM(meters), SUM(cost), MAX(day) FROM usage_rollup "
                       "WHERE span = %d AND day >= ? AND day < ?", keys, p->span);
    pd_sqlb_arg(b, PD_SQL_I(p->lo));
    pd_sqlb_arg(b, PD_SQL_I(p->hi));
    filters(b, q, "printer_id", "UPPER(material) = UPPER(?)");
    if (spools)
        pd_sqlb_add(b, " AND spool_id IS NOT NULL");
    pd_sqlb_add(b, spools ? " GROUP BY 1, 2" : " GROUP BY 1, 2, 3");
    if (p->span >= 0)
        pd_sqlb_add(b, " HAVING SUM(uses) <> 0");
}

/* --- accumulating ------------------------------------------------------------------------------- */

static void add(json_t *o, const char *field, double v)
{
    json_t *cur = json_object_get(o, field);
    json_object_set_new(o, field, json_real((cur ? json_number_value(cur) : 0) + v));
}

/* The member `key` of map, made with `name: label` when new. */
static json_t *bucket(json_t *map, const char *key, const char *name, json_t *label)
{
    json_t *o = json_object_get(map, key);
    if (!o) {
        o = json_object();
        json_object_set_new(o, name, label);
        json_object_set_new(map, key, o);
    } else {
        json_decref(label);
    }
    return o;
}

static void period_label(const pd_stats_req *q, int64_t day, char out[16])
{
    time_t t = (time_t)(pd_rollup_bucket(q->period, day) * DAY);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 16, q->period == PD_STATS_MONTH ? "%Y-%m" : "%Y-%m-%d", &tm);
}

typedef struct acc {
    const pd_stats_req *q;
    json_t *totals, *printers, *materials, *spools, *periods, *reasons;
    int64_t first;               /* earliest start seen (or a lower bound of it); 0: none */
    int64_t longest;             /* the longest closed job seen (or an upper bound) */
    int64_t open_s;              /* reading open jobs: what each counts past the range's end */
} acc;

static const char *const counted[] = {"completed", "failed", "cancelled", "unknown", "printing", "paused"};

static void count_status(json_t *o, const char *status, double jobs)
{
    add(o, "jobs", jobs);
    for (size_t i = 0; i < sizeof counted / sizeof *counted; i++)
        if (!strcmp(status, counted[i]))
            add(o, counted[i], jobs);
}

static json_t *printer_of(acc *a, const pd_row *row, int col)
{
    char key[24];
    int64_t printer = pd_row_null(row, col) ? 0 : pd_row_int(row, col);
    snprintf(key, sizeof key, "%lld", (long long)printer);
    return bucket(a->printers, key, "printer_id", printer ? json_integer(printer) : json_null());
}

static pd_err job_row(const pd_row *row, void *ud)
{
    acc *a = ud;
    char label[16];
    const char *status = pd_row_text(row, 2);
    double jobs = (double)pd_row_int(row, 5), secs = pd_row_real(row, 6);
    if (!a->first || pd_row_int(row, 8) < a->first)
        a->first = pd_row_int(row, 8);
    if (pd_row_int(row, 7) > a->longest)
        a->longest = pd_row_int(row, 7);
    count_status(a->totals, status, jobs);
    add(a->totals, "print_s", secs);
    json_t *p = printer_of(a, row, 1);
    count_status(p, status, jobs);
    add(p, "print_s", secs);
    add(p, "busy_s", secs - jobs * (double)a->open_s);  /* closed jobs past the end: job_overrun */
    period_label(a->q, pd_row_int(row, 0), label);
    json_t *per = bucket(a->periods, label, "period", json_string(label));
    count_status(per, status, jobs);
    add(per, "print_s", secs);
    if (!strcmp(status, "failed"))
        add(bucket(a->reasons, pd_row_text(row, 4), "reason", json_string(pd_row_text(row, 4))), "count", jobs);
    if (strcmp(status, "completed"))
        return PD_OK;
    /* the average print time of a material: completed jobs that used it */
    char mats[256];
    snprintf(mats, sizeof mats, "%s", pd_row_text(row, 3));
    for (char *save = NULL, *m = strtok_r(mats, ",", &save); m; m = strtok_r(NULL, ",", &save)) {
        json_t *mo = bucket(a->materials, m, "material", json_string(m));
        add(mo, "completed_jobs", jobs);
        add(mo, "completed_s", secs);
    }
    return PD_OK;
}

/* Rows: printer, seconds its closed jobs ran past the range's end. */
static pd_err overrun_row(const pd_row *row, void *ud)
{
    add(printer_of(ud, row, 0), "busy_s", -pd_row_real(row, 1));
    return PD_OK;
}

static pd_err first_row(const pd_row *row, void *ud)
{
    ((acc *)ud)->first = pd_row_int(row, 0);
    return PD_OK;
}

static pd_err usage_row(const pd_row *row, void *ud)
{
    acc *a = ud;
    char label[16];
    double g = pd_row_real(row, 3), m = pd_row_real(row, 4), c = pd_row_real(row, 5);
    const char *material = pd_row_text(row, 2);
    json_t *targets[4];
    targets[0] = a->totals;
    targets[1] = printer_of(a, row, 1);
    targets[2] = bucket(a->materials, material, "material", json_string(material));
    period_label(a->q, pd_row_int(row, 0), label);
    targets[3] = bucket(a->periods, label, "period", json_string(label));
    for (int i = 0; i < 4; i++) {
        add(targets[i], "grams", g);
        add(targets[i], "meters", m);
        add(targets[i], "cost", c);
    }
    return PD_OK;
}

/* A spool shows the material of its latest use (the greater name on the same day). */
static pd_err spool_row(const pd_row *row, void *ud)
{
    acc *a = ud;
    char key[24];
    const char *material = pd_row_text(row, 1);
    int64_t last = pd_row_int(row, 5);
    snprintf(key, sizeof key, "%lld", (long long)pd_row_int(row, 0));
    json_t *s = bucket(a->spools, key, "spool_id", json_integer(pd_row_int(row, 0)));
    json_t *was = json_object_get(s, "material"), *day = json_object_get(s, "last_day");
    if (!was || json_integer_value(day) < last ||
        (json_integer_value(day) == last && strcmp(json_string_value(was), material) < 0)) {
        json_object_set_new(s, "material", json_string(material));
        json_object_set_new(s, "last_day", json_integer(last));
    }
    add(s, "grams", pd_row_real(row, 2));
    add(s, "meters", pd_row_real(row, 3));
    add(s, "cost", pd_row_real(row, 4));
    return PD_OK;
}

static pd_err name_row(const pd_row *row, void *ud)
{
    char key[24];
    snprintf(key, sizeof key, "%lld", (long long)pd_row_int(row, 0));
    json_t *p = json_object_get(ud, key);
    if (p)
        json_object_set_new(p, "printer_name", json_string(pd_row_text(row, 1)));
    return PD_OK;
}

static double num(json_t *o, const char *k) { return json_number_value(json_object_get(o, k)); }

static double round2(double v) { return round(v * 100) / 100; }

/* The counters every group shows, whatever it saw: zeros rather than absent members. */
static void finish(json_t *o, double range_s)
{
    static const char *const fields[] = {"jobs", "completed", "failed", "cancelled", "unknown", "printing",
                                         "paused", "grams", "meters", "cost"};
    bool has_jobs = json_object_get(o, "jobs") != NULL;
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
        double v = num(o, fields[i]);
        bool count = i < 7;
        if (count && !has_jobs && !json_object_get(o, "printer_id") && !json_object_get(o, "period"))
            continue;  /* a material or spool: only its usage */
        json_object_set_new(o, fields[i], count ? json_integer((json_int_t)v) : json_real(round2(v)));
    }
    if (has_jobs) {
        double done = num(o, "completed") + num(o, "failed") + num(o, "cancelled");
        json_object_set_new(o, "success_rate", done > 0 ? json_real(round(num(o, "completed") / done * 1e4) / 1e4)
                                                        : json_null());
        json_object_set_new(o, "print_hours", json_real(round2(num(o, "print_s") / 3600)));
    }
    if (json_object_get(o, "busy_s"))
        json_object_set_new(o, "utilisation", json_real(range_s > 0 ? round(num(o, "busy_s") / range_s * 1e4) / 1e4 : 0));
    if (json_object_get(o, "completed_jobs")) {
        double n = num(o, "completed_jobs");
        json_object_set_new(o, "completed_jobs", json_integer((json_int_t)n));
        json_object_set_new(o, "avg_print_s", json_integer((json_int_t)llround(num(o, "completed_s") / n)));
    }
    json_object_del(o, "print_s");
    json_object_del(o, "busy_s");
    json_object_del(o, "completed_s");
    json_object_del(o, "last_day");
}

/* The order of each list: most grams (or failures) first, then by name or id; periods and
 * printers by their key. */
typedef enum order { BY_GRAMS, BY_COUNT, BY_KEY } order;

typedef struct entry {
    const char *key;
    json_t *o;
    double v;
} entry;

static int by_key(const entry *x, const entry *y)
{
    char *ex, *ey;
    long long a = strtoll(x->key, &ex, 10), b = strtoll(y->key, &ey, 10);
    if (!*ex && !*ey && *x->key && *y->key)
        return a < b ? -1 : a > b;
    return strcmp(x->key, y->key);
}

static int by_value(const void *px, const void *py)
{
    const entry *x = px, *y = py;
    return x->v < y->v ? 1 : x->v > y->v ? -1 : by_key(x, y);
}

static int by_key_only(const void *x, const void *y) { return by_key(x, y); }

static json_t *to_array(json_t *map, double range_s, order ord, size_t max)
{
    size_t n = json_object_size(map), i = 0;
    entry *v = calloc(n ? n : 1, sizeof *v);
    json_t *out = json_array(), *o;
    const char *key;
    if (!v || !out) {
        free(v);
        return out;
    }
    json_object_foreach(map, key, o) {
        v[i++] = (entry){key, o, ord == BY_GRAMS ? num(o, "grams") : ord == BY_COUNT ? num(o, "count") : 0};
        if (ord == BY_COUNT)
            json_object_set_new(o, "count", json_integer((json_int_t)num(o, "count")));
        else
            finish(o, range_s);
    }
    qsort(v, n, sizeof *v, ord == BY_KEY ? by_key_only : by_value);
    for (i = 0; i < n && i < max; i++)
        json_array_append(out, v[i].o);
    free(v);
    return out;
}

/* Each piece through `sql` into `fn`; the builder is reused. */
static pd_err each_piece(pd_db *db, pd_sqlb *b, const pd_stats_req *q, const piece *ps, size_t n, bool spools,
                         pd_row_fn fn, acc *a)
{
    pd_err rc = PD_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        pd_sqlb_init(b);
        if (fn == job_row)
            job_sql(b, q, &ps[i], false);
        else
            usage_sql(b, q, &ps[i], spools);
        rc = pd_sqlb_ok(b) ? pd_db_query(db, b->sql, b->args, b->nargs, fn, a) : PD_ERR_TOOBIG;
        pd_sqlb_free(b);
    }
    return rc;
}

pd_err pd_stats_run(pd_db *db, const pd_stats_req *q, json_t **out)
{
    pd_sqlb *b = malloc(sizeof *b);
    if (!b)
        return PD_ERR_NOMEM;
    acc a = {.q = q, .totals = json_object(), .printers = json_object(), .materials = json_object(),
             .spools = json_object(), .periods = json_object(), .reasons = json_object()};
    int64_t end_cap = q->to < q->now ? q->to : q->now;
    piece ps[5];
    size_t np = pieces(q, ps);
    pd_err rc = each_piece(db, b, q, ps, np, false, job_row, &a);
    if (!rc) {
        /* open jobs: from their rows, cut at the range's end for the utilisation */
        a.open_s = q->now - end_cap;
        pd_sqlb_init(b);
        job_sql(b, q, NULL, true);
        rc = pd_sqlb_ok(b) ? pd_db_query(db, b->sql, b->args, b->nargs, job_row, &a) : PD_ERR_TOOBIG;
        pd_sqlb_free(b);
    }
    if (!rc && a.longest > 0) {
        /* closed jobs that ran past the range's end started at most `longest` before it */
        int64_t lo = end_cap - a.longest > q->from ? end_cap - a.longest : q->from;
        pd_sqlb_init(b);
        pd_sqlb_add(b, "SELECT printer_id, SUM(ended_at - ?) FROM job WHERE started_at >= ? AND started_at < ? "
                       "AND ended_at > ?");
        pd_sqlb_arg(b, PD_SQL_I(end_cap));
        pd_sqlb_arg(b, PD_SQL_I(lo));
        pd_sqlb_arg(b, PD_SQL_I(q->to));
        pd_sqlb_arg(b, PD_SQL_I(end_cap));
        filters(b, q, "printer_id", JOB_MATERIAL);
        pd_sqlb_add(b, " GROUP BY 1");
        rc = pd_sqlb_ok(b) ? pd_db_query(db, b->sql, b->args, b->nargs, overrun_row, &a) : PD_ERR_TOOBIG;
        pd_sqlb_free(b);
    }
    if (!rc && !q->from && a.first) {
        /* a summary gives its bucket's start: the first job from there is the one */
        pd_sqlb_init(b);
        pd_sqlb_add(b, "SELECT started_at FROM job WHERE started_at >= ?");
        pd_sqlb_arg(b, PD_SQL_I(a.first));
        filters(b, q, "printer_id", JOB_MATERIAL);
        pd_sqlb_add(b, " ORDER BY started_at LIMIT 1");
        rc = pd_sqlb_ok(b) ? pd_db_query(db, b->sql, b->args, b->nargs, first_row, &a) : PD_ERR_TOOBIG;
        pd_sqlb_free(b);
    }
    if (!rc)
        rc = each_piece(db, b, q, ps, np, false, usage_row, &a);
    if (!rc)
        rc = each_piece(db, b, q, ps, np, true, spool_row, &a);
    if (!rc)
        rc = pd_db_query(db, "SELECT id, name FROM printer", NULL, 0, name_row, a.printers);
    free(b);
    if (!rc) {
        int64_t from = q->from ? q->from : a.first;
        double range_s = from && end_cap > from ? (double)(end_cap - from) : 0;
        json_object_set_new(a.totals, "jobs", json_real(num(a.totals, "jobs")));
        finish(a.totals, range_s);
        json_object_del(a.totals, "utilisation");
        static const char *const names[] = {"day", "week", "month"};
        *out = json_pack("{s:o,s:o,s:s,s:o,s:o,s:o,s:o,s:o,s:o}", "from",
                         from ? pd_inv_time_json(from) : json_null(), "to", pd_inv_time_json(end_cap),
                         "period", names[q->period], "totals", json_incref(a.totals),
                         "by_material", to_array(a.materials, range_s, BY_GRAMS, SIZE_MAX),
                         "by_printer", to_array(a.printers, range_s, BY_KEY, SIZE_MAX),
                         "by_spool", to_array(a.spools, range_s, BY_GRAMS, SIZE_MAX),
                         "by_period", to_array(a.periods, range_s, BY_KEY, SIZE_MAX),
                         "failure_reasons", to_array(a.reasons, range_s, BY_COUNT, (size_t)q->top));
        if (!*out)
            rc = PD_ERR_NOMEM;
    }
    json_decref(a.totals);
    json_decref(a.printers);
    json_decref(a.materials);
    json_decref(a.spools);
    json_decref(a.periods);
    json_decref(a.reasons);
    return rc;
}

/* --- low stock ------------------------------------------------------------------------------------ */

typedef struct low_walk {
    json_t *spools, *filaments;  /* filaments: id → object while summing */
    int days, default_g;
} low_walk;

static json_t *days_left(double remaining, double used, int days)
{
    return used > 0 ? json_real(round(remaining / (used / days) * 10) / 10) : json_null();
}

/* Rows: spool, filament, spool threshold, remaining, filament threshold, label, material,
 * grams used in the window; non-archived spools with a known weight. */
static pd_err low_row(const pd_row *row, void *ud)
{
    low_walk *w = ud;
    double rem = fmax(pd_row_real(row, 3), 0), used = pd_row_real(row, 7);
    if (!pd_row_null(row, 2) && rem < pd_row_real(row, 2))
        json_array_append_new(w->spools, json_pack("{s:I,s:I,s:s,s:s,s:f,s:f,s:f,s:o}", "spool_id",
                                                   (json_int_t)pd_row_int(row, 0), "filament_id",
                                                   (json_int_t)pd_row_int(row, 1), "name", pd_row_text(row, 5),
                                                   "material", pd_row_text(row, 6), "remaining_g", rem,
                                                   "threshold_g", pd_row_real(row, 2), "used_g", used, "days_left",
                                                   days_left(rem, used, w->days)));
    double thr = !pd_row_null(row, 4) ? pd_row_real(row, 4) : w->default_g > 0 ? w->default_g : NAN;
    if (isnan(thr))
        return PD_OK;
    char key[24];
    snprintf(key, sizeof key, "%lld", (long long)pd_row_int(row, 1));
    json_t *f = bucket(w->filaments, key, "filament_id", json_integer(pd_row_int(row, 1)));
    json_object_set_new(f, "name", json_string(pd_row_text(row, 5)));
    json_object_set_new(f, "material", json_string(pd_row_text(row, 6)));
    json_object_set_new(f, "threshold_g", json_real(thr));
    add(f, "remaining_g", rem);
    add(f, "used_g", used);
    add(f, "spools", 1);
    return PD_OK;
}

pd_err pd_stats_low_stock(pd_db *db, const pd_stats_req *q, int default_threshold_g, json_t **out)
{
    low_walk w = {.spools = json_array(), .filaments = json_object(), .days = q->days,
                  .default_g = default_threshold_g};
    pd_sqlv args[] = {PD_SQL_I(q->now - (int64_t)q->days * DAY)};
    pd_err rc = pd_db_query(db,
                            "SELECT s.id, f.id, s.low_stock_weight, COALESCE(s.initial_weight, f.weight) - s.used_weight, "
                            "f.low_stock_weight, "
                            "TRIM(COALESCE(v.name, '') || ' ' || COALESCE(f.name, f.material, 'filament ' || f.id)), "
                            "COALESCE(f.material, ''), "
                            "COALESCE((SELECT SUM(u.grams) FROM filament_usage u WHERE u.spool_id = s.id AND u.at >= ?), 0) "
                            "FROM spool s JOIN filament f ON f.id = s.filament_id LEFT JOIN vendor v ON v.id = f.vendor_id "
                            "WHERE s.archived = 0 AND COALESCE(s.initial_weight, f.weight) IS NOT NULL ORDER BY s.id",
                            args, 1, low_row, &w);
    json_t *filaments = json_array();
    const char *key;
    json_t *f;
    json_object_foreach(w.filaments, key, f) {
        double rem = num(f, "remaining_g");
        if (rem >= num(f, "threshold_g"))
            continue;
        json_object_set_new(f, "spools", json_integer((json_int_t)num(f, "spools")));
        json_object_set_new(f, "days_left", days_left(rem, num(f, "used_g"), q->days));
        json_array_append(filaments, f);
    }
    if (!rc && !(*out = json_pack("{s:o,s:o,s:i}", "spools", w.spools, "filaments", filaments, "days", q->days)))
        rc = PD_ERR_NOMEM;
    if (rc) {
        json_decref(w.spools);
        json_decref(filaments);
    }
    json_decref(w.filaments);
    return rc;
}
