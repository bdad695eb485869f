/* Notifications, the pure parts: the webhook's signature against OpenSSL's command line, and
 * what events say (and which say nothing). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "notify/notify.h"

static void signature_is_hmac_sha256_of_ts_dot_body(void **state)
{
    (void)state;
    char sig[72];
    /* printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac 'a-secret-of-16-chars' */
    assert_int_equal(pd_notify_sign("a-secret-of-16-chars", 1700000000, "{\"a\":1}", 7, sig), PD_OK);
    assert_string_equal(sig, "sha256=966dfd9e7287134bae9078b9ca8cad81556798be645cd07bef60884b917d8d01");
}

static void job_events_say_what_ended(void **state)
{
    (void)state;
    static const char *job =
        "{\"id\":7,\"printer_name\":\"Desk P1S\",\"name\":\"Benchy\",\"status\":\"failed\","
        "\"reason\":\"Filament ran out\",\"duration_s\":3720}";
    pd_event ev = {.type = PD_EV_JOB, .printer_id = 2, .serial = "01P00A451200002", .ts_ms = 1700000000000};
    ev.u.job.id = 7;
    ev.u.job.change = "ended";
    ev.u.job.payload = job;
    ev.u.job.payload_len = strlen(job);
    pd_notify_msg m;
    assert_true(pd_notify_msg_from_event(&ev, &m));
    assert_string_equal(m.event, "job_failed");
    assert_string_equal(m.printer, "Desk P1S");
    assert_string_equal(m.title, "Desk P1S: print failed");
    assert_string_equal(m.text, "Benchy failed after 1h02: Filament ran out.");
    assert_int_equal(m.ts, 1700000000);
    size_t len;
    char *body = pd_notify_webhook_body(&m, &len);
    assert_non_null(strstr(body, "\"version\":1"));
    assert_non_null(strstr(body, "\"event\":\"job_failed\""));
    free(body);
    pd_notify_msg_clear(&m);
    /* progress on a running job tells nobody */
    ev.u.job.change = "updated";
    assert_false(pd_notify_msg_from_event(&ev, &m));
    ev.type = PD_EV_LAYER;
    assert_false(pd_notify_msg_from_event(&ev, &m));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(signature_is_hmac_sha256_of_ts_dot_body),
        cmocka_unit_test(job_events_say_what_ended),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
