/* The alert rules (the hysteresis gate, the material table), low stock once per crossing with
 * two spools of one filament, and the statistics over a small known dataset, on both backends. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/json.h"
#include "track/alerts.h"
#include "track/rollup.h"
#include "track/stats.h"
#include "track/usage.h"
#include "testdb.h"

static void gate_once_per_crossing(void **state)
{
    (void)state;
    /* stock: raised under the threshold, once; re-armed only above threshold + margin */
    assert_int_equal(pd_alerts_gate(false, false, 150, 100, 50), PD_GATE_STAY);
    assert_int_equal(pd_alerts_gate(false, false, 99, 100, 50), PD_GATE_RAISE);
    assert_int_equal(pd_alerts_gate(true, false, 20, 100, 50), PD_GATE_STAY);
    assert_int_equal(pd_alerts_gate(true, false, 120, 100, 50), PD_GATE_STAY);   /* inside the margin */
    assert_int_equal(pd_alerts_gate(true, false, 150, 100, 50), PD_GATE_STAY);   /* at the edge */
    assert_int_equal(pd_alerts_gate(true, false, 151, 100, 50), PD_GATE_CLEAR);
    assert_int_equal(pd_alerts_gate(false, false, 100, 100, 50), PD_GATE_STAY);  /* at the threshold */
    /* humidity: high above the limit, clears under limit - margin */
    assert_int_equal(pd_alerts_gate(false, true, 41, 40, 5), PD_GATE_RAISE);
    assert_int_equal(pd_alerts_gate(true, true, 37, 40, 5), PD_GATE_STAY);
    assert_int_equal(pd_alerts_gate(true, true, 34, 40, 5), PD_GATE_CLEAR);
    /* an unknown value moves nothing */
    assert_int_equal(pd_alerts_gate(true, false, NAN, 100, 50), PD_GATE_STAY);
    assert_int_equal(pd_alerts_gate(false, false, NAN, 100, 50), PD_GATE_STAY);
}

static void material_table(void **state)
{
    (void)state;
    pd_exposure t;
    char err[160];
    assert_int_equal(pd_exposure_parse(PD_EXPOSURE_DEFAULT, &t, err, sizeof err), PD_OK);
    assert_int_equal(t.n, 17);
    assert_int_equal(pd_exposure_hours(&t, "PVA"), 8);
    assert_int_equal(pd_exposure_hours(&t, "pa6-cf"), 12);
    assert_int_equal(pd_exposure_hours(&t, "PAHT-CF"), 12);
    assert_int_equal(pd_exposure_hours(&t, "PA12"), 12);
    assert_int_equal(pd_exposure_hours(&t, "PC"), 24);
    assert_int_equal(pd_exposure_hours(&t, "PC-FR"), 24);
    assert_int_equal(pd_exposure_hours(&t, "PCTG"), 168);
    assert_int_equal(pd_exposure_hours(&t, "TPU 95A"), 48);
    assert_int_equal(pd_exposure_hours(&t, "TPU-AMS"), 48);
    assert_int_equal(pd_exposure_hours(&t, "PETG HF"), 168);
    assert_int_equal(pd_exposure_hours(&t, "PET-CF"), 24);
    assert_int_equal(pd_exposure_hours(&t, "PLA"), 0);
    assert_int_equal(pd_exposure_hours(&t, "PLA-CF"), 0);
    assert_int_equal(pd_exposure_hours(&t, "ABS"), 0);
    assert_int_equal(pd_exposure_hours(&t, "PACK"), 0);   /* a prefix followed by a letter */
    assert_int_equal(pd_exposure_hours(&t, ""), 0);
    assert_int_equal(pd_exposure_hours(&t, NULL), 0);

    /* a table of one's own: spaces, case, a trailing comma, formatted back the same */
    assert_int_equal(pd_exposure_parse("  petg hf : 72 ,PLA:500, PA:6,", &t, err, sizeof err), PD_OK);
    assert_int_equal(t.n, 3);
    assert_int_equal(pd_exposure_hours(&t, "PETG HF"), 72);
    assert_int_equal(pd_exposure_hours(&t, "PETG"), 0);
    assert_int_equal(pd_exposure_hours(&t, "pla+"), 500);
    char text[PD_EXPOSURE_TEXT];
    pd_exposure_format(&t, text, sizeof text);
    assert_string_equal(text, "petg hf:72, PLA:500, PA:6");
    assert_int_equal(pd_exposure_parse("", &t, err, sizeof err), PD_OK);
    assert_int_equal(t.n, 0);
    assert_int_equal(pd_exposure_hours(&t, "PVA"), 0);

    /* what is refused, in words */
    static const struct { const char *text, *why; } bad[] = {
        {"PVA", "entry 1: MATERIAL:HOURS expected"},
        {"PVA:8,,PA:2", "entry 2: MATERIAL:HOURS expected"},
        {":8", "entry 1: a material name of 1 to 23 characters expected"},
        {"PVA:0", "PVA: whole hours from 1 to 8760 expected"},
        {"PVA:8761", "PVA: whole hours from 1 to 8760 expected"},
        {"PVA:99999999999999999999", "PVA: whole hours from 1 to 8760 expected"},
        {"PVA:1.5", "PVA: whole hours from 1 to 8760 expected"},
        {"PVA:-3", "PVA: whole hours from 1 to 8760 expected"},
        {"PVA:8, pva:9", "pva: named twice"},
        {"P\"A:8", "entry 1: a material name has letters, digits, '-', '+', '_' and spaces only"},
        {"ABCDEFGHIJKLMNOPQRSTUVWX:1", "entry 1: a material name of 1 to 23 characters expected"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(pd_exposure_parse(bad[i].text, &t, err, sizeof err), PD_ERR_INVAL);
        assert_string_equal(err, bad[i].why);
        assert_int_equal(t.n, 0);
    }
    char many[2048] = "";
    for (int i = 0; i <= PD_EXPOSURE_MAX; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "M%d:1,", i);
    assert_int_equal(pd_exposure_parse(many, &t, err, sizeof err), PD_ERR_TOOBIG);
    assert_string_equal(err, "at most 32 materials");
    many[strlen(many) - 6] = '\0';   /* "M32:1," cut: 32 of them fit */
    assert_int_equal(pd_exposure_parse(many, &t, err, sizeof err), PD_OK);
    pd_exposure_format(&t, text, sizeof text);
    pd_exposure u;
    assert_int_equal(pd_exposure_parse(text, &u, err, sizeof err), PD_OK);
    assert_int_equal(u.n, PD_EXPOSURE_MAX);
}

/* --- with a database ------------------------------------------------------------------------- */

typedef struct fixture {
    char dir[64], dbname[64];
    pd_db *db;
    pd_bus *bus;
    pd_inv inv;
    uv_loop_t loop;
    pd_fleet *fleet;
    pd_config cfg;
    pd_alerts *alerts;
    int raised, cleared;
    char last_kind[32];
} fixture;

static void on_alert(const pd_event *ev, void *ud)
{
    fixture *fx = ud;
    json_t *o = json_loadb(ev->u.alert.payload, ev->u.alert.payload_len, 0, NULL);
    if (!strcmp(ev->u.alert.change, "raised"))
        fx->raised++;
    else if (!strcmp(ev->u.alert.change, "cleared"))
        fx->cleared++;
    snprintf(fx->last_kind, sizeof fx->last_kind, "%s", json_string_value(json_object_get(o, "kind")));
    json_decref(o);
}

static int fresh(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    char url[512], err[256];
    assert_non_null(fx);
    testdb_create("alerts", fx->dir, fx->dbname, url);
    if (pd_db_open(&fx->db, url, fx->dir, err, sizeof err))
        fail_msg("open %s: %s", url, err);
    assert_int_equal(pd_config_load(&fx->cfg, NULL, err, sizeof err), PD_OK);
    fx->cfg.alert_low_stock_margin_g = 50;
    fx->bus = pd_bus_new();
    fx->inv = (pd_inv){.db = fx->db, .bus = fx->bus};
    uv_loop_init(&fx->loop);
    pd_fleet_opts fo = {.silence_s = 60, .keepalive_s = 30, .reconnect_min_ms = 1000, .reconnect_max_ms = 2000,
                        .command_timeout_ms = 1000, .pushall_retry_s = 60, .max_payload = 1 << 20,
                        .max_printers = 10};
    assert_int_equal(pd_fleet_new(&fx->loop, fx->bus, &fo, &fx->fleet), PD_OK);
    pd_bus_subscribe(fx->bus, PD_EV_ALERT, on_alert, fx);
    *state = fx;
    return 0;
}

static int drop(void **state)
{
    fixture *fx = *state;
    pd_alerts_stop(&fx->alerts);
    pd_fleet_free(&fx->fleet);
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    uv_loop_close(&fx->loop);
    pd_bus_free(&fx->bus);
    pd_config_free(&fx->cfg);
    pd_db_close(&fx->db);
    int rc = testdb_destroy(fx->dir, fx->dbname);
    free(fx);
    return rc;
}

static int64_t create(pd_inv *inv, pd_inv_entity en, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    json_t *body = json_loads(text, 0, NULL), *out = NULL;
    pd_inv_err e = {0};
    assert_non_null(body);
    if (pd_inv_create(inv, en, body, &out, &e))
        fail_msg("create %s: %s", text, e.msg);
    int64_t id = json_integer_value(json_object_get(out, "id"));
    json_decref(body);
    json_decref(out);
    return id;
}

/* The engine reads stock off the loop (a database file has reader connections): the loop runs
 * until the checks a change started are done. */
static void settle(fixture *fx)
{
    while (fx->alerts && pd_alerts_checking(fx->alerts))
        uv_run(&fx->loop, UV_RUN_ONCE);
}

static void use(fixture *fx, int64_t spool, double grams)
{
    pd_usage u = {.spool_id = spool, .unit = -1, .slot = -1, .grams = grams, .meters = -1, .source = PD_USAGE_MANUAL};
    pd_inv_err e = {0};
    assert_int_equal(pd_usage_record(&fx->inv, &u, NULL, &e), PD_OK);
    settle(fx);
}

static int64_t open_alerts(fixture *fx, const char *kind)
{
    int64_t n = -1;
    pd_sqlv k = PD_SQL_S(kind);
    assert_int_equal(pd_db_scalar(fx->db, "SELECT count(*) FROM alert WHERE kind = ? AND cleared_at IS NULL", &k, 1, &n),
                     PD_OK);
    return n;
}

/* BD #3056: the second spool of the same filament counts; one alert per crossing. */
static void low_stock_two_spools(void **state)
{
    fixture *fx = *state;
    int64_t f = create(&fx->inv, PD_INV_FILAMENT, "{\"name\":\"Basic\",\"material\":\"PLA\",\"density\":1.24,"
                                                 "\"diameter\":1.75,\"weight\":1000,\"low_stock_weight\":300}");
    int64_t s1 = create(&fx->inv, PD_INV_SPOOL, "{\"filament_id\":%lld}", (long long)f);
    assert_int_equal(pd_alerts_start(&fx->alerts, &fx->loop, fx->bus, fx->fleet, &fx->inv, &fx->cfg), PD_OK);
    settle(fx);
    assert_int_equal(fx->raised, 0);
    int64_t s2 = create(&fx->inv, PD_INV_SPOOL, "{\"filament_id\":%lld}", (long long)f);
    settle(fx);
    use(fx, s1, 900);                   /* 100 + 1000 left: not low */
    assert_int_equal(fx->raised, 0);
    use(fx, s2, 850);                   /* 100 + 150 = 250 < 300: low, once */
    assert_int_equal(fx->raised, 1);
    assert_string_equal(fx->last_kind, "low_stock_filament");
    use(fx, s2, 50);                    /* lower still: no second alert */
    use(fx, s1, 10);
    assert_int_equal(fx->raised, 1);
    assert_int_equal(open_alerts(fx, "low_stock_filament"), 1);
    /* a refill inside the margin does not re-arm; past it does */
    use(fx, s2, -100);                  /* 90 + 200 = 290 */
    use(fx, s2, -40);                   /* 330: above 300, not above 350 */
    assert_int_equal(fx->cleared, 0);
    int64_t s3 = create(&fx->inv, PD_INV_SPOOL, "{\"filament_id\":%lld}", (long long)f);
    settle(fx);
    assert_int_equal(fx->cleared, 1);
    assert_int_equal(open_alerts(fx, "low_stock_filament"), 0);
    /* archived: the new spool no longer counts (330 g), and the stock crosses again */
    json_t *patch = json_pack("{s:b}", "archived", 1), *out = NULL;
    pd_inv_err e = {0};
    assert_int_equal(pd_inv_update(&fx->inv, PD_INV_SPOOL, s3, patch, &out, &e), PD_OK);
    settle(fx);
    json_decref(patch);
    json_decref(out);
    assert_int_equal(fx->raised, 1);
    use(fx, s2, 100);
    assert_int_equal(fx->raised, 2);
    /* a spool threshold of its own */
    patch = json_pack("{s:f}", "low_stock_weight", 200.0);
    assert_int_equal(pd_inv_update(&fx->inv, PD_INV_SPOOL, s1, patch, &out, &e), PD_OK);
    settle(fx);
    json_decref(patch);
    json_decref(out);
    assert_int_equal(fx->raised, 3);
    assert_string_equal(fx->last_kind, "low_stock_spool");
    /* a restart: the open crossings are remembered, nothing is raised twice */
    pd_alerts_stop(&fx->alerts);
    uv_run(&fx->loop, UV_RUN_NOWAIT);
    assert_int_equal(pd_alerts_start(&fx->alerts, &fx->loop, fx->bus, fx->fleet, &fx->inv, &fx->cfg), PD_OK);
    settle(fx);
    assert_int_equal(fx->raised, 3);
    /* the spool deleted: its alert clears */
    assert_int_equal(pd_inv_delete(&fx->inv, PD_INV_SPOOL, s1, &e), PD_OK);
    settle(fx);
    assert_int_equal(open_alerts(fx, "low_stock_spool"), 0);
}

static void global_default_and_insufficient(void **state)
{
    fixture *fx = *state;
    fx->cfg.alert_low_stock_g = 500;
    int64_t f = create(&fx->inv, PD_INV_FILAMENT, "{\"material\":\"PETG\",\"density\":1.27,\"diameter\":1.75,"
                                                 "\"weight\":1000}");
    create(&fx->inv, PD_INV_FILAMENT, "{\"material\":\"ABS\",\"density\":1.04,\"diameter\":1.75}");  /* no spools */
    int64_t s = create(&fx->inv, PD_INV_SPOOL, "{\"filament_id\":%lld,\"used_weight\":600}", (long long)f);
    assert_int_equal(pd_alerts_start(&fx->alerts, &fx->loop, fx->bus, fx->fleet, &fx->inv, &fx->cfg), PD_OK);
    settle(fx);
    assert_int_equal(fx->raised, 1);    /* 400 g < 500 g, found at start; the ABS has nothing to count */
    pd_alert_need need[] = {{.spool_id = s, .unit = 0, .slot = 1, .material = "PETG", .needed_g = 450, .remaining_g = 400},
                            {.spool_id = 0, .unit = 0, .slot = 2, .material = "PLA", .needed_g = 10, .remaining_g = 90}};
    int64_t id = 0, again = 0;
    assert_int_equal(pd_alerts_insufficient(fx->alerts, 0, 0, need, 2, &id), PD_OK);
    assert_true(id > 0);
    assert_int_equal(pd_alerts_insufficient(fx->alerts, 0, 0, need, 2, &again), PD_OK);
    assert_int_equal(again, id);        /* open: not raised twice */
    assert_int_equal(fx->raised, 2);
    json_t *items = NULL;
    int64_t total = 0;
    pd_inv_param p[] = {{"kind", "insufficient_filament"}};
    pd_inv_err e = {0};
    assert_int_equal(pd_alerts_list(&fx->inv, p, 1, &items, &total, &e), PD_OK);
    assert_int_equal(total, 1);
    json_t *d = json_object_get(json_array_get(items, 0), "data");
    assert_true(json_number_value(json_object_get(d, "shortfall_g")) == 50);
    json_t *fl = json_array_get(json_object_get(d, "filaments"), 0);
    assert_int_equal(json_array_size(json_object_get(d, "filaments")), 1);
    assert_true(json_number_value(json_object_get(fl, "needed_g")) == 450);
    assert_true(json_number_value(json_object_get(fl, "remaining_g")) == 400);
    json_decref(items);
    json_t *acked = NULL;
    int64_t other = 77;  /* a reader limited to another printer: as if there were no such alert */
    assert_int_equal(pd_alerts_ack(fx->alerts, id, (pd_inv_seen){&other, 1}, &acked, &e), PD_ERR_NOTFOUND);
    assert_null(acked);
    assert_int_equal(pd_alerts_ack(fx->alerts, id, (pd_inv_seen){0}, &acked, &e), PD_OK);
    assert_true(json_is_true(json_object_get(acked, "acked")));
    json_decref(acked);
    assert_int_equal(pd_alerts_ack(fx->alerts, 99999, (pd_inv_seen){0}, &acked, &e), PD_ERR_NOTFOUND);
}

/* --- statistics over a known dataset --------------------------------------------------------------- */

static void job(fixture *fx, int64_t printer, const char *status, int64_t start, int64_t secs, const char *mats,
                const char *reason)
{
    pd_sqlv a[] = {printer ? PD_SQL_I(printer) : PD_SQL_NUL, PD_SQL_S(status), PD_SQL_I(start), PD_SQL_I(start + secs),
                   PD_SQL_S(mats), reason ? PD_SQL_S(reason) : PD_SQL_NUL, PD_SQL_I(start)};
    int64_t id = 0;
    assert_int_equal(pd_db_insert(fx->db, "INSERT INTO job (printer_id, name, origin, status, started_at, ended_at, "
                                          "materials, reason, seen_at) VALUES (?, 'j', 'printer', ?, ?, ?, ?, ?, ?) "
                                          "RETURNING id", a, 7, &id), PD_OK);
    assert_int_equal(pd_rollup_job(fx->db, id, 1), PD_OK);  /* as the recorder does */
}

static void usage_row(fixture *fx, int64_t printer, int64_t spool, const char *material, double g, double cost,
                      int64_t at)
{
    pd_sqlv a[] = {PD_SQL_I(printer), spool ? PD_SQL_I(spool) : PD_SQL_NUL, PD_SQL_D(g), PD_SQL_D(g / 3),
                   PD_SQL_S(material), PD_SQL_D(cost), PD_SQL_I(at)};
    int64_t id = 0;
    assert_int_equal(pd_db_insert(fx->db, "INSERT INTO filament_usage (printer_id, spool_id, grams, meters, source, "
                                          "material, cost, at) VALUES (?, ?, ?, ?, 'manual', ?, ?, ?) RETURNING id",
                                  a, 7, &id), PD_OK);
    assert_int_equal(pd_rollup_usage(fx->db, id, 1), PD_OK);  /* as pd_usage_record does */
}

static json_t *find(json_t *arr, const char *key, const char *value)
{
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o) {
        json_t *v = json_object_get(o, key);
        char buf[32];
        if (json_is_integer(v))
            snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
        if (json_is_string(v) ? !strcmp(json_string_value(v), value) : json_is_integer(v) && !strcmp(buf, value))
            return o;
    }
    fail_msg("no %s=%s", key, value);
    return NULL;
}

#define NUM(o, k) json_number_value(json_object_get(o, k))

static void stats_known(void **state)
{
    fixture *fx = *state;
    pd_printer_rec r1 = {.name = "A", .serial = "S1", .host = "h", .port = 1, .ftps_port = 990, .access_code = "x"};
    pd_printer_rec r2 = r1;
    snprintf(r2.name, sizeof r2.name, "B");
    snprintf(r2.serial, sizeof r2.serial, "S2");
    assert_int_equal(pd_db_printer_insert(fx->db, &r1), PD_OK);
    assert_int_equal(pd_db_printer_insert(fx->db, &r2), PD_OK);
    int64_t f = create(&fx->inv, PD_INV_FILAMENT, "{\"material\":\"PLA\",\"density\":1.24,\"diameter\":1.75,\"weight\":1000}");
    int64_t s = create(&fx->inv, PD_INV_SPOOL, "{\"filament_id\":%lld}", (long long)f);
    const int64_t d0 = 1714521600;      /* 2024-05-01 (a Wednesday) */
    job(fx, r1.id, "completed", d0 + 3600, 7200, "PLA", NULL);
    job(fx, r1.id, "completed", d0 + 86400, 3600, "PLA,PETG", NULL);
    job(fx, r1.id, "failed", d0 + 2 * 86400, 1800, "PLA", "0500_C010: spaghetti");
    job(fx, r2.id, "failed", d0 + 31 * 86400, 600, "PETG", "0500_C010: spaghetti");
    job(fx, r2.id, "failed", d0 + 31 * 86400 + 5000, 600, "PETG", "0300_8003: clog");
    job(fx, r2.id, "cancelled", d0 + 32 * 86400, 900, "PETG", "stopped by the user");
    usage_row(fx, r1.id, s, "PLA", 100, 2.0, d0 + 3600);
    usage_row(fx, r1.id, s, "PLA", 40, 0.8, d0 + 86400);
    usage_row(fx, r1.id, 0, "PETG", 10, 0.25, d0 + 86400);
    usage_row(fx, r2.id, 0, "PETG", 30, 0.75, d0 + 31 * 86400);

    pd_inv_param p[] = {{"from", "2024-05-01"}, {"to", "2024-07-01"}, {"period", "month"}};
    pd_stats_req q;
    pd_inv_err e;
    json_t *o = NULL;
    assert_int_equal(pd_stats_parse(p, 3, &q, &e), PD_OK);
    assert_int_equal(pd_stats_run(fx->db, &q, &o), PD_OK);
    json_t *t = json_object_get(o, "totals");
    assert_int_equal(NUM(t, "jobs"), 6);
    assert_int_equal(NUM(t, "completed"), 2);
    assert_int_equal(NUM(t, "failed"), 3);
    assert_int_equal(NUM(t, "cancelled"), 1);
    assert_true(fabs(NUM(t, "success_rate") - 2.0 / 6) < 1e-3);
    assert_true(fabs(NUM(t, "print_hours") - (7200 + 3600 + 1800 + 600 + 600 + 900) / 3600.0) < 0.01);
    assert_true(NUM(t, "grams") == 180);
    assert_true(fabs(NUM(t, "cost") - 3.8) < 1e-9);
    json_t *pla = find(json_object_get(o, "by_material"), "material", "PLA");
    assert_true(NUM(pla, "grams") == 140);
    assert_int_equal(NUM(pla, "completed_jobs"), 2);
    assert_int_equal(NUM(pla, "avg_print_s"), 5400);
    json_t *petg = find(json_object_get(o, "by_material"), "material", "PETG");
    assert_int_equal(NUM(petg, "avg_print_s"), 3600);
    char id1[24];
    snprintf(id1, sizeof id1, "%lld", (long long)r1.id);
    json_t *p1 = find(json_object_get(o, "by_printer"), "printer_id", id1);
    assert_string_equal(json_string_value(json_object_get(p1, "printer_name")), "A");
    assert_int_equal(NUM(p1, "jobs"), 3);
    assert_true(NUM(p1, "grams") == 150);
    /* utilisation: 12,600 s printing of 61 days */
    assert_true(fabs(NUM(p1, "utilisation") - 12600.0 / (61 * 86400)) < 1e-4);
    json_t *may = find(json_object_get(o, "by_period"), "period", "2024-05");
    json_t *june = find(json_object_get(o, "by_period"), "period", "2024-06");
    assert_int_equal(NUM(may, "jobs"), 3);
    assert_int_equal(NUM(june, "jobs"), 3);
    assert_true(NUM(june, "grams") == 30);
    json_t *sp = json_array_get(json_object_get(o, "by_spool"), 0);
    assert_true(NUM(sp, "grams") == 140);
    json_t *fr = json_object_get(o, "failure_reasons");
    assert_string_equal(json_string_value(json_object_get(json_array_get(fr, 0), "reason")), "0500_C010: spaghetti");
    assert_int_equal(NUM(json_array_get(fr, 0), "count"), 2);
    assert_int_equal(json_array_size(fr), 2);
    json_decref(o);

    /* filters: one printer, a material, weeks */
    char ids[24];
    snprintf(ids, sizeof ids, "%lld", (long long)r2.id);
    pd_inv_param p2[] = {{"printer_id", ids}, {"material", "petg"}, {"period", "week"}, {"from", "2024-05-01"}};
    assert_int_equal(pd_stats_parse(p2, 4, &q, &e), PD_OK);
    assert_int_equal(pd_stats_run(fx->db, &q, &o), PD_OK);
    t = json_object_get(o, "totals");
    assert_int_equal(NUM(t, "jobs"), 3);
    assert_true(NUM(t, "grams") == 30);
    json_t *wk = find(json_object_get(o, "by_period"), "period", "2024-05-27");  /* the Monday of 2024-06-01 */
    assert_int_equal(NUM(wk, "jobs"), 3);
    json_decref(o);

    pd_inv_param bad[] = {{"period", "year"}};
    assert_int_equal(pd_stats_parse(bad, 1, &q, &e), PD_ERR_FIELD);
    pd_inv_param bad2[] = {{"printer_id", "1,x"}};
    assert_int_equal(pd_stats_parse(bad2, 1, &q, &e), PD_ERR_FIELD);
    pd_inv_param bad3[] = {{"from", "2024-06-01"}, {"to", "2024-05-01"}};
    assert_int_equal(pd_stats_parse(bad3, 2, &q, &e), PD_ERR_FIELD);

    /* low stock with days left: 1000 g left (the rows above moved no spool), 140 g used in
     * the window */
    json_t *patch = json_pack("{s:f}", "low_stock_weight", 1100.0), *out = NULL;
    assert_int_equal(pd_inv_update(&fx->inv, PD_INV_SPOOL, s, patch, &out, &e), PD_OK);
    json_decref(patch);
    json_decref(out);
    pd_inv_param p3[] = {{"days", "30"}};
    assert_int_equal(pd_stats_parse(p3, 1, &q, &e), PD_OK);
    q.now = d0 + 10 * 86400;
    assert_int_equal(pd_stats_low_stock(fx->db, &q, 0, &o), PD_OK);
    json_t *ls = json_array_get(json_object_get(o, "spools"), 0);
    assert_non_null(ls);
    assert_true(NUM(ls, "remaining_g") == 1000);
    assert_true(NUM(ls, "used_g") == 140);
    assert_true(fabs(NUM(ls, "days_left") - 1000 / (140 / 30.0)) < 0.1);
    assert_int_equal(json_array_size(json_object_get(o, "filaments")), 0);
    json_decref(o);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(gate_once_per_crossing),
    cmocka_unit_test(material_table),
    cmocka_unit_test_setup_teardown(low_stock_two_spools, fresh, drop),
    cmocka_unit_test_setup_teardown(global_default_and_insufficient, fresh, drop),
    cmocka_unit_test_setup_teardown(stats_known, fresh, drop),
};

int main(void) { return testdb_run(tests, sizeof tests / sizeof tests[0]); }
