/* model: detection from every get_version sample, serial prefixes, names and per-model facts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "printer/model.h"
#include "samples.h"

/* The file name's model part (before the first '_') names the printer in the capture. */
static const struct {
    const char *prefix;
    pd_model model;
} FILE_MODELS[] = {
    {"a1", PD_MODEL_A1},       {"a1mini", PD_MODEL_A1MINI}, {"a2l", PD_MODEL_A2L},
    {"h2c", PD_MODEL_H2C},     {"h2d", PD_MODEL_H2D},       {"h2dpro", PD_MODEL_H2DPRO},
    {"h2s", PD_MODEL_H2S},     {"p1p", PD_MODEL_P1P},       {"p2s", PD_MODEL_P2S},
    {"x1c", PD_MODEL_X1C},     {"x1c-x1plus", PD_MODEL_X1C}, {"x2d", PD_MODEL_X2D},
};

static void check_version(const char *name, void *ud)
{
    int *n = ud;
    if (!strstr(name, "_get_version_"))
        return;
    size_t len = strcspn(name, "_");
    pd_model want = PD_MODEL_UNKNOWN;
    for (size_t i = 0; i < sizeof FILE_MODELS / sizeof FILE_MODELS[0]; i++)
        if (strlen(FILE_MODELS[i].prefix) == len && !strncmp(name, FILE_MODELS[i].prefix, len))
            want = FILE_MODELS[i].model;
    if (want == PD_MODEL_UNKNOWN)
        fail_msg("%s: no expected model for this file", name);
    json_t *msg = sample_load(name);
    char fw[32] = "x";
    pd_model got = pd_model_from_version(json_object_get(msg, "info"), fw, sizeof fw);
    if (got != want)
        fail_msg("%s: detected %s, expected %s", name, pd_model_key(got), pd_model_key(want));
    assert_int_equal(strlen(fw), 11); /* "01.05.00.00" */
    json_decref(msg);
    (*n)++;
}

static void every_get_version_sample(void **st)
{
    (void)st;
    int n = 0;
    sample_each(check_version, &n);
    assert_int_equal(n, 16);

    char fw[32];
    json_t *msg = sample_load("a1mini_get_version_1.json");
    assert_int_equal(pd_model_from_version(json_object_get(msg, "info"), fw, sizeof fw),
                     PD_MODEL_A1MINI);
    assert_string_equal(fw, "01.07.02.00");
    json_decref(msg);
    msg = sample_load("x1c-x1plus_get_version_1.json");
    assert_int_equal(pd_model_from_version(json_object_get(msg, "info"), fw, sizeof fw),
                     PD_MODEL_X1C);
    assert_string_equal(fw, "99.00.00.00");
    json_decref(msg);
}

static pd_model version_of(const char *text, char *fw, size_t fwlen)
{
    json_t *info = json_loads(text, 0, NULL);
    assert_non_null(info);
    pd_model m = pd_model_from_version(info, fw, fwlen);
    json_decref(info);
    return m;
}

static void legacy_and_broken_versions(void **st)
{
    (void)st;
    char fw[8];
    assert_int_equal(version_of("{\"module\":[{\"name\":\"esp32\",\"hw_ver\":\"AP02\"}]}", fw,
                                sizeof fw), PD_MODEL_X1E);
    assert_string_equal(fw, "");
    assert_int_equal(version_of("{\"module\":[{\"name\":\"rv1126\",\"hw_ver\":\"AP05\"}]}", NULL,
                                0), PD_MODEL_X1C);
    assert_int_equal(version_of("{\"module\":[{\"name\":\"ota\",\"project_name\":\"C12\"},"
                                "{\"name\":\"esp32\",\"hw_ver\":\"AP04\"}]}", NULL, 0),
                     PD_MODEL_P1S);
    assert_int_equal(version_of("{\"module\":[{\"name\":\"ota\",\"project_name\":\"N1\","
                                "\"sw_ver\":\"01.02.03.04\"}]}", fw, sizeof fw),
                     PD_MODEL_A1MINI);
    assert_string_equal(fw, "01.02.0"); /* truncated to the buffer */
    /* unknown product names fall through to the legacy rules, then to unknown */
    assert_int_equal(version_of("{\"module\":[{\"name\":\"ota\",\"product_name\":\"Bambu Lab Z9\"}]}",
                                NULL, 0), PD_MODEL_UNKNOWN);
    const char *junk[] = {"{}", "{\"module\":{}}", "{\"module\":[1,null,{\"name\":5}]}",
                          "{\"module\":[{\"name\":\"ota\",\"product_name\":7,\"sw_ver\":[]}]}"};
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++)
        assert_int_equal(version_of(junk[i], fw, sizeof fw), PD_MODEL_UNKNOWN);
    assert_int_equal(pd_model_from_version(NULL, NULL, 0), PD_MODEL_UNKNOWN);
}

static void serial_prefixes(void **st)
{
    (void)st;
    const struct {
        const char *serial;
        pd_model model;
    } cases[] = {
        {"00M09A350100123", PD_MODEL_X1C}, {"01P00A451200002", PD_MODEL_P1S},
        {"01S00C123456789", PD_MODEL_P1P}, {"0309DA123456789", PD_MODEL_A1MINI},
        {"030XXXXXXXXXXXX", PD_MODEL_A1MINI}, {"03919D123456789", PD_MODEL_A1},
        {"0948AB123456789", PD_MODEL_H2D}, {"093XXXXXXXXXXXX", PD_MODEL_H2S},
        {"22E00A123456789", PD_MODEL_P2S}, {"03W00X123456789", PD_MODEL_X1E},
        {"01p00a451200002", PD_MODEL_P1S}, {"ZZZ", PD_MODEL_UNKNOWN}, {"00", PD_MODEL_UNKNOWN},
        {"", PD_MODEL_UNKNOWN},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (pd_model_from_serial(cases[i].serial) != cases[i].model)
            fail_msg("serial %s", cases[i].serial);
    assert_int_equal(pd_model_from_serial(NULL), PD_MODEL_UNKNOWN);
}

static void names_and_codes(void **st)
{
    (void)st;
    const struct {
        const char *text;
        pd_model model;
    } cases[] = {
        {"P1S", PD_MODEL_P1S},          {"a1mini", PD_MODEL_A1MINI},
        {"Bambu Lab A1 mini", PD_MODEL_A1MINI}, {"Bambu Lab X1-Carbon", PD_MODEL_X1C},
        {"Bambu Lab X1 Carbon", PD_MODEL_X1C}, {"BL-P001", PD_MODEL_X1C},
        {"BL-P002", PD_MODEL_X1},       {"C11", PD_MODEL_P1P},
        {"C12", PD_MODEL_P1S},          {"C13", PD_MODEL_X1E},
        {"N1", PD_MODEL_A1MINI},        {"N2S", PD_MODEL_A1},
        {"N7", PD_MODEL_P2S},           {"N6", PD_MODEL_X2D},
        {"O1D", PD_MODEL_H2D},          {"O1C2", PD_MODEL_H2C},
        {"O1S", PD_MODEL_H2S},          {"O1E", PD_MODEL_H2DPRO},
        {"Bambu Lab H2D Pro", PD_MODEL_H2DPRO}, {"h2d-pro", PD_MODEL_H2DPRO},
        {"Bambu Lab A2L", PD_MODEL_A2L}, {"Bambu Lab", PD_MODEL_UNKNOWN},
        {"", PD_MODEL_UNKNOWN},          {"H2", PD_MODEL_UNKNOWN},
        {"Prusa MK4", PD_MODEL_UNKNOWN},
        {"a very long name that does not fit the normalisation buffer at all",
         PD_MODEL_UNKNOWN},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (pd_model_parse(cases[i].text) != cases[i].model)
            fail_msg("parse '%s' -> %d", cases[i].text, pd_model_parse(cases[i].text));
    assert_int_equal(pd_model_parse(NULL), PD_MODEL_UNKNOWN);

    /* every model: its key and its name parse back to it */
    for (int m = PD_MODEL_UNKNOWN + 1; m < PD_MODEL__COUNT; m++) {
        assert_int_equal(pd_model_parse(pd_model_key(m)), m);
        assert_int_equal(pd_model_parse(pd_model_name(m)), m);
        assert_non_null(pd_model_wiki_family(m));
    }
    assert_string_equal(pd_model_key(PD_MODEL_A1MINI), "A1MINI");
    assert_string_equal(pd_model_key(PD_MODEL_H2DPRO), "H2DPRO");
    assert_string_equal(pd_model_name(PD_MODEL_X1C), "Bambu Lab X1 Carbon");
    assert_string_equal(pd_model_key(PD_MODEL_UNKNOWN), "");
    assert_string_equal(pd_model_key((pd_model)99), "");
    assert_string_equal(pd_model_wiki_family(PD_MODEL_H2S), "h2");
    assert_string_equal(pd_model_wiki_family(PD_MODEL_P1P), "p1");
    assert_string_equal(pd_model_wiki_family(PD_MODEL_A1MINI), "a1");
    assert_string_equal(pd_model_wiki_family(PD_MODEL_UNKNOWN), "x1");
    assert_true(pd_model_has_chamber_sensor(PD_MODEL_X1C));
    assert_true(pd_model_has_chamber_sensor(PD_MODEL_P2S));
    assert_true(pd_model_has_chamber_sensor(PD_MODEL_H2S));
    assert_false(pd_model_has_chamber_sensor(PD_MODEL_P1S));
    assert_false(pd_model_has_chamber_sensor(PD_MODEL_A2L));
    assert_false(pd_model_has_chamber_sensor(PD_MODEL_UNKNOWN));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_get_version_sample),
        cmocka_unit_test(legacy_and_broken_versions),
        cmocka_unit_test(serial_prefixes),
        cmocka_unit_test(names_and_codes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
