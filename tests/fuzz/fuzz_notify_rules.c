/* libFuzzer target for a notification channel's rules and templates (src/notify/rules.c,
 * template.c): the body of PUT /api/v1/notifications/rules that any signed-in user sends for
 * their own channels. Promises kept: rules the check passes are read without fault at every
 * hour of the week and for every kind; a template the check passes renders within its buffer
 * with every fact at its longest; the input as a template is checked and, if good, rendered. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "notify/notify.h"

#define FUZZ_MAX_INPUT (16 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static pd_notify_msg *msg;

static void render(const char *tpl)
{
    char why[256], out[160];
    if (!tpl || pd_notify_tpl_check(tpl, why, sizeof why))
        return;
    pd_notify_tpl_render(tpl, msg, out, sizeof out);
    if (strlen(out) >= sizeof out)
        abort();
}

static void use(const json_t *rules)
{
    for (int h = 0; h < 7 * 24; h++) {
        struct tm tm = {.tm_wday = h / 24, .tm_hour = h % 24, .tm_min = 30};
        (void)pd_notify_rules_quiet(rules, &tm);
    }
    (void)pd_notify_rules_critical_passes(rules);
    (void)pd_notify_rules_interval(rules, 60);
    (void)pd_notify_rules_digest_hour(rules);
    for (size_t i = 0; i < pd_notify_nkinds; i++) {
        (void)pd_notify_rules_wants(rules, "job_failed,hms", 2, pd_notify_kinds[i].name);
        render(pd_notify_rules_template(rules, pd_notify_kinds[i].name, "title"));
        render(pd_notify_rules_template(rules, pd_notify_kinds[i].name, "text"));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_MAX_INPUT)
        return 0;
    if (!msg) {
        msg = calloc(1, sizeof *msg);
        if (!msg)
            return 0;
        memset(msg->printer, 'p', sizeof msg->printer - 1);
        for (int f = 0; f < PD_NF_COUNT; f++)
            memset(msg->facts[f], 0xc3, sizeof msg->facts[f] - 1);  /* a UTF-8 lead byte: cuts checked */
    }
    char *text = strndup((const char *)data, size);  /* a template stops at a NUL as the API's JSON string would */
    if (!text)
        return 0;
    render(text);
    free(text);

    json_t *rules = json_loadb((const char *)data, size, 0, NULL);
    char field[160], why[256];
    if (rules && !pd_notify_rules_check(rules, field, sizeof field, why, sizeof why))
        use(rules);
    json_decref(rules);
    return 0;
}
