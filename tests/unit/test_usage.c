/* Filament usage rows and the spool they move, in one transaction, on both backends; a job's
 * filament naming its spools, also archived and deleted ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/json.h"
#include "track/jobs.h"
#include "track/usage.h"
#include "testdb.h"

typedef struct fixture {
    char dir[64], dbname[64];
    pd_db *db;
    pd_inv inv;
} fixture;

static int fresh(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    char url[512], err[256];
    assert_non_null(fx);
    testdb_create("usage", fx->dir, fx->dbname, url);
    if (pd_db_open(&fx->db, url, fx->dir, err, sizeof err))
        fail_msg("open %s: %s", url, err);
    fx->inv = (pd_inv){.db = fx->db};
    *state = fx;
    return 0;
}

static int drop(void **state)
{
    fixture *fx = *state;
    pd_db_close(&fx->db);
    int rc = testdb_destroy(fx->dir, fx->dbname);
    free(fx);
    return rc;
}

static int64_t create(pd_inv *inv, pd_inv_entity en, const char *json)
{
    json_t *body = json_loads(json, 0, NULL), *out = NULL;
    pd_inv_err e = {0};
    assert_non_null(body);
    assert_int_equal(pd_inv_create(inv, en, body, &out, &e), PD_OK);
    int64_t id = json_integer_value(json_object_get(out, "id"));
    json_decref(body);
    json_decref(out);
    return id;
}

static double spool_used(pd_inv *inv, int64_t id)
{
    json_t *s = NULL;
    pd_inv_err e = {0};
    assert_int_equal(pd_inv_get(inv, PD_INV_SPOOL, id, &s, &e), PD_OK);
    double used = json_number_value(json_object_get(s, "used_weight"));
    assert_non_null(json_object_get(s, "last_used"));
    assert_false(json_is_null(json_object_get(s, "last_used")));
    json_decref(s);
    return used;
}

typedef struct usage_row {
    double grams, cost;
    bool cost_null;
    char source[16], material[16];
    int n;
} usage_row;

static pd_err read_row(const pd_row *row, void *ud)
{
    usage_row *u = ud;
    u->grams = pd_row_real(row, 0);
    u->cost_null = pd_row_null(row, 1);
    u->cost = pd_row_real(row, 1);
    snprintf(u->source, sizeof u->source, "%s", pd_row_text(row, 2));
    snprintf(u->material, sizeof u->material, "%s", pd_row_text(row, 3));
    u->n++;
    return PD_OK;
}

static usage_row row_of(pd_db *db, int64_t id)
{
    usage_row u = {0};
    pd_sqlv a[] = {PD_SQL_I(id)};
    assert_int_equal(pd_db_query(db, "SELECT grams, cost, source, material FROM filament_usage WHERE id = ?",
                                 a, 1, read_row, &u), PD_OK);
    return u;
}

static void moves_spool_with_cost(void **state)
{
    fixture *fx = *state;
    pd_inv *inv = &fx->inv;
    create(inv, PD_INV_VENDOR, "{\"name\":\"Polymaker\"}");
    int64_t fil = create(inv, PD_INV_FILAMENT, "{\"name\":\"PLA\",\"vendor_id\":1,\"material\":\"PLA\","
                                                "\"density\":1.24,\"diameter\":1.75,\"weight\":1000,\"price\":20}");
    (void)fil;
    int64_t priced = create(inv, PD_INV_SPOOL, "{\"filament_id\":1,\"price\":25,\"initial_weight\":500}");
    int64_t plain = create(inv, PD_INV_SPOOL, "{\"filament_id\":1}");
    pd_inv_err e;
    int64_t id = 0;
    /* the spool's own price over its own weight: 25 / 500 g */
    pd_usage u = {.spool_id = priced, .unit = 0, .slot = 2, .grams = 40, .meters = 13.4,
                  .source = PD_USAGE_3MF};
    assert_int_equal(pd_usage_record(inv, &u, &id, &e), PD_OK);
    usage_row r = row_of(fx->db, id);
    assert_int_equal(r.n, 1);
    assert_true(r.grams == 40 && !r.cost_null && r.cost > 1.999 && r.cost < 2.001);
    assert_string_equal(r.source, "3mf");
    assert_string_equal(r.material, "PLA");
    assert_true(spool_used(inv, priced) == 40);
    /* the filament's price over its weight: 20 / 1000 g; a correction gives grams back */
    u = (pd_usage){.spool_id = plain, .unit = -1, .slot = -1, .grams = 100, .meters = -1,
                   .source = PD_USAGE_MANUAL};
    assert_int_equal(pd_usage_record(inv, &u, &id, &e), PD_OK);
    r = row_of(fx->db, id);
    assert_true(r.cost > 1.999 && r.cost < 2.001);
    u.grams = -30;
    assert_int_equal(pd_usage_record(inv, &u, &id, &e), PD_OK);
    assert_true(spool_used(inv, plain) == 70);
}

static void unknown_spool_writes_nothing(void **state)
{
    fixture *fx = *state;
    pd_inv_err e;
    int64_t n = -1;
    pd_usage u = {.spool_id = 99, .unit = 0, .slot = 0, .grams = 5, .meters = -1, .source = PD_USAGE_REMAIN};
    assert_int_equal(pd_usage_record(&fx->inv, &u, NULL, &e), PD_ERR_NOTFOUND);
    assert_string_equal(e.field, "spool_id");
    assert_int_equal(pd_db_scalar(fx->db, "SELECT count(*) FROM filament_usage", NULL, 0, &n), PD_OK);
    assert_int_equal(n, 0);
    /* grams whose spool is unknown are kept without moving any spool */
    u.spool_id = 0;
    assert_int_equal(pd_usage_record(&fx->inv, &u, NULL, &e), PD_OK);
    assert_int_equal(pd_db_scalar(fx->db, "SELECT count(*) FROM filament_usage WHERE cost IS NULL", NULL, 0, &n), PD_OK);
    assert_int_equal(n, 1);
}

/* The job page's rows: vendor, name, material and colours of each spool, archived or not; a
 * deleted spool still by its id. */
static void job_names_its_spools(void **state)
{
    fixture *fx = *state;
    pd_inv *inv = &fx->inv;
    create(inv, PD_INV_VENDOR, "{\"name\":\"Polymaker\"}");
    create(inv, PD_INV_FILAMENT, "{\"name\":\"PolyTerra Charcoal\",\"vendor_id\":1,\"material\":\"PLA\","
                                 "\"density\":1.24,\"diameter\":1.75,\"weight\":1000,\"color_hex\":\"222222\"}");
    create(inv, PD_INV_FILAMENT, "{\"name\":\"Silk Duo\",\"material\":\"PLA\",\"density\":1.24,\"diameter\":1.75,"
                                 "\"multi_color_hexes\":\"FF0000,0000FF\",\"multi_color_direction\":\"coaxial\"}");
    int64_t kept = create(inv, PD_INV_SPOOL, "{\"filament_id\":1}");
    int64_t duo = create(inv, PD_INV_SPOOL, "{\"filament_id\":2}");
    int64_t gone = create(inv, PD_INV_SPOOL, "{\"filament_id\":1}");
    json_t *body = json_loads("{\"name\":\"benchy\"}", 0, NULL), *job = NULL;
    pd_inv_err e = {0};
    assert_int_equal(pd_jobs_create(inv, NULL, body, &job, &e), PD_OK);
    json_decref(body);
    int64_t job_id = json_integer_value(json_object_get(job, "id"));
    json_decref(job);
    int64_t id;
    int64_t spools[] = {kept, duo, gone};
    for (int i = 0; i < 3; i++) {
        pd_usage u = {.job_id = job_id, .spool_id = spools[i], .unit = 0, .slot = i, .grams = 10 + i, .meters = -1,
                      .source = PD_USAGE_3MF};
        assert_int_equal(pd_usage_record(inv, &u, &id, &e), PD_OK);
    }
    body = json_loads("{\"archived\":true}", 0, NULL);
    json_t *out = NULL;
    assert_int_equal(pd_inv_update(inv, PD_INV_SPOOL, kept, body, &out, &e), PD_OK);
    json_decref(body);
    json_decref(out);
    assert_int_equal(pd_inv_delete(inv, PD_INV_SPOOL, gone, &e), PD_OK);

    assert_int_equal(pd_jobs_get(fx->db, job_id, false, &job, &e), PD_OK);
    json_t *f = json_object_get(job, "filament");
    assert_int_equal(json_array_size(f), 3);
    json_t *s0 = json_object_get(json_array_get(f, 0), "spool");
    assert_int_equal(json_integer_value(json_object_get(s0, "id")), kept);
    assert_string_equal(json_string_value(json_object_get(s0, "vendor")), "Polymaker");
    assert_string_equal(json_string_value(json_object_get(s0, "name")), "PolyTerra Charcoal");
    assert_string_equal(json_string_value(json_object_get(s0, "material")), "PLA");
    assert_string_equal(json_string_value(json_object_get(s0, "color_hex")), "222222");
    assert_true(json_is_true(json_object_get(s0, "archived")));
    assert_true(json_is_false(json_object_get(s0, "deleted")));
    json_t *s1 = json_object_get(json_array_get(f, 1), "spool");
    assert_true(json_is_null(json_object_get(s1, "vendor")));
    assert_string_equal(json_string_value(json_object_get(s1, "multi_color_hexes")), "FF0000,0000FF");
    assert_string_equal(json_string_value(json_object_get(s1, "multi_color_direction")), "coaxial");
    assert_true(json_is_false(json_object_get(s1, "archived")));
    json_t *r2 = json_array_get(f, 2), *s2 = json_object_get(r2, "spool");
    assert_true(json_is_null(json_object_get(r2, "spool_id")));
    assert_int_equal(json_integer_value(json_object_get(s2, "id")), gone);
    assert_true(json_is_true(json_object_get(s2, "deleted")));
    assert_null(json_object_get(s2, "name"));
    assert_true(json_real_value(json_object_get(r2, "grams")) == 12);
    json_decref(job);
}

static void source_names(void **state)
{
    (void)state;
    for (int s = PD_USAGE_3MF; s <= PD_USAGE_MANUAL; s++) {
        pd_usage_source back;
        assert_true(pd_usage_source_parse(pd_usage_source_name((pd_usage_source)s), &back));
        assert_int_equal(back, s);
    }
    pd_usage_source x;
    assert_false(pd_usage_source_parse("guess", &x));
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(moves_spool_with_cost, fresh, drop),
    cmocka_unit_test_setup_teardown(unknown_spool_writes_nothing, fresh, drop),
    cmocka_unit_test_setup_teardown(job_names_its_spools, fresh, drop),
    cmocka_unit_test(source_names),
};

int main(void) { return testdb_run(tests, sizeof tests / sizeof tests[0]); }
