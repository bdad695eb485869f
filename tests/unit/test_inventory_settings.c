/* Inventory settings, extra fields and date checks (src/inventory/settings.c, fields.c, the
 * dates of write.c and query.c) through the C API, on SQLite always and on PostgreSQL too when
 * PD_TEST_PG holds a server's base URL (scripts/pg.sh starts one). Each case gets a fresh database and a bus that records what
 * the inventory announces. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "core/json.h"
#include "inventory/inventory.h"
#include "testdb.h"

/* The PostgreSQL server's base URL while the PostgreSQL group runs; NULL for SQLite. */

typedef struct fixture {
    char dir[64];
    char dbname[64];
    char url[512];
    pd_db *db;
    pd_bus *bus;
    pd_inv inv;
    int nevents;
    char change[16], key[64];
    json_t *payload;   /* of the last announcement */
} fixture;

static void on_event(const pd_event *ev, void *ud)
{
    fixture *fx = ud;
    assert_string_equal(ev->u.inv.resource, "setting");
    fx->nevents++;
    snprintf(fx->change, sizeof fx->change, "%s", ev->u.inv.change);
    snprintf(fx->key, sizeof fx->key, "%s", ev->u.inv.key);
    json_decref(fx->payload);
    fx->payload = json_loadb(ev->u.inv.payload, ev->u.inv.payload_len, 0, NULL);
    assert_non_null(fx->payload);
}

static int fresh(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    testdb_create("invset", fx->dir, fx->dbname, fx->url);
    char err[256];
    if (pd_db_open(&fx->db, fx->url, fx->dir, err, sizeof err))
        fail_msg("open %s: %s", fx->url, err);
    fx->bus = pd_bus_new();
    assert_non_null(fx->bus);
    assert_true(pd_bus_subscribe(fx->bus, PD_EV_INVENTORY, on_event, fx) > 0);
    fx->inv = (pd_inv){.db = fx->db, .bus = fx->bus};
    *state = fx;
    return 0;
}

static int drop(void **state)
{
    fixture *fx = *state;
    pd_db_close(&fx->db);
    pd_bus_free(&fx->bus);
    json_decref(fx->payload);
    int rc = testdb_destroy(fx->dir, fx->dbname);
    free(fx);
    return rc;
}

/* --- helpers --------------------------------------------------------------------------------- */

static json_t *parse(const char *text)
{
    json_error_t jerr;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &jerr);
    if (!v)
        fail_msg("bad test JSON %s: %s", text, jerr.text);
    return v;
}

/* Checks got (stolen) against the JSON text want. */
static void assert_json(json_t *got, const char *want)
{
    json_t *w = parse(want);
    if (!json_equal(got, w)) {
        char *g = json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT);
        fail_msg("got %s\nwant %s", g ? g : "(null)", want);
    }
    json_decref(w);
    json_decref(got);
}

static void assert_err(pd_err rc, const pd_inv_err *e, pd_err code, const char *loc, const char *field,
                       const char *msg)
{
    assert_int_equal(rc, code);
    assert_int_equal(e->code, code);
    if (loc)
        assert_string_equal(e->loc, loc);
    if (field)
        assert_string_equal(e->field, field);
    if (msg)
        assert_string_equal(e->msg, msg);
}

/* POST /setting/{key} with a string body; the response is checked against want when it works. */
static pd_err set(fixture *fx, const char *key, const char *text, const char *want, pd_inv_err *e)
{
    json_t *body = json_string(text), *out = NULL;
    pd_err rc = pd_inv_setting_set(&fx->inv, key, body, &out, e);
    json_decref(body);
    if (!rc && want)
        assert_json(out, want);
    else
        json_decref(out);
    return rc;
}

/* POST /field/spool/{key} with the JSON text body; the list it returns goes to *out. */
static pd_err put(fixture *fx, pd_inv_entity en, const char *key, const char *body, json_t **out, pd_inv_err *e)
{
    json_t *b = parse(body), *list = NULL;
    pd_err rc = pd_inv_field_put(&fx->inv, en, key, b, &list, e);
    json_decref(b);
    if (out)
        *out = list;
    else
        json_decref(list);
    return rc;
}

static void put_ok(fixture *fx, pd_inv_entity en, const char *key, const char *body)
{
    pd_inv_err e;
    if (put(fx, en, key, body, NULL, &e))
        fail_msg("put %s %s: %s %s", key, body, e.field, e.msg);
}

static void exec(fixture *fx, const char *sql)
{
    assert_int_equal(pd_db_exec(fx->db, sql), PD_OK);
}

static pd_err check(fixture *fx, pd_inv_entity en, const char *extra, pd_inv_err *e)
{
    json_t *x = parse(extra);
    pd_err rc = pd_inv_extra_check(&fx->inv, en, x, e);
    json_decref(x);
    return rc;
}

static void save(fixture *fx, pd_inv_entity en, int64_t id, const char *extra)
{
    pd_inv_err e;
    json_t *x = parse(extra);
    if (pd_inv_extra_check(&fx->inv, en, x, &e))
        fail_msg("check %s: %s", extra, e.msg);
    assert_int_equal(pd_inv_extra_save(&fx->inv, en, id, x), PD_OK);
    json_decref(x);
}

static void assert_load(fixture *fx, pd_inv_entity en, int64_t lo, int64_t hi, const char *want)
{
    json_t *maps = NULL;
    assert_int_equal(pd_inv_extra_load(&fx->inv, en, lo, hi, &maps), PD_OK);
    assert_json(maps, want);
}

static pd_err collect_id(const pd_row *row, void *ud)
{
    char *out = ud;
    size_t len = strlen(out);
    snprintf(out + len, 256 - len, "%s%lld", len ? "," : "", (long long)pd_row_int(row, 0));
    return PD_OK;
}

/* The ids of the spools the filter extra.<key>=value keeps, in id order ("1,3"), ordered
 * instead by extra.<sort> when sort is given. */
static pd_err spool_ids(fixture *fx, const char *key, const char *value, const char *sort, char out[256],
                        pd_inv_err *e)
{
    pd_sqlb *b = malloc(sizeof *b);
    assert_non_null(b);
    pd_sqlb_init(b);
    pd_sqlb_add(b, "SELECT s.id FROM spool s WHERE 1 = 1");
    pd_err rc = key ? pd_inv_extra_filter(&fx->inv, PD_INV_SPOOL, key, value, "s.id", b, e) : PD_OK;
    char expr[1024];
    if (sort) {
        const char *dir = strchr(sort, ':');
        char k[64];
        snprintf(k, sizeof k, "%.*s", dir ? (int)(dir - sort) : (int)strlen(sort), sort);
        assert_true(pd_inv_extra_sort(&fx->inv, PD_INV_SPOOL, k, "s.id", expr, sizeof expr));
        pd_sqlb_add(b, " ORDER BY %s %s NULLS LAST,", expr, dir ? dir + 1 : "ASC");
    } else {
        pd_sqlb_add(b, " ORDER BY");
    }
    pd_sqlb_add(b, " s.id");
    out[0] = '\0';
    if (!rc) {
        assert_true(pd_sqlb_ok(b));
        rc = pd_db_query(fx->db, b->sql, b->args, b->nargs, collect_id, out);
        if (rc)
            fail_msg("%s: %s", b->sql, pd_db_last_error(fx->db));
    }
    pd_sqlb_free(b);
    free(b);
    return rc;
}

static void assert_ids(fixture *fx, const char *key, const char *value, const char *want)
{
    char ids[256];
    pd_inv_err e;
    if (spool_ids(fx, key, value, NULL, ids, &e))
        fail_msg("extra.%s=%s: %s", key, value, e.msg);
    if (strcmp(ids, want))
        fail_msg("extra.%s=%s: got [%s], want [%s]", key, value, ids, want);
}

static void assert_sorted(fixture *fx, const char *sort, const char *want)
{
    char ids[256];
    pd_inv_err e;
    assert_int_equal(spool_ids(fx, NULL, NULL, sort, ids, &e), PD_OK);
    if (strcmp(ids, want))
        fail_msg("sort %s: got [%s], want [%s]", sort, ids, want);
}

/* want: Spoolman's sentence, or NULL for any */
static void assert_bad_filter(fixture *fx, const char *key, const char *value, const char *want)
{
    char ids[256];
    pd_inv_err e;
    assert_err(spool_ids(fx, key, value, NULL, ids, &e), &e, PD_ERR_INVAL, "query", NULL, want);
}

/* n spools of one filament, ids 1..n */
static void spools(fixture *fx, int n)
{
    exec(fx, "INSERT INTO filament (registered, density, diameter) VALUES (0, 1.24, 1.75)");
    for (int i = 0; i < n; i++)
        exec(fx, "INSERT INTO spool (registered, filament_id) VALUES (0, 1)");
}

/* --- dates (write.c, query.c through core/date.c) ------------------------------------------ */

/* POST /spool with the JSON text body; the spool or NULL. */
static json_t *create_spool(fixture *fx, const char *body, pd_err *rc, pd_inv_err *e)
{
    json_t *b = parse(body), *out = NULL;
    *rc = pd_inv_create(&fx->inv, PD_INV_SPOOL, b, &out, e);
    json_decref(b);
    return out;
}

/* A date that names no day is a 422 naming the field, not a day of the next month. */
static void dates_name_real_days(void **state)
{
    fixture *fx = *state;
    pd_inv_err e;
    pd_err rc;
    fx->inv.bus = NULL;  /* the bus here records settings only */
    exec(fx, "INSERT INTO filament (registered, density, diameter) VALUES (0, 1.24, 1.75)");
    json_t *s = create_spool(fx, "{\"filament_id\":1,\"first_used\":\"2024-02-31T10:00:00Z\"}", &rc, &e);
    assert_null(s);
    assert_err(rc, &e, PD_ERR_FIELD, "body", "first_used",
               "Invalid datetime \"2024-02-31T10:00:00Z\": there is no such day");
    s = create_spool(fx, "{\"filament_id\":1,\"purchase_date\":\"2023-02-29\"}", &rc, &e);
    assert_null(s);
    assert_err(rc, &e, PD_ERR_FIELD, "body", "purchase_date", "Invalid date \"2023-02-29\": there is no such day");
    s = create_spool(fx, "{\"filament_id\":1,\"purchase_date\":\"2024-02-29T00:00:00Z\"}", &rc, &e);
    assert_null(s);
    assert_err(rc, &e, PD_ERR_FIELD, "body", "purchase_date", NULL);

    s = create_spool(fx, "{\"filament_id\":1,\"purchase_date\":\"2024-02-29\",\"first_used\":"
                         "\"2016-12-31T23:59:60Z\",\"last_used\":\"2024-02-29T12:30:00.5+01:00\"}", &rc, &e);
    if (rc)
        fail_msg("create: %s %s", e.field, e.msg);
    assert_string_equal(json_string_value(json_object_get(s, "purchase_date")), "2024-02-29");
    assert_string_equal(json_string_value(json_object_get(s, "first_used")), "2016-12-31T23:59:59Z");
    assert_string_equal(json_string_value(json_object_get(s, "last_used")), "2024-02-29T11:30:00Z");
    json_decref(s);

    json_t *patch = parse("{\"last_used\":\"2024-02-29T12:30:60Z\"}"), *out = NULL;
    assert_err(pd_inv_update(&fx->inv, PD_INV_SPOOL, 1, patch, &out, &e), &e, PD_ERR_FIELD, "body", "last_used",
               "Invalid datetime \"2024-02-29T12:30:60Z\": second 60 is a leap second, which is only at "
               "23:59:60 UTC");
    json_decref(patch);
    assert_null(out);
    assert_int_equal(pd_inv_get(&fx->inv, PD_INV_SPOOL, 1, &out, &e), PD_OK);
    assert_string_equal(json_string_value(json_object_get(out, "last_used")), "2024-02-29T11:30:00Z");
    json_decref(out);

    pd_inv_param p = {"last_used", "2024-02-01|2024-02-30"};
    pd_inv_list list = {0};
    assert_err(pd_inv_list_get(&fx->inv, PD_INV_SPOOL, &p, 1, &list, &e), &e, PD_ERR_INVAL, "query", "last_used",
               "Invalid datetime '2024-02-30' for 'last_used'. Expected an ISO 8601 datetime, e.g. "
               "2024-05-01T00:00:00Z.");
    assert_null(list.items);
    p.value = "2024-02-29T11:00:00Z|2024-02-29T12:00:00Z";
    assert_int_equal(pd_inv_list_get(&fx->inv, PD_INV_SPOOL, &p, 1, &list, &e), PD_OK);
    assert_int_equal(list.total, 1);
    json_decref(list.items);
}

/* --- settings -------------------------------------------------------------------------------- */

static void settings_have_spoolmans_keys_and_defaults(void **state)
{
    fixture *fx = *state;
    pd_inv_err e;
    json_t *all = NULL, *one = NULL;
    assert_int_equal(pd_inv_setting_all(&fx->inv, &all), PD_OK);
    assert_json(all, "{"
        "\"currency\":{\"value\":\"\\\"EUR\\\"\",\"is_set\":false,\"type\":\"string\"},"
        "\"round_prices\":{\"value\":\"false\",\"is_set\":false,\"type\":\"boolean\"},"
        "\"print_presets\":{\"value\":\"[]\",\"is_set\":false,\"type\":\"array\"},"
        "\"extra_fields_vendor\":{\"value\":\"[]\",\"is_set\":false,\"type\":\"array\"},"
        "\"extra_fields_filament\":{\"value\":\"[]\",\"is_set\":false,\"type\":\"array\"},"
        "\"extra_fields_spool\":{\"value\":\"[]\",\"is_set\":false,\"type\":\"array\"},"
        "\"base_url\":{\"value\":\"\\\"\\\"\",\"is_set\":false,\"type\":\"string\"},"
        "\"locations\":{\"value\":\"[]\",\"is_set\":false,\"type\":\"array\"},"
        "\"locations_spoolorders\":{\"value\":\"{}\",\"is_set\":false,\"type\":\"object\"},"
        "\"label_designs\":{\"value\":\"[]\",\"is_set\":false,\"type\":\"array\"},"
        "\"dashboard_groups\":{\"value\":\"{}\",\"is_set\":false,\"type\":\"object\"},"
        "\"dashboard_spoolorders\":{\"value\":\"{}\",\"is_set\":false,\"type\":\"object\"}}");
    assert_int_equal(pd_inv_nsettings, 12);
    assert_non_null(pd_inv_setting_find("dashboard_groups"));
    assert_null(pd_inv_setting_find("nope"));

    assert_int_equal(pd_inv_setting_get(&fx->inv, "currency", &one, &e), PD_OK);
    assert_json(one, "{\"value\":\"\\\"EUR\\\"\",\"is_set\":false,\"type\":\"string\"}");
    assert_err(pd_inv_setting_get(&fx->inv, "nope", &one, &e), &e, PD_ERR_NOTFOUND, "path", "key",
               "Setting nope does not exist.");
    assert_json(pd_inv_setting_value(&fx->inv, "currency"), "\"EUR\"");
    assert_json(pd_inv_setting_value(&fx->inv, "locations_spoolorders"), "{}");
    assert_null(pd_inv_setting_value(&fx->inv, "nope"));
    assert_int_equal(fx->nevents, 0);
}

static void settings_set_reset_and_announce(void **state)
{
    fixture *fx = *state;
    pd_inv_err e;
    assert_int_equal(set(fx, "currency", "\"USD\"", "{\"value\":\"\\\"USD\\\"\",\"is_set\":true,\"type\":\"string\"}", &e),
                     PD_OK);
    assert_int_equal(fx->nevents, 1);
    assert_string_equal(fx->change, "updated");
    assert_string_equal(fx->key, "currency");
    assert_json(json_incref(fx->payload),
                "{\"key\":\"currency\",\"setting\":{\"value\":\"\\\"USD\\\"\",\"is_set\":true,\"type\":\"string\"}}");
    assert_true(fx->inv.generation > 0);
    assert_json(pd_inv_setting_value(&fx->inv, "currency"), "\"USD\"");

    /* set again: replaced, the text kept as sent */
    assert_int_equal(set(fx, "currency", " \"GBP\" ", "{\"value\":\" \\\"GBP\\\" \",\"is_set\":true,\"type\":\"string\"}", &e),
                     PD_OK);
    json_t *all = NULL;
    assert_int_equal(pd_inv_setting_all(&fx->inv, &all), PD_OK);
    assert_json(json_incref(json_object_get(all, "currency")),
                "{\"value\":\" \\\"GBP\\\" \",\"is_set\":true,\"type\":\"string\"}");
    assert_json(json_incref(json_object_get(all, "round_prices")),
                "{\"value\":\"false\",\"is_set\":false,\"type\":\"boolean\"}");
    json_decref(all);

    /* "" resets to the default, announced as deleted with the default */
    assert_int_equal(set(fx, "currency", "", "{\"value\":\"\\\"EUR\\\"\",\"is_set\":false,\"type\":\"string\"}", &e), PD_OK);
    assert_int_equal(fx->nevents, 3);
    assert_string_equal(fx->change, "deleted");
    assert_json(json_incref(fx->payload),
                "{\"key\":\"currency\",\"setting\":{\"value\":\"\\\"EUR\\\"\",\"is_set\":false,\"type\":\"string\"}}");
    assert_err(set(fx, "currency", "", NULL, &e), &e, PD_ERR_NOTFOUND, NULL, NULL,
               "Setting with key currency has not been set.");
    assert_err(set(fx, "currency", "null", NULL, &e), &e, PD_ERR_NOTFOUND, NULL, NULL,
               "Setting with key currency has not been set.");
    assert_int_equal(fx->nevents, 3);

    assert_int_equal(set(fx, "round_prices", "true", "{\"value\":\"true\",\"is_set\":true,\"type\":\"boolean\"}", &e), PD_OK);
    assert_int_equal(set(fx, "round_prices", "null", "{\"value\":\"false\",\"is_set\":false,\"type\":\"boolean\"}", &e), PD_OK);
    assert_int_equal(set(fx, "locations", "[\"Shelf A\",\"Dryer\"]",
                         "{\"value\":\"[\\\"Shelf A\\\",\\\"Dryer\\\"]\",\"is_set\":true,\"type\":\"array\"}", &e), PD_OK);
    assert_json(pd_inv_setting_value(&fx->inv, "locations"), "[\"Shelf A\",\"Dryer\"]");
    assert_int_equal(set(fx, "dashboard_groups", "{\"a\":1}",
                         "{\"value\":\"{\\\"a\\\":1}\",\"is_set\":true,\"type\":\"object\"}", &e), PD_OK);
}

static void settings_refuse_bad_values(void **state)
{
    fixture *fx = *state;
    pd_inv_err e;
    json_t *out = NULL, *body = json_integer(5);
    assert_err(pd_inv_setting_set(&fx->inv, "currency", body, &out, &e), &e, PD_ERR_FIELD, "body", NULL, NULL);
    json_decref(body);
    assert_err(pd_inv_setting_set(&fx->inv, "currency", NULL, &out, &e), &e, PD_ERR_FIELD, "body", NULL, NULL);
    assert_err(set(fx, "nope", "\"x\"", NULL, &e), &e, PD_ERR_NOTFOUND, "path", "key", "Setting nope does not exist.");
    assert_err(set(fx, "currency", "{", NULL, &e), &e, PD_ERR_INVAL, NULL, NULL, NULL);
    assert_non_null(strstr(e.msg, "Setting currency is not valid JSON"));
    assert_err(set(fx, "currency", "\"USD\" x", NULL, &e), &e, PD_ERR_INVAL, NULL, NULL, NULL);
    assert_err(set(fx, "currency", "5", NULL, &e), &e, PD_ERR_INVAL, NULL, NULL, "Setting currency must be a string.");
    assert_err(set(fx, "round_prices", "1", NULL, &e), &e, PD_ERR_INVAL, NULL, NULL,
               "Setting round_prices must be a boolean.");
    assert_err(set(fx, "print_presets", "{}", NULL, &e), &e, PD_ERR_INVAL, NULL, NULL,
               "Setting print_presets must be an array.");
    assert_err(set(fx, "locations_spoolorders", "[]", NULL, &e), &e, PD_ERR_INVAL, NULL, NULL,
               "Setting locations_spoolorders must be an object.");

    /* 65535 characters (code points, not bytes) fit, one more does not */
    size_t n = 65535;
    char *big = malloc(2 * n + 8);
    assert_non_null(big);
    big[0] = '"';
    for (size_t i = 1; i < n - 1; i++)
        big[i] = 'a';
    strcpy(big + n - 1, "\"");
    assert_int_equal(set(fx, "base_url", big, NULL, &e) == PD_OK, 1);
    strcpy(big + n - 1, "a\"");
    assert_err(set(fx, "base_url", big, NULL, &e), &e, PD_ERR_INVAL, NULL, NULL,
               "Setting value is too big, max size is 65535 characters.");
    size_t len = 1;
    for (size_t i = 1; i < n - 1; i++, len += 2)
        memcpy(big + len, "\xc3\xa9", 2);
    strcpy(big + len, "\"");
    json_t *resp = NULL, *b = json_string(big);
    assert_int_equal(pd_inv_setting_set(&fx->inv, "base_url", b, &resp, &e), PD_OK);
    json_decref(resp);
    json_decref(b);
    free(big);
    int events = fx->nevents;
    assert_err(set(fx, "currency", "[]", NULL, &e), &e, PD_ERR_INVAL, NULL, NULL, NULL);
    assert_int_equal(fx->nevents, events);
}

/* Without a bus (tools, tests) writes still count in the generation. */
static void settings_without_a_bus(void **state)
{
    fixture *fx = *state;
    pd_inv inv = {.db = fx->db};
    pd_inv_err e;
    json_t *body = json_string("\"CHF\""), *out = NULL;
    assert_int_equal(pd_inv_setting_set(&inv, "currency", body, &out, &e), PD_OK);
    json_decref(body);
    json_decref(out);
    assert_int_equal(inv.generation, 1);
    assert_json(pd_inv_setting_value(&inv, "currency"), "\"CHF\"");
}

static void extra_fields_setting_is_schema_checked(void **state)
{
    fixture *fx = *state;
    pd_inv_err e;
    assert_int_equal(set(fx, "extra_fields_spool",
                         "[{\"key\":\"tag\",\"entity_type\":\"spool\",\"name\":\"Tag\",\"unit\":null,\"order\":3,"
                         "\"field_type\":\"text\",\"default_value\":null,\"choices\":null,\"multi_choice\":null}]",
                         NULL, &e) == PD_OK, 1);
    json_t *list = NULL;
    assert_int_equal(pd_inv_fields_list(&fx->inv, PD_INV_SPOOL, &list), PD_OK);
    assert_json(list, "[{\"key\":\"tag\",\"entity_type\":\"spool\",\"name\":\"Tag\",\"order\":3,\"field_type\":\"text\"}]");
    assert_int_equal(pd_inv_fields_list(&fx->inv, PD_INV_VENDOR, &list), PD_OK);
    assert_json(list, "[]");

    static const struct {
        const char *value, *msg;
    } bad[] = {
        {"{}", "Setting extra_fields_spool must be an array."},
        {"[5]", "Extra field at index 0 is not valid: Input should be a valid dictionary"},
        {"[{\"key\":\"a\",\"entity_type\":\"spool\",\"field_type\":\"text\"}]",
         "Extra field at index 0 is not valid: name: Field required"},
        {"[{\"key\":\"A\",\"entity_type\":\"spool\",\"name\":\"a\",\"field_type\":\"text\"}]",
         "Extra field at index 0 is not valid: key: String should match pattern '^[a-z0-9_]+$'"},
        {"[{\"key\":\"a\",\"entity_type\":\"filament\",\"name\":\"a\",\"field_type\":\"text\"}]",
         "Extra field at index 0 is not valid: entity_type: Input should be 'spool'"},
        {"[{\"key\":\"a\",\"entity_type\":\"spool\",\"name\":\"a\",\"field_type\":\"choice\"}]",
         "Extra field at index 0 is not valid: Choices must be set for field type choice."},
        {"[{\"key\":\"a\",\"entity_type\":\"spool\",\"name\":\"a\",\"field_type\":\"integer\",\"default_value\":\"x\"}]",
         "Extra field at index 0 is not valid: Default value is not valid: Value is not valid JSON."},
        {"[{\"key\":\"a\",\"entity_type\":\"spool\",\"name\":\"a\",\"field_type\":\"text\"},"
         "{\"key\":\"a\",\"entity_type\":\"spool\",\"name\":\"b\",\"field_type\":\"text\"}]",
         "Setting extra_fields_spool contains duplicate extra field keys."},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_err(set(fx, "extra_fields_spool", bad[i].value, NULL, &e), &e, PD_ERR_INVAL, NULL, NULL, bad[i].msg);

    char *many = malloc(129 * 80 + 4), *p = many;
    assert_non_null(many);
    p += sprintf(p, "[");
    for (int i = 0; i < 129; i++)
        p += sprintf(p, "%s{\"key\":\"k%d\",\"entity_type\":\"spool\",\"name\":\"n\",\"field_type\":\"text\"}",
                     i ? "," : "", i);
    strcpy(p, "]");
    assert_err(set(fx, "extra_fields_spool", many, NULL, &e), &e, PD_ERR_INVAL, NULL, NULL,
               "Setting extra_fields_spool has 129 extra fields, the maximum is 128.");
    free(many);

    /* a list that is not an array reads as none: only someone editing the table can do that */
    exec(fx, "UPDATE setting SET value = '{}' WHERE key = 'extra_fields_spool'");
    assert_int_equal(pd_inv_fields_list(&fx->inv, PD_INV_SPOOL, &list), PD_OK);
    assert_json(list, "[]");
}

/* --- field definitions ------------------------------------------------------------------------- */

static void fields_are_upserted_and_announced(void **state)
{
    fixture *fx = *state;
    pd_inv_err e;
    json_t *list = NULL;
    assert_int_equal(put(fx, PD_INV_SPOOL, "tag", "{\"name\":\"Tag\",\"field_type\":\"text\",\"key\":\"ignored\"}", &list, &e),
                     PD_OK);
    assert_json(list, "[{\"key\":\"tag\",\"entity_type\":\"spool\",\"name\":\"Tag\",\"order\":0,\"field_type\":\"text\"}]");
    assert_int_equal(fx->nevents, 1);
    assert_string_equal(fx->change, "updated");
    assert_string_equal(fx->key, "extra_fields_spool");
    assert_string_equal(json_string_value(json_object_get(fx->payload, "key")), "extra_fields_spool");
    json_t *setting = json_object_get(fx->payload, "setting");
    assert_true(json_is_true(json_object_get(setting, "is_set")));
    assert_json(parse(json_string_value(json_object_get(setting, "value"))),
                "[{\"key\":\"tag\",\"entity_type\":\"spool\",\"name\":\"Tag\",\"order\":0,\"field_type\":\"text\"}]");

    put_ok(fx, PD_INV_SPOOL, "weight_lo", "{\"name\":\"Low\",\"order\":2,\"unit\":\"g\",\"field_type\":\"integer\","
                                          "\"default_value\":\"100\"}");
    put_ok(fx, PD_INV_SPOOL, "color", "{\"name\":\"Colour\",\"field_type\":\"choice\",\"choices\":[\"Red\",\"Blue\"],"
                                      "\"multi_choice\":false,\"unit\":null}");
    /* an update moves the field last; the same key on another entity is another field */
    assert_int_equal(put(fx, PD_INV_SPOOL, "tag", "{\"name\":\"Label\",\"field_type\":\"text\",\"order\":-1}", &list, &e), PD_OK);
    assert_json(list, "["
        "{\"key\":\"weight_lo\",\"entity_type\":\"spool\",\"name\":\"Low\",\"order\":2,\"unit\":\"g\",\"field_type\":\"integer\",\"default_value\":\"100\"},"
        "{\"key\":\"color\",\"entity_type\":\"spool\",\"name\":\"Colour\",\"order\":0,\"field_type\":\"choice\",\"choices\":[\"Red\",\"Blue\"],\"multi_choice\":false},"
        "{\"key\":\"tag\",\"entity_type\":\"spool\",\"name\":\"Label\",\"order\":-1,\"field_type\":\"text\"}]");
    put_ok(fx, PD_INV_FILAMENT, "tag", "{\"name\":\"Filament tag\",\"field_type\":\"boolean\"}");
    assert_int_equal(pd_inv_fields_list(&fx->inv, PD_INV_SPOOL, &list), PD_OK);
    assert_int_equal(json_array_size(list), 3);
    json_decref(list);
    assert_int_equal(pd_inv_fields_list(&fx->inv, PD_INV_FILAMENT, &list), PD_OK);
    assert_json(list, "[{\"key\":\"tag\",\"entity_type\":\"filament\",\"name\":\"Filament tag\",\"order\":0,\"field_type\":\"boolean\"}]");
    /* adding choices is fine */
    put_ok(fx, PD_INV_SPOOL, "color", "{\"name\":\"Colour\",\"field_type\":\"choice\",\"choices\":[\"Blue\",\"Green\",\"Red\"],"
                                      "\"multi_choice\":false}");
    assert_int_equal(fx->nevents, 6);
}

static void field_definitions_are_validated(void **state)
{
    fixture *fx = *state;
    pd_inv_err e;
    static const struct {
        const char *key, *body;
        pd_err code;
        const char *loc, *field, *msg;
    } bad[] = {
        {"Tag", "{\"name\":\"a\",\"field_type\":\"text\"}", PD_ERR_FIELD, "path", "key",
         "String should match pattern '^[a-z0-9_]+$'"},
        {"", "{\"name\":\"a\",\"field_type\":\"text\"}", PD_ERR_FIELD, "path", "key", "String should have at least 1 character"},
        {"a123456789b123456789c123456789d123456789e123456789f123456789g1234", "{\"name\":\"a\",\"field_type\":\"text\"}",
         PD_ERR_FIELD, "path", "key", "String should have at most 64 characters"},
        {"a", "[]", PD_ERR_FIELD, "body", "", NULL},
        {"a", "{\"field_type\":\"text\"}", PD_ERR_FIELD, "body", "name", "Field required"},
        {"a", "{\"name\":null,\"field_type\":\"text\"}", PD_ERR_FIELD, "body", "name", "Input should be a valid string"},
        {"a", "{\"name\":\"\",\"field_type\":\"text\"}", PD_ERR_FIELD, "body", "name", "String should have at least 1 character"},
        {"a", "{\"name\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"field_type\":\"text\"}",
         PD_ERR_FIELD, "body", "name", "String should have at most 128 characters"},
        {"a", "{\"name\":\"a\",\"field_type\":\"text\",\"order\":\"1\"}", PD_ERR_FIELD, "body", "order", "Input should be a valid integer"},
        {"a", "{\"name\":\"a\",\"field_type\":\"text\",\"order\":null}", PD_ERR_FIELD, "body", "order", "Input should be a valid integer"},
        {"a", "{\"name\":\"a\",\"field_type\":\"text\",\"unit\":\"\"}", PD_ERR_FIELD, "body", "unit", NULL},
        {"a", "{\"name\":\"a\",\"field_type\":\"text\",\"unit\":\"12345678901234567\"}", PD_ERR_FIELD, "body", "unit",
         "String should have at most 16 characters"},
        {"a", "{\"name\":\"a\"}", PD_ERR_FIELD, "body", "field_type", "Field required"},
        {"a", "{\"name\":\"a\",\"field_type\":\"date\"}", PD_ERR_FIELD, "body", "field_type", NULL},
        {"a", "{\"name\":\"a\",\"field_type\":\"text\",\"default_value\":5}", PD_ERR_FIELD, "body", "default_value", NULL},
        {"a", "{\"name\":\"a\",\"field_type\":\"choice\",\"choices\":[],\"multi_choice\":false}", PD_ERR_FIELD, "body",
         "choices", "List should have at least 1 item after validation, not 0"},
        {"a", "{\"name\":\"a\",\"field_type\":\"choice\",\"choices\":[1],\"multi_choice\":false}", PD_ERR_FIELD, "body",
         "choices", NULL},
        {"a", "{\"name\":\"a\",\"field_type\":\"choice\",\"choices\":[\"x\"],\"multi_choice\":\"no\"}", PD_ERR_FIELD, "body",
         "multi_choice", "Input should be a valid boolean"},
        {"a", "{\"name\":\"a\",\"field_type\":\"choice\",\"multi_choice\":false}", PD_ERR_INVAL, NULL, NULL,
         "Choices must be set for field type choice."},
        {"a", "{\"name\":\"a\",\"field_type\":\"choice\",\"choices\":[\"x\"]}", PD_ERR_INVAL, NULL, NULL,
         "Multi choice must be set for field type choice."},
        {"a", "{\"name\":\"a\",\"field_type\":\"text\",\"choices\":[\"x\"]}", PD_ERR_INVAL, NULL, NULL,
         "Choices must not be set for field type other than choice."},
        {"a", "{\"name\":\"a\",\"field_type\":\"text\",\"multi_choice\":true}", PD_ERR_INVAL, NULL, NULL,
         "Multi choice must not be set for field type other than choice."},
        {"a", "{\"name\":\"a\",\"field_type\":\"integer\",\"default_value\":\"\\\"x\\\"\"}", PD_ERR_INVAL, NULL, NULL,
         "Default value is not valid: Value is not an integer."},
        {"a", "{\"name\":\"a\",\"field_type\":\"choice\",\"choices\":[\"x\"],\"multi_choice\":false,\"default_value\":\"\\\"y\\\"\"}",
         PD_ERR_INVAL, NULL, NULL, "Default value is not valid: Value is not a valid choice."},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pd_err rc = put(fx, PD_INV_SPOOL, bad[i].key, bad[i].body, NULL, &e);
        if (rc != bad[i].code)
            fail_msg("case %zu (%s): got %d %s", i, bad[i].body, rc, rc ? e.msg : "");
        assert_err(rc, &e, bad[i].code, bad[i].loc, bad[i].field, bad[i].msg);
    }
    put_ok(fx, PD_INV_SPOOL, "u", "{\"name\":\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\","
                                  "\"unit\":\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\","
                                  "\"field_type\":\"text\"}");

    /* changes that would break stored values */
    put_ok(fx, PD_INV_SPOOL, "n", "{\"name\":\"n\",\"field_type\":\"integer\"}");
    put_ok(fx, PD_INV_SPOOL, "c", "{\"name\":\"c\",\"field_type\":\"choice\",\"choices\":[\"x\",\"y\"],\"multi_choice\":true}");
    assert_err(put(fx, PD_INV_SPOOL, "n", "{\"name\":\"n\",\"field_type\":\"float\"}", NULL, &e), &e, PD_ERR_INVAL, NULL, NULL,
               "Field type cannot be changed.");
    assert_err(put(fx, PD_INV_SPOOL, "c", "{\"name\":\"c\",\"field_type\":\"choice\",\"choices\":[\"x\",\"y\"],\"multi_choice\":false}",
                   NULL, &e), &e, PD_ERR_INVAL, NULL, NULL, "Multi choice cannot be changed.");
    assert_err(put(fx, PD_INV_SPOOL, "c", "{\"name\":\"c\",\"field_type\":\"choice\",\"choices\":[\"x\"],\"multi_choice\":true}",
                   NULL, &e), &e, PD_ERR_INVAL, NULL, NULL, "Cannot remove existing choices.");
    assert_int_equal(fx->nevents, 3);
}

static void at_most_128_fields(void **state)
{
    fixture *fx = *state;
    pd_inv_err e;
    for (int i = 0; i < 128; i++) {
        char key[16];
        snprintf(key, sizeof key, "f%d", i);
        put_ok(fx, PD_INV_VENDOR, key, "{\"name\":\"f\",\"field_type\":\"text\"}");
    }
    assert_err(put(fx, PD_INV_VENDOR, "one_more", "{\"name\":\"f\",\"field_type\":\"text\"}", NULL, &e), &e, PD_ERR_INVAL,
               NULL, NULL, "Cannot add another extra field for vendor, the maximum is 128.");
    /* replacing one of them is not adding */
    json_t *list = NULL;
    assert_int_equal(put(fx, PD_INV_VENDOR, "f0", "{\"name\":\"first\",\"field_type\":\"text\"}", &list, &e), PD_OK);
    assert_int_equal(json_array_size(list), 128);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 127), "name")), "first");
    json_decref(list);
}

static void deleting_a_field_drops_its_values(void **state)
{
    fixture *fx = *state;
    pd_inv_err e;
    json_t *list = NULL;
    put_ok(fx, PD_INV_SPOOL, "tag", "{\"name\":\"Tag\",\"field_type\":\"text\"}");
    put_ok(fx, PD_INV_SPOOL, "keep", "{\"name\":\"Keep\",\"field_type\":\"integer\"}");
    put_ok(fx, PD_INV_FILAMENT, "tag", "{\"name\":\"Tag\",\"field_type\":\"text\"}");
    save(fx, PD_INV_SPOOL, 1, "{\"tag\":\"\\\"a\\\"\",\"keep\":\"1\"}");
    save(fx, PD_INV_SPOOL, 2, "{\"tag\":\"\\\"b\\\"\"}");
    save(fx, PD_INV_FILAMENT, 1, "{\"tag\":\"\\\"f\\\"\"}");
    int events = fx->nevents;

    assert_err(pd_inv_field_delete(&fx->inv, PD_INV_SPOOL, "nope", &list, &e), &e, PD_ERR_NOTFOUND, "path", "key",
               "Extra field with key nope does not exist for entity type spool");
    assert_err(pd_inv_field_delete(&fx->inv, PD_INV_SPOOL, "No!", &list, &e), &e, PD_ERR_FIELD, "path", "key", NULL);
    assert_int_equal(pd_inv_field_delete(&fx->inv, PD_INV_SPOOL, "tag", &list, &e), PD_OK);
    assert_json(list, "[{\"key\":\"keep\",\"entity_type\":\"spool\",\"name\":\"Keep\",\"order\":0,\"field_type\":\"integer\"}]");
    assert_int_equal(fx->nevents, events + 1);
    assert_string_equal(fx->change, "updated");
    assert_string_equal(fx->key, "extra_fields_spool");
    assert_load(fx, PD_INV_SPOOL, 1, 2, "{\"1\":{\"keep\":\"1\"}}");
    assert_load(fx, PD_INV_FILAMENT, 1, 1, "{\"1\":{\"tag\":\"\\\"f\\\"\"}}");
    assert_err(pd_inv_field_delete(&fx->inv, PD_INV_SPOOL, "tag", &list, &e), &e, PD_ERR_NOTFOUND, NULL, NULL, NULL);

    /* inside an outer transaction that fails, nothing of it stays, not even its announcement */
    int before = fx->nevents;
    assert_int_equal(pd_db_begin(fx->db), PD_OK);
    assert_int_equal(pd_inv_field_delete(&fx->inv, PD_INV_SPOOL, "keep", &list, &e), PD_OK);
    json_decref(list);
    assert_int_equal(pd_inv_end(&fx->inv, PD_ERR_INVAL), PD_ERR_INVAL);
    assert_int_equal(fx->nevents, before);
    assert_load(fx, PD_INV_SPOOL, 1, 2, "{\"1\":{\"keep\":\"1\"}}");
    assert_int_equal(pd_inv_fields_list(&fx->inv, PD_INV_SPOOL, &list), PD_OK);
    assert_int_equal(json_array_size(list), 1);
    json_decref(list);
}

static void field_values_are_distinct_sorted_and_decoded(void **state)
{
    fixture *fx = *state;
    pd_inv_err e;
    json_t *out = NULL;
    put_ok(fx, PD_INV_SPOOL, "shelf", "{\"name\":\"Shelf\",\"field_type\":\"text\"}");
    put_ok(fx, PD_INV_SPOOL, "colors", "{\"name\":\"c\",\"field_type\":\"choice\",\"choices\":[\"Red\",\"Blue\",\"Green\"],"
                                       "\"multi_choice\":true}");
    put_ok(fx, PD_INV_SPOOL, "n", "{\"name\":\"n\",\"field_type\":\"float\"}");
    assert_int_equal(pd_inv_field_values(&fx->inv, PD_INV_SPOOL, "shelf", &out, &e), PD_OK);
    assert_json(out, "[]");
    static const char *const rows[] = {
        "{\"shelf\":\"\\\"Top\\\"\",\"colors\":\"[\\\"Red\\\",\\\"Blue\\\"]\",\"n\":\"10\"}",
        "{\"shelf\":\"\\\"Bottom\\\"\",\"colors\":\"[]\",\"n\":\"9.5\"}",
        "{\"shelf\":\"\\\"Top\\\"\",\"colors\":\"[\\\"Blue\\\"]\",\"n\":\"10\"}",
        "{\"shelf\":\"\\\"\\\"\"}",
        "{}",
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        save(fx, PD_INV_SPOOL, (int64_t)i + 1, rows[i]);
    assert_int_equal(pd_inv_field_values(&fx->inv, PD_INV_SPOOL, "shelf", &out, &e), PD_OK);
    assert_json(out, "[\"Bottom\",\"Top\"]");
    assert_int_equal(pd_inv_field_values(&fx->inv, PD_INV_SPOOL, "colors", &out, &e), PD_OK);
    assert_json(out, "[\"Blue\",\"Red\"]");
    assert_int_equal(pd_inv_field_values(&fx->inv, PD_INV_SPOOL, "n", &out, &e), PD_OK);
    assert_json(out, "[9.5,10]");
    assert_err(pd_inv_field_values(&fx->inv, PD_INV_SPOOL, "nope", &out, &e), &e, PD_ERR_NOTFOUND, NULL, NULL,
               "Extra field with key nope does not exist for entity type spool");
    assert_err(pd_inv_field_values(&fx->inv, PD_INV_SPOOL, "NOPE", &out, &e), &e, PD_ERR_FIELD, "path", "key", NULL);
}

/* --- values on entities ------------------------------------------------------------------------ */

static void define_all_types(fixture *fx)
{
    put_ok(fx, PD_INV_SPOOL, "tag", "{\"name\":\"t\",\"field_type\":\"text\"}");
    put_ok(fx, PD_INV_SPOOL, "num", "{\"name\":\"n\",\"field_type\":\"integer\"}");
    put_ok(fx, PD_INV_SPOOL, "fl", "{\"name\":\"f\",\"field_type\":\"float\"}");
    put_ok(fx, PD_INV_SPOOL, "ir", "{\"name\":\"ir\",\"field_type\":\"integer_range\"}");
    put_ok(fx, PD_INV_SPOOL, "fr", "{\"name\":\"fr\",\"field_type\":\"float_range\"}");
    put_ok(fx, PD_INV_SPOOL, "dt", "{\"name\":\"d\",\"field_type\":\"datetime\"}");
    put_ok(fx, PD_INV_SPOOL, "ok", "{\"name\":\"b\",\"field_type\":\"boolean\"}");
    put_ok(fx, PD_INV_SPOOL, "color", "{\"name\":\"c\",\"field_type\":\"choice\",\"choices\":[\"Red\",\"Blue\",\"Green\"],"
                                      "\"multi_choice\":false}");
    put_ok(fx, PD_INV_SPOOL, "colors", "{\"name\":\"c\",\"field_type\":\"choice\",\"choices\":[\"Red\",\"Blue\",\"Green\"],"
                                       "\"multi_choice\":true}");
}

static void extra_values_are_checked(void **state)
{
    fixture *fx = *state;
    pd_inv_err e;
    define_all_types(fx);
    static const char *const good[] = {
        "{}", "{\"tag\":\"\\\"hi\\\"\"}", "{\"num\":\"42\"}", "{\"num\":\"true\"}", "{\"num\":\"-0\"}",
        "{\"fl\":\"1.5\"}", "{\"fl\":\"2\"}", "{\"ir\":\"[1,null]\"}", "{\"ir\":\"[null, 2]\"}", "{\"fr\":\"[1.5,2]\"}",
        "{\"dt\":\"\\\"2024-05-01T00:00:00.000Z\\\"\"}", "{\"ok\":\"false\"}", "{\"color\":\"\\\"Red\\\"\"}",
        "{\"colors\":\"[\\\"Red\\\",\\\"Blue\\\"]\"}", "{\"colors\":\"[]\"}", "{\"num\":null,\"fl\":null}",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (check(fx, PD_INV_SPOOL, good[i], &e))
            fail_msg("%s: %s", good[i], e.msg);
    static const struct {
        const char *extra, *field, *msg;
    } bad[] = {
        {"{\"nope\":\"1\"}", "extra.nope", "Unknown extra field nope."},
        {"{\"nope\":null}", "extra.nope", "Unknown extra field nope."},
        {"{\"tag\":\"42\"}", "extra.tag", "Invalid extra field for key tag: Value is not a string."},
        {"{\"tag\":\"hi\"}", "extra.tag", "Invalid extra field for key tag: Value is not valid JSON."},
        {"{\"num\":\"1.5\"}", "extra.num", "Invalid extra field for key num: Value is not an integer."},
        {"{\"fl\":\"true\"}", "extra.fl", "Invalid extra field for key fl: Value is not a float."},
        {"{\"ir\":\"5\"}", "extra.ir", "Invalid extra field for key ir: Value is not a list."},
        {"{\"ir\":\"[1]\"}", "extra.ir", "Invalid extra field for key ir: Value list must have exactly two values."},
        {"{\"ir\":\"[1.5,2]\"}", "extra.ir", "Invalid extra field for key ir: Value list must contain only integers or null."},
        {"{\"fr\":\"[true,2]\"}", "extra.fr", "Invalid extra field for key fr: Value list must contain only floats or null."},
        {"{\"dt\":\"5\"}", "extra.dt", "Invalid extra field for key dt: Value is not a string."},
        {"{\"ok\":\"1\"}", "extra.ok", "Invalid extra field for key ok: Value is not a boolean."},
        {"{\"color\":\"\\\"Pink\\\"\"}", "extra.color", "Invalid extra field for key color: Value is not a valid choice."},
        {"{\"color\":\"[\\\"Red\\\"]\"}", "extra.color", "Invalid extra field for key color: Value is not a string."},
        {"{\"colors\":\"\\\"Red\\\"\"}", "extra.colors", "Invalid extra field for key colors: Value is not a list."},
        {"{\"colors\":\"[\\\"Red\\\",1]\"}", "extra.colors", "Invalid extra field for key colors: Value list must contain only strings."},
        {"{\"colors\":\"[\\\"Pink\\\"]\"}", "extra.colors", "Invalid extra field for key colors: Value list contains invalid choices."},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_err(check(fx, PD_INV_SPOOL, bad[i].extra, &e), &e, PD_ERR_INVAL, "body", bad[i].field, bad[i].msg);
    assert_err(check(fx, PD_INV_SPOOL, "{\"tag\":42}", &e), &e, PD_ERR_FIELD, "body", "extra.tag", "Input should be a valid string");
    assert_err(check(fx, PD_INV_SPOOL, "[]", &e), &e, PD_ERR_FIELD, "body", "extra", NULL);
    /* the spool's fields are not the vendor's */
    assert_err(check(fx, PD_INV_VENDOR, "{\"tag\":\"\\\"x\\\"\"}", &e), &e, PD_ERR_INVAL, NULL, NULL, "Unknown extra field tag.");

    char *big = malloc(65540);
    assert_non_null(big);
    big[0] = '"';
    memset(big + 1, 'a', 65533);
    strcpy(big + 65534, "\"");
    json_t *x = json_pack("{s:s}", "tag", big);
    assert_int_equal(pd_inv_extra_check(&fx->inv, PD_INV_SPOOL, x, &e), PD_OK);
    json_decref(x);
    strcpy(big + 65534, "a\"");
    x = json_pack("{s:s}", "tag", big);
    assert_err(pd_inv_extra_check(&fx->inv, PD_INV_SPOOL, x, &e), &e, PD_ERR_INVAL, NULL, "extra.tag",
               "Invalid extra field for key tag: Value is too big, max size is 65535 characters.");
    json_decref(x);
    free(big);
}

static void extra_values_are_saved_loaded_and_dropped(void **state)
{
    fixture *fx = *state;
    put_ok(fx, PD_INV_SPOOL, "a", "{\"name\":\"a\",\"field_type\":\"integer\"}");
    put_ok(fx, PD_INV_SPOOL, "b", "{\"name\":\"b\",\"field_type\":\"text\"}");
    put_ok(fx, PD_INV_VENDOR, "a", "{\"name\":\"a\",\"field_type\":\"integer\"}");
    assert_load(fx, PD_INV_SPOOL, 1, 100, "{}");
    save(fx, PD_INV_SPOOL, 1, "{\"a\":\"1\",\"b\":\"\\\"x\\\"\"}");
    save(fx, PD_INV_SPOOL, 2, "{\"a\":\"2\"}");
    save(fx, PD_INV_SPOOL, 30, "{\"a\":\"30\"}");
    save(fx, PD_INV_VENDOR, 1, "{\"a\":\"7\"}");
    assert_load(fx, PD_INV_SPOOL, 1, 2, "{\"1\":{\"a\":\"1\",\"b\":\"\\\"x\\\"\"},\"2\":{\"a\":\"2\"}}");
    /* PATCH merges per key: a replaced, b removed by null, the rest kept */
    save(fx, PD_INV_SPOOL, 1, "{\"a\":\" 5 \",\"b\":null}");
    save(fx, PD_INV_SPOOL, 2, "{\"b\":\"\\\"y\\\"\"}");
    assert_load(fx, PD_INV_SPOOL, 1, 30, "{\"1\":{\"a\":\" 5 \"},\"2\":{\"a\":\"2\",\"b\":\"\\\"y\\\"\"},\"30\":{\"a\":\"30\"}}");
    assert_int_equal(pd_inv_extra_drop(&fx->inv, PD_INV_SPOOL, 2), PD_OK);
    assert_load(fx, PD_INV_SPOOL, 2, 2, "{}");
    assert_load(fx, PD_INV_VENDOR, 0, 10, "{\"1\":{\"a\":\"7\"}}");
    json_t *odd = json_pack("{s:i}", "a", 1);
    assert_int_equal(pd_inv_extra_save(&fx->inv, PD_INV_SPOOL, 1, odd), PD_ERR_INVAL);
    json_decref(odd);
}

/* --- filtering and sorting ------------------------------------------------------------------- */

/* Six spools; 5 and 6 carry no values at all. */
static void filter_fixture(fixture *fx)
{
    define_all_types(fx);
    spools(fx, 6);
    save(fx, PD_INV_SPOOL, 1, "{\"tag\":\"\\\"Alpha beta\\\"\",\"num\":\"5\",\"fl\":\"1.5\",\"ir\":\"[1,5]\","
                              "\"fr\":\"[0.5, 2.5]\",\"dt\":\"\\\"2024-05-01T00:00:00Z\\\"\",\"ok\":\"true\","
                              "\"color\":\"\\\"Red\\\"\",\"colors\":\"[\\\"Red\\\",\\\"Blue\\\"]\"}");
    save(fx, PD_INV_SPOOL, 2, "{\"tag\":\"\\\"beta\\\"\",\"num\":\"10\",\"fl\":\"2\",\"ir\":\"[3,null]\","
                              "\"fr\":\"[-1e1,1E0]\",\"dt\":\"\\\"2024-07-15T12:00:00Z\\\"\",\"ok\":\"false\","
                              "\"color\":\"\\\"Blue\\\"\",\"colors\":\"[\\\"Green\\\"]\"}");
    /* the integer quirk: true is an integer to Spoolman */
    save(fx, PD_INV_SPOOL, 3, "{\"tag\":\"\\\"\\\"\",\"num\":\"true\",\"fl\":\" -3 \",\"ir\":\"[ 0 , 10 ]\","
                              "\"colors\":\"[]\",\"dt\":\"\\\"2023-12-31T23:59:59Z\\\"\"}");
    save(fx, PD_INV_SPOOL, 4, "{\"tag\":\"\\\"say \\\\\\\"hi\\\\\\\"\\\"\",\"num\":\"-2\",\"ir\":\"[null,null]\"}");
}

static void extra_filters_follow_spoolman(void **state)
{
    fixture *fx = *state;
    filter_fixture(fx);
    /* text: substring of the decoded value, any case; quoted exact; empty = none or "" */
    assert_ids(fx, "tag", "BETA", "1,2");
    assert_ids(fx, "tag", "\"beta\"", "2");
    assert_ids(fx, "tag", "\"Beta\"", "");
    assert_ids(fx, "tag", "", "3,5,6");
    assert_ids(fx, "tag", "<empty>,alpha", "1,3,5,6");
    assert_ids(fx, "tag", "\"say \"hi\"\"", "4");
    assert_ids(fx, "tag", "\"hi", "4");
    /* %, _ and the escape character are literal */
    assert_ids(fx, "tag", "%", "");
    assert_ids(fx, "tag", "a_b", "");
    assert_ids(fx, "tag", "a b", "1");
    assert_ids(fx, "tag", "/", "");
    /* numbers: exact or min:max, sides optional; true is not a number here */
    assert_ids(fx, "num", "5", "1");
    assert_ids(fx, "num", "5, -2", "1,4");
    assert_ids(fx, "num", "3:10", "1,2");
    assert_ids(fx, "num", ":5", "1,4");
    assert_ids(fx, "num", "6:", "2");
    assert_ids(fx, "num", " 3 : +10 ", "1,2");
    assert_ids(fx, "num", "", "5,6");
    assert_ids(fx, "fl", "1.5", "1");
    assert_ids(fx, "fl", "-5:1.9", "1,3");
    /* ranges: the stored range inside min:max */
    assert_ids(fx, "ir", "0:10", "1,3");
    assert_ids(fx, "ir", "1:", "1,2");
    assert_ids(fx, "ir", ":5", "1");
    assert_ids(fx, "fr", "-10:1", "2");
    assert_ids(fx, "fr", "0:3", "1");
    /* datetime: exact, or start|end compared as text */
    assert_ids(fx, "dt", "2024-05-01T00:00:00Z", "1");
    assert_ids(fx, "dt", "2024-01-01|2024-06-30", "1");
    assert_ids(fx, "dt", "2024-01-01|", "1,2");
    assert_ids(fx, "dt", "|2024-01-01", "3");
    /* boolean: empty also means false */
    assert_ids(fx, "ok", "true", "1");
    assert_ids(fx, "ok", "FALSE", "2");
    assert_ids(fx, "ok", "", "2,3,4,5,6");
    /* choice: exact; multi-choice: contains, case-sensitive */
    assert_ids(fx, "color", "Red", "1");
    assert_ids(fx, "color", "\"Blue\",Red", "1,2");
    assert_ids(fx, "color", "red", "");
    assert_ids(fx, "colors", "Blue", "1");
    assert_ids(fx, "colors", "Red,Green", "1,2");
    assert_ids(fx, "colors", "blue", "");
    /* unknown keys add nothing; so does a key that could never be one */
    assert_ids(fx, "nope", "x", "1,2,3,4,5,6");
    assert_ids(fx, "bad'key", "x", "1,2,3,4,5,6");
    /* values that cannot be terms of the type */
    assert_bad_filter(fx, "num", "five", "Invalid integer filter value for 'num': five");
    assert_bad_filter(fx, "num", "2.5", "Invalid integer filter value for 'num': 2.5");
    assert_bad_filter(fx, "num", "1:x", "Invalid integer range filter value for 'num': 1:x");
    assert_bad_filter(fx, "num", ":", "Invalid integer range filter value for 'num': :");
    assert_bad_filter(fx, "fl", "1,,notafloat", "Invalid float filter value for 'fl': notafloat");
    assert_bad_filter(fx, "fl", "0x10", "Invalid float filter value for 'fl': 0x10");
    assert_bad_filter(fx, "fl", " : ", "Invalid float range filter value for 'fl':  : ");
    assert_bad_filter(fx, "ir", "5", "Invalid range filter value for 'ir': 5. Expected '<min>:<max>'.");
    assert_bad_filter(fx, "ir", ":", "Invalid range filter value for 'ir': :. Expected '<min>:<max>'.");
    assert_bad_filter(fx, "ir", "abc:200", "Invalid integer range filter value for 'ir': abc:200");
    assert_bad_filter(fx, "ir", "1.5:", "Invalid integer range filter value for 'ir': 1.5:");
    assert_bad_filter(fx, "fr", "x:", "Invalid float range filter value for 'fr': x:");
    assert_bad_filter(fx, "dt", "|", "Invalid datetime range filter for 'dt': '|'. Expected '<start>|<end>' "
                                     "with at least one end given.");
    assert_bad_filter(fx, "ok", "maybe", "Invalid boolean filter value: 'maybe'");
    assert_bad_filter(fx, "ok", "1", "Invalid boolean filter value: '1'");
    assert_bad_filter(fx, "ok", "yes", "Invalid boolean filter value: 'yes'");
    assert_ids(fx, "ok", " True ", "1");
    char *longterm = malloc(400);
    assert_non_null(longterm);
    memset(longterm, 'a', 399);
    longterm[399] = '\0';
    assert_bad_filter(fx, "tag", longterm, NULL);
    free(longterm);
}

static void extra_sort_is_typed(void **state)
{
    fixture *fx = *state;
    filter_fixture(fx);
    /* numbers numerically (10 after 5), NULLs last both ways; ranges by their first element;
     * text by its JSON text */
    assert_sorted(fx, "num", "4,1,2,3,5,6");
    assert_sorted(fx, "num:DESC", "2,1,4,3,5,6");
    assert_sorted(fx, "fl", "3,1,2,4,5,6");
    assert_sorted(fx, "ir", "3,1,2,4,5,6");
    assert_sorted(fx, "fr:DESC", "1,2,3,4,5,6");
    assert_sorted(fx, "tag", "3,1,2,4,5,6");
    assert_sorted(fx, "dt", "3,1,2,4,5,6");
    char expr[1024];
    assert_false(pd_inv_extra_sort(&fx->inv, PD_INV_SPOOL, "nope", "s.id", expr, sizeof expr));
    assert_false(pd_inv_extra_sort(&fx->inv, PD_INV_SPOOL, "x') OR 1=1 --", "s.id", expr, sizeof expr));
    assert_false(pd_inv_extra_sort(&fx->inv, PD_INV_VENDOR, "num", "v.id", expr, sizeof expr));
    assert_false(pd_inv_extra_sort(&fx->inv, PD_INV_SPOOL, "num", "s.id", expr, 16));
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(settings_have_spoolmans_keys_and_defaults, fresh, drop),
    cmocka_unit_test_setup_teardown(settings_set_reset_and_announce, fresh, drop),
    cmocka_unit_test_setup_teardown(settings_refuse_bad_values, fresh, drop),
    cmocka_unit_test_setup_teardown(settings_without_a_bus, fresh, drop),
    cmocka_unit_test_setup_teardown(extra_fields_setting_is_schema_checked, fresh, drop),
    cmocka_unit_test_setup_teardown(fields_are_upserted_and_announced, fresh, drop),
    cmocka_unit_test_setup_teardown(field_definitions_are_validated, fresh, drop),
    cmocka_unit_test_setup_teardown(at_most_128_fields, fresh, drop),
    cmocka_unit_test_setup_teardown(deleting_a_field_drops_its_values, fresh, drop),
    cmocka_unit_test_setup_teardown(field_values_are_distinct_sorted_and_decoded, fresh, drop),
    cmocka_unit_test_setup_teardown(extra_values_are_checked, fresh, drop),
    cmocka_unit_test_setup_teardown(extra_values_are_saved_loaded_and_dropped, fresh, drop),
    cmocka_unit_test_setup_teardown(extra_filters_follow_spoolman, fresh, drop),
    cmocka_unit_test_setup_teardown(extra_sort_is_typed, fresh, drop),
    cmocka_unit_test_setup_teardown(dates_name_real_days, fresh, drop),
};

int main(void)
{
    return testdb_run(tests, sizeof tests / sizeof tests[0]);
}
