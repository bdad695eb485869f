/* report: classification of every captured message and the merge rules of
 * docs/bambu-protocol.md §3.3. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "printer/report.h"
#include "samples.h"

static json_t *parse(const char *text)
{
    json_error_t err;
    json_t *j = json_loads(text, 0, &err);
    if (!j)
        fail_msg("test JSON: %s: %s", err.text, text);
    return j;
}

/* Merges a literal print object as a delta and expects rc. */
static void merge_text(json_t *base, const char *text, pd_err rc)
{
    json_t *in = parse(text);
    assert_int_equal(pd_report_merge(base, in, false), rc);
    json_decref(in);
}

static json_t *at(const json_t *o, const char *path)
{
    char buf[128], *save = NULL;
    snprintf(buf, sizeof buf, "%s", path);
    json_t *cur = (json_t *)o;
    for (char *tok = strtok_r(buf, ".", &save); tok && cur; tok = strtok_r(NULL, ".", &save)) {
        char *end;
        long idx = strtol(tok, &end, 10);
        cur = *end ? json_object_get(cur, tok) : json_array_get(cur, (size_t)idx);
    }
    return cur;
}

static const char *str_at(const json_t *o, const char *path)
{
    return json_string_value(at(o, path));
}

/* --- every sample --------------------------------------------------------------------- */

static void check_sample(const char *name, void *ud)
{
    int *counts = ud;
    json_t *msg = sample_load(name);
    const char *cat = NULL;
    json_t *body = NULL;
    pd_msg_kind kind = pd_report_classify(msg, &cat, &body);
    pd_msg_kind want = strstr(name, "get_version") ? PD_MSG_VERSION
                       : strstr(name, "pushall")   ? PD_MSG_FULL
                                                   : PD_MSG_DELTA; /* partials, fragments */
    if (kind != want)
        fail_msg("%s: classified %d, expected %d", name, kind, want);
    assert_non_null(body);
    assert_ptr_equal(body, json_object_get(msg, cat));
    counts[kind]++;
    if (kind == PD_MSG_FULL || kind == PD_MSG_DELTA) {
        assert_string_equal(cat, "print");
        json_t *base = json_object();
        assert_int_equal(pd_report_merge(base, body, kind == PD_MSG_FULL), PD_OK);
        assert_null(json_object_get(base, "sequence_id"));
        assert_null(json_object_get(base, "command"));
        assert_null(json_object_get(base, "msg"));
        if (kind == PD_MSG_FULL) {
            assert_non_null(json_object_get(base, "gcode_state"));
            /* a second full push of the same report lands on the same object */
            json_t *again = json_deep_copy(base);
            assert_int_equal(pd_report_merge(again, body, true), PD_OK);
            assert_true(json_equal(base, again));
            json_decref(again);
        }
        json_decref(base);
    }
    json_decref(msg);
}

static void classify_and_merge_every_sample(void **st)
{
    (void)st;
    int counts[PD_MSG_OTHER + 1] = {0};
    int n = sample_each(check_sample, counts);
    assert_true(n >= 43);
    assert_int_equal(counts[PD_MSG_VERSION] + counts[PD_MSG_FULL] + counts[PD_MSG_DELTA], n);
    assert_int_equal(counts[PD_MSG_VERSION], 16);
    assert_int_equal(counts[PD_MSG_FULL], 18);
    assert_int_equal(counts[PD_MSG_DELTA], 9);
}

/* --- classification ------------------------------------------------------------------- */

static void classify_edges(void **st)
{
    (void)st;
    const struct {
        const char *text;
        pd_msg_kind kind;
    } cases[] = {
        {"{\"print\":{\"sequence_id\":\"1\",\"param\":\"G28\",\"result\":\"success\","
         "\"reason\":\"success\"}}", PD_MSG_ACK},
        {"{\"print\":{\"command\":\"project_file\",\"result\":\"SUCCESS\",\"msg\":0,"
         "\"gcode_state\":\"PREPARE\"}}", PD_MSG_ACK},
        {"{\"system\":{\"command\":\"ledctrl\",\"result\":\"failed\"}}", PD_MSG_ACK},
        {"{\"info\":{\"command\":\"get_version\",\"result\":\"failed\"}}", PD_MSG_ACK},
        {"{\"print\":{\"command\":\"push_status\",\"msg\":1,\"bed_temper\":1}}", PD_MSG_DELTA},
        {"{\"print\":{\"command\":\"push_status\",\"msg\":\"1\"}}", PD_MSG_DELTA},
        {"{\"print\":{\"command\":\"push_status\",\"msg\":0}}", PD_MSG_FULL},
        {"{\"print\":{\"command\":\"push_status\"}}", PD_MSG_FULL},
        {"{\"print\":{\"command\":\"push_status\",\"msg\":[1]}}", PD_MSG_FULL},
        {"{\"print\":{\"bed_temper\":1}}", PD_MSG_DELTA},
        {"{\"print\":{\"command\":\"gcode_line\",\"param\":\"G28\"}}", PD_MSG_OTHER},
        {"{\"mc_print\":{\"command\":\"push_info\",\"param\":\"[BMC] x\"}}", PD_MSG_OTHER},
        {"{\"event\":{\"event\":\"client.connected\"}}", PD_MSG_OTHER},
        {"{\"print\":{\"command\":\"push_status\"},\"header\":{},\"user_id\":\"1\"}", PD_MSG_FULL},
        {"{\"print\":{},\"info\":{}}", PD_MSG_INVALID},
        {"{\"print\":[1,2]}", PD_MSG_INVALID},
        {"{\"print\":\"x\"}", PD_MSG_INVALID},
        {"{\"nope\":{}}", PD_MSG_INVALID},
        {"{}", PD_MSG_INVALID},
        {"[]", PD_MSG_INVALID},
        {"42", PD_MSG_INVALID},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *msg = json_loads(cases[i].text, JSON_DECODE_ANY, NULL);
        assert_non_null(msg);
        const char *cat = "unset";
        json_t *body = (json_t *)1;
        pd_msg_kind k = pd_report_classify(msg, &cat, &body);
        if (k != cases[i].kind)
            fail_msg("case %zu (%s): %d, expected %d", i, cases[i].text, k, cases[i].kind);
        if (k == PD_MSG_INVALID)
            assert_null(body);
        json_decref(msg);
    }
    assert_int_equal(pd_report_classify(NULL, NULL, NULL), PD_MSG_INVALID);
}

/* --- merging -------------------------------------------------------------------------- */

static void p1s_partials_on_full(void **st)
{
    (void)st;
    json_t *base = sample_base("p1s_pushall_idle_1.json");
    json_t *before = json_deep_copy(base);
    const char *parts[] = {"p1s_partial_1.json", "p1s_partial_2.json"};
    for (size_t i = 0; i < 2; i++) {
        json_t *msg = sample_load(parts[i]);
        json_t *body;
        assert_int_equal(pd_report_classify(msg, NULL, &body), PD_MSG_DELTA);
        assert_int_equal(pd_report_merge(base, body, false), PD_OK);
        json_decref(msg);
    }
    assert_int_equal(json_integer_value(json_object_get(base, "bed_temper")), 12);
    assert_string_equal(str_at(base, "wifi_signal"), "-68dBm");
    /* everything else is what the full push said */
    json_object_set(before, "bed_temper", json_object_get(base, "bed_temper"));
    json_object_set(before, "wifi_signal", json_object_get(base, "wifi_signal"));
    assert_true(json_equal(before, base));
    assert_null(json_object_get(base, "sequence_id"));
    json_decref(before);
    json_decref(base);
}

static void p1s_ams_delta_merges_by_id(void **st)
{
    (void)st;
    json_t *base = sample_base("p1s_pushall_idle_1.json");
    json_t *msg = sample_load("p1s_partial_ams_3.json");
    assert_int_equal(pd_report_merge(base, json_object_get(msg, "print"), false), PD_OK);
    json_decref(msg);
    assert_int_equal(json_array_size(at(base, "ams.ams")), 1);
    assert_string_equal(str_at(base, "ams.ams.0.humidity_raw"), "12");
    assert_string_equal(str_at(base, "ams.ams.0.temp"), "32.9");
    assert_int_equal(json_array_size(at(base, "ams.ams.0.tray")), 4);
    assert_string_equal(str_at(base, "ams.ams.0.tray.3.tray_type"), "ABS");
    /* the delta has no vt_tray and no tray_exist_bits: both stay */
    assert_string_equal(str_at(base, "vt_tray.tray_type"), "TPU-AMS");
    assert_string_equal(str_at(base, "ams.tray_exist_bits"), "f");

    /* trays out of order, ids as numbers, only some fields */
    merge_text(base, "{\"ams\":{\"ams\":[{\"id\":0,\"tray\":[{\"id\":3,\"remain\":50},"
                     "{\"id\":\"1\",\"tray_color\":\"FF0000FF\"}]}]}}", PD_OK);
    assert_int_equal(json_integer_value(at(base, "ams.ams.0.tray.3.remain")), 50);
    assert_string_equal(str_at(base, "ams.ams.0.tray.3.tray_type"), "ABS");
    assert_string_equal(str_at(base, "ams.ams.0.tray.1.tray_color"), "FF0000FF");
    assert_string_equal(str_at(base, "ams.ams.0.tray.1.tag_uid"), "2E57XXXXXXXXXXXX");
    assert_int_equal(json_array_size(at(base, "ams.ams.0.tray")), 4);

    /* a unit that was not there is appended */
    merge_text(base, "{\"ams\":{\"ams\":[{\"id\":\"1\",\"humidity\":\"3\",\"tray\":[{\"id\":\"0\","
                     "\"tray_type\":\"PETG\"}]}]}}", PD_OK);
    assert_int_equal(json_array_size(at(base, "ams.ams")), 2);
    assert_string_equal(str_at(base, "ams.ams.1.tray.0.tray_type"), "PETG");
    assert_string_equal(str_at(base, "ams.ams.0.humidity"), "5");
    json_decref(base);
}

static void h2d_partial_tray_keeps_identity(void **st)
{
    (void)st;
    json_t *base = sample_base("h2d_pushall_running_2.json");
    merge_text(base, "{\"ams\":{\"ams\":[{\"id\":\"0\",\"tray\":[{\"id\":\"1\",\"state\":11}]},"
                     "{\"id\":\"128\",\"temp\":\"30.0\"}]},\"msg\":1}", PD_OK);
    json_t *tray = at(base, "ams.ams.0.tray.1");
    assert_string_equal(str_at(tray, "tag_uid"), "6BA932FF00000100");
    assert_string_equal(str_at(tray, "tray_uuid"), "73C26A43CD6A42AFB35375345595F535");
    assert_string_equal(str_at(tray, "tray_type"), "PLA");
    assert_int_equal(json_integer_value(json_object_get(tray, "state")), 11);
    assert_string_equal(str_at(base, "ams.ams.1.temp"), "30.0");
    assert_string_equal(str_at(base, "ams.ams.1.tray.0.tray_type"), "PA-GF");

    /* an emptied slot loses what identified the spool */
    merge_text(base, "{\"ams\":{\"ams\":[{\"id\":\"0\",\"tray\":[{\"id\":\"2\",\"tray_type\":\"\","
                     "\"state\":9}]}]}}", PD_OK);
    tray = at(base, "ams.ams.0.tray.2");
    assert_int_equal(json_object_size(tray), 2);
    assert_string_equal(str_at(tray, "id"), "2");
    assert_int_equal(json_integer_value(json_object_get(tray, "state")), 9);

    /* vir_slot by id: the deputy holder stays as it was */
    json_t *deputy = json_deep_copy(at(base, "vir_slot.0"));
    merge_text(base, "{\"vir_slot\":[{\"id\":\"255\",\"tray_type\":\"PLA\","
                     "\"tray_color\":\"FF6A13FF\"}]}", PD_OK);
    assert_int_equal(json_array_size(at(base, "vir_slot")), 2);
    assert_string_equal(str_at(base, "vir_slot.1.tray_type"), "PLA");
    assert_int_equal(json_object_size(at(base, "vir_slot.1")), 3);
    assert_true(json_equal(deputy, at(base, "vir_slot.0")));
    json_decref(deputy);

    /* an empty array is a real "none", and other arrays are replaced whole */
    merge_text(base, "{\"hms\":[{\"attr\":1,\"code\":2}],\"stg\":[1]}", PD_OK);
    assert_int_equal(json_array_size(at(base, "stg")), 1);
    merge_text(base, "{\"ams\":{\"ams\":[]}}", PD_OK);
    assert_int_equal(json_array_size(at(base, "ams.ams")), 0);
    json_decref(base);
}

static void tray_exist_bits_clear_slots(void **st)
{
    (void)st;
    json_t *base = sample_base("p1s_pushall_idle_1.json");
    /* b = 1011: slot 2 is empty now */
    merge_text(base, "{\"ams\":{\"tray_exist_bits\":\"b\"}}", PD_OK);
    assert_null(at(base, "ams.ams.0.tray.2.tray_type"));
    assert_null(at(base, "ams.ams.0.tray.2.tag_uid"));
    assert_int_equal(json_integer_value(at(base, "ams.ams.0.tray.2.state")), 3);
    assert_string_equal(str_at(base, "ams.ams.0.tray.3.tray_type"), "ABS");
    /* all zero while not powering on: the printer is shutting down, keep the spools */
    merge_text(base, "{\"ams\":{\"tray_exist_bits\":\"0\",\"power_on_flag\":false}}", PD_OK);
    assert_string_equal(str_at(base, "ams.ams.0.tray.0.tray_type"), "PLA");
    merge_text(base, "{\"ams\":{\"tray_exist_bits\":\"0\",\"power_on_flag\":true}}", PD_OK);
    assert_null(at(base, "ams.ams.0.tray.0.tray_type"));
    /* junk bits are ignored */
    merge_text(base, "{\"ams\":{\"tray_exist_bits\":\"xyz\"}}", PD_OK);
    json_decref(base);

    /* AMS HT 128 is bit 16 */
    base = sample_base("h2d_pushall_running_2.json");
    merge_text(base, "{\"ams\":{\"tray_exist_bits\":\"f\"}}", PD_OK);
    assert_null(at(base, "ams.ams.1.tray.0.tray_type"));
    assert_string_equal(str_at(base, "ams.ams.0.tray.3.tray_type"), "PETG");
    json_decref(base);

    /* the A2L's unit 16 has no known bit: left alone */
    base = sample_base("a2l_pushall_idle_1.json");
    merge_text(base, "{\"ams\":{\"tray_exist_bits\":\"0\",\"power_on_flag\":true}}", PD_OK);
    assert_string_equal(str_at(base, "ams.ams.0.tray.1.tray_type"), "PETG");
    json_decref(base);
}

static void full_push_normalises_trays(void **st)
{
    (void)st;
    /* X1C: unit 2 slot 0 is empty in tray_exist_bits 10eff; the empty holders lose their
     * placeholder fields */
    json_t *base = sample_base("x1c_pushall_finish_multiams_1.json");
    assert_int_equal(json_object_size(at(base, "ams.ams.2.tray.0")), 2);
    assert_int_equal(json_object_size(at(base, "vt_tray")), 1);
    assert_string_equal(str_at(base, "ams.ams.2.tray.1.tray_color"), "FF6A13FF");
    /* a full push replaces, it does not merge */
    json_t *msg = sample_load("p1p_pushall_finish_noams_1.json");
    assert_int_equal(pd_report_merge(base, json_object_get(msg, "print"), true), PD_OK);
    assert_int_equal(json_array_size(at(base, "ams.ams")), 0);
    assert_null(at(base, "vir_slot"));
    assert_string_equal(str_at(base, "vt_tray.tray_type"), "PETG");
    json_decref(msg);
    json_decref(base);
}

/* --- hostile input -------------------------------------------------------------------- */

static json_t *nested(int depth)
{
    json_t *v = json_integer(1);
    for (int i = 0; i < depth; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "a", v);
        v = o;
    }
    return v;
}

static void bad_input_leaves_base_alone(void **st)
{
    (void)st;
    json_t *base = sample_base("h2d_pushall_running_2.json");
    json_t *before = json_deep_copy(base);

    json_t *deep = nested(40);
    assert_int_equal(pd_report_merge(base, deep, false), PD_ERR_PARSE);
    assert_int_equal(pd_report_merge(base, deep, true), PD_ERR_PARSE);
    json_decref(deep);
    /* deep under the AMS path too */
    json_t *in = parse("{\"ams\":{\"ams\":[{\"id\":\"0\",\"tray\":[{\"id\":\"0\"}]}]}}");
    json_object_set_new(json_array_get(json_object_get(json_array_get(at(in, "ams.ams"), 0),
                                                       "tray"), 0),
                        "x", nested(20));
    assert_int_equal(pd_report_merge(base, in, false), PD_ERR_PARSE);
    json_decref(in);
    /* 16 levels are fine, 17 are not */
    json_t *scratch = json_object();
    in = nested(15);
    assert_int_equal(pd_report_merge(scratch, in, false), PD_OK);
    json_decref(in);
    in = nested(16);
    assert_int_equal(pd_report_merge(scratch, in, false), PD_ERR_PARSE);
    json_decref(in);
    json_decref(scratch);

    json_t *big = json_array();
    for (int i = 0; i < 30000; i++)
        json_array_append_new(big, json_integer(i));
    in = json_object();
    json_object_set_new(in, "stg", big);
    assert_int_equal(pd_report_merge(base, in, false), PD_ERR_TOOBIG);
    json_decref(in);

    json_t *s = json_string("print");
    assert_int_equal(pd_report_merge(base, s, false), PD_ERR_PARSE);
    assert_int_equal(pd_report_merge(base, NULL, true), PD_ERR_PARSE);
    assert_int_equal(pd_report_merge(s, base, true), PD_ERR_INVAL);
    json_decref(s);
    assert_true(json_equal(before, base));

    /* truncated payloads never reach the merge: the parser refuses them */
    assert_null(json_loads("{\"print\":{\"bed_temper\":1", 0, NULL));

    /* wrong types where the merge looks for structure: accepted, never a crash */
    const char *odd[] = {
        "{\"ams\":\"x\"}",
        "{\"ams\":{\"ams\":{\"id\":1}}}",
        "{\"ams\":{\"ams\":[1,2,\"x\"]}}",
        "{\"ams\":{\"ams\":[{\"id\":{\"a\":1},\"tray\":\"no\"}]}}",
        "{\"ams\":{\"ams\":[{\"id\":\"0\",\"tray\":[null,{\"id\":\"zz\"}]}]}}",
        "{\"ams\":{\"ams\":[{\"id\":1.5}],\"tray_exist_bits\":5}}",
        "{\"ams\":{\"ams\":[{\"id\":\"0\",\"tray\":[{\"id\":\"0\",\"tray_type\":7}]}]}}",
        "{\"vir_slot\":5}",
        "{\"vir_slot\":[{\"id\":\"255\"},{\"noid\":1}]}",
        "{\"vt_tray\":[1]}",
        "{\"vt_tray\":{\"tray_type\":\"\"}}",
        "{\"ams\":{\"ams\":[{\"id\":\"1e300\"},{\"id\":\"-0\"}]}}",
    };
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++)
        merge_text(base, odd[i], PD_OK);
    assert_true(json_is_array(at(base, "vir_slot")));
    json_decref(before);
    json_decref(base);
}

static void merged_arrays_stay_bounded(void **st)
{
    (void)st;
    json_t *base = json_object();
    char text[64];
    for (int i = 0; i < 100; i++) {
        snprintf(text, sizeof text, "{\"vir_slot\":[{\"id\":%d}]}", i);
        merge_text(base, text, PD_OK);
    }
    assert_int_equal(json_array_size(at(base, "vir_slot")), 32);
    for (int i = 0; i < 1000; i++) {
        snprintf(text, sizeof text, "{\"k%d\":1}", i);
        merge_text(base, text, PD_OK);
    }
    assert_int_equal(json_object_size(base), 512);
    json_decref(base);
}

static void value_readers(void **st)
{
    (void)st;
    double d;
    uint64_t u;
    long long id;
    json_t *v = parse("[\"0.4\",4,\"-1\",\"\",\"1e999\",\"nan\",\"12abc\",true,null,2.5]");
    assert_true(pd_report_number(json_array_get(v, 0), &d) && d == 0.4);
    assert_true(pd_report_number(json_array_get(v, 1), &d) && d == 4);
    assert_true(pd_report_number(json_array_get(v, 2), &d) && d == -1);
    for (size_t i = 3; i <= 8; i++)
        assert_false(pd_report_number(json_array_get(v, i), &d));
    assert_true(pd_report_number(json_array_get(v, 9), &d) && d == 2.5);
    json_decref(v);

    v = parse("[\"1000f\",\"41AFFF9CFF\",\"\",\"g\",\"11111111111111111\",16]");
    assert_true(pd_report_hex(json_array_get(v, 0), &u) && u == 0x1000f);
    assert_true(pd_report_hex(json_array_get(v, 1), &u) && u == 0x41AFFF9CFFull);
    for (size_t i = 2; i <= 5; i++)
        assert_false(pd_report_hex(json_array_get(v, i), &u));
    json_decref(v);

    v = parse("[{\"id\":\"128\"},{\"id\":3},{\"id\":\"x\"},{\"id\":1.5},{},5]");
    assert_true(pd_report_id(json_array_get(v, 0), &id) && id == 128);
    assert_true(pd_report_id(json_array_get(v, 1), &id) && id == 3);
    for (size_t i = 2; i <= 5; i++)
        assert_false(pd_report_id(json_array_get(v, i), &id));
    assert_ptr_equal(pd_report_find_id(v, 3), json_array_get(v, 1));
    assert_null(pd_report_find_id(v, 4));
    assert_null(pd_report_find_id(NULL, 4));
    json_decref(v);

    assert_int_equal(pd_report_tray_bit(0, 0), 0);
    assert_int_equal(pd_report_tray_bit(3, 3), 15);
    assert_int_equal(pd_report_tray_bit(128, 0), 16);
    assert_int_equal(pd_report_tray_bit(135, 0), 23);
    assert_int_equal(pd_report_tray_bit(128, 1), -1);
    assert_int_equal(pd_report_tray_bit(16, 1), -1);
    assert_int_equal(pd_report_tray_bit(0, 4), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(classify_and_merge_every_sample),
        cmocka_unit_test(classify_edges),
        cmocka_unit_test(p1s_partials_on_full),
        cmocka_unit_test(p1s_ams_delta_merges_by_id),
        cmocka_unit_test(h2d_partial_tray_keeps_identity),
        cmocka_unit_test(tray_exist_bits_clear_slots),
        cmocka_unit_test(full_push_normalises_trays),
        cmocka_unit_test(bad_input_leaves_base_alone),
        cmocka_unit_test(merged_arrays_stay_bounded),
        cmocka_unit_test(value_readers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
