/* core: configuration table, environment overrides, printer sections; the event bus; the log's
 * escaping. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/bus.h"
#include "core/config.h"
#include "core/date.h"
#include "core/err.h"
#include "core/json.h"
#include "core/jw.h"
#include "core/log.h"
#include "core/loopstat.h"

static char *write_tmp(const char *text)
{
    static char path[64];
    strcpy(path, "/tmp/pd-test-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void config_defaults_file_env(void **st)
{
    (void)st;
    pd_config cfg = {0};
    char err[256];
    char *path = write_tmp("# comment\n[server]\nlisten = 0.0.0.0:9000\n[mqtt]\nsilence_s = 30\n"
                           "[printer Shelf P1S]\nserial = 01P00A451200002\nhost = 10.0.0.5\n"
                           "access_code = \"abc 123\"\ntls_verify = false\n");
    setenv("PRINTDECK_MQTT_SILENCE_S", "45", 1);
    assert_int_equal(pd_config_load(&cfg, path, err, sizeof err), PD_OK);
    unsetenv("PRINTDECK_MQTT_SILENCE_S");
    assert_string_equal(cfg.listen, "0.0.0.0:9000");
    assert_int_equal(cfg.silence_s, 45); /* environment beats the file */
    assert_int_equal(cfg.keepalive_s, 30);
    assert_int_equal(cfg.pushall_retry_s, 60);
    assert_true(cfg.auth_enabled);
    assert_int_equal(cfg.n_printers, 1);
    assert_string_equal(cfg.printers[0].rec.name, "Shelf P1S");
    assert_string_equal(cfg.printers[0].rec.access_code, "abc 123");
    assert_int_equal(cfg.printers[0].rec.port, 8883);
    assert_false(cfg.printers[0].rec.tls_verify);
    assert_int_equal(cfg.printers[0].line, 6);
    assert_int_equal(pd_config_set(&cfg, "server.data_dir", "/tmp/x", err, sizeof err), PD_OK);
    assert_string_equal(cfg.data_dir, "/tmp/x");
    pd_config_free(&cfg);
    unlink(path);
}

static void config_errors_name_the_line(void **st)
{
    (void)st;
    pd_config cfg = {0};
    char err[256];
    const struct { const char *text, *expect; } cases[] = {
        {"[mqtt]\nsilence_s = soon\n", ":2: mqtt.silence_s"},
        {"[mqtt]\nnope = 1\n", "unknown key [mqtt] nope"},
        {"[mqtt]\npushall_retry_s = 0\n", "mqtt.pushall_retry_s: '0' is not a whole number in 1..3600"},
        {"[server\n", "unterminated section"},
        {"[server]\nlisten\n", "expected key = value"},
        {"[printer X]\nport = 99999\n", ":2: [printer X] port: must be a whole number from 1 to 65535"},
        {"[auth]\nenabled = maybe\n", "true/false"},
        /* a printer section goes through the printer record's rules, naming file:line, the
         * section and the key */
        {"[printer X]\nserial = 01P00A45120000#\n", ":2: [printer X] serial: must be 8-31 letters"},
        {"[printer X]\nmodel = banana\n", ":2: [printer X] model: must be a known model"},
        {"\n[printer X]\nhost = 256.256.256.256\n", ":3: [printer X] host: must be an IPv4"},
        {"[printer X]\ncolor = red\n", ":2: [printer X] color: unknown; a printer has name, serial"},
        {"[printer X]\nname = Y\n", ":2: [printer X] name: given by the section header"},
        {"[printer xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx]\n", ":1: [printer "
         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx] name: must be 1-63 bytes"},
        {"[printer X]\nserial = 01P00A451200002\nhost = h\n", ":1: [printer X] access_code: required"},
        {"[printer A]\nserial = 01P00A451200002\nhost = h\naccess_code = c\n"
         "[printer B]\nserial = 01p00a451200002\nhost = h\naccess_code = c\n",
         ":5: [printer B] serial: the same as [printer A] at line 1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *path = write_tmp(cases[i].text);
        assert_int_not_equal(pd_config_load(&cfg, path, err, sizeof err), PD_OK);
        if (!strstr(err, cases[i].expect))
            fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].expect);
        pd_config_free(&cfg);
        unlink(path);
    }
    assert_int_equal(pd_config_load(&cfg, "/nonexistent/x.ini", err, sizeof err), PD_ERR_IO);
    pd_config_free(&cfg);
    /* the environment names its variable */
    setenv("PRINTDECK_MQTT_SILENCE_S", "soon", 1);
    assert_int_not_equal(pd_config_load(&cfg, NULL, err, sizeof err), PD_OK);
    unsetenv("PRINTDECK_MQTT_SILENCE_S");
    assert_non_null(strstr(err, "PRINTDECK_MQTT_SILENCE_S: mqtt.silence_s"));
    pd_config_free(&cfg);
}

static void config_printer_normalised(void **st)
{
    (void)st;
    pd_config cfg = {0};
    char err[256];
    char *path = write_tmp("[printer Desk]\nserial = 01p00a451200002\nhost = printer.lan\n"
                           "access_code = 12345678\nmodel = a1 mini\nport = 1883\n");
    assert_int_equal(pd_config_load(&cfg, path, err, sizeof err), PD_OK);
    assert_string_equal(cfg.printers[0].rec.serial, "01P00A451200002");
    assert_string_equal(cfg.printers[0].rec.model, "A1MINI");
    assert_int_equal(cfg.printers[0].rec.port, 1883);
    assert_true(cfg.printers[0].rec.tls_verify);
    pd_config_free(&cfg);
    unlink(path);
}

static int seen[4];
static void count_cb(const pd_event *ev, void *ud)
{
    (void)ev;
    seen[(intptr_t)ud]++;
}

static pd_bus *g_bus;
static int g_self_id;
static void unsub_self(const pd_event *ev, void *ud)
{
    (void)ev;
    (void)ud;
    seen[3]++;
    pd_bus_unsubscribe(g_bus, g_self_id);
}

static void bus_masks_and_unsubscribe(void **st)
{
    (void)st;
    g_bus = pd_bus_new();
    int a = pd_bus_subscribe(g_bus, PD_EV_STATE, count_cb, (void *)0);
    pd_bus_subscribe(g_bus, PD_EV_ALL, count_cb, (void *)1);
    g_self_id = pd_bus_subscribe(g_bus, PD_EV_HMS_RAISED, unsub_self, NULL);
    pd_event ev = {.type = PD_EV_STATE};
    pd_bus_emit(g_bus, &ev);
    ev.type = PD_EV_HMS_RAISED;
    pd_bus_emit(g_bus, &ev);
    pd_bus_emit(g_bus, &ev);
    assert_int_equal(seen[0], 1);
    assert_int_equal(seen[1], 3);
    assert_int_equal(seen[3], 1); /* unsubscribed itself during delivery */
    pd_bus_unsubscribe(g_bus, a);
    ev.type = PD_EV_STATE;
    pd_bus_emit(g_bus, &ev);
    assert_int_equal(seen[0], 1);
    for (int i = 0; i < PD_BUS_MAX_SUBSCRIBERS; i++)
        pd_bus_subscribe(g_bus, PD_EV_ALL, count_cb, (void *)2);
    assert_int_equal(pd_bus_subscribe(g_bus, PD_EV_ALL, count_cb, (void *)2), 0); /* bounded */
    pd_bus_free(&g_bus);
    assert_null(g_bus);
}

static void errors_map_to_http(void **st)
{
    (void)st;
    assert_int_equal(pd_err_http_status(PD_ERR_NOTFOUND), 404);
    assert_int_equal(pd_err_http_status(PD_ERR_TIMEOUT), 504);
    assert_string_equal(pd_err_code(PD_ERR_SIGNED), "signature_required");
    for (int e = 0; e < PD_ERR__COUNT; e++) {
        assert_non_null(pd_err_code((pd_err)e));
        assert_true(pd_err_http_status((pd_err)e) >= 200);
    }
    assert_string_equal(pd_strerror((pd_err)999), "unknown error");
}

/* Dates: one table of good and bad inputs. Naive times are local: the zone is set here (a POSIX
 * rule, no tzdata needed) so local time is CET in winter and CEST in summer. */
static void dates_parse_by_round_trip(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int flags;
        int64_t t;        /* when it parses */
        const char *why;  /* when it does not: a part of the reason */
    } cases[] = {
        {"2024-02-29", PD_DATE_DAY, 1709164800, NULL},
        {"2024-02-29", PD_DATE_NAIVE_UTC, 1709164800, NULL},
        {"2024-02-29", 0, 1709164800 - 3600, NULL},            /* local midnight, CET */
        {"2000-02-29", PD_DATE_DAY, 951782400, NULL},          /* divisible by 400: leap */
        {"2024-02-29T12:00:00Z", 0, 1709208000, NULL},
        {"2024-02-29t12:00:00z", 0, 1709208000, NULL},
        {"2024-02-29 12:00:00.123456Z", 0, 1709208000, NULL},  /* fraction dropped */
        {"2024-02-29T12:00:00,9Z", 0, 1709208000, NULL},
        {"2024-02-29T12:00Z", 0, 1709208000, NULL},
        {"2024-05-01T10:00:00+01:00", 0, 1714554000, NULL},
        {"2024-05-01T10:00:00+01", 0, 1714554000, NULL},
        {"2024-05-01T10:00:00-0530", 0, 1714577400, NULL},
        {"2024-05-01 10:00:00", PD_DATE_NAIVE_UTC, 1714557600, NULL},
        {"2024-05-01T10:00:00+01:00", PD_DATE_NAIVE_UTC, 1714554000, NULL},
        {"2024-05-01T10:00:00", 0, 1714550400, NULL},          /* CEST */
        {"2024-01-15T12:00:00", 0, 1705316400, NULL},          /* CET */
        {"2016-12-31T23:59:60Z", 0, 1483228799, NULL},         /* leap second, read as :59 */
        {"2017-01-01T00:59:60+01:00", 0, 1483228799, NULL},
        {"0000-01-01T00:00:00Z", 0, -62167219200LL, NULL},
        {"9999-12-31T23:59:59Z", 0, 253402300799LL, NULL},

        {"2024-02-30", PD_DATE_DAY, 0, "no such day"},
        {"2023-02-29", PD_DATE_DAY, 0, "no such day"},
        {"1900-02-29", PD_DATE_DAY, 0, "no such day"},         /* century: not leap */
        {"2023-02-29T10:00:00Z", 0, 0, "no such day"},
        {"2024-02-31T10:00:00Z", 0, 0, "no such day"},         /* timegm would make it 2 March */
        {"2024-04-31 10:00:00", PD_DATE_NAIVE_UTC, 0, "no such day"},
        {"2024-04-31T10:00:00", 0, 0, "no such day"},
        {"2024-13-01", PD_DATE_DAY, 0, "no such day"},
        {"2024-00-10", PD_DATE_DAY, 0, "no such day"},
        {"2024-01-00", PD_DATE_DAY, 0, "no such day"},
        {"2024-05-01T24:00:00Z", 0, 0, "no such time"},
        {"2024-05-01T10:60:00Z", 0, 0, "no such time"},
        {"2024-05-01T10:00:61Z", 0, 0, "no such time"},
        {"2024-05-01T12:30:60Z", 0, 0, "leap second"},
        {"2016-12-31T23:59:60+01:00", 0, 0, "leap second"},    /* 22:59:60 UTC */
        {"2024-05-01T10:00:00+24:00", 0, 0, "offset"},
        {"2024-05-01T10:00:00+01:60", 0, 0, "offset"},
        {"0000-01-01T00:00:00+01:00", 0, 0, "0000 to 9999"},
        {"9999-12-31T23:00:00-05:00", 0, 0, "0000 to 9999"},
        {"2024-05-01T10:00:00+01:", 0, 0, "ISO 8601"},
        {"2024-05-01T10:00:00+1", 0, 0, "ISO 8601"},
        {"2024-05-01T10:00:00+013", 0, 0, "ISO 8601"},
        {"2024-05-01T10", 0, 0, "ISO 8601"},
        {"2024-05-01T10:00:00.", 0, 0, "ISO 8601"},
        {"2024-05-01T10:00:00ZZ", 0, 0, "ISO 8601"},
        {"2024-05-01T10:00:00Z ", 0, 0, "ISO 8601"},
        {"2024-05-01x", 0, 0, "ISO 8601"},
        {"2024-5-01", 0, 0, "ISO 8601"},
        {"24-05-01", 0, 0, "ISO 8601"},
        {"", 0, 0, "ISO 8601"},
        {"2024-05-01T10:00:00Z", PD_DATE_DAY, 0, "YYYY-MM-DD"},
        {"2024-05-01Z", PD_DATE_DAY, 0, "YYYY-MM-DD"},
    };
    setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3", 1);
    tzset();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t t = 0;
        const char *why = NULL;
        bool ok = pd_date_parse(cases[i].s, cases[i].flags, &t, &why);
        if (cases[i].why ? ok || !strstr(why, cases[i].why) : !ok || t != cases[i].t)
            fail_msg("\"%s\" (flags %d): %s %lld, %s", cases[i].s, cases[i].flags, ok ? "ok" : "refused",
                     (long long)t, ok ? "" : why);
    }
    unsetenv("TZ");
    tzset();

    char text[PD_DATE_LEN];
    pd_date_format(1709208000, text);
    assert_string_equal(text, "2024-02-29T12:00:00Z");
    pd_date_format(-62167219200LL, text);
    assert_string_equal(text, "0000-01-01T00:00:00Z");
    pd_date_format(253402300800LL, text);  /* past what the parser reads: the epoch */
    assert_string_equal(text, "1970-01-01T00:00:00Z");
}

/* The writer's text equals jansson's dump of the same values with PD_JSON_FLAGS, byte for byte */
static void writer_matches_jansson(void **state)
{
    (void)state;
    static const double reals[] = {3, 0.4, -0.1, 220.5, 1e21, 1.5e-7, 123456789012.0, 0.30000000000000004};
    static const char *const texts[] = {"", "plain", "quote \" backslash \\ slash /", "tab\tnl\ncr\r\b\f",
                                        "\x01\x1f ctl", "UTF-8: Grün 测试 🙂"};
    pd_jw w;
    pd_jw_init(&w, 1 << 16);
    json_t *want = json_object(), *arr = json_array();
    pd_jw_open(&w, '{');
    pd_jw_key(&w, "reals");
    pd_jw_open(&w, '[');
    for (size_t i = 0; i < sizeof reals / sizeof reals[0]; i++) {
        pd_jw_real(&w, reals[i]);
        json_array_append_new(arr, json_real(reals[i]));
    }
    pd_jw_close(&w, ']');
    json_object_set_new(want, "reals", arr);
    pd_jw_key(&w, "texts");
    pd_jw_open(&w, '{');
    json_t *obj = json_object();
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        char key[8];
        snprintf(key, sizeof key, "t%zu", i);
        pd_jw_key(&w, key);
        pd_jw_str(&w, texts[i]);
        json_object_set_new(obj, key, json_string(texts[i]));
    }
    pd_jw_close(&w, '}');
    json_object_set_new(want, "texts", obj);
    pd_jw_key(&w, "empty");
    pd_jw_open(&w, '[');
    pd_jw_close(&w, ']');
    json_object_set_new(want, "empty", json_array());
    pd_jw_key(&w, "misc");
    pd_jw_open(&w, '[');
    pd_jw_int(&w, -9007199254740993LL);
    pd_jw_bool(&w, true);
    pd_jw_bool(&w, false);
    pd_jw_null(&w);
    pd_jw_real(&w, NAN);          /* null, as json_real refuses it */
    pd_jw_str(&w, "bad \xC3\x28"); /* not UTF-8: null, as json_string refuses it */
    pd_jw_str(&w, "\xED\xA0\x80"); /* a surrogate */
    pd_jw_str(&w, NULL);
    pd_jw_open(&w, '{');
    pd_jw_close(&w, '}');
    pd_jw_close(&w, ']');
    pd_jw_close(&w, '}');
    json_object_set_new(want, "misc", json_pack("[I,b,b,n,n,n,n,n,{}]", (json_int_t)-9007199254740993LL, 1, 0));
    size_t len;
    char *got = pd_jw_finish(&w, &len), *exp = json_dumps(want, PD_JSON_FLAGS);
    assert_non_null(got);
    assert_string_equal(got, exp);
    assert_int_equal(len, strlen(exp));
    free(got);
    free(exp);
    json_decref(want);
}

static void writer_bounds(void **state)
{
    (void)state;
    pd_jw w;
    pd_jw_init(&w, 16);
    pd_jw_open(&w, '[');
    for (int i = 0; i < 10; i++)
        pd_jw_int(&w, 12345);
    pd_jw_close(&w, ']');
    assert_null(pd_jw_finish(&w, NULL));  /* past the bound */
    pd_jw_init(&w, 1024);
    pd_jw_open(&w, '{');
    assert_null(pd_jw_finish(&w, NULL));  /* left open */
    pd_jw_init(&w, 1024);
    pd_jw_open(&w, '{');
    pd_jw_key(&w, "k");
    pd_jw_close(&w, '}');
    assert_null(pd_jw_finish(&w, NULL));  /* a key without a value */
    pd_jw_init(&w, 1 << 16);
    for (int i = 0; i <= PD_JW_MAX_DEPTH; i++)
        pd_jw_open(&w, '[');
    assert_null(pd_jw_finish(&w, NULL));  /* too deep */
    pd_jw_init(&w, 1024);
    assert_null(pd_jw_finish(&w, NULL));  /* nothing written */
}

static void patch_of(const char *old, const char *cur, pd_err want, const char *out_want)
{
    pd_buf b;
    pd_buf_init(&b, 4096);
    pd_buf_add_str(&b, "<");
    assert_int_equal(pd_jw_patch(old, strlen(old), cur, strlen(cur), "id", &b), want);
    assert_string_equal(pd_buf_ptr(&b), out_want);
    pd_buf_free(&b);
}

static void writer_patches(void **state)
{
    (void)state;
    /* changed scalars, a nested object by member, an array whole, escaped quotes and
     * brackets inside strings; the id always */
    patch_of("{\"id\":1,\"a\":1,\"b\":{\"x\":1,\"y\":[2,{\"z\":3}]},\"c\":[1,2],\"s\":\"q\\\"},[\"}",
             "{\"id\":1,\"a\":2,\"b\":{\"x\":1,\"y\":[2,{\"z\":4}]},\"c\":[1,2],\"s\":\"q\\\"},[\"}",
             PD_OK, "<{\"id\":1,\"a\":2,\"b\":{\"y\":[2,{\"z\":4}]}}");
    patch_of("{\"id\":1,\"a\":null}", "{\"id\":1,\"a\":null}", PD_OK, "<{\"id\":1}");
    /* null is a value both ways; an object that becomes null and back goes whole */
    patch_of("{\"id\":1,\"a\":null,\"b\":{\"x\":1}}", "{\"id\":1,\"a\":5,\"b\":null}", PD_OK,
             "<{\"id\":1,\"a\":5,\"b\":null}");
    patch_of("{\"id\":1,\"b\":null}", "{\"id\":1,\"b\":{\"x\":1}}", PD_OK, "<{\"id\":1,\"b\":{\"x\":1}}");
    /* a new member, and members in another order */
    patch_of("{\"id\":1,\"a\":1,\"b\":2}", "{\"b\":2,\"id\":1,\"a\":1,\"c\":true}", PD_OK,
             "<{\"id\":1,\"c\":true}");
    /* what a patch cannot say, and what is not a writer's object: out as it was */
    patch_of("{\"id\":1,\"a\":1}", "{\"id\":1}", PD_ERR_INVAL, "<");
    patch_of("{\"id\":1,\"b\":{\"x\":1}}", "{\"id\":1,\"b\":{}}", PD_ERR_INVAL, "<");
    patch_of("[1]", "{\"id\":1}", PD_ERR_INVAL, "<");
    patch_of("{\"id\":1,\"a\":\"open}", "{\"id\":1}", PD_ERR_INVAL, "<");
    patch_of("{\"id\":1,\"a\":{\"b\":1}", "{\"id\":1}", PD_ERR_INVAL, "<");
    patch_of("{\"id\" :1}", "{\"id\":1}", PD_ERR_INVAL, "<");
    patch_of("{\"id\":1,}", "{\"id\":1}", PD_ERR_INVAL, "<");
    /* the buffer's bound */
    pd_buf b;
    pd_buf_init(&b, 8);
    const char *o = "{\"id\":1,\"a\":1}", *c = "{\"id\":1,\"a\":123456789}";
    assert_int_equal(pd_jw_patch(o, strlen(o), c, strlen(c), "id", &b), PD_ERR_TOOBIG);
    pd_buf_free(&b);
}

static void log_escapes_what_could_forge_a_line(void **state)
{
    (void)state;
    char out[128];
    /* a forged line, an ANSI colour, a C1 CSI, a lone continuation byte, an overlong '/', a
     * surrogate; UTF-8 text and a backslash */
    assert_string_equal(pd_log_escape(out, sizeof out, "k\n2025-01-01T00:00:00.000Z error [main] x\r\t"),
                        "k\\n2025-01-01T00:00:00.000Z error [main] x\\r\\t");
    assert_string_equal(pd_log_escape(out, sizeof out, "\x1b[31mred\x7f\x01"), "\\x1b[31mred\\x7f\\x01");
    assert_string_equal(pd_log_escape(out, sizeof out, "\xc2\x9b" "2J \x9b \xc0\xaf \xed\xa0\x80"),
                        "\\u009b2J \\x9b \\xc0\\xaf \\xed\\xa0\\x80");
    assert_string_equal(pd_log_escape(out, sizeof out, "Polymaker \xc2\xa0PLA \xe2\x9c\x93 \xf0\x9f\xa7\xb5 a\\n"),
                        "Polymaker \xc2\xa0PLA \xe2\x9c\x93 \xf0\x9f\xa7\xb5 a\\\\n");
    /* cut before an escape or a character that does not fit, never inside one */
    assert_string_equal(pd_log_escape(out, 6, "abcd\n"), "abcd");
    assert_string_equal(pd_log_escape(out, 5, "abc\xe2\x9c\x93"), "abc");
    assert_string_equal(pd_log_escape(out, 1, "abc"), "");
    /* truncated input: the sequence's start is not UTF-8 on its own */
    assert_string_equal(pd_log_escape(out, sizeof out, "\xe2\x9c"), "\\xe2\\x9c");

    /* the writer: one line per message, whatever the message holds */
    char path[] = "/tmp/pd-log-XXXXXX", line[512];
    int fd = mkstemp(path), saved = dup(2);
    assert_true(fd >= 0 && saved >= 0);
    fflush(stderr);
    dup2(fd, 2);
    pd_log_setup(PD_LOG_INFO, false);
    pd_warn("test", "setting %s skipped", "k\n2025-01-01T00:00:00.000Z error [main] forged\x1b[2J");
    pd_log_setup(PD_LOG_INFO, true);
    pd_warn("test", "bad \xc3\x28 text");
    pd_log_setup(PD_LOG_INFO, false);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    FILE *f = fdopen(fd, "r");
    rewind(f);
    assert_non_null(fgets(line, sizeof line, f));
    assert_non_null(strstr(line, " warn  [test] setting k\\n2025-01-01T00:00:00.000Z error [main] forged\\x1b[2J skipped\n"));
    assert_non_null(fgets(line, sizeof line, f));   /* JSON: kept, not dropped for its bytes */
    assert_non_null(strstr(line, "\"msg\":\"bad \\\\xc3( text\""));
    assert_null(fgets(line, sizeof line, f));
    fclose(f);
    unlink(path);
}

/* Echoed input is cut between characters, and whatever is left becomes text jansson takes. */
static void utf8_cut_and_repair(void **state)
{
    (void)state;
    const char *s = "ab\xe2\x82\xac"; /* "ab€" */
    assert_int_equal(pd_jw_utf8_cut(s, 2), 2);
    assert_int_equal(pd_jw_utf8_cut(s, 3), 2);
    assert_int_equal(pd_jw_utf8_cut(s, 4), 2);
    assert_int_equal(pd_jw_utf8_cut(s, 5), 5);
    assert_int_equal(pd_jw_utf8_cut(s, 64), 5);
    struct {
        const char *in, *out;
    } cases[] = {
        {"ab\xe2\x82\xac", "ab\xe2\x82\xac"},
        {"ab\xe2\x82", "ab"},                    /* cut by snprintf: dropped */
        {"a\xe2\x82 is", "a?? is"},              /* cut in the middle: replaced */
        {"\xff\xc0\xaf x", "??? x"},             /* never UTF-8, overlong */
        {"\xed\xa0\x80", "???"},                 /* a surrogate */
        {"\xf0\x9f\x99\x82 ok", "\xf0\x9f\x99\x82 ok"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char buf[32];
        snprintf(buf, sizeof buf, "%s", cases[i].in);
        pd_jw_utf8_repair(buf);
        assert_string_equal(buf, cases[i].out);
        json_t *j = json_string(buf);
        assert_non_null(j);
        json_decref(j);
    }
}

static void busy_turn(uv_timer_t *t)
{
    uint64_t until = uv_hrtime() + 30 * 1000000ull; /* one turn of 30 ms of work */
    while (uv_hrtime() < until)
        ;
    uv_close((uv_handle_t *)t, NULL);
}

static void idle_turn(uv_timer_t *t) { uv_close((uv_handle_t *)t, NULL); }

/* A turn's work counts, the wait for the next timer does not. */
static void loop_turns_are_measured(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_timer_t wait, work;
    pd_loopstat ls;
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(pd_loopstat_start(&ls, &loop), 0);
    assert_true(pd_loopstat_max(&ls) == 0);
    uv_timer_init(&loop, &wait);
    uv_timer_start(&wait, idle_turn, 200, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_true(pd_loopstat_max(&ls) < 0.1);  /* 200 ms of waiting are no turn */
    uv_timer_init(&loop, &work);
    uv_timer_start(&work, busy_turn, 0, 0);
    uv_timer_init(&loop, &wait);
    uv_timer_start(&wait, idle_turn, 10, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    double max = pd_loopstat_max(&ls), p99 = pd_loopstat_quantile(&ls, 0.99);
    assert_true(max >= 0.03 && max < 0.2);
    assert_true(p99 > 0 && p99 <= max);
    assert_true(pd_loopstat_quantile(&ls, 0.5) < 0.03); /* most turns were short */
    pd_loopstat_stop(&ls);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(config_defaults_file_env),
        cmocka_unit_test(config_errors_name_the_line),
        cmocka_unit_test(config_printer_normalised),
        cmocka_unit_test(bus_masks_and_unsubscribe),
        cmocka_unit_test(errors_map_to_http),
        cmocka_unit_test(dates_parse_by_round_trip),
        cmocka_unit_test(writer_matches_jansson),
        cmocka_unit_test(writer_bounds),
        cmocka_unit_test(writer_patches),
        cmocka_unit_test(log_escapes_what_could_forge_a_line),
        cmocka_unit_test(utf8_cut_and_repair),
        cmocka_unit_test(loop_turns_are_measured),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
