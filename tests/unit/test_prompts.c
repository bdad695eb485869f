/* "Which spool is this?": the candidates' ranking, Bambu RFID spools made into inventory
 * spools once, and slot prompts raised, replaced, answered and dismissed, on both backends. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/json.h"
#include "inventory/inventory.h"
#include "testdb.h"

/* --- ranking (pure) -------------------------------------------------------------------------- */

static void rank_material_then_colour(void **state)
{
    (void)state;
    pd_inv_candidate v[] = {
        {.spool_id = 1, .material_match = false, .color_distance = 0, .remaining = 900},
        {.spool_id = 2, .material_match = true, .color_distance = 35, .remaining = 900},
        {.spool_id = 3, .material_match = true, .color_distance = 2.5, .remaining = 100},
        {.spool_id = 4, .material_match = true, .color_distance = -1, .remaining = 1000},
        {.spool_id = 5, .material_match = true, .color_distance = 2.5, .remaining = 400},
    };
    pd_inv_candidates_rank(v, 5);
    int64_t want[] = {5, 3, 2, 4, 1};
    for (int i = 0; i < 5; i++)
        assert_int_equal(v[i].spool_id, want[i]);
}

static void rank_loaded_elsewhere_after(void **state)
{
    (void)state;
    pd_inv_candidate v[] = {
        {.spool_id = 7, .material_match = true, .color_distance = 1, .remaining = 800, .loaded_printer = 3},
        {.spool_id = 9, .material_match = true, .color_distance = 1, .remaining = 200},
        {.spool_id = 8, .material_match = true, .color_distance = 1, .remaining = 200},
    };
    pd_inv_candidates_rank(v, 3);
    assert_int_equal(v[0].spool_id, 8);  /* same grams: the older id */
    assert_int_equal(v[1].spool_id, 9);
    assert_int_equal(v[2].spool_id, 7);
    pd_inv_candidates_rank(v, 0);        /* nothing to rank is fine */
}

/* --- on a database ----------------------------------------------------------------------------- */

typedef struct fixture {
    char dir[64], dbname[64];
    pd_db *db;
    pd_inv inv;
    int64_t printer;
} fixture;

static int fresh(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    char url[512], err[256];
    assert_non_null(fx);
    testdb_create("prompts", fx->dir, fx->dbname, url);
    if (pd_db_open(&fx->db, url, fx->dir, err, sizeof err))
        fail_msg("open %s: %s", url, err);
    fx->inv = (pd_inv){.db = fx->db};
    pd_printer_rec rec = {.port = 8883, .ftps_port = 990, .tls_verify = true};
    snprintf(rec.name, sizeof rec.name, "shelf");
    snprintf(rec.serial, sizeof rec.serial, "01P00A451200001");
    snprintf(rec.host, sizeof rec.host, "127.0.0.1");
    snprintf(rec.access_code, sizeof rec.access_code, "12345678");
    assert_int_equal(pd_db_printer_insert(fx->db, &rec), PD_OK);
    fx->printer = rec.id;
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

static int64_t count(fixture *fx, const char *sql)
{
    int64_t n = -1;
    assert_int_equal(pd_db_scalar(fx->db, sql, NULL, 0, &n), PD_OK);
    return n;
}

static pd_inv_reported bambu(const char *uuid, const char *color, int remain)
{
    return (pd_inv_reported){color, "PLA", uuid, "PLA Matte", "A1B2C3D400000100", "A01-K1", 1, 1000, 1.75,
                             190, 230, remain};
}

static pd_inv_reported plain(const char *material, const char *color)
{
    return (pd_inv_reported){color, material, "", "", "", "", 0, 0, 0, 0, 0, -1};
}

static void rfid_spool_made_once(void **state)
{
    fixture *fx = *state;
    pd_inv_reported r = bambu("0123456789ABCDEF0123456789ABCDEF", "#000000FF", 80);
    assert_int_equal(pd_inv_slot_report(&fx->inv, fx->printer, 0, 1, &r), PD_OK);
    assert_int_equal(pd_inv_slot_report(&fx->inv, fx->printer, 0, 1, &r), PD_OK);
    assert_int_equal(count(fx, "SELECT count(*) FROM vendor WHERE name = 'Bambu Lab'"), 1);
    assert_int_equal(count(fx, "SELECT count(*) FROM filament WHERE name = 'PLA Matte' AND material = 'PLA' "
                               "AND color_hex = '000000' AND nozzle_temp_min = 190 AND diameter = 1.75"), 1);
    assert_int_equal(count(fx, "SELECT count(*) FROM spool WHERE tray_uuid = '0123456789ABCDEF0123456789ABCDEF' "
                               "AND tag_uid = 'A1B2C3D400000100' AND tray_id_name = 'A01-K1' "
                               "AND initial_weight = 1000 AND used_weight = 200"), 1);
    assert_int_equal(count(fx, "SELECT count(*) FROM ams_slot WHERE unit = 0 AND slot = 1 AND spool_id = "
                               "(SELECT id FROM spool WHERE tray_uuid = '0123456789ABCDEF0123456789ABCDEF')"), 1);
    /* the same spool moved to another slot is that spool; a second spool of the same
     * filament shares it */
    assert_int_equal(pd_inv_slot_report(&fx->inv, fx->printer, 0, 2, &r), PD_OK);
    pd_inv_reported other = bambu("FEDCBA9876543210FEDCBA9876543210", "#000000FF", 100);
    assert_int_equal(pd_inv_slot_report(&fx->inv, fx->printer, 0, 3, &other), PD_OK);
    assert_int_equal(count(fx, "SELECT count(*) FROM spool"), 2);
    assert_int_equal(count(fx, "SELECT count(*) FROM filament"), 1);
    assert_int_equal(count(fx, "SELECT count(*) FROM prompt"), 0);
    /* an archived spool with the tag is still that spool: nothing is made, nobody is asked */
    assert_int_equal(pd_db_exec(fx->db, "UPDATE spool SET archived = 1"), PD_OK);
    pd_inv_reported empty = plain("", "");
    assert_int_equal(pd_inv_slot_report(&fx->inv, fx->printer, 0, 3, &empty), PD_OK);
    assert_int_equal(pd_inv_slot_report(&fx->inv, fx->printer, 0, 3, &other), PD_OK);
    assert_int_equal(count(fx, "SELECT count(*) FROM spool"), 2);
    assert_int_equal(count(fx, "SELECT count(*) FROM prompt"), 0);
}

static void not_bambu_not_made(void **state)
{
    fixture *fx = *state;
    pd_inv_reported r = bambu("0123456789ABCDEF0123456789ABCDEF", "#FF0000FF", 50);
    r.bbl = 0;  /* a tag, but tray_is_bbl_bits says it is not a Bambu spool */
    assert_int_equal(pd_inv_slot_report(&fx->inv, fx->printer, 0, 0, &r), PD_OK);
    assert_int_equal(count(fx, "SELECT count(*) FROM spool"), 0);
    assert_int_equal(count(fx, "SELECT count(*) FROM prompt WHERE status = 'open' AND kind = 'slot'"), 1);
}

static json_t *open_prompts(fixture *fx)
{
    json_t *l = NULL;
    pd_inv_prompt_query q = {.limit = -1};
    int64_t total = -1;
    assert_int_equal(pd_inv_prompts_list(&fx->inv, &q, &l, &total), PD_OK);
    assert_int_equal(total, json_array_size(l));
    return l;
}

static void slot_prompt_ranked_and_answered(void **state)
{
    fixture *fx = *state;
    int64_t v = create(&fx->inv, PD_INV_VENDOR, "{\"name\":\"Polymaker\"}");
    char b[256];
    snprintf(b, sizeof b, "{\"vendor_id\":%lld,\"name\":\"red\",\"material\":\"PLA\",\"density\":1.24,"
             "\"diameter\":1.75,\"weight\":1000,\"color_hex\":\"FF0000\"}", (long long)v);
    int64_t red = create(&fx->inv, PD_INV_FILAMENT, b);
    snprintf(b, sizeof b, "{\"vendor_id\":%lld,\"name\":\"wine\",\"material\":\"PLA\",\"density\":1.24,"
             "\"diameter\":1.75,\"weight\":1000,\"color_hex\":\"990022\"}", (long long)v);
    int64_t wine = create(&fx->inv, PD_INV_FILAMENT, b);
    snprintf(b, sizeof b, "{\"vendor_id\":%lld,\"name\":\"red petg\",\"material\":\"PETG\",\"density\":1.27,"
             "\"diameter\":1.75,\"weight\":1000,\"color_hex\":\"FF0000\"}", (long long)v);
    int64_t petg = create(&fx->inv, PD_INV_FILAMENT, b);
    snprintf(b, sizeof b, "{\"filament_id\":%lld}", (long long)wine);
    int64_t s_wine = create(&fx->inv, PD_INV_SPOOL, b);
    snprintf(b, sizeof b, "{\"filament_id\":%lld,\"remaining_weight\":300}", (long long)red);
    int64_t s_red_low = create(&fx->inv, PD_INV_SPOOL, b);
    snprintf(b, sizeof b, "{\"filament_id\":%lld,\"remaining_weight\":700}", (long long)red);
    int64_t s_red = create(&fx->inv, PD_INV_SPOOL, b);
    snprintf(b, sizeof b, "{\"filament_id\":%lld}", (long long)petg);
    int64_t s_petg = create(&fx->inv, PD_INV_SPOOL, b);

    pd_inv_reported r = plain("PLA", "#FF0000FF");
    assert_int_equal(pd_inv_slot_report(&fx->inv, fx->printer, 1, 2, &r), PD_OK);
    json_t *l = open_prompts(fx);
    assert_int_equal(json_array_size(l), 1);
    json_t *p = NULL, *c;
    pd_inv_err e;
    assert_null(json_object_get(json_array_get(l, 0), "candidates"));  /* the list does not rank them */
    assert_int_equal(pd_inv_prompt_get(&fx->inv, json_integer_value(json_object_get(json_array_get(l, 0), "id")),
                                       (pd_inv_seen){0}, &p, &e), PD_OK);
    json_decref(l);
    c = json_object_get(p, "candidates");
    assert_string_equal(json_string_value(json_object_get(p, "kind")), "slot");
    assert_int_equal(json_integer_value(json_object_get(p, "unit")), 1);
    assert_int_equal(json_integer_value(json_object_get(p, "slot")), 2);
    int64_t want[] = {s_red, s_red_low, s_wine, s_petg};
    assert_int_equal(json_array_size(c), 4);
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(json_integer_value(json_object_get(json_array_get(c, i), "spool_id")), want[i]);
    assert_true(json_real_value(json_object_get(json_array_get(c, 0), "remaining_weight")) == 700);
    assert_true(json_is_null(json_object_get(json_array_get(c, 0), "loaded")));
    assert_non_null(json_object_get(json_array_get(c, 0), "spool"));
    int64_t id = json_integer_value(json_object_get(p, "id"));
    json_decref(p);

    /* answered through the slot API: the slot has the spool, the prompt says so */
    json_t *out = NULL;
    assert_int_equal(pd_inv_prompt_assign(&fx->inv, id, s_red, (pd_inv_seen){0}, &out, &e), PD_OK);
    assert_string_equal(json_string_value(json_object_get(out, "status")), "answered");
    assert_int_equal(json_integer_value(json_object_get(out, "spool_id")), s_red);
    json_decref(out);
    assert_int_equal(count(fx, "SELECT count(*) FROM ams_slot WHERE unit = 1 AND slot = 2 AND spool_id IS NOT NULL"), 1);
    assert_int_equal(pd_inv_prompt_assign(&fx->inv, id, s_red, (pd_inv_seen){0}, &out, &e), PD_ERR_INVAL);
    assert_int_equal(pd_inv_prompt_dismiss(&fx->inv, 999, (pd_inv_seen){0}, &out, &e), PD_ERR_NOTFOUND);
    l = open_prompts(fx);
    assert_int_equal(json_array_size(l), 0);
    json_decref(l);
}

static void newer_change_replaces(void **state)
{
    fixture *fx = *state;
    pd_inv_reported a = plain("PLA", "#FF0000FF"), b = plain("PETG", "#00FF00FF"), none = plain("", "");
    assert_int_equal(pd_inv_slot_report(&fx->inv, fx->printer, 0, 0, &a), PD_OK);
    assert_int_equal(pd_inv_slot_report(&fx->inv, fx->printer, 0, 0, &a), PD_OK);  /* same: no new prompt */
    assert_int_equal(pd_inv_slot_report(&fx->inv, fx->printer, 0, 0, &b), PD_OK);
    assert_int_equal(count(fx, "SELECT count(*) FROM prompt WHERE status = 'open'"), 1);
    assert_int_equal(count(fx, "SELECT count(*) FROM prompt WHERE status = 'open' AND material = 'PETG'"), 1);
    assert_int_equal(count(fx, "SELECT count(*) FROM prompt WHERE status = 'replaced'"), 1);
    /* the change is in the slot's history though no spool was assigned */
    assert_int_equal(count(fx, "SELECT count(*) FROM slot_history WHERE spool_id IS NULL AND "
                               "event_type = 'material_change' AND material = 'PETG'"), 1);
    /* emptied: nothing left to ask about */
    assert_int_equal(pd_inv_slot_report(&fx->inv, fx->printer, 0, 0, &none), PD_OK);
    assert_int_equal(count(fx, "SELECT count(*) FROM prompt WHERE status = 'open'"), 0);
    assert_int_equal(pd_inv_slot_report(&fx->inv, fx->printer, 0, 0, &a), PD_OK);
    json_t *l = open_prompts(fx), *out = NULL;
    pd_inv_err e;
    int64_t id = json_integer_value(json_object_get(json_array_get(l, 0), "id"));
    json_decref(l);
    assert_int_equal(pd_inv_prompt_dismiss(&fx->inv, id, (pd_inv_seen){0}, &out, &e), PD_OK);
    assert_string_equal(json_string_value(json_object_get(out, "status")), "dismissed");
    json_decref(out);
    pd_inv_prompt_query q = {.all = true, .printer_id = fx->printer, .limit = 2};
    int64_t total = 0;
    assert_int_equal(pd_inv_prompts_list(&fx->inv, &q, &l, &total), PD_OK);
    assert_int_equal(json_array_size(l), 2);
    assert_int_equal(total, 3);
    json_decref(l);
    /* a reader limited to another printer sees none of them, nor the one dismissed */
    int64_t other = fx->printer + 1000;
    q = (pd_inv_prompt_query){.all = true, .seen = {&other, 1}, .limit = -1};
    assert_int_equal(pd_inv_prompts_list(&fx->inv, &q, &l, &total), PD_OK);
    assert_int_equal(json_array_size(l), 0);
    assert_int_equal(total, 0);
    json_decref(l);
    assert_int_equal(pd_inv_prompt_get(&fx->inv, id, (pd_inv_seen){&other, 1}, &out, &e), PD_ERR_NOTFOUND);
    assert_int_equal(pd_inv_prompt_get(&fx->inv, id, (pd_inv_seen){&fx->printer, 1}, &out, &e), PD_OK);
    json_decref(out);
}

static void job_filament_prompt(void **state)
{
    fixture *fx = *state;
    int64_t v = create(&fx->inv, PD_INV_VENDOR, "{\"name\":\"Sunlu\"}");
    char b[256];
    snprintf(b, sizeof b, "{\"vendor_id\":%lld,\"name\":\"white\",\"material\":\"PLA\",\"density\":1.24,"
             "\"diameter\":1.75,\"weight\":1000,\"color_hex\":\"FFFFFF\"}", (long long)v);
    int64_t f = create(&fx->inv, PD_INV_FILAMENT, b);
    snprintf(b, sizeof b, "{\"filament_id\":%lld}", (long long)f);
    int64_t s1 = create(&fx->inv, PD_INV_SPOOL, b), s2 = create(&fx->inv, PD_INV_SPOOL, b);
    create(&fx->inv, PD_INV_SPOOL, b);
    assert_int_equal(pd_db_exec(fx->db, "INSERT INTO job (name, origin, status, started_at, seen_at) "
                                        "VALUES ('cube', 'printer', 'printing', 1, 1)"), PD_OK);
    int64_t job = count(fx, "SELECT max(id) FROM job"), ids[] = {s2, s1}, id = 0;
    assert_int_equal(pd_inv_prompt_job_filament(&fx->inv, fx->printer, job, 1, "PLA", "#FFFFFFFF", ids, 2, &id), PD_OK);
    assert_int_equal(pd_inv_prompt_job_filament(&fx->inv, fx->printer, job, 1, "PLA", "#FFFFFFFF", ids, 2, &id), PD_OK);
    json_t *l = open_prompts(fx), *out = NULL;
    assert_int_equal(json_array_size(l), 1);
    json_t *p = NULL;
    pd_inv_err e;
    assert_int_equal(pd_inv_prompt_get(&fx->inv, json_integer_value(json_object_get(json_array_get(l, 0), "id")),
                                       (pd_inv_seen){0}, &p, &e), PD_OK);
    json_decref(l);
    assert_string_equal(json_string_value(json_object_get(p, "kind")), "job_filament");
    assert_int_equal(json_integer_value(json_object_get(p, "job_id")), job);
    assert_int_equal(json_integer_value(json_object_get(p, "filament_index")), 1);
    assert_int_equal(json_array_size(json_object_get(p, "candidates")), 2);  /* only those named */
    json_decref(p);
    assert_int_equal(pd_inv_prompt_assign(&fx->inv, id, s2, (pd_inv_seen){0}, &out, &e), PD_OK);
    assert_int_equal(json_integer_value(json_object_get(out, "spool_id")), s2);
    json_decref(out);
    assert_int_equal(pd_inv_prompt_job_filament(&fx->inv, fx->printer, job, 0, "PLA", "", ids, 0, &id), PD_ERR_INVAL);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(rank_material_then_colour),
    cmocka_unit_test(rank_loaded_elsewhere_after),
    cmocka_unit_test_setup_teardown(rfid_spool_made_once, fresh, drop),
    cmocka_unit_test_setup_teardown(not_bambu_not_made, fresh, drop),
    cmocka_unit_test_setup_teardown(slot_prompt_ranked_and_answered, fresh, drop),
    cmocka_unit_test_setup_teardown(newer_change_replaces, fresh, drop),
    cmocka_unit_test_setup_teardown(job_filament_prompt, fresh, drop),
};

int main(void) { return testdb_run(tests, sizeof tests / sizeof tests[0]); }
