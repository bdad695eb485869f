/* Notification rules, pure: which channel hears which printer and kind, quiet hours across
 * midnight and on their days, the minimum interval per channel, kind and printer on a clock
 * the test moves, templates rendered and refused, and the facts of the default messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "notify/notify.h"

static json_t *rules_of(const char *text)
{
    json_error_t e;
    json_t *r = json_loads(text, 0, &e);
    assert_non_null(r);
    return r;
}

/* "no fault" or the field at fault */
static const char *fault(const char *text)
{
    static char field[160];
    char why[256];
    json_t *r = rules_of(text);
    pd_err rc = pd_notify_rules_check(r, field, sizeof field, why, sizeof why);
    json_decref(r);
    return rc ? field : "no fault";
}

static void rules_checked_by_field(void **state)
{
    (void)state;
    assert_string_equal(fault("{}"), "no fault");
    assert_string_equal(fault("{\"printers\":[1,2],\"printer_events\":{\"2\":[\"hms\"]},\"quiet_hours\":"
                              "{\"start\":\"22:00\",\"end\":\"07:00\",\"days\":[\"fri\",\"sat\"],\"critical\":true},"
                              "\"min_interval_s\":600,\"digest_hour\":8,\"templates\":{\"*\":{\"title\":\"{printer}\"},"
                              "\"job_failed\":{\"text\":\"{job} failed at {progress}: {reason} {{x}}\"}}}"),
                        "no fault");
    assert_string_equal(fault("{\"printers\":[0]}"), "printers");
    assert_string_equal(fault("{\"colour\":1}"), "colour");
    assert_string_equal(fault("{\"printer_events\":{\"x\":[\"hms\"]}}"), "printer_events.x");
    assert_string_equal(fault("{\"printer_events\":{\"3\":[\"nope\"]}}"), "printer_events.3");
    assert_string_equal(fault("{\"quiet_hours\":{\"start\":\"25:00\",\"end\":\"07:00\"}}"), "quiet_hours.start");
    assert_string_equal(fault("{\"quiet_hours\":{\"start\":\"22:00\"}}"), "quiet_hours.end");
    assert_string_equal(fault("{\"quiet_hours\":{\"start\":\"22:00\",\"end\":\"22:00\"}}"), "quiet_hours.end");
    assert_string_equal(fault("{\"quiet_hours\":{\"start\":\"22:00\",\"end\":\"7:00\"}}"), "quiet_hours.end");
    assert_string_equal(fault("{\"quiet_hours\":{\"start\":\"22:00\",\"end\":\"07:00\",\"days\":[\"funday\"]}}"),
                        "quiet_hours.days");
    assert_string_equal(fault("{\"min_interval_s\":-1}"), "min_interval_s");
    assert_string_equal(fault("{\"digest_hour\":24}"), "digest_hour");
    assert_string_equal(fault("{\"templates\":{\"job_failed\":{\"text\":\"{nope}\"}}}"), "templates.job_failed.text");
    assert_string_equal(fault("{\"templates\":{\"job_failed\":{\"body\":\"x\"}}}"), "templates.job_failed.body");
    assert_string_equal(fault("{\"templates\":{\"party\":{\"text\":\"x\"}}}"), "templates.party");
}

static void rules_match_printers_and_kinds(void **state)
{
    (void)state;
    json_t *all = rules_of("{}"), *some = rules_of("{\"printers\":[1,2],\"printer_events\":{\"2\":[\"hms\"]}}");
    const char *events = "job_completed,job_failed";
    assert_true(pd_notify_rules_wants(all, events, 7, "job_failed"));
    assert_false(pd_notify_rules_wants(all, events, 7, "hms"));
    assert_true(pd_notify_rules_wants(some, events, 1, "job_failed"));
    assert_false(pd_notify_rules_wants(some, events, 3, "job_failed"));  /* not its printer */
    assert_true(pd_notify_rules_wants(some, events, 2, "hms"));          /* printer 2's own kinds */
    assert_false(pd_notify_rules_wants(some, events, 2, "job_failed"));
    assert_true(pd_notify_rules_wants(some, events, 0, "job_failed"));   /* no printer: every channel */
    assert_true(pd_notify_kinds_has("a,bb,c", "bb"));
    assert_false(pd_notify_kinds_has("a,bb,c", "b"));
    json_decref(all);
    json_decref(some);
}

/* Whether local time wday hh:mm is quiet under rules. */
static bool quiet_at(const json_t *rules, int wday, int hour, int min)
{
    struct tm tm = {.tm_wday = wday, .tm_hour = hour, .tm_min = min};
    return pd_notify_rules_quiet(rules, &tm);
}

static void quiet_hours_wrap_midnight_and_keep_their_days(void **state)
{
    (void)state;
    /* {wday, hour, min, quiet}: Monday night to Tuesday morning */
    static const int night_cases[][4] = {{1, 22, 29, 0}, {1, 22, 30, 1}, {2, 3, 0, 1}, {2, 6, 59, 1}, {2, 7, 0, 0}};
    /* Friday and Saturday nights: Saturday 02:00 is Friday's night, Monday 02:00 Sunday's */
    static const int weekend_cases[][4] = {{6, 2, 0, 1}, {0, 2, 0, 1}, {1, 2, 0, 0}, {5, 23, 30, 1}, {4, 23, 30, 0}};
    json_t *night = rules_of("{\"quiet_hours\":{\"start\":\"22:30\",\"end\":\"07:00\"}}");
    json_t *weekend = rules_of("{\"quiet_hours\":{\"start\":\"23:00\",\"end\":\"08:00\",\"days\":[\"fri\",\"sat\"],"
                               "\"critical\":true}}");
    json_t *day = rules_of("{\"quiet_hours\":{\"start\":\"12:00\",\"end\":\"13:30\"}}"), *none = rules_of("{}");
    for (size_t i = 0; i < 5; i++) {
        const int *n = night_cases[i], *w = weekend_cases[i];
        assert_int_equal(quiet_at(night, n[0], n[1], n[2]), n[3]);
        assert_int_equal(quiet_at(weekend, w[0], w[1], w[2]), w[3]);
    }
    assert_false(pd_notify_rules_critical_passes(night));
    assert_true(pd_notify_rules_critical_passes(weekend));
    assert_true(quiet_at(day, 3, 13, 29));
    assert_false(quiet_at(day, 3, 11, 59));
    assert_false(quiet_at(none, 3, 13, 29));
    assert_int_equal(pd_notify_rules_interval(none, 60), 60);
    assert_int_equal(pd_notify_rules_digest_hour(none), -1);
    /* the digest: in its hour, once a local day */
    json_t *eight = rules_of("{\"digest_hour\":8}");
    struct tm t = {.tm_year = 126, .tm_mon = 11, .tm_mday = 3, .tm_hour = 8, .tm_min = 0};
    assert_int_equal(pd_notify_local_day(&t), 20261203);
    assert_true(pd_notify_digest_due(eight, &t, 0));
    assert_true(pd_notify_digest_due(eight, &t, 20261202));
    assert_false(pd_notify_digest_due(eight, &t, 20261203));
    t.tm_hour = 9;
    assert_false(pd_notify_digest_due(eight, &t, 20261202));
    assert_false(pd_notify_digest_due(none, &t, 0));
    json_decref(eight);
    json_decref(night);
    json_decref(weekend);
    json_decref(day);
    json_decref(none);
}

static void interval_per_channel_kind_and_printer(void **state)
{
    (void)state;
    pd_notify_rate *r = calloc(1, sizeof *r);
    uint64_t now = 1000000;
    assert_true(pd_notify_rate_ok(r, 1, "hms", 5, now, 60000));
    assert_false(pd_notify_rate_ok(r, 1, "hms", 5, now + 59999, 60000));
    assert_true(pd_notify_rate_ok(r, 2, "hms", 5, now + 1, 60000));       /* another channel */
    assert_true(pd_notify_rate_ok(r, 1, "hms", 6, now + 1, 60000));       /* another printer */
    assert_true(pd_notify_rate_ok(r, 1, "job_failed", 5, now + 1, 60000)); /* another kind */
    assert_true(pd_notify_rate_ok(r, 1, "hms", 5, now + 60000, 60000));
    assert_true(pd_notify_rate_ok(r, 3, "hms", 5, now, 0));
    assert_true(pd_notify_rate_ok(r, 3, "hms", 5, now, 0));               /* no interval */
    /* a full table forgets the oldest pair, never refuses a new one */
    for (int i = 0; i < PD_NOTIFY_RATE_SLOTS + 10; i++)
        assert_true(pd_notify_rate_ok(r, 9, "hms", 100 + i, now + 100 + (uint64_t)i, 60000));
    free(r);
}

static pd_notify_msg *msg_with_facts(void)
{
    pd_notify_msg *m = calloc(1, sizeof *m);
    snprintf(m->event, sizeof m->event, "job_failed");
    snprintf(m->printer, sizeof m->printer, "Desk P1S");
    snprintf(m->facts[PD_NF_JOB], PD_NOTIFY_FACT_MAX, "Benchy");
    snprintf(m->facts[PD_NF_PROGRESS], PD_NOTIFY_FACT_MAX, "42%%");
    snprintf(m->facts[PD_NF_REASON], PD_NOTIFY_FACT_MAX, "Filament ran out");
    return m;
}

static void templates_render_and_refuse(void **state)
{
    (void)state;
    pd_notify_msg *m = msg_with_facts();
    char out[64], why[128];
    pd_notify_tpl_render("{printer}: {job} at {progress} ({reason}) {{ok}} {eta}", m, out, sizeof out);
    assert_string_equal(out, "Desk P1S: Benchy at 42% (Filament ran out) {ok} ");
    /* bounded: cut on a character boundary, never inside a UTF-8 sequence */
    snprintf(m->facts[PD_NF_JOB], PD_NOTIFY_FACT_MAX, "ééééé");
    char small[8];
    pd_notify_tpl_render("{job}", m, small, sizeof small);
    assert_string_equal(small, "ééé");
    assert_int_equal(pd_notify_tpl_check("{job} {shortfall_g} g short, {hms_url}", why, sizeof why), PD_OK);
    assert_int_equal(pd_notify_tpl_check("{jobb}", why, sizeof why), PD_ERR_FIELD);
    assert_non_null(strstr(why, "{jobb}"));
    assert_int_equal(pd_notify_tpl_check("{job", why, sizeof why), PD_ERR_FIELD);
    assert_non_null(strstr(why, "open"));
    assert_int_equal(pd_notify_tpl_check("job}", why, sizeof why), PD_ERR_FIELD);
    assert_int_equal(pd_notify_tpl_check("{}", why, sizeof why), PD_ERR_FIELD);
    assert_int_equal(pd_notify_tpl_check("a\001b", why, sizeof why), PD_ERR_FIELD);
    json_t *r = rules_of("{\"templates\":{\"*\":{\"title\":\"T {printer}\"},\"job_failed\":{\"text\":\"X\"}}}");
    assert_string_equal(pd_notify_rules_template(r, "job_failed", "text"), "X");
    assert_string_equal(pd_notify_rules_template(r, "job_failed", "title"), "T {printer}");
    assert_null(pd_notify_rules_template(r, "hms", "text"));
    json_decref(r);
    free(m);
}

static void default_messages_carry_the_facts(void **state)
{
    (void)state;
    static const char *job = "{\"id\":7,\"printer_name\":\"Desk P1S\",\"name\":\"Benchy\",\"status\":\"printing\","
                             "\"progress\":0,\"layer\":0,\"total_layers\":120}";
    pd_event ev = {.type = PD_EV_JOB, .printer_id = 2, .ts_ms = 1700000000000};
    ev.u.job.change = "started";
    ev.u.job.payload = job;
    ev.u.job.payload_len = strlen(job);
    pd_notify_msg *m = calloc(1, sizeof *m);
    assert_true(pd_notify_msg_from_event(&ev, m));
    assert_string_equal(m->event, "job_started");
    pd_notify_live live = {.job = "Benchy", .progress = 0, .layer = 1, .total_layers = 120, .remaining_min = 130};
    pd_notify_msg_enrich(m, &live, "https://deck.lan:8080/");
    assert_string_equal(m->facts[PD_NF_ETA], "2h10");
    assert_string_equal(m->facts[PD_NF_URL], "https://deck.lan:8080/printers/2");
    assert_non_null(strstr(m->text, "Benchy started: 2h10 to go, done at "));
    assert_string_equal(m->title, "Desk P1S: print started");
    pd_notify_msg_clear(m);
    /* an HMS error: severity from its code, the text, the wiki link */
    pd_event h = {.type = PD_EV_HMS_RAISED, .printer_id = 2, .serial = "01P00A451200002", .ts_ms = 1700000000000};
    h.u.hms.code = "HMS_0300_0100_0001_0007";
    h.u.hms.text = "The heatbed temperature is abnormal";
    assert_true(pd_notify_msg_from_event(&h, m));
    assert_true(m->critical);
    pd_notify_msg_enrich(m, NULL, "");
    assert_string_equal(m->facts[PD_NF_HMS_CODE], "HMS_0300_0100_0001_0007");
    assert_non_null(strstr(m->facts[PD_NF_HMS_URL], "https://"));
    assert_non_null(strstr(m->text, "The heatbed temperature is abnormal (HMS_0300_0100_0001_0007)."));
    pd_notify_msg_clear(m);
    h.u.hms.code = "HMS_0300_0100_0003_0007";  /* common: not critical */
    assert_true(pd_notify_msg_from_event(&h, m));
    assert_false(m->critical);
    pd_notify_msg_clear(m);
    /* the first layer is done when the second begins; offline is critical */
    pd_event l = {.type = PD_EV_LAYER, .printer_id = 2, .ts_ms = 1700000000000};
    l.u.layer.layer = 2;
    l.u.layer.total = 50;
    assert_true(pd_notify_msg_from_event(&l, m));
    assert_string_equal(m->event, "first_layer");
    assert_string_equal(m->facts[PD_NF_LAYER], "2/50");
    pd_notify_msg_clear(m);
    l.u.layer.layer = 3;
    assert_false(pd_notify_msg_from_event(&l, m));
    pd_event off = {.type = PD_EV_OFFLINE, .printer_id = 2, .ts_ms = 1700000000000};
    assert_true(pd_notify_msg_from_event(&off, m));
    assert_string_equal(m->event, "printer_offline");
    assert_true(m->critical);
    pd_notify_msg_clear(m);
    /* not enough filament: the shortfall and the spool */
    static const char *alert = "{\"id\":3,\"kind\":\"insufficient_filament\",\"printer_id\":2,\"spool_id\":12,"
                               "\"message\":\"Job 7 needs 40 g more filament than its spools hold\",\"data\":"
                               "{\"filaments\":[{\"material\":\"PLA\",\"shortfall_g\":40.2}],\"shortfall_g\":40.2}}";
    pd_event a = {.type = PD_EV_ALERT, .printer_id = 2, .ts_ms = 1700000000000};
    a.u.alert.change = "raised";
    a.u.alert.payload = alert;
    a.u.alert.payload_len = strlen(alert);
    assert_true(pd_notify_msg_from_event(&a, m));
    assert_string_equal(m->event, "insufficient_filament");
    assert_string_equal(m->facts[PD_NF_SHORTFALL_G], "40");
    assert_string_equal(m->facts[PD_NF_SPOOL], "spool #12");
    assert_string_equal(m->facts[PD_NF_FILAMENT], "PLA");
    assert_true(m->critical);
    pd_notify_msg_clear(m);
    free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rules_checked_by_field),
        cmocka_unit_test(rules_match_printers_and_kinds),
        cmocka_unit_test(quiet_hours_wrap_midnight_and_keep_their_days),
        cmocka_unit_test(interval_per_channel_kind_and_printer),
        cmocka_unit_test(templates_render_and_refuse),
        cmocka_unit_test(default_messages_carry_the_facts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
