/* What each event says to a person: its kind, its facts (the job, progress, time left, spool,
 * shortfall, HMS text and link, …), and from them the default title and text. Pure: the event
 * and its payload in, the message out; local time only formats the finish time. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "camera/frame.h"
#include "notify/notify.h"
#include "printer/hms.h"

const pd_notify_kind pd_notify_kinds[] = {
    {"job_completed", true},         {"job_failed", true},     {"job_cancelled", false},
    {"hms", true},                   {"insufficient_filament", true}, {"low_stock", true},
    {"ams_humidity", false},         {"drying_due", false},    {"print_stalled", false},
    {"slot_prompt", true},           {"job_started", false},   {"first_layer", false},
    {"printer_offline", false},
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

static void fact(pd_notify_msg *m, pd_notify_fact f, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fact(pd_notify_msg *m, pd_notify_fact f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->facts[f], sizeof m->facts[f], fmt, ap);
    va_end(ap);
}

static void span(char out[PD_NOTIFY_FACT_MAX], long long s)
{
    long long min = (s + 30) / 60;
    if (min >= 60)
        snprintf(out, PD_NOTIFY_FACT_MAX, "%lldh%02lld", min / 60, min % 60);
    else
        snprintf(out, PD_NOTIFY_FACT_MAX, "%lld min", min);
}

static long long int_or(const json_t *o, const char *key, long long dflt)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (long long)json_integer_value(v) : dflt;
}

/* --- facts of each event ------------------------------------------------------------------- */

static bool from_job(pd_notify_msg *m, const char *change)
{
    const char *status = str(m->data, "status");
    snprintf(m->printer, sizeof m->printer, "%s", str(m->data, "printer_name"));
    fact(m, PD_NF_JOB, "%s", str(m->data, "name"));
    fact(m, PD_NF_REASON, "%s", str(m->data, "reason"));
    long long progress = int_or(m->data, "progress", -1), layer = int_or(m->data, "layer", -1),
              layers = int_or(m->data, "total_layers", 0), took = int_or(m->data, "duration_s", -1);
    if (progress >= 0)
        fact(m, PD_NF_PROGRESS, "%lld%%", progress);
    if (layer > 0 && layers > 0)
        fact(m, PD_NF_LAYER, "%lld/%lld", layer, layers);
    if (took > 0)
        span(m->facts[PD_NF_DURATION], took);
    double grams = json_number_value(json_object_get(m->data, "grams"));
    const char *materials = str(m->data, "materials");
    if (grams > 0)
        fact(m, PD_NF_FILAMENT, "%.60s%s%.1f g", materials, *materials ? ", " : "", grams);
    else
        fact(m, PD_NF_FILAMENT, "%.60s", materials);
    if (!strcmp(change, "started")) {
        set(m, "job_started", 2, "arrow_forward");
        return true;
    }
    if (strcmp(change, "ended"))
        return false;
    if (!strcmp(status, "completed"))
        set(m, "job_completed", 3, "white_check_mark");
    else if (!strcmp(status, "failed"))
        set(m, "job_failed", 4, "x"), m->critical = true;
    else if (!strcmp(status, "cancelled"))
        set(m, "job_cancelled", 3, "stop_sign");
    else
        return false;
    return true;
}

static const struct {
    const char *alert, *event, *tags, *title;
    int prio;
    bool critical;
} alert_map[] = {
    {"insufficient_filament", "insufficient_filament", "warning", "not enough filament", 4, true},
    {"low_stock_spool", "low_stock", "package", "low stock", 3, false},
    {"low_stock_filament", "low_stock", "package", "low stock", 3, false},
    {"ams_humidity", "ams_humidity", "droplet", "AMS humidity high", 3, false},
    {"drying_due", "drying_due", "droplet", "drying due", 2, false},
    {"print_stalled", "print_stalled", "warning", "print stalled", 4, false},
};

static bool from_alert(pd_notify_msg *m)
{
    const char *kind = str(m->data, "kind");
    const json_t *d = json_object_get(m->data, "data");
    for (size_t i = 0; i < sizeof alert_map / sizeof *alert_map; i++)
        if (!strcmp(alert_map[i].alert, kind)) {
            set(m, alert_map[i].event, alert_map[i].prio, alert_map[i].tags);
            m->critical = alert_map[i].critical;
            fact(m, PD_NF_REASON, "%s", str(m->data, "message"));
            long long spool = int_or(m->data, "spool_id", 0);
            if (spool > 0)
                fact(m, PD_NF_SPOOL, "spool #%lld", spool);
            double short_g = json_number_value(json_object_get(d, "shortfall_g"));
            if (short_g > 0)
                fact(m, PD_NF_SHORTFALL_G, "%.0f", short_g);
            const json_t *first = json_array_get(json_object_get(d, "filaments"), 0);
            const char *material = *str(d, "material") ? str(d, "material") : str(first, "material");
            fact(m, PD_NF_FILAMENT, "%s", material);
            return true;
        }
    return false;
}

/* "HMS_0300_0100_0001_0007" → its attr and code words */
static bool hms_parse(const char *s, uint32_t *attr, uint32_t *code)
{
    unsigned a1, a2, c1, c2;
    if (sscanf(s, "HMS_%4x_%4x_%4x_%4x", &a1, &a2, &c1, &c2) != 4)
        return false;
    *attr = a1 << 16 | a2;
    *code = c1 << 16 | c2;
    return true;
}

static bool from_hms(pd_notify_msg *m, const pd_event *ev)
{
    const char *code = ev->u.hms.code ? ev->u.hms.code : "";
    set(m, "hms", 4, "rotating_light");
    m->data = json_pack("{s:s?,s:s?}", "code", ev->u.hms.code, "text", ev->u.hms.text);
    fact(m, PD_NF_HMS_CODE, "%s", code);
    fact(m, PD_NF_HMS_TEXT, "%s", ev->u.hms.text ? ev->u.hms.text : "HMS error");
    uint32_t attr, c;
    if (hms_parse(code, &attr, &c)) {
        int sev = pd_hms_severity(c);
        m->critical = sev == 1 || sev == 2;
        if (m->critical)
            m->priority = 5;
    }
    return m->data != NULL;
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
    bool ok = false;
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
        ok = from_hms(m, ev);
        break;
    case PD_EV_LAYER:
        /* the first layer is done when the second begins */
        if (ev->u.layer.layer != 2 || !(m->data = json_pack("{s:i,s:i}", "layer", 2, "total_layers", ev->u.layer.total)))
            return false;
        set(m, "first_layer", 2, "ok_hand");
        if (ev->u.layer.total > 0)
            fact(m, PD_NF_LAYER, "2/%d", ev->u.layer.total);
        ok = true;
        break;
    case PD_EV_OFFLINE:
        /* told only of a printer that was printing: the dispatcher asks its state first */
        if (!(m->data = json_object()))
            return false;
        set(m, "printer_offline", 4, "warning");
        m->critical = true;
        ok = true;
        break;
    default:
        return false;
    }
    if (payload && change) {
        bool want = ev->type == PD_EV_JOB ? !strcmp(change, "ended") || !strcmp(change, "started")
                                          : !strcmp(change, "raised");
        if (!want || !(m->data = json_loadb(payload, len, 0, NULL)))
            return false;
        if (ev->type == PD_EV_JOB) {
            ok = from_job(m, change);
        } else if (ev->type == PD_EV_ALERT) {
            ok = from_alert(m);
        } else if ((ok = !strcmp(str(m->data, "kind"), "slot"))) {
            json_t *rep = json_object_get(m->data, "reported");
            set(m, "slot_prompt", 3, "question");
            fact(m, PD_NF_FILAMENT, "%.60s %.16s", str(rep, "material"), str(rep, "color"));
        }
    }
    if (ok)
        pd_notify_msg_compose(m);
    else
        pd_notify_msg_clear(m);
    return ok;
}

void pd_notify_msg_enrich(pd_notify_msg *m, const pd_notify_live *live, const char *dashboard_url)
{
    char (*f)[PD_NOTIFY_FACT_MAX] = m->facts;
    if (live && live->job && *live->job && !f[PD_NF_JOB][0])
        fact(m, PD_NF_JOB, "%s", live->job);
    if (live && live->progress >= 0 && !f[PD_NF_PROGRESS][0])
        fact(m, PD_NF_PROGRESS, "%d%%", live->progress);
    if (live && live->layer > 0 && live->total_layers > 0 && !f[PD_NF_LAYER][0])
        fact(m, PD_NF_LAYER, "%d/%d", live->layer, live->total_layers);
    if (live && live->remaining_min >= 0 && strcmp(m->event, "job_completed") && strcmp(m->event, "job_failed") &&
        strcmp(m->event, "job_cancelled")) {
        span(f[PD_NF_ETA], (long long)live->remaining_min * 60);
        time_t at = (time_t)(m->ts + live->remaining_min * 60), now = (time_t)m->ts;
        struct tm t_at, t_now;
        if (localtime_r(&at, &t_at) && localtime_r(&now, &t_now))
            strftime(f[PD_NF_FINISH_TIME], PD_NOTIFY_FACT_MAX, t_at.tm_yday == t_now.tm_yday ? "%H:%M" : "%a %H:%M",
                     &t_at);
    }
    uint32_t attr, code;
    if (!strcmp(m->event, "hms") && hms_parse(f[PD_NF_HMS_CODE], &attr, &code))
        pd_hms_url(attr, code, live ? live->model : PD_MODEL_UNKNOWN, f[PD_NF_HMS_URL], PD_NOTIFY_FACT_MAX);
    if (dashboard_url && *dashboard_url) {
        size_t n = strlen(dashboard_url);
        const char *sep = dashboard_url[n - 1] == '/' ? "" : "/";
        if (!strcmp(m->event, "slot_prompt"))
            fact(m, PD_NF_URL, "%.150s%sprompts", dashboard_url, sep);
        else if (m->printer_id)
            fact(m, PD_NF_URL, "%.150s%sprinters/%lld", dashboard_url, sep, (long long)m->printer_id);
    }
    pd_notify_msg_compose(m);
}

/* --- the default words ----------------------------------------------------------------------- */

static void add(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void add(char *out, size_t cap, const char *fmt, ...)
{
    size_t n = strlen(out);
    if (n + 1 >= cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out + n, cap - n, fmt, ap);
    va_end(ap);
}

void pd_notify_msg_compose(pd_notify_msg *m)
{
    char (*f)[PD_NOTIFY_FACT_MAX] = m->facts;
    const char *ev = m->event, *job = f[PD_NF_JOB][0] ? f[PD_NF_JOB] : "The print";
    char *t = m->text;
    size_t cap = sizeof m->text;
    const char *title = "";
    t[0] = '\0';
    if (!strcmp(ev, "job_started") || !strcmp(ev, "first_layer")) {
        title = ev[0] == 'j' ? "print started" : "first layer done";
        add(t, cap, "%s %s", job, ev[0] == 'j' ? "started" : "has its first layer down");
        if (ev[0] == 'f' && f[PD_NF_PROGRESS][0])
            add(t, cap, " (%s)", f[PD_NF_PROGRESS]);
        if (f[PD_NF_ETA][0])
            add(t, cap, ": %s to go%s%s", f[PD_NF_ETA], f[PD_NF_FINISH_TIME][0] ? ", done at " : "",
                f[PD_NF_FINISH_TIME]);
        add(t, cap, ".");
    } else if (!strncmp(ev, "job_", 4)) {
        bool done = !strcmp(ev, "job_completed"), failed = !strcmp(ev, "job_failed");
        title = done ? "print finished" : failed ? "print failed" : "print cancelled";
        add(t, cap, "%s %s", job, done ? "finished" : failed ? "failed" : "was cancelled");
        if (f[PD_NF_DURATION][0])
            add(t, cap, " after %s", f[PD_NF_DURATION]);
        if (!done && f[PD_NF_PROGRESS][0])
            add(t, cap, " at %s", f[PD_NF_PROGRESS]);
        if (!done && f[PD_NF_LAYER][0])
            add(t, cap, ", layer %s", f[PD_NF_LAYER]);
        if (failed && f[PD_NF_REASON][0])
            add(t, cap, ": %s", f[PD_NF_REASON]);
        if (done && f[PD_NF_FILAMENT][0])
            add(t, cap, " (%s)", f[PD_NF_FILAMENT]);
        add(t, cap, ".");
    } else if (!strcmp(ev, "printer_offline")) {
        title = "offline mid-print";
        add(t, cap, "%s stopped answering while printing %s", m->printer[0] ? m->printer : "The printer", job);
        if (f[PD_NF_PROGRESS][0])
            add(t, cap, " at %s", f[PD_NF_PROGRESS]);
        if (f[PD_NF_LAYER][0])
            add(t, cap, ", layer %s", f[PD_NF_LAYER]);
        add(t, cap, ".");
    } else if (!strcmp(ev, "hms")) {
        title = "printer error";
        add(t, cap, "%s (%s)", f[PD_NF_HMS_TEXT], f[PD_NF_HMS_CODE][0] ? f[PD_NF_HMS_CODE] : "?");
        if (f[PD_NF_JOB][0])
            add(t, cap, " while printing %s", f[PD_NF_JOB]);
        add(t, cap, ".");
        if (f[PD_NF_HMS_URL][0])
            add(t, cap, " %s", f[PD_NF_HMS_URL]);
    } else if (!strcmp(ev, "slot_prompt")) {
        title = "which spool is this?";
        json_t *d = m->data;
        add(t, cap, "AMS %lld slot %lld holds %s: confirm the spool.",
            (long long)json_integer_value(json_object_get(d, "unit")) + 1,
            (long long)json_integer_value(json_object_get(d, "slot")) + 1, f[PD_NF_FILAMENT]);
    } else {
        for (size_t i = 0; i < sizeof alert_map / sizeof *alert_map; i++)
            if (!strcmp(alert_map[i].event, ev))
                title = alert_map[i].title;
        add(t, cap, "%s", f[PD_NF_REASON]);
        if (!strcmp(ev, "insufficient_filament") && f[PD_NF_JOB][0])
            add(t, cap, " (%s)", f[PD_NF_JOB]);
    }
    if (f[PD_NF_URL][0] && strcmp(ev, "hms"))
        add(t, cap, " %s", f[PD_NF_URL]);
    snprintf(m->title, sizeof m->title, "%.60s%s%s", m->printer, m->printer[0] ? ": " : "", title);
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
    pd_cam_frame_unref(&m->snapshot);
}
