/* printer record: the one field table that checks a printer from the API (JSON), the
 * configuration file (text) and the database (a whole record). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "printer/record.h"

/* A complete, valid record to break one field of. */
static pd_printer_rec valid(void)
{
    pd_printer_rec r;
    char err[256];
    pd_printer_rec_init(&r);
    assert_int_equal(pd_printer_rec_set_text(&r, "name", "Desk", err, sizeof err), PD_OK);
    assert_int_equal(pd_printer_rec_set_text(&r, "serial", "01P00A451200002", err, sizeof err), PD_OK);
    assert_int_equal(pd_printer_rec_set_text(&r, "host", "192.168.1.40", err, sizeof err), PD_OK);
    assert_int_equal(pd_printer_rec_set_text(&r, "access_code", "12345678", err, sizeof err), PD_OK);
    return r;
}

/* Sets key from text, then checks the result: PD_OK or the error's text in err. */
static pd_err set_text(pd_printer_rec *r, const char *key, const char *v, char *err, size_t n)
{
    pd_err rc = pd_printer_rec_set_text(r, key, v, err, n);
    return rc ? rc : pd_printer_rec_check(r, err, n);
}

static void defaults(void **st)
{
    (void)st;
    pd_printer_rec r;
    pd_printer_rec_init(&r);
    assert_int_equal(r.port, 8883);
    assert_true(r.tls_verify);
    assert_string_equal(r.serial, "");
    char err[256];
    assert_int_equal(pd_printer_rec_check(&r, err, sizeof err), PD_ERR_INVAL);
    assert_string_equal(err, "name: required");
}

static void serials(void **st)
{
    (void)st;
    static const char *const good[] = {"01P00A451200002", "00M09A391501288", "03919C461900789",
                                       "ABCD1234", "A234567890123456789012345678901"};
    static const char *const bad[] = {
        "01P00A45120000+", "01P00A45120000#", "01P00A/51200002", "01P00A 51200002",
        "012345678901234",  /* all digits: it would read as an id in a path */
        "ABC1234",          /* 7 */
        "A2345678901234567890123456789012", /* 32 */
        "01P00A45120000\xc3\xa9", "",
    };
    char err[256];
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        pd_printer_rec r = valid();
        if (set_text(&r, "serial", good[i], err, sizeof err))
            fail_msg("serial '%s' refused: %s", good[i], err);
    }
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        pd_printer_rec r = valid();
        if (set_text(&r, "serial", bad[i], err, sizeof err) != PD_ERR_INVAL)
            fail_msg("serial '%s' accepted", bad[i]);
        assert_string_equal(err, "serial: must be 8-31 letters and digits, one at least a letter");
    }
    /* upper case: the same printer whatever case it was typed in */
    pd_printer_rec r = valid();
    assert_int_equal(set_text(&r, "serial", "ac8238ff00112233", err, sizeof err), PD_OK);
    assert_string_equal(r.serial, "AC8238FF00112233");
}

static void hosts(void **st)
{
    (void)st;
    static const char *const good[] = {"192.168.1.40", "0.0.0.0", "255.255.255.255", "::1",
                                       "fe80::1", "2001:db8::8a2e:370:7334", "printer",
                                       "p1s.lan", "3com.example", "a-b.c-d.example"};
    static const char *const bad[] = {"256.256.256.256", "192.168.1.300", "1.2.3", "12345",
                                      "bad host!", "-a.example", "a-.example", "a..b", ".a", "a.",
                                      "[::1]", "a_b.example", "10.0.0.1:8883", ""};
    char err[256], label64[80], long_name[300];
    memset(label64, 'a', 64);
    strcpy(label64 + 64, ".lan");
    for (int i = 0; i < 254; i += 2)
        memcpy(long_name + i, "a.", 2);
    strcpy(long_name + 253, "b"); /* 254 bytes */
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        pd_printer_rec r = valid();
        if (set_text(&r, "host", good[i], err, sizeof err))
            fail_msg("host '%s' refused: %s", good[i], err);
    }
    const char *more[] = {label64, long_name};
    for (size_t i = 0; i < sizeof bad / sizeof *bad + 2; i++) {
        const char *h = i < sizeof bad / sizeof *bad ? bad[i] : more[i - sizeof bad / sizeof *bad];
        pd_printer_rec r = valid();
        if (set_text(&r, "host", h, err, sizeof err) != PD_ERR_INVAL)
            fail_msg("host '%s' accepted", h);
        assert_non_null(strstr(err, "host: must be an IPv4 address"));
    }
}

static void models(void **st)
{
    (void)st;
    char err[256];
    pd_printer_rec r = valid();
    assert_int_equal(set_text(&r, "model", "Bambu Lab X1 Carbon", err, sizeof err), PD_OK);
    assert_string_equal(r.model, "X1C");
    assert_int_equal(set_text(&r, "model", "", err, sizeof err), PD_OK);
    assert_string_equal(r.model, "");
    assert_int_equal(set_text(&r, "model", "banana", err, sizeof err), PD_ERR_INVAL);
    assert_non_null(strstr(err, "model: must be a known model"));
}

static void text_forms(void **st)
{
    (void)st;
    char err[256];
    pd_printer_rec r = valid();
    assert_int_equal(set_text(&r, "port", "1883", err, sizeof err), PD_OK);
    assert_int_equal(r.port, 1883);
    assert_int_equal(set_text(&r, "port", "0", err, sizeof err), PD_ERR_INVAL);
    assert_string_equal(err, "port: must be a whole number from 1 to 65535");
    assert_int_equal(set_text(&r, "port", "88x", err, sizeof err), PD_ERR_INVAL);
    assert_int_equal(set_text(&r, "port", "99999999999999999999", err, sizeof err), PD_ERR_INVAL);
    assert_int_equal(r.ftps_port, 990);
    assert_int_equal(set_text(&r, "ftps_port", "9990", err, sizeof err), PD_OK);
    assert_int_equal(r.ftps_port, 9990);
    assert_int_equal(set_text(&r, "ftps_port", "65536", err, sizeof err), PD_ERR_INVAL);
    assert_string_equal(err, "ftps_port: must be a whole number from 1 to 65535");
    assert_int_equal(set_text(&r, "tls_verify", "off", err, sizeof err), PD_OK);
    assert_false(r.tls_verify);
    assert_int_equal(set_text(&r, "tls_verify", "maybe", err, sizeof err), PD_ERR_INVAL);
    assert_string_equal(err, "tls_verify: must be true or false");
    assert_int_equal(set_text(&r, "name", "a\tb", err, sizeof err), PD_ERR_INVAL);
    assert_string_equal(err, "name: must be text without control characters");
    assert_int_equal(set_text(&r, "access_code", "", err, sizeof err), PD_ERR_INVAL);
    assert_string_equal(err, "access_code: must be 1-63 bytes of text");
    assert_int_equal(set_text(&r, "colour", "red", err, sizeof err), PD_ERR_INVAL);
    /* the list is cut at the error's room */
    static const char want[] = "colour: unknown; a printer has name, serial, host, port, ftps_port, access_code, "
                               "model, ca_file, tls_verify, camera_host, camera_port, camera_enabled, source, ha_device";
    assert_memory_equal(err, want, sizeof want - 1);
    /* the camera: a relay's host or none, a port or the model's */
    assert_int_equal(r.camera_port, 0);
    assert_true(r.camera_enabled);
    assert_int_equal(set_text(&r, "camera_host", "", err, sizeof err), PD_OK);
    assert_int_equal(set_text(&r, "camera_host", "relay.lan", err, sizeof err), PD_OK);
    assert_string_equal(r.camera_host, "relay.lan");
    assert_int_equal(set_text(&r, "camera_port", "6001", err, sizeof err), PD_OK);
    assert_int_equal(r.camera_port, 6001);
    assert_int_equal(set_text(&r, "camera_enabled", "off", err, sizeof err), PD_OK);
    assert_false(r.camera_enabled);
    /* Home Assistant's webhooks' own secret: the global one's rule, or none */
    assert_int_equal(set_text(&r, "webhook_secret", "0123456789abcdef", err, sizeof err), PD_OK);
    assert_string_equal(r.webhook_secret, "0123456789abcdef");
    assert_int_equal(set_text(&r, "webhook_secret", "", err, sizeof err), PD_OK);
    assert_string_equal(r.webhook_secret, "");
    assert_int_equal(set_text(&r, "webhook_secret", "0123456789 abcdef", err, sizeof err), PD_ERR_INVAL);
    assert_int_equal(set_text(&r, "webhook_secret", "too-short", err, sizeof err), PD_ERR_INVAL);
    assert_null(strstr(err, "too-short"));
    r.webhook_secret[0] = '\0';
    /* the timelapse's own settings: unset by default and by "", else [timelapse]'s rules */
    assert_int_equal(r.timelapse_enabled, PD_REC_UNSET);
    assert_int_equal(r.timelapse_interval_s, PD_REC_UNSET);
    assert_int_equal(set_text(&r, "timelapse_enabled", "off", err, sizeof err), PD_OK);
    assert_int_equal(r.timelapse_enabled, 0);
    assert_int_equal(set_text(&r, "timelapse_enabled", "", err, sizeof err), PD_OK);
    assert_int_equal(r.timelapse_enabled, PD_REC_UNSET);
    assert_int_equal(set_text(&r, "timelapse_mode", "interval", err, sizeof err), PD_OK);
    assert_int_equal(set_text(&r, "timelapse_interval_s", "0", err, sizeof err), PD_ERR_INVAL);
    assert_string_equal(err, "timelapse_interval_s: must be a whole number of seconds from 1 to 3600; null for "
                             "[timelapse] interval_s");
    assert_int_equal(set_text(&r, "timelapse_interval_s", "", err, sizeof err), PD_OK);
    assert_int_equal(set_text(&r, "timelapse_mode", "hourly", err, sizeof err), PD_ERR_INVAL);
    assert_string_equal(err, "timelapse_mode: must be layer or interval; null for [timelapse] mode");
    assert_int_equal(set_text(&r, "timelapse_mode", "", err, sizeof err), PD_OK);
    assert_int_equal(set_text(&r, "camera_host", "a b", err, sizeof err), PD_ERR_INVAL);
    assert_string_equal(err, "camera_host: must be an IPv4 or IPv6 address or a DNS name of a "
                             "camera relay; empty for the printer's host");
}

static void json_forms(void **st)
{
    (void)st;
    char err[256];
    pd_printer_rec r = valid();
    json_t *v = json_integer(8883);
    assert_int_equal(pd_printer_rec_set_json(&r, "serial", v, err, sizeof err), PD_ERR_INVAL);
    assert_int_equal(pd_printer_rec_set_json(&r, "port", v, err, sizeof err), PD_OK);
    json_decref(v);
    v = json_string("8883"); /* the type is part of the rule */
    assert_int_equal(pd_printer_rec_set_json(&r, "port", v, err, sizeof err), PD_ERR_INVAL);
    json_decref(v);
    v = json_stringn("01P00A45\0" "1200002", 15); /* a NUL cannot cut the serial short */
    assert_int_equal(pd_printer_rec_set_json(&r, "serial", v, err, sizeof err), PD_ERR_INVAL);
    json_decref(v);
    v = json_string("secret\n");
    assert_int_equal(pd_printer_rec_set_json(&r, "access_code", v, err, sizeof err), PD_ERR_INVAL);
    assert_null(strstr(err, "secret")); /* never echoed */
    json_decref(v);
    v = json_null();
    strcpy(r.model, "P1S");
    assert_int_equal(pd_printer_rec_set_json(&r, "model", v, err, sizeof err), PD_OK);
    assert_string_equal(r.model, "");
    assert_int_equal(pd_printer_rec_set_json(&r, "host", v, err, sizeof err), PD_ERR_INVAL);
    assert_int_equal(pd_printer_rec_set_json(&r, "tls_verify", v, err, sizeof err), PD_ERR_INVAL);
    json_decref(v);
    v = json_false();
    assert_int_equal(pd_printer_rec_set_json(&r, "tls_verify", v, err, sizeof err), PD_OK);
    assert_false(r.tls_verify);
    assert_int_equal(pd_printer_rec_set_json(&r, "timelapse_enabled", v, err, sizeof err), PD_OK);
    assert_int_equal(r.timelapse_enabled, 0);
    assert_int_equal(pd_printer_rec_set_json(&r, "timelapse_fps", v, err, sizeof err), PD_ERR_INVAL);
    json_decref(v);
    v = json_integer(1); /* a yes/no is not a number */
    assert_int_equal(pd_printer_rec_set_json(&r, "timelapse_enabled", v, err, sizeof err), PD_ERR_INVAL);
    assert_int_equal(pd_printer_rec_set_json(&r, "timelapse_fps", v, err, sizeof err), PD_OK);
    assert_int_equal(r.timelapse_fps, 1);
    json_decref(v);
    v = json_null();  /* the global setting again */
    assert_int_equal(pd_printer_rec_set_json(&r, "timelapse_enabled", v, err, sizeof err), PD_OK);
    assert_int_equal(pd_printer_rec_set_json(&r, "timelapse_fps", v, err, sizeof err), PD_OK);
    assert_int_equal(r.timelapse_enabled, PD_REC_UNSET);
    assert_int_equal(r.timelapse_fps, PD_REC_UNSET);
    assert_int_equal(pd_printer_rec_check(&r, err, sizeof err), PD_OK);
    json_decref(v);
}

/* A database row is checked whole: what an older version or a hand edit stored. */
static void stored_rows(void **st)
{
    (void)st;
    char err[256];
    pd_printer_rec r = valid();
    strcpy(r.serial, "01P00A451200+#");
    assert_int_equal(pd_printer_rec_check(&r, err, sizeof err), PD_ERR_INVAL);
    assert_non_null(strstr(err, "serial: must be"));
    r = valid();
    strcpy(r.model, "banana");
    assert_int_equal(pd_printer_rec_check(&r, err, sizeof err), PD_ERR_INVAL);
    r = valid();
    r.port = 0;
    assert_int_equal(pd_printer_rec_check(&r, err, sizeof err), PD_ERR_INVAL);
    r = valid();
    strcpy(r.serial, "01p00a451200002");
    strcpy(r.model, "p1s");
    assert_int_equal(pd_printer_rec_check(&r, err, sizeof err), PD_OK);
    assert_string_equal(r.serial, "01P00A451200002");
    assert_string_equal(r.model, "P1S");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults),   cmocka_unit_test(serials),    cmocka_unit_test(hosts),
        cmocka_unit_test(models),     cmocka_unit_test(text_forms), cmocka_unit_test(json_forms),
        cmocka_unit_test(stored_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
