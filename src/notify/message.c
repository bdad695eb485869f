/* What each event says to a person: the title, the text, how urgent. Pure: the event and its
 * payload in, the message out. */
#include <stdio.h>
#include <string.h>

#include "notify/notify.h"

const pd_notify_kind pd_notify_kinds[] = {
    {"job_completed", true},         {"job_failed", true},     {"job_cancelled", false},
    {"hms", true},                   {"insufficient_filament", true}, {"low_stock", true},
    {"ams_humidity", false},         {"drying_due", false},    {"print_stalled", false},
    {"slot_prompt", true},
};
const size_t pd_notify_nkinds = sizeof pd_notify_kinds / sizeof *pd_notify_kinds;

bool pd_notify_kind_known(const char *name)
{
    for (size_t i = 0; i < pd_notify_nkinds; i++)
        if (!strcmp(pd_notify_kinds[i].name, name))
            return true;
    return false;
}

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static void set(pd_notify_msg *m, const char *event, int priority, const char *tags)
{
    snprintf(m->event, sizeof m->event, "%s", event);
    m->priority = priority;
    snprintf(m->tags, sizeof m->tags, "%s", tags);
}

static bool from_job(pd_notify_msg *m)
{
    const char *status = str(m->data, "status"), *name = str(m->data, "name");
    snprintf(m->printer, sizeof m->printer, "%s", str(m->data, "printer_name"));
    json_t *d = json_object_get(m->data, "duration_s");
    long long min = json_is_integer(d) ? (long long)json_integer_value(d) / 60 : -1;
    char took[48] = "";
    if (min >= 0)
        snprintf(took, sizeof took, " after %lldh%02lld", min / 60, min % 60);
    if (!strcmp(status, "completed")) {
        set(m, "job_completed", 3, "white_check_mark");
        snprintf(m->title, sizeof m->title, "%.60s: print finished", m->printer);
        snprintf(m->text, sizeof m->text, "%.400s finished%s.", name, took);
    } else if (!strcmp(status, "failed")) {
        const char *why = str(m->data, "reason");
        set(m, "job_failed", 4, "x");
        snprintf(m->title, sizeof m->title, "%.60s: print failed", m->printer);
        snprintf(m->text, sizeof m->text, "%.400s failed%s%s%.400s.", name, took, *why ? ": " : "", why);
    } else if (!strcmp(status, "cancelled")) {
        set(m, "job_cancelled", 3, "stop_sign");
        snprintf(m->title, sizeof m->title, "%.60s: print cancelled", m->printer);
        snprintf(m->text, sizeof m->text, "%.400s was cancelled%s.", name, took);
    } else {
        return false;
    }
    return true;
}

static bool from_alert(pd_notify_msg *m)
{
    const char *kind = str(m->data, "kind");
    static const struct { const char *alert, *event, *tags, *title; int prio; } map[] = {
        {"insufficient_filament", "insufficient_filament", "warning", "not enough filament", 4},
        {"low_stock_spool", "low_stock", "package", "low stock", 3},
        {"low_stock_filament", "low_stock", "package", "low stock", 3},
        {"ams_humidity", "ams_humidity", "droplet", "AMS humidity high", 3},
        {"drying_due", "drying_due", "droplet", "drying due", 2},
        {"print_stalled", "print_stalled", "warning", "print stalled", 4},
    };
    for (size_t i = 0; i < sizeof map / sizeof *map; i++)
        if (!strcmp(map[i].alert, kind)) {
            set(m, map[i].event, map[i].prio, map[i].tags);
            snprintf(m->title, sizeof m->title, "%s%.60s%s", m->printer[0] ? m->printer : "",
                     m->printer[0] ? ": " : "", map[i].title);
            snprintf(m->text, sizeof m->text, "%.1000s", str(m->data, "message"));
            return true;
        }
    return false;
}

bool pd_notify_msg_from_event(const pd_event *ev, pd_notify_msg *m)
{
    memset(m, 0, sizeof *m);
    m->printer_id = ev->printer_id;
    m->ts = ev->ts_ms / 1000;
    if (ev->serial)
        snprintf(m->printer, sizeof m->printer, "%s", ev->serial);
    const char *payload = NULL, *change = NULL;
    size_t len = 0;
    switch (ev->type) {
    case PD_EV_JOB:
        change = ev->u.job.change, payload = ev->u.job.payload, len = ev->u.job.payload_len;
        break;
    case PD_EV_ALERT:
        change = ev->u.alert.change, payload = ev->u.alert.payload, len = ev->u.alert.payload_len;
        break;
    case PD_EV_PROMPT:
        change = ev->u.prompt.change, payload = ev->u.prompt.payload, len = ev->u.prompt.payload_len;
        break;
    case PD_EV_HMS_RAISED:
        set(m, "hms", 4, "rotating_light");
        m->data = json_pack("{s:s?,s:s?}", "code", ev->u.hms.code, "text", ev->u.hms.text);
        snprintf(m->title, sizeof m->title, "%.60s: printer error", m->printer);
        snprintf(m->text, sizeof m->text, "%.900s (%.60s)", ev->u.hms.text ? ev->u.hms.text : "HMS error",
                 ev->u.hms.code ? ev->u.hms.code : "?");
        return m->data != NULL;
    default:
        return false;
    }
    if (!change || !payload)
        return false;
    bool want = ev->type == PD_EV_JOB ? !strcmp(change, "ended") : !strcmp(change, "raised");
    if (!want || !(m->data = json_loadb(payload, len, 0, NULL)))
        return false;
    bool ok;
    if (ev->type == PD_EV_JOB) {
        ok = from_job(m);
    } else if (ev->type == PD_EV_ALERT) {
        ok = from_alert(m);
    } else {
        ok = !strcmp(str(m->data, "kind"), "slot");
        if (ok) {
            json_t *rep = json_object_get(m->data, "reported");
            set(m, "slot_prompt", 3, "question");
            snprintf(m->title, sizeof m->title, "%.60s: which spool is this?", m->printer);
            snprintf(m->text, sizeof m->text, "AMS %lld slot %lld holds %.60s %.16s: confirm the spool.",
                     (long long)json_integer_value(json_object_get(m->data, "unit")) + 1,
                     (long long)json_integer_value(json_object_get(m->data, "slot")) + 1,
                     str(rep, "material"), str(rep, "color"));
        }
    }
    if (!ok)
        pd_notify_msg_clear(m);
    return ok;
}

void pd_notify_msg_test(pd_notify_msg *m, int64_t now_s)
{
    memset(m, 0, sizeof *m);
    set(m, "test", 3, "bell");
    m->ts = now_s;
    snprintf(m->title, sizeof m->title, "printdeck: test message");
    snprintf(m->text, sizeof m->text, "This channel works: printdeck can reach it.");
    m->data = json_object();
}

void pd_notify_msg_clear(pd_notify_msg *m)
{
    json_decref(m->data);
    m->data = NULL;
}
