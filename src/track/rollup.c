#include "track/rollup.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Floor division, so days before 1970 land in the right bucket too. */
static int64_t floordiv(int64_t a, int64_t b) { return a / b - (a % b != 0 && (a < 0) != (b < 0)); }

int64_t pd_rollup_bucket(pd_stats_period span, int64_t day)
{
    if (span == PD_STATS_WEEK)
        return day - (day + 3 - 7 * floordiv(day + 3, 7));  /* 1970-01-01 was a Thursday: back to Monday */
    if (span == PD_STATS_DAY)
        return day;
    /* the day of the year from March (Hinnant's days-to-civil), as the migration computes it */
    int64_t z = day + 719468, doe = z - 146097 * floordiv(z, 146097);
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    return day - doy + (153 * ((5 * doy + 2) / 153) + 2) / 5;
}

/* One summary row's key (after span and day) and what it adds. Text is borrowed. */
typedef struct roll {
    const char *table, *count;        /* count: the rows summarised; at 0 the row goes */
    const char *const *keys;
    pd_sqlv key[4];
    size_t nkeys;
    const char *const *sums;
    pd_sqlv delta[4];
    size_t nsums;
    int64_t max_s;                    /* the job table's longest duration; < 0: none */
} roll;

static pd_err id_row(const pd_row *row, void *ud)
{
    *(int64_t *)ud = pd_row_int(row, 0);
    return PD_OK;
}

/* Finds the row of the bucket by its key, or makes it, and adds to it. Several rows with one
 * key (two writers of a shared PostgreSQL inserting at once, or a printer deleted) only ever
 * get summed by the readers, so the first one found is the one to change. */
static pd_err bump(pd_db *db, const roll *r, int span, int64_t day, int sign)
{
    char sql[768];
    pd_sqlv a[16];
    size_t na = 0, len;
    int64_t id = 0;
    a[na++] = PD_SQL_I(span);
    a[na++] = PD_SQL_I(day);
    len = (size_t)snprintf(sql, sizeof sql, "SELECT id FROM %s WHERE span = ? AND day = ?", r->table);
    for (size_t i = 0; i < r->nkeys; i++) {
        bool null = r->key[i].t == PD_SQL_NULL;
        len += (size_t)snprintf(sql + len, sizeof sql - len, " AND %s %s", r->keys[i], null ? "IS NULL" : "= ?");
        if (!null)
            a[na++] = r->key[i];
    }
    snprintf(sql + len, sizeof sql - len, " LIMIT 1");
    pd_err rc = pd_db_query(db, sql, a, na, id_row, &id);
    if (rc)
        return rc;
    if (id) {
        na = 0;
        len = (size_t)snprintf(sql, sizeof sql, "UPDATE %s SET %s = %s + ?", r->table, r->count, r->count);
        a[na++] = PD_SQL_I(sign);
        for (size_t i = 0; i < r->nsums; i++) {
            len += (size_t)snprintf(sql + len, sizeof sql - len, ", %s = %s + ?", r->sums[i], r->sums[i]);
            a[na++] = r->delta[i];
        }
        if (r->max_s >= 0 && sign > 0) {
            len += (size_t)snprintf(sql + len, sizeof sql - len, ", max_s = CASE WHEN max_s < ? THEN ? ELSE max_s END");
            a[na++] = PD_SQL_I(r->max_s);
            a[na++] = PD_SQL_I(r->max_s);
        }
        snprintf(sql + len, sizeof sql - len, " WHERE id = ?");
        a[na++] = PD_SQL_I(id);
        rc = pd_db_run(db, sql, a, na, NULL);
        if (!rc && sign < 0) {
            /* empty: every counter at zero (one with a duplicate's share keeps it). Sums of
             * grams, metres and cost taken away in another order than added leave ~1e-13,
             * not 0: what is that near zero is nothing left */
            len = (size_t)snprintf(sql, sizeof sql, "DELETE FROM %s WHERE id = ? AND %s = 0", r->table, r->count);
            for (size_t i = 0; i < r->nsums; i++)
                len += (size_t)snprintf(sql + len, sizeof sql - len, " AND ABS(%s) < 1e-6", r->sums[i]);
            rc = pd_db_run(db, sql, (const pd_sqlv[]){PD_SQL_I(id)}, 1, NULL);
        }
        return rc;
    }
    char cols[256], marks[64];
    na = 2;  /* span and day, as for the search */
    size_t cl = (size_t)snprintf(cols, sizeof cols, "span, day"), ml = (size_t)snprintf(marks, sizeof marks, "?, ?");
    for (size_t i = 0; i < r->nkeys; i++) {
        cl += (size_t)snprintf(cols + cl, sizeof cols - cl, ", %s", r->keys[i]);
        ml += (size_t)snprintf(marks + ml, sizeof marks - ml, ", ?");
        a[na++] = r->key[i];
    }
    cl += (size_t)snprintf(cols + cl, sizeof cols - cl, ", %s", r->count);
    ml += (size_t)snprintf(marks + ml, sizeof marks - ml, ", ?");
    a[na++] = PD_SQL_I(sign);
    for (size_t i = 0; i < r->nsums; i++) {
        cl += (size_t)snprintf(cols + cl, sizeof cols - cl, ", %s", r->sums[i]);
        ml += (size_t)snprintf(marks + ml, sizeof marks - ml, ", ?");
        a[na++] = r->delta[i];
    }
    if (r->max_s >= 0) {
        snprintf(cols + cl, sizeof cols - cl, ", max_s");
        snprintf(marks + ml, sizeof marks - ml, ", ?");
        a[na++] = PD_SQL_I(r->max_s);
    }
    snprintf(sql, sizeof sql, "INSERT INTO %s (%s) VALUES (%s)", r->table, cols, marks);
    return pd_db_run(db, sql, a, na, NULL);
}

/* Every span of the day, in one transaction (nested in the caller's). */
static pd_err bump_all(pd_db *db, const roll *r, int64_t day, int sign)
{
    pd_err rc = pd_db_begin(db);
    for (int span = PD_STATS_DAY; span <= PD_STATS_MONTH && !rc; span++)
        rc = bump(db, r, span, pd_rollup_bucket((pd_stats_period)span, day), sign);
    return pd_db_end(db, rc);
}

typedef struct job_facts {
    bool found;
    int64_t started, ended, printer;
    bool has_printer;
    char *status, *materials, *reason;
} job_facts;

static pd_err job_row(const pd_row *row, void *ud)
{
    job_facts *f = ud;
    f->found = true;
    f->started = pd_row_int(row, 0);
    f->ended = pd_row_int(row, 1);
    f->has_printer = !pd_row_null(row, 2);
    f->printer = pd_row_int(row, 2);
    f->status = strdup(pd_row_text(row, 3));
    f->materials = strdup(pd_row_text(row, 4));
    f->reason = strdup(pd_row_text(row, 5));
    return f->status && f->materials && f->reason ? PD_OK : PD_ERR_NOMEM;
}

pd_err pd_rollup_job(pd_db *db, int64_t job_id, int sign)
{
    static const char *const keys[] = {"printer_id", "status", "materials", "reason"};
    static const char *const sums[] = {"print_s"};
    job_facts f = {0};
    pd_err rc = pd_db_query(db, "SELECT started_at, ended_at, printer_id, status, materials, "
                                "CASE WHEN status = 'failed' THEN COALESCE(reason, '') ELSE '' END "
                                "FROM job WHERE id = ? AND ended_at IS NOT NULL",
                            (const pd_sqlv[]){PD_SQL_I(job_id)}, 1, job_row, &f);
    if (!rc && f.found) {
        int64_t secs = f.ended - f.started;
        roll r = {.table = "job_rollup", .count = "jobs", .keys = keys, .nkeys = 4, .sums = sums, .nsums = 1,
                  .key = {f.has_printer ? PD_SQL_I(f.printer) : PD_SQL_NUL, PD_SQL_S(f.status),
                          PD_SQL_S(f.materials), PD_SQL_S(f.reason)},
                  .delta = {PD_SQL_I(sign * secs)}, .max_s = secs > 0 ? secs : 0};
        rc = bump_all(db, &r, floordiv(f.started, PD_ROLLUP_DAY_S), sign);
    }
    free(f.status);
    free(f.materials);
    free(f.reason);
    return rc;
}

typedef struct usage_facts {
    bool found;
    int64_t at;
    pd_sqlv printer, spool;
    char *material;
    double grams, meters, cost;
} usage_facts;

static pd_err usage_row(const pd_row *row, void *ud)
{
    usage_facts *f = ud;
    f->found = true;
    f->at = pd_row_int(row, 0);
    f->printer = pd_row_null(row, 1) ? PD_SQL_NUL : PD_SQL_I(pd_row_int(row, 1));
    f->material = strdup(pd_row_text(row, 2));
    f->spool = pd_row_null(row, 3) ? PD_SQL_NUL : PD_SQL_I(pd_row_int(row, 3));
    f->grams = pd_row_real(row, 4);
    f->meters = pd_row_real(row, 5);
    f->cost = pd_row_real(row, 6);
    return f->material ? PD_OK : PD_ERR_NOMEM;
}

pd_err pd_rollup_usage(pd_db *db, int64_t usage_id, int sign)
{
    static const char *const keys[] = {"printer_id", "material", "spool_id"};
    static const char *const sums[] = {"grams", "meters", "cost"};
    usage_facts f = {0};
    pd_err rc = pd_db_query(db, "SELECT at, printer_id, material, spool_id, grams, COALESCE(meters, 0), "
                                "COALESCE(cost, 0) FROM filament_usage WHERE id = ?",
                            (const pd_sqlv[]){PD_SQL_I(usage_id)}, 1, usage_row, &f);
    if (!rc && f.found) {
        roll r = {.table = "usage_rollup", .count = "uses", .keys = keys, .nkeys = 3, .sums = sums, .nsums = 3,
                  .key = {f.printer, PD_SQL_S(f.material), f.spool},
                  .delta = {PD_SQL_D(sign * f.grams), PD_SQL_D(sign * f.meters), PD_SQL_D(sign * f.cost)},
                  .max_s = -1};
        rc = bump_all(db, &r, floordiv(f.at, PD_ROLLUP_DAY_S), sign);
    }
    free(f.material);
    return rc;
}
