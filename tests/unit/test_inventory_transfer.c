/* Inventory export and import (src/inventory/transfer.c) on every backend: SQLite always,
 * PostgreSQL too when PD_TEST_PG holds a server's base URL. A case gets three fresh inventories
 * (directories for SQLite, CREATE DATABASE for PostgreSQL): the source, and targets to import
 * into. A Spoolman database is built here with sqlite3, in Spoolman's schema. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include "core/clock.h"
#include "core/json.h"
#include "inventory/inventory.h"
#include "testdb.h"

#define NDB 3

/* The PostgreSQL server's base URL while the PostgreSQL group runs; NULL for SQLite. */

typedef struct inv_db {
    char dir[64];
    char dbname[64];
    pd_db *db;
    pd_inv inv;
} inv_db;

typedef struct fixture {
    inv_db d[NDB];
} fixture;

static int fresh(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    for (int i = 0; i < NDB; i++) {
        inv_db *d = &fx->d[i];
        char url[512], err[256];
        testdb_create("xfer", d->dir, d->dbname, url);
        if (pd_db_open(&d->db, url, d->dir, err, sizeof err))
            fail_msg("open %s: %s", url, err);
        d->inv = (pd_inv){.db = d->db};
    }
    *state = fx;
    return 0;
}

static int drop(void **state)
{
    fixture *fx = *state;
    int rc = 0;
    for (int i = 0; i < NDB; i++) {
        inv_db *d = &fx->d[i];
        pd_db_close(&d->db);
        rc |= testdb_destroy(d->dir, d->dbname);
    }
    free(fx);
    return rc;
}

/* --- helpers ------------------------------------------------------------------------------- */

static int64_t create(pd_inv *inv, pd_inv_entity en, const char *body_json)
{
    json_error_t jerr;
    json_t *body = json_loads(body_json, 0, &jerr), *out = NULL;
    pd_inv_err e = {0};
    if (!body)
        fail_msg("test body: %s", jerr.text);
    if (pd_inv_create(inv, en, body, &out, &e))
        fail_msg("create %s: %s %s", pd_inv_entity_name(en), e.field, e.msg);
    int64_t id = json_integer_value(json_object_get(out, "id"));
    json_decref(out);
    json_decref(body);
    return id;
}

static void define(pd_inv *inv, pd_inv_entity en, const char *key, const char *body_json)
{
    json_t *body = json_loads(body_json, 0, NULL), *out = NULL;
    pd_inv_err e = {0};
    assert_non_null(body);
    if (pd_inv_field_put(inv, en, key, body, &out, &e))
        fail_msg("field %s: %s", key, e.msg);
    json_decref(out);
    json_decref(body);
}

static char *export(pd_inv *inv, pd_inv_entity en, pd_inv_format fmt, bool archived)
{
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(pd_inv_export(inv, en, fmt, archived, &text, &len), PD_OK);
    assert_int_equal(strlen(text), len);
    return text;
}

static pd_inv_import_counts import(pd_inv *inv, pd_inv_format fmt, const char *text)
{
    pd_inv_import_counts n;
    pd_inv_err e;
    if (pd_inv_import(inv, fmt, text, strlen(text), &n, &e))
        fail_msg("import: %s", e.msg);
    return n;
}

static void assert_counts(pd_inv_import_counts n, size_t vendors, size_t filaments, size_t spools)
{
    assert_int_equal(n.created[PD_INV_VENDOR], vendors);
    assert_int_equal(n.created[PD_INV_FILAMENT], filaments);
    assert_int_equal(n.created[PD_INV_SPOOL], spools);
}

static int64_t rows(pd_db *db, const char *table)
{
    char sql[64];
    int64_t n = -1;
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
    assert_int_equal(pd_db_scalar(db, sql, NULL, 0, &n), PD_OK);
    return n;
}

static void assert_empty(pd_db *db)
{
    assert_int_equal(rows(db, "vendor"), 0);
    assert_int_equal(rows(db, "filament"), 0);
    assert_int_equal(rows(db, "spool"), 0);
    assert_int_equal(rows(db, "extra"), 0);
}

static json_t *get(pd_inv *inv, pd_inv_entity en, int64_t id)
{
    json_t *out = NULL;
    pd_inv_err e = {0};
    if (pd_inv_get(inv, en, id, &out, &e))
        fail_msg("get %s %lld: %s", pd_inv_entity_name(en), (long long)id, e.msg);
    return out;
}

static const char *str_at(json_t *o, const char *path)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *dot; (dot = strchr(buf, '.')); ) {
        *dot = '\0';
        o = json_object_get(o, buf);
        memmove(buf, dot + 1, strlen(dot + 1) + 1);
    }
    const char *s = json_string_value(json_object_get(o, buf));
    return s ? s : "(none)";
}

static const char *field_type(pd_inv *inv, pd_inv_entity en, const char *key, char out[32])
{
    json_t *list = NULL, *f;
    size_t i;
    strcpy(out, "(undefined)");
    assert_int_equal(pd_inv_fields_list(inv, en, &list), PD_OK);
    json_array_foreach(list, i, f)
        if (!strcmp(json_string_value(json_object_get(f, "key")), key))
            snprintf(out, 32, "%s", json_string_value(json_object_get(f, "field_type")));
    json_decref(list);
    return out;
}

/* An inventory that uses every column printdeck adds and text a CSV must quote or escape. */
static void populate(pd_inv *inv)
{
    define(inv, PD_INV_SPOOL, "tag", "{\"name\":\"Tag\",\"field_type\":\"text\"}");
    define(inv, PD_INV_FILAMENT, "hot", "{\"name\":\"Hot end\",\"field_type\":\"integer\"}");
    define(inv, PD_INV_VENDOR, "country", "{\"name\":\"Country\",\"field_type\":\"text\"}");
    int64_t v1 = create(inv, PD_INV_VENDOR, "{\"name\":\"Polymaker\",\"empty_spool_weight\":140,"
                                            "\"extra\":{\"country\":\"\\\"CN\\\"\"}}");
    int64_t v2 = create(inv, PD_INV_VENDOR, "{\"name\":\"Prusa, \\\"Research\\\"\",\"comment\":\"=cmd|' /C calc'!A0\"}");
    char body[1024];
    snprintf(body, sizeof body,
             "{\"name\":\"PolyTerra Black\",\"vendor_id\":%lld,\"material\":\"PLA\",\"price\":20.5,"
             "\"density\":1.24,\"diameter\":1.75,\"weight\":1000,\"color_hex\":\"2c3232\","
             "\"settings_extruder_temp\":210,\"nozzle_temp_min\":190,\"nozzle_temp_max\":230,"
             "\"drying_temp\":55,\"drying_hours\":4.5,\"drying_notes\":\"line one\\nline two\","
             "\"low_stock_weight\":150,\"extra\":{\"hot\":\"215\"}}",
             (long long)v1);
    int64_t f1 = create(inv, PD_INV_FILAMENT, body);
    int64_t f2 = create(inv, PD_INV_FILAMENT, "{\"name\":\"Galaxy\",\"density\":1.27,\"diameter\":1.75,"
                                              "\"multi_color_hexes\":\"FF0000,00ff00\","
                                              "\"multi_color_direction\":\"coaxial\"}");
    snprintf(body, sizeof body, "{\"name\":\"Unused\",\"vendor_id\":%lld,\"density\":1.1,\"diameter\":2.85}",
             (long long)v2);
    create(inv, PD_INV_FILAMENT, body);
    snprintf(body, sizeof body,
             "{\"filament_id\":%lld,\"used_weight\":123.456789,\"first_used\":\"2024-05-02T08:00:00Z\","
             "\"last_used\":\"2024-06-01T19:40:03Z\",\"location\":\"Shelf A\",\"lot_nr\":\"-5\","
             "\"comment\":\"a, \\\"b\\\"\\r\\nc\",\"extra\":{\"tag\":\"\\\"A1\\\"\"}}",
             (long long)f1);
    create(inv, PD_INV_SPOOL, body);
    snprintf(body, sizeof body,
             "{\"filament_id\":%lld,\"initial_weight\":1000,\"spool_weight\":200,\"archived\":true,"
             "\"purchase_date\":\"2024-01-31\",\"tray_uuid\":\"D99401E841C14828BF2E1B859AF2F770\","
             "\"tag_uid\":\"7B45A8FF00000100\",\"price\":19.99,\"comment\":\"'quoted\"}",
             (long long)f2);
    create(inv, PD_INV_SPOOL, body);
    snprintf(body, sizeof body, "{\"filament_id\":%lld,\"remaining_weight\":400}", (long long)f1);
    create(inv, PD_INV_SPOOL, body);
}

/* --- cases ---------------------------------------------------------------------------------- */

/* Export, import into an empty inventory, export again: the same bytes, in both formats. The
 * three exports are imported separately (and in mixed formats): the filaments of the second
 * file find the vendors of the first by id, registered time and name. */
static void round_trip(void **state)
{
    fixture *fx = *state;
    pd_inv *a = &fx->d[0].inv, *b = &fx->d[1].inv;
    populate(a);
    char *vendors = export(a, PD_INV_VENDOR, PD_INV_FMT_CSV, false);
    char *filaments = export(a, PD_INV_FILAMENT, PD_INV_FMT_JSON, false);
    char *spools_csv = export(a, PD_INV_SPOOL, PD_INV_FMT_CSV, true);
    char *spools_json = export(a, PD_INV_SPOOL, PD_INV_FMT_JSON, true);

    assert_counts(import(b, PD_INV_FMT_CSV, vendors), 2, 0, 0);
    assert_counts(import(b, PD_INV_FMT_JSON, filaments), 0, 3, 0);
    assert_counts(import(b, PD_INV_FMT_CSV, spools_csv), 0, 0, 3);
    /* the same data again: all of it is there already */
    assert_counts(import(b, PD_INV_FMT_JSON, spools_json), 0, 0, 0);
    assert_int_equal(b->generation, 4);

    const struct {
        pd_inv_entity en;
        pd_inv_format fmt;
        const char *before;
    } again[] = {{PD_INV_VENDOR, PD_INV_FMT_CSV, vendors}, {PD_INV_FILAMENT, PD_INV_FMT_JSON, filaments},
                 {PD_INV_SPOOL, PD_INV_FMT_CSV, spools_csv}, {PD_INV_SPOOL, PD_INV_FMT_JSON, spools_json}};
    for (size_t i = 0; i < sizeof again / sizeof again[0]; i++) {
        char *after = export(b, again[i].en, again[i].fmt, true);
        assert_string_equal(after, again[i].before);
        free(after);
    }
    char t[32];
    assert_string_equal(field_type(b, PD_INV_SPOOL, "tag", t), "text");
    assert_string_equal(field_type(b, PD_INV_FILAMENT, "hot", t), "integer");
    free(vendors);
    free(filaments);
    free(spools_csv);
    free(spools_json);
}

/* What the exports look like: Spoolman's columns and printdeck's, dotted keys, raw values,
 * datetimes as "YYYY-MM-DD HH:MM:SS", RFC 4180 quoting, the formula escape. */
static void export_shape(void **state)
{
    fixture *fx = *state;
    pd_inv *a = &fx->d[0].inv;
    populate(a);
    char *json = export(a, PD_INV_SPOOL, PD_INV_FMT_JSON, false);
    json_t *all = json_loads(json, 0, NULL), *s = json_array_get(all, 0);
    assert_int_equal(json_array_size(all), 2);  /* the archived spool is left out */
    assert_string_equal(json_string_value(json_object_get(s, "filament.vendor.name")), "Polymaker");
    assert_string_equal(json_string_value(json_object_get(s, "last_used")), "2024-06-01 19:40:03");
    assert_string_equal(json_string_value(json_object_get(s, "extra.tag")), "\"A1\"");
    assert_string_equal(json_string_value(json_object_get(s, "filament.extra.hot")), "215");
    assert_string_equal(json_string_value(json_object_get(s, "filament.vendor.extra.country")), "\"CN\"");
    assert_true(json_is_null(json_object_get(s, "price")));   /* raw: no fallback to the filament's */
    assert_true(json_is_null(json_object_get(s, "tray_uuid")));
    assert_true(json_is_false(json_object_get(s, "archived")));
    assert_non_null(json_object_get(s, "filament_id"));
    assert_non_null(json_object_get(s, "filament.low_stock_weight"));
    assert_null(json_object_get(s, "remaining_weight"));            /* nothing computed */
    assert_null(json_object_get(s, "used_length"));
    assert_string_equal(json_string_value(json_object_get(json_array_get(all, 1), "filament.vendor.name")),
                        "Polymaker");
    json_decref(all);
    free(json);

    char *csv = export(a, PD_INV_VENDOR, PD_INV_FMT_CSV, false);
    assert_non_null(strstr(csv, "comment,empty_spool_weight,external_id,extra.country,id,name,registered\r\n"));
    assert_non_null(strstr(csv, ",140.0,,\"\"\"CN\"\"\",1,Polymaker,"));
    assert_non_null(strstr(csv, "\r\n'=cmd|' /C calc'!A0,,,,2,\"Prusa, \"\"Research\"\"\","));
    free(csv);
    csv = export(a, PD_INV_SPOOL, PD_INV_FMT_CSV, true);
    assert_non_null(strstr(csv, "\"a, \"\"b\"\"\r\nc\""));
    assert_non_null(strstr(csv, ",'-5,"));
    assert_non_null(strstr(csv, "\r\nTrue,''quoted,"));
    free(csv);
    /* an empty inventory still says which columns there are */
    csv = export(&fx->d[1].inv, PD_INV_FILAMENT, PD_INV_FMT_CSV, false);
    assert_non_null(strstr(csv, "article_number,"));
    assert_non_null(strstr(csv, ",vendor.registered,vendor_id,weight\r\n"));
    free(csv);
}

/* The spools export alone brings the filaments and vendors its spools use. Into an inventory
 * that has vendors already, the vendors get new ids and the filaments point at them. */
static void spools_only_and_remap(void **state)
{
    fixture *fx = *state;
    pd_inv *a = &fx->d[0].inv, *c = &fx->d[2].inv;
    populate(a);
    create(c, PD_INV_VENDOR, "{\"name\":\"Already here\"}");
    create(c, PD_INV_VENDOR, "{\"name\":\"Me too\"}");
    char *spools = export(a, PD_INV_SPOOL, PD_INV_FMT_JSON, true);
    assert_counts(import(c, PD_INV_FMT_JSON, spools), 1, 2, 3);
    json_t *s = get(c, PD_INV_SPOOL, 1);
    assert_string_equal(str_at(s, "filament.vendor.name"), "Polymaker");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(s, "filament"), "vendor"), "id")), 3);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(s, "filament"), "id")), 1);
    assert_string_equal(str_at(s, "filament.vendor.extra.country"), "\"CN\"");
    json_decref(s);
    /* the vendor's own row kept everything but its id */
    s = get(c, PD_INV_VENDOR, 3);
    assert_true(json_real_value(json_object_get(s, "empty_spool_weight")) == 140.0);
    json_decref(s);
    /* new objects after an import get ids past the imported ones (PostgreSQL: the sequence
     * was moved on) */
    assert_int_equal(create(c, PD_INV_SPOOL, "{\"filament_id\":1}"), 4);
    assert_int_equal(create(c, PD_INV_FILAMENT, "{\"density\":1,\"diameter\":1.75}"), 3);
    free(spools);
}

/* Spoolman's own export: every column on every row, a vendorless filament as "vendor": null,
 * columns printdeck does not know, microseconds, Python's True/False, extra values of keys
 * that have no definition here. */
static void spoolman_export(void **state)
{
    fixture *fx = *state;
    pd_inv *b = &fx->d[1].inv;
    static const char json[] =
        "[{\"archived\":false,\"comment\":null,\"extra.nfc\":\"\\\"04A1\\\"\",\"extra.dry\":\"true\","
        "\"extra.range\":\"[1,null]\",\"extra.weight_left\":\"1.5\","
        "\"filament.article_number\":null,\"filament.color_hex\":\"2C3232\",\"filament.comment\":null,"
        "\"filament.density\":1.24,\"filament.diameter\":1.75,\"filament.external_id\":null,\"filament.id\":7,"
        "\"filament.material\":\"PLA\",\"filament.multi_color_direction\":null,\"filament.multi_color_hexes\":null,"
        "\"filament.name\":\"PolyTerra\",\"filament.price\":null,\"filament.registered\":\"2024-04-30 09:00:00.123456\","
        "\"filament.settings_bed_temp\":null,\"filament.settings_extruder_temp\":null,\"filament.spool_weight\":140.0,"
        "\"filament.tags\":\"\",\"filament.vendor\":null,\"filament.vendor_id\":null,\"filament.weight\":1000.0,"
        "\"filament_id\":7,\"first_used\":null,\"id\":12,\"initial_weight\":1000.0,\"last_used\":\"2024-06-01 19:40:03\","
        "\"location\":\"Shelf A\",\"lot_nr\":null,\"price\":null,\"registered\":\"2024-05-01 10:00:00\","
        "\"spool_weight\":140.0,\"tags\":\"\",\"used_weight\":250.0}]";
    assert_counts(import(b, PD_INV_FMT_JSON, json), 0, 1, 1);
    json_t *s = get(b, PD_INV_SPOOL, 12);
    assert_string_equal(str_at(s, "registered"), "2024-05-01T10:00:00Z");
    assert_string_equal(str_at(s, "last_used"), "2024-06-01T19:40:03Z");
    assert_string_equal(str_at(s, "filament.registered"), "2024-04-30T09:00:00Z");
    assert_string_equal(str_at(s, "extra.nfc"), "\"04A1\"");
    assert_true(json_real_value(json_object_get(s, "remaining_weight")) == 750.0);
    assert_null(json_object_get(json_object_get(s, "filament"), "vendor"));
    json_decref(s);
    char t[32];
    assert_string_equal(field_type(b, PD_INV_SPOOL, "nfc", t), "text");
    assert_string_equal(field_type(b, PD_INV_SPOOL, "dry", t), "boolean");
    assert_string_equal(field_type(b, PD_INV_SPOOL, "range", t), "integer_range");
    assert_string_equal(field_type(b, PD_INV_SPOOL, "weight_left", t), "float");

    static const char csv[] = "\xEF\xBB\xBF" "id,name,registered,comment,extra.country\n"
                              "4,Polymaker,2024-04-30 09:00:00,'=1+1,plain text\n"
                              "\n"
                              "5,\"Prusa\",,,\n";
    assert_counts(import(b, PD_INV_FMT_CSV, csv), 2, 0, 0);
    s = get(b, PD_INV_VENDOR, 4);
    assert_string_equal(str_at(s, "comment"), "=1+1");
    assert_string_equal(str_at(s, "extra.country"), "\"plain text\"");
    json_decref(s);
}

static void expect_failure(pd_inv *inv, pd_inv_format fmt, const char *text, pd_err code, const char *where,
                           const char *field)
{
    pd_inv_import_counts n;
    pd_inv_err e;
    assert_int_equal(pd_inv_import(inv, fmt, text, strlen(text), &n, &e), code);
    assert_int_equal(e.code, code);
    if (!strstr(e.msg, where) || (field && !strstr(e.msg, field)))
        fail_msg("expected \"%s\" and \"%s\" in: %s", where, field ? field : "", e.msg);
    assert_counts(n, 0, 0, 0);
    assert_empty(inv->db);
    assert_int_equal(inv->generation, 0);
}

/* A bad row anywhere: nothing is written, and the message names the row and the field. */
static void bad_rows_roll_back(void **state)
{
    fixture *fx = *state;
    pd_inv *b = &fx->d[1].inv;
    expect_failure(b, PD_INV_FMT_CSV,
                   "id,name,density,diameter,vendor.id,vendor.name,extra.x\r\n"
                   "1,A,1.24,1.75,1,V,\"\"\"x\"\"\"\r\n"
                   "2,B,1.24,1.75,1,V,\r\n"
                   "3,C,-1,1.75,,,\r\n",
                   PD_ERR_FIELD, "row 3 (line 4): density:", "greater than 0");
    expect_failure(b, PD_INV_FMT_CSV, "id,name,density,diameter\r\n1,A,abc,1.75\r\n", PD_ERR_FIELD,
                   "row 1 (line 2): density:", "valid number");
    expect_failure(b, PD_INV_FMT_JSON,
                   "[{\"id\":1,\"filament.id\":1,\"filament.density\":1.2,\"filament.diameter\":1.75,\"used_weight\":1},"
                   " {\"id\":2,\"filament.id\":2,\"filament.density\":1.2,\"filament.diameter\":0,\"used_weight\":1}]",
                   PD_ERR_FIELD, "row 2: filament.diameter:", NULL);
    expect_failure(b, PD_INV_FMT_JSON, "[{\"id\":1,\"filament.density\":1.2,\"filament.diameter\":1.75}]",
                   PD_ERR_FIELD, "row 1: filament.id:", "Field required");
    expect_failure(b, PD_INV_FMT_JSON, "[{\"id\":1,\"filament_id\":99,\"filament.density\":null}]", PD_ERR_FIELD,
                   "row 1: filament_id:", "No filament with ID 99 found.");
    expect_failure(b, PD_INV_FMT_JSON, "[{\"name\":\"V\",\"registered\":\"yesterday\"}]", PD_ERR_FIELD,
                   "row 1: registered:", NULL);
    expect_failure(b, PD_INV_FMT_JSON, "[{\"name\":\"V\",\"registered\":\"2023-02-29 10:00:00\"}]", PD_ERR_FIELD,
                   "row 1: registered:", "no such day");
    expect_failure(b, PD_INV_FMT_CSV, "id,filament.id,filament.density,filament.diameter,last_used\r\n"
                   "1,1,1.24,1.75,2024-04-31 10:00:00\r\n", PD_ERR_FIELD, "row 1 (line 2): last_used:", "no such day");
    expect_failure(b, PD_INV_FMT_JSON, "[{\"name\":\"V\",\"extra.bad key\":\"1\"}]", PD_ERR_FIELD,
                   "row 1: extra.bad key:", NULL);
    expect_failure(b, PD_INV_FMT_JSON, "[{\"name\":\"V\",\"extra.obj\":\"{}\"}]", PD_ERR_INVAL, "row 1: extra.obj:",
                   "define it first");
    expect_failure(b, PD_INV_FMT_CSV, "name,comment\r\nA,\"open\r\n", PD_ERR_PARSE, "row 1 (line 2)", "not closed");
    expect_failure(b, PD_INV_FMT_CSV, "name,comment\r\nA,\"x\"y\r\n", PD_ERR_PARSE, "row 1 (line 2)", "closing quote");
    expect_failure(b, PD_INV_FMT_CSV, "name,comment\r\nA,x\r\nB\r\n", PD_ERR_PARSE, "row 2 (line 3)", "1 fields");
    expect_failure(b, PD_INV_FMT_CSV, "name,name\r\n", PD_ERR_PARSE, "header", NULL);
    expect_failure(b, PD_INV_FMT_CSV, "name\r\n\xff\r\n", PD_ERR_PARSE, "row 1", "UTF-8");
    /* a cell over 256 KiB: refused alike whether the cell buffer's bound or the value's check
     * sees it first */
    for (size_t extra = 1; extra <= 2; extra++) {
        size_t n = (256u << 10) + extra;
        char *big = malloc(n + 16);
        assert_non_null(big);
        memcpy(big, "comment\r\n", 9);
        memset(big + 9, 'x', n);
        memcpy(big + 9 + n, "\r\n", 3);
        expect_failure(b, PD_INV_FMT_CSV, big, PD_ERR_PARSE, "row 1 (line 2)", "over 262144 bytes");
        free(big);
    }
    expect_failure(b, PD_INV_FMT_JSON, "{\"name\":\"V\"}", PD_ERR_PARSE, "array", NULL);
    expect_failure(b, PD_INV_FMT_JSON, "[{\"name\":\"V\"},3]", PD_ERR_FIELD, "row 2", NULL);
    expect_failure(b, PD_INV_FMT_JSON, "[{\"name\":\"V\"", PD_ERR_PARSE, "not valid JSON", NULL);
    /* the extra-field definition made for row 1 goes with it */
    char t[32];
    assert_string_equal(field_type(b, PD_INV_FILAMENT, "x", t), "(undefined)");
}

/* --- a Spoolman database --------------------------------------------------------------------- */

static const char spoolman_schema[] =
    "CREATE TABLE vendor (id INTEGER PRIMARY KEY, registered DATETIME NOT NULL, name VARCHAR(64) NOT NULL,"
    " comment VARCHAR(1024), empty_spool_weight FLOAT, external_id VARCHAR(256));"
    "CREATE TABLE filament (id INTEGER PRIMARY KEY, registered DATETIME NOT NULL, name VARCHAR(64),"
    " vendor_id INTEGER REFERENCES vendor(id), material VARCHAR(64), price FLOAT, density FLOAT NOT NULL,"
    " diameter FLOAT NOT NULL, weight FLOAT, spool_weight FLOAT, article_number VARCHAR(64),"
    " comment VARCHAR(1024), settings_extruder_temp INTEGER, settings_bed_temp INTEGER,"
    " color_hex VARCHAR(8), multi_color_hexes VARCHAR(128), multi_color_direction VARCHAR(16),"
    " external_id VARCHAR(256));"
    "CREATE TABLE spool (id INTEGER PRIMARY KEY, registered DATETIME NOT NULL, first_used DATETIME,"
    " last_used DATETIME, price FLOAT, filament_id INTEGER NOT NULL REFERENCES filament(id),"
    " initial_weight FLOAT, spool_weight FLOAT, used_weight FLOAT NOT NULL, location VARCHAR(64),"
    " lot_nr VARCHAR(64), comment VARCHAR(1024), archived BOOLEAN);"
    "CREATE TABLE vendor_field (vendor_id INTEGER NOT NULL REFERENCES vendor(id), key VARCHAR(64) NOT NULL,"
    " value TEXT NOT NULL, PRIMARY KEY (vendor_id, key));"
    "CREATE TABLE filament_field (filament_id INTEGER NOT NULL REFERENCES filament(id),"
    " key VARCHAR(64) NOT NULL, value TEXT NOT NULL, PRIMARY KEY (filament_id, key));"
    "CREATE TABLE spool_field (spool_id INTEGER NOT NULL REFERENCES spool(id), key VARCHAR(64) NOT NULL,"
    " value TEXT NOT NULL, PRIMARY KEY (spool_id, key));"
    "CREATE TABLE setting (key VARCHAR(64) PRIMARY KEY, value TEXT NOT NULL, last_updated DATETIME NOT NULL);";

static const char spoolman_rows[] =
    "INSERT INTO vendor VALUES (3, '2024-04-30 09:00:00', 'Polymaker', NULL, 140.0, NULL);"
    "INSERT INTO vendor VALUES (5, '2024-04-30 09:05:00.250000', 'Prusament', 'cz', NULL, 'prusa');"
    "INSERT INTO vendor VALUES (6, '2024-04-30 09:06:00', 'Nobody uses me', NULL, NULL, NULL);"
    "INSERT INTO filament VALUES (2, '2024-04-30 09:10:00', 'PolyTerra Black', 3, 'PLA', 20.5, 1.24, 1.75,"
    " 1000.0, 140.0, NULL, NULL, 210, 60, '2c3232', NULL, NULL, NULL);"
    "INSERT INTO filament VALUES (9, '2024-04-30 09:20:00', 'Galaxy', 5, 'PETG', NULL, 1.27, 1.75,"
    " 1000.0, NULL, 'A-1', NULL, NULL, NULL, NULL, 'FF0000,00FF00', 'coaxial', NULL);"
    "INSERT INTO spool VALUES (12, '2024-05-01 10:00:00', '2024-05-02 08:00:00', '2024-06-01 19:40:03.512345',"
    " NULL, 2, 1000.0, 140.0, 250.0, 'Shelf A', 'L1', NULL, NULL);"
    "INSERT INTO spool VALUES (13, '2024-05-03 11:00:00', NULL, NULL, 25.0, 9, NULL, NULL, 0.0, NULL, NULL,"
    " 'boxed', 1);"
    "INSERT INTO vendor_field VALUES (3, 'country', '\"CN\"');"
    "INSERT INTO filament_field VALUES (2, 'hot', '215');"
    "INSERT INTO spool_field VALUES (12, 'tag', '\"A1\"');"
    "INSERT INTO setting VALUES ('currency', '\"USD\"', '2024-05-01 10:00:00');"
    "INSERT INTO setting VALUES ('round_prices', 'true', '2024-05-01 10:00:00');"
    "INSERT INTO setting VALUES ('not_kept_here', '1', '2024-05-01 10:00:00');"
    "INSERT INTO setting VALUES ('extra_fields_spool', '[{\"key\":\"tag\",\"entity_type\":\"spool\","
    "\"name\":\"Tag\",\"order\":2,\"field_type\":\"text\",\"unit\":\"id\"}]', '2024-05-01 10:00:00');"
    "INSERT INTO setting VALUES ('extra_fields_filament', '[{\"key\":\"hot\",\"entity_type\":\"filament\","
    "\"name\":\"Hot\",\"order\":0,\"field_type\":\"integer\"}]', '2024-05-01 10:00:00');";

static void spoolman_db(const char *path)
{
    sqlite3 *db;
    char *err = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    if (sqlite3_exec(db, spoolman_schema, NULL, NULL, &err) || sqlite3_exec(db, spoolman_rows, NULL, NULL, &err))
        fail_msg("spoolman fixture: %s", err);
    sqlite3_close(db);
}

static pd_inv_import_counts import_db(pd_inv *inv, const char *path)
{
    pd_inv_import_counts n;
    pd_inv_err e;
    if (pd_inv_import_spoolman_db(inv, path, &n, &e))
        fail_msg("import %s: %s", path, e.msg);
    return n;
}

static void spoolman_backup(void **state)
{
    fixture *fx = *state;
    pd_inv *b = &fx->d[1].inv, *c = &fx->d[2].inv;
    char path[128];
    snprintf(path, sizeof path, "%s/spoolman.db", fx->d[1].dir);
    spoolman_db(path);

    pd_inv_import_counts n = import_db(b, path);
    assert_counts(n, 3, 2, 2);
    assert_int_equal(n.settings, 4);
    json_t *s = get(b, PD_INV_SPOOL, 12);
    assert_string_equal(str_at(s, "registered"), "2024-05-01T10:00:00Z");
    assert_string_equal(str_at(s, "first_used"), "2024-05-02T08:00:00Z");
    assert_string_equal(str_at(s, "last_used"), "2024-06-01T19:40:03Z");
    assert_string_equal(str_at(s, "filament.color_hex"), "2C3232");
    assert_string_equal(str_at(s, "filament.vendor.name"), "Polymaker");
    assert_string_equal(str_at(s, "filament.extra.hot"), "215");
    assert_string_equal(str_at(s, "filament.vendor.extra.country"), "\"CN\"");
    assert_string_equal(str_at(s, "extra.tag"), "\"A1\"");
    assert_true(json_is_false(json_object_get(s, "archived")));   /* stored NULL */
    assert_true(json_real_value(json_object_get(s, "used_weight")) == 250.0);
    json_decref(s);
    s = get(b, PD_INV_SPOOL, 13);
    assert_true(json_is_true(json_object_get(s, "archived")));
    assert_string_equal(str_at(s, "filament.multi_color_direction"), "coaxial");
    assert_string_equal(str_at(s, "filament.vendor.registered"), "2024-04-30T09:05:00Z");
    assert_null(json_object_get(s, "initial_weight"));
    json_decref(s);
    s = get(b, PD_INV_VENDOR, 6);
    assert_string_equal(str_at(s, "name"), "Nobody uses me");
    json_decref(s);

    json_t *cur = pd_inv_setting_value(b, "currency");
    assert_string_equal(json_string_value(cur), "USD");
    json_decref(cur);
    json_t *list = NULL;
    assert_int_equal(pd_inv_fields_list(b, PD_INV_SPOOL, &list), PD_OK);
    assert_string_equal(str_at(json_array_get(list, 0), "name"), "Tag");   /* the real definition */
    assert_string_equal(str_at(json_array_get(list, 0), "unit"), "id");
    json_decref(list);
    char t[32];
    assert_string_equal(field_type(b, PD_INV_VENDOR, "country", t), "text");   /* inferred */

    /* again: everything matches what is there */
    n = import_db(b, path);
    assert_counts(n, 0, 0, 0);

    /* into an inventory with a vendor of its own: vendors get new ids, the rest keep theirs */
    create(c, PD_INV_VENDOR, "{\"name\":\"Mine\"}");
    assert_counts(import_db(c, path), 3, 2, 2);
    s = get(c, PD_INV_FILAMENT, 9);
    assert_string_equal(str_at(s, "vendor.name"), "Prusament");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(s, "vendor"), "id")), 3);
    json_decref(s);

    /* not a Spoolman database */
    pd_inv_err e;
    snprintf(path, sizeof path, "%s/junk.db", fx->d[0].dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("not a database", f);
    fclose(f);
    assert_int_not_equal(pd_inv_import_spoolman_db(&fx->d[0].inv, path, &n, &e), PD_OK);
    assert_non_null(strstr(e.msg, "not a Spoolman database"));
    assert_empty(fx->d[0].db);
}

/* A Spoolman database that is a program: a view over an endless recursive CTE, a computed
 * column, a file that takes long to read. Each ends with a clear error, nothing imported. */
static int64_t leaping_clock(pd_clock_id id)
{
    static int64_t mono = 1000;
    struct timespec ts;
    if (id == PD_CLOCK_MONO)
        return mono += 31000;  /* every reading: another 31 s spent */
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void expect_db_refused(fixture *fx, const char *name, const char *sql, pd_err code, const char *msg)
{
    pd_inv *inv = &fx->d[0].inv;
    pd_inv_import_counts n;
    pd_inv_err e;
    char path[128];
    sqlite3 *db;
    char *err = NULL;
    snprintf(path, sizeof path, "%s/%s.db", fx->d[0].dir, name);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, &err))
        fail_msg("%s fixture: %s", name, err);
    sqlite3_close(db);
    pd_err rc = pd_inv_import_spoolman_db(inv, path, &n, &e);
    if (rc != code || !strstr(e.msg, msg))
        fail_msg("%s: %s '%s', not %s '%s'", name, pd_strerror(rc), e.msg, pd_strerror(code), msg);
    assert_empty(inv->db);
    assert_int_equal(sqlite3_hard_heap_limit64(-1), 0);   /* the process's limit is given back */
}

static void spoolman_db_hostile(void **state)
{
    fixture *fx = *state;
    char sql[4096];
    snprintf(sql, sizeof sql, "%s DROP TABLE vendor; CREATE VIEW vendor AS WITH RECURSIVE n(x) AS "
             "(SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT x AS id, '2024-01-01' AS registered, "
             "'V' || x AS name FROM n;", spoolman_schema);
    expect_db_refused(fx, "view", sql, PD_ERR_INVAL, "vendor is a view; only tables are read");
    snprintf(sql, sizeof sql, "%s DROP TABLE setting; CREATE VIEW Setting AS SELECT 'currency' AS key, "
             "'\"EUR\"' AS value;", spoolman_schema);
    expect_db_refused(fx, "setting-view", sql, PD_ERR_INVAL, "setting is a view");
    snprintf(sql, sizeof sql, "%s ALTER TABLE filament ADD COLUMN big TEXT AS (printf('%%.*c', 100000000, 'x'));",
             spoolman_schema);
    expect_db_refused(fx, "computed", sql, PD_ERR_INVAL, "filament is a table with computed columns");
    snprintf(sql, sizeof sql, "%s", "CREATE TABLE vendor (id INTEGER, registered DATETIME, name TEXT);");
    expect_db_refused(fx, "no-spools", sql, PD_ERR_INVAL, "no table filament");
    /* vendors without an index on id: the first step sorts them all, with the clock leaping */
    snprintf(sql, sizeof sql, "%s DROP TABLE vendor; CREATE TABLE vendor (id INTEGER, registered DATETIME, "
             "name TEXT); WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n LIMIT 20000) "
             "INSERT INTO vendor SELECT x, '2024-01-01 00:00:00', 'V' || x FROM n;", spoolman_schema);
    pd_clock_set_source(leaping_clock);
    expect_db_refused(fx, "slow", sql, PD_ERR_TOOBIG, "reading vendor: stopped after 30 s spent in the file");
    pd_clock_set_source(NULL);
}

/* The file front end the CLI uses: the format from the name or from --format. */
static void import_files(void **state)
{
    fixture *fx = *state;
    pd_inv *b = &fx->d[1].inv;
    pd_inv_import_counts n;
    pd_inv_err e;
    char path[128];
    snprintf(path, sizeof path, "%s/vendors.CSV", fx->d[1].dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("name\nA\nB\n", f);
    fclose(f);
    assert_int_equal(pd_inv_import_file(b, path, NULL, &n, &e), PD_OK);
    assert_counts(n, 2, 0, 0);
    assert_int_equal(pd_inv_import_file(b, path, "json", &n, &e), PD_ERR_PARSE);
    assert_int_equal(pd_inv_import_file(b, path, "xml", &n, &e), PD_ERR_INVAL);
    snprintf(path, sizeof path, "%s/vendors.txt", fx->d[1].dir);
    assert_int_equal(pd_inv_import_file(b, path, NULL, &n, &e), PD_ERR_INVAL);
    assert_non_null(strstr(e.msg, "--format"));
    assert_int_equal(pd_inv_import_file(b, path, "csv", &n, &e), PD_ERR_IO);
    assert_int_equal(rows(b->db, "vendor"), 2);
}

static void booleans(void **state)
{
    (void)state;
    static const char *const yes[] = {"true", "True", "1", "yes", "ON"}, *const no[] = {"false", "FALSE", "0", "no", "off"};
    bool v;
    for (size_t i = 0; i < 5; i++) {
        assert_true(pd_inv_bool_parse(yes[i], &v) && v);
        assert_true(pd_inv_bool_parse(no[i], &v) && !v);
    }
    assert_false(pd_inv_bool_parse("", &v));
    assert_false(pd_inv_bool_parse("2", &v));
}


/* --- exports and lists sent in batches ------------------------------------------------------ */

static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

/* 130 spools (more than two cursor batches) with what escaping and extras exercise, imported
 * with fixed times so that the export's bytes are known. */
static void many_spools(pd_inv *inv)
{
    pd_buf b;
    pd_buf_init(&b, 1 << 20);
    pd_buf_add_str(&b, "[");
    for (int i = 1; i <= 130; i++) {
        char row[1024];
        snprintf(row, sizeof row,
                 "%s{\"id\":%d,\"registered\":\"2024-05-01 10:00:%02d\",\"used_weight\":%d.5,\"initial_weight\":1000,"
                 "\"archived\":%s,\"comment\":\"%s%d, \\\"q\\\"\\nx\",\"location\":%s,"
                 "\"filament.id\":%d,\"filament.registered\":\"2024-04-30 09:00:00\",\"filament.name\":\"F%d\","
                 "\"filament.density\":1.24,\"filament.diameter\":1.75,\"filament.weight\":1000,"
                 "\"filament.vendor.id\":1,\"filament.vendor.registered\":\"2024-04-30 08:00:00\","
                 "\"filament.vendor.name\":\"Polymaker\"%s%s}",
                 i > 1 ? "," : "", i, i % 60, i * 7, i % 9 == 0 ? "true" : "false", i % 5 ? "" : "=", i,
                 i % 3 ? "\"Rack A\"" : "null", 1 + i % 2, 1 + i % 2,
                 i % 4 ? "" : ",\"extra.tag\":\"\\\"T\\\"\"", i % 2 ? ",\"filament.extra.hot\":\"215\"" : "");
        pd_buf_add_str(&b, row);
    }
    pd_buf_add_str(&b, "]");
    assert_int_equal(pd_buf_err(&b), PD_OK);
    import(inv, PD_INV_FMT_JSON, pd_buf_ptr(&b));
    pd_buf_free(&b);
}

/* The export in batches gives the bytes the whole-reply export gave before it was streamed
 * (measured on that code: length and FNV-1a of each), and a list read through a cursor the
 * bytes of the built list. */
typedef struct read_job {
    pd_inv_cursor *cur;
    pd_err rc;
    bool done;
} read_job;

static pd_err read_ids(pd_db *rd, void *ud) { return pd_inv_cursor_prepare(((read_job *)ud)->cur, rd); }

static void ids_read(pd_err rc, void *ud)
{
    read_job *j = ud;
    j->rc = rc;
    j->done = true;
}

static void batches_same_bytes(void **state)
{
    fixture *fx = *state;
    pd_inv *inv = &fx->d[0].inv;
    many_spools(inv);
    static const struct {
        pd_inv_format fmt;
        bool archived;
        size_t len;
        uint64_t hash;
    } want[] = {
        /* with the spool's last_dried (migration 6): one key more per spool */
        {PD_INV_FMT_JSON, false, 156361, 0x65baeebc3d86e154ull},
        {PD_INV_FMT_JSON, true, 175165, 0xb56bcce3ae511d5dull},
        {PD_INV_FMT_CSV, false, 21746, 0xae57d1acf4edb21eull},
        {PD_INV_FMT_CSV, true, 24175, 0x64b91527c85bcb34ull},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        char *text = export(inv, PD_INV_SPOOL, want[i].fmt, want[i].archived);
        size_t len = strlen(text);
        assert_int_equal(len, want[i].len);
        assert_true(fnv1a(text, len) == want[i].hash);
        free(text);
    }
    for (int en = 0; en < PD_INV__N; en++) {
        pd_inv_param p[] = {{"allow_archived", "true"}, {"sort", en == PD_INV_SPOOL ? "location:desc" : "name:desc"}};
        pd_inv_list built, streamed;
        pd_inv_cursor *cur;
        pd_inv_err e = {0};
        assert_int_equal(pd_inv_list_get(inv, (pd_inv_entity)en, p, 2, &built, &e), PD_OK);
        assert_int_equal(pd_inv_list_open(inv, (pd_inv_entity)en, p, 2, &streamed, &cur, &e), PD_OK);
        assert_non_null(cur);
        assert_null(streamed.items);
        /* the ids are read as the API reads them: by a reader connection in the thread pool */
        read_job job = {cur, PD_ERR_INTERNAL, false};
        uv_loop_t loop;
        uv_loop_init(&loop);
        assert_int_equal(pd_db_read(inv->db, &loop, read_ids, ids_read, &job), PD_OK);
        uv_run(&loop, UV_RUN_DEFAULT);
        assert_int_equal(uv_loop_close(&loop), 0);
        assert_true(job.done);
        assert_int_equal(job.rc, PD_OK);
        assert_int_equal(pd_inv_cursor_total(cur), built.total);
        pd_buf b;
        bool done = false;
        pd_buf_init(&b, 1 << 24);
        while (!done)
            assert_int_equal(pd_inv_cursor_next(cur, &b, &done), PD_OK);
        char *want_text = json_dumps(built.items, PD_JSON_FLAGS);
        assert_string_equal(pd_buf_ptr(&b), want_text);
        free(want_text);
        pd_buf_free(&b);
        pd_inv_cursor_free(&cur);
        json_decref(built.items);
    }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(round_trip, fresh, drop),
    cmocka_unit_test_setup_teardown(export_shape, fresh, drop),
    cmocka_unit_test_setup_teardown(spools_only_and_remap, fresh, drop),
    cmocka_unit_test_setup_teardown(spoolman_export, fresh, drop),
    cmocka_unit_test_setup_teardown(bad_rows_roll_back, fresh, drop),
    cmocka_unit_test_setup_teardown(spoolman_backup, fresh, drop),
    cmocka_unit_test_setup_teardown(spoolman_db_hostile, fresh, drop),
    cmocka_unit_test_setup_teardown(import_files, fresh, drop),
    cmocka_unit_test_setup_teardown(batches_same_bytes, fresh, drop),
    cmocka_unit_test(booleans),
};

int main(void)
{
    return testdb_run(tests, sizeof tests / sizeof tests[0]);
}
