/* The statistics' summaries (src/track/rollup.c) against the rows they summarise: after a
 * random sequence of job closes, corrections, reopenings, deletions, usage rows and a deleted
 * printer and spool, GET /api/v1/stats answers the same from the summaries as from the rows
 * themselves, for ranges cut anywhere, every period and filter; and summaries built by the
 * migration from the rows equal the ones kept along the way. On both backends. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "core/bus.h"
#include "core/json.h"
#include "store/schema.h"
#include "track/rollup.h"
#include "track/stats.h"
#include "track/usage.h"
#include "testdb.h"

#define BASE 1714521600LL  /* 2024-05-01 */
#define NOW (BASE + 75 * 86400LL)

typedef struct fixture {
    char dir[64], dbname[64], url[512];
    pd_db *db;
    pd_bus *bus;
    pd_inv inv;
} fixture;

static void open_db(fixture *fx)
{
    char err[256];
    if (pd_db_open(&fx->db, fx->url, fx->dir, err, sizeof err))
        fail_msg("open %s: %s", fx->url, err);
    fx->inv = (pd_inv){.db = fx->db, .bus = fx->bus};
}

static int fresh(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    testdb_create("rollup", fx->dir, fx->dbname, fx->url);
    fx->bus = pd_bus_new();
    open_db(fx);
    *state = fx;
    return 0;
}

static int drop(void **state)
{
    fixture *fx = *state;
    pd_db_close(&fx->db);
    pd_bus_free(&fx->bus);
    int rc = testdb_destroy(fx->dir, fx->dbname);
    free(fx);
    return rc;
}

static void bucket_days(void **state)
{
    (void)state;
    /* 2024-05-01 is a Wednesday: its week starts 2024-04-29, its month on itself */
    int64_t d = BASE / 86400;
    assert_int_equal(pd_rollup_bucket(PD_STATS_DAY, d + 3), d + 3);
    assert_int_equal(pd_rollup_bucket(PD_STATS_WEEK, d), d - 2);
    assert_int_equal(pd_rollup_bucket(PD_STATS_WEEK, d - 2), d - 2);
    assert_int_equal(pd_rollup_bucket(PD_STATS_MONTH, d + 30), d);
    assert_int_equal(pd_rollup_bucket(PD_STATS_MONTH, d + 31), d + 31);       /* 2024-06-01 */
    assert_int_equal(pd_rollup_bucket(PD_STATS_MONTH, d - 1), d - 30);        /* 2024-04-01 */
    assert_int_equal(pd_rollup_bucket(PD_STATS_MONTH, 19782), 19782 - 28);    /* 2024-02-29 */
    assert_int_equal(pd_rollup_bucket(PD_STATS_MONTH, 0), 0);
    assert_int_equal(pd_rollup_bucket(PD_STATS_MONTH, -1), -31);              /* 1969-12-01 */
    for (int64_t day = 0; day < 40000; day += 17) {
        time_t t = (time_t)(day * 86400);
        struct tm tm;
        gmtime_r(&t, &tm);
        assert_int_equal(pd_rollup_bucket(PD_STATS_MONTH, day), day - (tm.tm_mday - 1));
        assert_int_equal(pd_rollup_bucket(PD_STATS_WEEK, day), day - (tm.tm_wday + 6) % 7);
    }
}

/* --- a random history -------------------------------------------------------------------------- */

static uint64_t seed = 88172645463325252ULL;
static uint64_t rnd(uint64_t n)
{
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return seed % n;
}

static const char *const statuses[] = {"completed", "failed", "cancelled", "unknown"};
static const char *const mats[] = {"PLA", "PETG", "PLA,PETG", ""};
static const char *const reasons[] = {"0300_8003: clog", "0500_C010: spaghetti", "stopped by the user"};

/* A random job that is open (or closed), 0 when there is none. */
static int64_t any_job(fixture *fx, bool open)
{
    int64_t n = 0, id = 0;
    const char *count = open ? "SELECT count(*) FROM job WHERE ended_at IS NULL"
                             : "SELECT count(*) FROM job WHERE ended_at IS NOT NULL";
    const char *pick = open ? "SELECT id FROM job WHERE ended_at IS NULL ORDER BY id LIMIT 1 OFFSET ?"
                            : "SELECT id FROM job WHERE ended_at IS NOT NULL ORDER BY id LIMIT 1 OFFSET ?";
    assert_int_equal(pd_db_scalar(fx->db, count, NULL, 0, &n), PD_OK);
    if (!n)
        return 0;
    pd_sqlv a[] = {PD_SQL_I((int64_t)rnd((uint64_t)n))};
    assert_int_equal(pd_db_scalar(fx->db, pick, a, 1, &id), PD_OK);
    return id;
}

static void run(fixture *fx, const char *sql, const pd_sqlv *a, size_t n)
{
    if (pd_db_run(fx->db, sql, a, n, NULL))
        fail_msg("%s: %s", sql, pd_db_last_error(fx->db));
}

/* Up to three days long, so jobs run past the ends of ranges and midnights */
static void closed_values(pd_sqlv v[4], int64_t start)
{
    size_t st = rnd(4);
    v[0] = PD_SQL_S(statuses[st]);
    v[1] = PD_SQL_I(start + (int64_t)rnd(3 * 86400));
    v[2] = PD_SQL_S(mats[rnd(4)]);
    v[3] = st == 0 ? PD_SQL_NUL : PD_SQL_S(reasons[rnd(3)]);
}

static void history(fixture *fx, int64_t printers[3], int64_t spools[4], int steps)
{
    for (int i = 0; i < steps; i++) {
        int op = (int)rnd(100);
        int64_t start = BASE + (int64_t)rnd(70 * 86400), id;
        int64_t printer = printers[rnd(3)];
        pd_sqlv v[4];
        if (op < 30) {          /* a job that ends at once (a manual one, a quick failure) */
            closed_values(v, start);
            pd_sqlv a[] = {printer ? PD_SQL_I(printer) : PD_SQL_NUL, v[0], PD_SQL_I(start), v[1], v[2], v[3]};
            assert_int_equal(pd_db_insert(fx->db, "INSERT INTO job (printer_id, name, origin, status, started_at, "
                                                  "ended_at, materials, reason, seen_at) VALUES (?, 'j', 'manual', ?, ?, "
                                                  "?, ?, ?, 0) RETURNING id", a, 6, &id), PD_OK);
            assert_int_equal(pd_rollup_job(fx->db, id, 1), PD_OK);
        } else if (op < 45) {   /* a job opens */
            pd_sqlv a[] = {printer ? PD_SQL_I(printer) : PD_SQL_NUL, PD_SQL_S(rnd(2) ? "printing" : "paused"),
                           PD_SQL_I(start), PD_SQL_S(mats[rnd(4)])};
            assert_int_equal(pd_db_insert(fx->db, "INSERT INTO job (printer_id, name, origin, status, started_at, "
                                                  "materials, seen_at) VALUES (?, 'j', 'printer', ?, ?, ?, 0) RETURNING id",
                                          a, 4, &id), PD_OK);
        } else if (op < 65) {   /* an open job closes, or a closed one is corrected */
            bool open = op < 55;
            if (!(id = any_job(fx, open)))
                continue;
            int64_t started = 0;
            assert_int_equal(pd_db_scalar(fx->db, "SELECT started_at FROM job WHERE id = ?",
                                          (const pd_sqlv[]){PD_SQL_I(id)}, 1, &started), PD_OK);
            closed_values(v, started);
            assert_int_equal(pd_rollup_job(fx->db, id, -1), PD_OK);
            run(fx, "UPDATE job SET status = ?, ended_at = ?, materials = ?, reason = ? WHERE id = ?",
                (const pd_sqlv[]){v[0], v[1], v[2], v[3], PD_SQL_I(id)}, 5);
            assert_int_equal(pd_rollup_job(fx->db, id, 1), PD_OK);
        } else if (op < 70) {   /* a closed job reopens (its printer came back printing it) */
            if (!(id = any_job(fx, false)))
                continue;
            assert_int_equal(pd_rollup_job(fx->db, id, -1), PD_OK);
            run(fx, "UPDATE job SET status = 'printing', ended_at = NULL, reason = NULL WHERE id = ?",
                (const pd_sqlv[]){PD_SQL_I(id)}, 1);
            assert_int_equal(pd_rollup_job(fx->db, id, 1), PD_OK);
        } else if (op < 74) {   /* a job is deleted */
            if (!(id = any_job(fx, rnd(2))))
                continue;
            assert_int_equal(pd_rollup_job(fx->db, id, -1), PD_OK);
            run(fx, "DELETE FROM job WHERE id = ?", (const pd_sqlv[]){PD_SQL_I(id)}, 1);
        } else {                /* filament used, or given back, in quarters of a gram */
            pd_usage u = {.spool_id = spools[rnd(4)], .printer_id = printer, .unit = 0, .slot = (int)rnd(4),
                          .grams = (double)((int64_t)rnd(400) - 40) / 4, .meters = rnd(3) ? (double)rnd(40) / 4 : -1,
                          .source = PD_USAGE_MANUAL, .at = start};
            pd_inv_err e;
            assert_int_equal(pd_usage_record(&fx->inv, &u, NULL, &e), PD_OK);
        }
    }
}

/* The same request from the summaries and from the rows. */
static void same_answer(fixture *fx, const char *const *kv, size_t n, json_t **keep)
{
    pd_inv_param p[8];
    for (size_t i = 0; i < n; i++)
        p[i] = (pd_inv_param){kv[2 * i], kv[2 * i + 1]};
    pd_stats_req q;
    pd_inv_err e;
    json_t *fast = NULL, *slow = NULL;
    assert_int_equal(pd_stats_parse(p, n, &q, &e), PD_OK);
    q.now = NOW;
    if (!pd_inv_param_get(p, n, "to"))
        q.to = NOW + 1;
    assert_int_equal(pd_stats_run(fx->db, &q, &fast), PD_OK);
    q.raw = true;
    assert_int_equal(pd_stats_run(fx->db, &q, &slow), PD_OK);
    if (!json_equal(fast, slow)) {
        char *a = json_dumps(fast, PD_JSON_FLAGS), *b = json_dumps(slow, PD_JSON_FLAGS);
        for (const char *c = a, *d = b; *c && *d; c += 200, d += 200)
            if (strncmp(c, d, 200))
                print_error("summaries: …%.200s\nrows:      …%.200s\n", c, d);
        free(a);
        free(b);
        fail_msg("the summaries and the rows disagree (%zu parameters, first %s)", n, n ? kv[0] : "-");
    }
    if (*keep && !json_equal(*keep, fast))
        fail_msg("the summaries built by the migration differ from the ones kept");
    json_decref(slow);
    if (*keep)
        json_decref(fast);
    else
        *keep = fast;
}

#define Q(...) {__VA_ARGS__, NULL}

static void summaries_equal_rows(void **state)
{
    fixture *fx = *state;
    static const char *const queries[][15] = {
        Q("period", "month"),
        Q("period", "day", "from", "2024-05-03T07:12:00", "to", "2024-06-20T13:00:00"),
        Q("period", "week", "printer_id", "1", "material", "pla"),
        Q("period", "month", "from", "2024-05-10", "to", "2024-06-15T18:30:00"),
        Q("period", "week", "from", "2024-04-30T23:00:00", "to", "2024-07-02T01:00:00", "printer_id", "1,2"),
        Q("period", "day", "material", "PETG", "to", "2024-06-03T12:00:00"),
        Q("period", "month", "from", "2024-05-20T05:00:00", "to", "2024-05-20T09:00:00"),
        Q("period", "week", "printer_id", "3", "top", "2"),
    };
    enum { NQ = sizeof queries / sizeof *queries };
    json_t *kept[NQ] = {0};
    pd_printer_rec r = {.name = "A", .serial = "S1", .host = "h", .port = 1, .ftps_port = 990, .access_code = "x"};
    int64_t printers[3] = {0}, spools[4] = {0};
    for (int i = 0; i < 3; i++) {
        snprintf(r.serial, sizeof r.serial, "S%d", i);
        assert_int_equal(pd_db_printer_insert(fx->db, &r), PD_OK);
        printers[i] = i ? r.id : 0;  /* jobs and usage without a printer too */
    }
    /* prices per gram and grams in binary fractions: sums exact in any order, as the backends add */
    run(fx, "INSERT INTO filament (registered, material, density, diameter, weight, price) VALUES "
            "(0, 'PLA', 1.24, 1.75, 1024, 32), (0, 'PETG', 1.27, 1.75, 1024, 16)", NULL, 0);
    for (int i = 1; i < 4; i++) {
        pd_sqlv a[] = {PD_SQL_I(1 + i % 2)};
        assert_int_equal(pd_db_insert(fx->db, "INSERT INTO spool (registered, filament_id) VALUES (0, ?) RETURNING id",
                                      a, 1, &spools[i]), PD_OK);
    }
    history(fx, printers, spools, 300);
    /* a printer and a spool go: their jobs and usage lose them, in the summaries too */
    assert_int_equal(pd_db_printer_delete(fx->db, printers[2]), PD_OK);
    run(fx, "DELETE FROM spool WHERE id = ?", (const pd_sqlv[]){PD_SQL_I(spools[3])}, 1);
    printers[2] = 0;
    spools[3] = 0;
    history(fx, printers, spools, 300);
    for (size_t i = 0; i < NQ; i++) {
        size_t n = 0;
        while (queries[i][2 * n])
            n++;
        same_answer(fx, queries[i], n, &kept[i]);
    }
    /* the summaries' own migration builds them again from the rows */
    int v = 1;
    while (v <= pd_schema_latest() && !strstr(pd_schema_migration(v), "CREATE TABLE job_rollup"))
        v++;
    assert_true(v <= pd_schema_latest());
    assert_int_equal(pd_db_exec(fx->db, "DROP TABLE job_rollup; DROP TABLE usage_rollup;"), PD_OK);
    assert_int_equal(pd_db_exec(fx->db, pd_schema_migration(v)), PD_OK);
    pd_db_close(&fx->db);
    open_db(fx);
    for (size_t i = 0; i < NQ; i++) {
        size_t n = 0;
        while (queries[i][2 * n])
            n++;
        same_answer(fx, queries[i], n, &kept[i]);
    }
    /* and `printdeck stats rebuild` over summaries gone wrong (rows written behind their back) */
    run(fx, "DELETE FROM job_rollup WHERE span = 2", NULL, 0);
    run(fx, "UPDATE usage_rollup SET grams = grams + 1", NULL, 0);
    assert_int_equal(pd_db_rebuild_summaries(fx->db), PD_OK);
    for (size_t i = 0; i < NQ; i++) {
        size_t n = 0;
        while (queries[i][2 * n])
            n++;
        same_answer(fx, queries[i], n, &kept[i]);
        json_decref(kept[i]);
    }
}

/* Sums taken away in another order than added leave ~1e-13, not 0: the summary row still
 * goes when its last use does. */
static void float_residue_removed(void **state)
{
    fixture *fx = *state;
    static const double grams[] = {0.1, 0.2, 0.3};
    int64_t ids[3];
    for (int i = 0; i < 3; i++) {
        pd_sqlv a[] = {PD_SQL_D(grams[i]), PD_SQL_D(grams[i] * 3), PD_SQL_D(grams[i] / 7)};
        assert_int_equal(pd_db_insert(fx->db, "INSERT INTO filament_usage (grams, meters, cost, source, material, at) "
                                              "VALUES (?, ?, ?, 'manual', 'PLA', 86400) RETURNING id",
                                      a, 3, &ids[i]), PD_OK);
        assert_int_equal(pd_rollup_usage(fx->db, ids[i], 1), PD_OK);
    }
    int64_t n = 0;
    assert_int_equal(pd_db_scalar(fx->db, "SELECT count(*) FROM usage_rollup", NULL, 0, &n), PD_OK);
    assert_true(n > 0);
    static const int order[] = {0, 2, 1};
    for (int i = 0; i < 3; i++)
        assert_int_equal(pd_rollup_usage(fx->db, ids[order[i]], -1), PD_OK);
    assert_int_equal(pd_db_scalar(fx->db, "SELECT count(*) FROM usage_rollup", NULL, 0, &n), PD_OK);
    assert_int_equal(n, 0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(bucket_days),
    cmocka_unit_test_setup_teardown(summaries_equal_rows, fresh, drop),
    cmocka_unit_test_setup_teardown(float_residue_removed, fresh, drop),
};

int main(void) { return testdb_run(tests, sizeof tests / sizeof tests[0]); }
