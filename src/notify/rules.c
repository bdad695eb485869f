/* A channel's rules (docs/notify.md, Rules): which printers it hears, per printer which kinds,
 * its quiet hours, its minimum interval, its daily digest and its templates. Pure: the rules
 * are the stored JSON object, checked once when they are configured and read as they are at
 * each event; local time comes from the caller, so tests choose it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notify/notify.h"

#define RULES_MAX_PRINTERS 256

static const char *const day_names[7] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

bool pd_notify_kinds_has(const char *kinds, const char *kind)
{
    size_t k = strlen(kind);
    for (const char *p = kinds; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == k && !strncmp(p, kind, k))
            return true;
        if (!end)
            break;
        p = end + 1;
    }
    return false;
}

/* "HH:MM" → minutes since midnight, or -1 */
static int hhmm(const json_t *v)
{
    const char *s = json_string_value(v);
    int h, m;
    char tail;
    if (!s || strlen(s) != 5 || sscanf(s, "%2d:%2d%c", &h, &m, &tail) != 2 || h < 0 || h > 23 || m < 0 || m > 59)
        return -1;
    return h * 60 + m;
}

/* A printer id as rules name it: a positive integer, or in printer_events a key in decimal. */
static int64_t key_id(const char *k)
{
    char *end = NULL;
    long long v = strtoll(k, &end, 10);
    return *k >= '1' && *k <= '9' && end && !*end && v > 0 ? v : -1;
}

#define FAIL(...)                                     \
    do {                                              \
        snprintf(why, whylen, __VA_ARGS__);           \
        return PD_ERR_FIELD;                          \
    } while (0)

static pd_err check_kinds(const json_t *v, char *why, size_t whylen)
{
    size_t i;
    json_t *e;
    if (!json_is_array(v))
        FAIL("an array of event kinds expected");
    json_array_foreach(v, i, e) if (!json_is_string(e) || !pd_notify_kind_known(json_string_value(e)))
        FAIL("item %zu: not an event kind (docs/notify.md lists them)", i + 1);
    return PD_OK;
}

static pd_err check_quiet(const json_t *q, char *field, size_t fieldlen, char *why, size_t whylen)
{
    const char *k;
    json_t *v;
    if (!json_is_object(q))
        FAIL("an object {start, end, days?, critical?} or null expected");
    json_object_foreach((json_t *)q, k, v) {
        snprintf(field, fieldlen, "quiet_hours.%.40s", k);
        if (!strcmp(k, "start") || !strcmp(k, "end")) {
            if (hhmm(v) < 0)
                FAIL("a local time \"HH:MM\" expected");
        } else if (!strcmp(k, "days")) {
            size_t i, d;
            json_t *e;
            if (!json_is_array(v) || !json_array_size(v))
                FAIL("a non-empty array of days (\"mon\" … \"sun\") expected");
            json_array_foreach(v, i, e) {
                for (d = 0; d < 7 && !(json_is_string(e) && !strcmp(json_string_value(e), day_names[d])); d++)
                    ;
                if (d == 7)
                    FAIL("item %zu: a day \"mon\" … \"sun\" expected", i + 1);
            }
        } else if (!strcmp(k, "critical")) {
            if (!json_is_boolean(v))
                FAIL("true or false expected");
        } else {
            FAIL("not a member of quiet_hours");
        }
    }
    snprintf(field, fieldlen, "quiet_hours.%s", !json_object_get(q, "start") ? "start" : "end");
    if (!json_object_get(q, "start") || !json_object_get(q, "end"))
        FAIL("required");
    if (hhmm(json_object_get(q, "start")) == hhmm(json_object_get(q, "end")))
        FAIL("the window is empty: start and end are the same time");
    return PD_OK;
}

static pd_err check_templates(const json_t *t, char *field, size_t fieldlen, char *why, size_t whylen)
{
    const char *k, *part;
    json_t *v, *s;
    if (!json_is_object(t))
        FAIL("an object of event kinds (or \"*\" for all) to {title?, text?} expected");
    json_object_foreach((json_t *)t, k, v) {
        snprintf(field, fieldlen, "templates.%.40s", k);
        if (strcmp(k, "*") && !pd_notify_kind_known(k) && strcmp(k, "digest") && strcmp(k, "test"))
            FAIL("not an event kind, nor \"*\" for all");
        if (!json_is_object(v))
            FAIL("an object {title?, text?} expected");
        json_object_foreach(v, part, s) {
            snprintf(field, fieldlen, "templates.%.40s.%.8s", k, part);
            if (strcmp(part, "title") && strcmp(part, "text"))
                FAIL("a template has a title and a text only");
            if (!json_is_string(s) || !json_string_length(s))
                FAIL("a non-empty template string expected");
            if (pd_notify_tpl_check(json_string_value(s), why, whylen))
                return PD_ERR_FIELD;
        }
    }
    return PD_OK;
}

pd_err pd_notify_rules_check(const json_t *rules, char *field, size_t fieldlen, char *why, size_t whylen)
{
    const char *k;
    json_t *v;
    snprintf(field, fieldlen, "rules");
    if (!json_is_object(rules))
        FAIL("an object expected");
    json_object_foreach((json_t *)rules, k, v) {
        snprintf(field, fieldlen, "%.60s", k);
        if (json_is_null(v))
            continue;
        if (!strcmp(k, "printers")) {
            size_t i;
            json_t *e;
            if (!json_is_array(v) || json_array_size(v) > RULES_MAX_PRINTERS)
                FAIL("an array of at most %d printer ids, or null for every printer", RULES_MAX_PRINTERS);
            json_array_foreach(v, i, e) if (!json_is_integer(e) || json_integer_value(e) <= 0)
                FAIL("item %zu: a printer id expected", i + 1);
        } else if (!strcmp(k, "printer_events")) {
            const char *pk;
            json_t *pv;
            if (!json_is_object(v) || json_object_size(v) > RULES_MAX_PRINTERS)
                FAIL("an object of at most %d printer ids to their event kinds expected", RULES_MAX_PRINTERS);
            json_object_foreach(v, pk, pv) {
                snprintf(field, fieldlen, "printer_events.%.40s", pk);
                if (key_id(pk) < 0)
                    FAIL("not a printer id");
                if (check_kinds(pv, why, whylen))
                    return PD_ERR_FIELD;
            }
        } else if (!strcmp(k, "quiet_hours")) {
            if (check_quiet(v, field, fieldlen, why, whylen))
                return PD_ERR_FIELD;
        } else if (!strcmp(k, "min_interval_s")) {
            if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 86400)
                FAIL("seconds from 0 to 86400 expected");
        } else if (!strcmp(k, "digest_hour")) {
            if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 23)
                FAIL("a local hour from 0 to 23 expected");
        } else if (!strcmp(k, "templates")) {
            if (check_templates(v, field, fieldlen, why, whylen))
                return PD_ERR_FIELD;
        } else {
            FAIL("not a member of a channel's rules");
        }
    }
    return PD_OK;
}

#undef FAIL

bool pd_notify_rules_hears(const json_t *rules, int64_t printer_id)
{
    const json_t *printers = json_object_get(rules, "printers");
    size_t i;
    json_t *e;
    if (!printer_id || !json_is_array(printers))
        return true;
    json_array_foreach(printers, i, e) if (json_integer_value(e) == printer_id) return true;
    return false;
}

bool pd_notify_rules_wants(const json_t *rules, const char *events, int64_t printer_id, const char *kind)
{
    if (!pd_notify_rules_hears(rules, printer_id))
        return false;
    char key[24];
    snprintf(key, sizeof key, "%lld", (long long)printer_id);
    const json_t *own = printer_id ? json_object_get(json_object_get(rules, "printer_events"), key) : NULL;
    if (json_is_array(own)) {
        size_t i;
        json_t *e;
        json_array_foreach(own, i, e) if (!strcmp(json_string_value(e), kind)) return true;
        return false;
    }
    return pd_notify_kinds_has(events, kind);
}

bool pd_notify_rules_quiet(const json_t *rules, const struct tm *tm)
{
    const json_t *q = json_object_get(rules, "quiet_hours");
    int start = hhmm(json_object_get(q, "start")), end = hhmm(json_object_get(q, "end"));
    if (start < 0 || end < 0)
        return false;
    int now = tm->tm_hour * 60 + tm->tm_min, wday = tm->tm_wday;
    if (start < end) {
        if (now < start || now >= end)
            return false;
    } else if (now < start && now >= end) {
        return false;
    } else if (now < start) {
        wday = (wday + 6) % 7;  /* after midnight: the window began the day before */
    }
    const json_t *days = json_object_get(q, "days");
    if (!json_is_array(days))
        return true;
    size_t i;
    json_t *e;
    json_array_foreach(days, i, e) if (!strcmp(json_string_value(e), day_names[wday])) return true;
    return false;
}

bool pd_notify_rules_critical_passes(const json_t *rules)
{
    return json_is_true(json_object_get(json_object_get(rules, "quiet_hours"), "critical"));
}

int pd_notify_rules_interval(const json_t *rules, int deflt)
{
    const json_t *v = json_object_get(rules, "min_interval_s");
    return json_is_integer(v) ? (int)json_integer_value(v) : deflt;
}

int pd_notify_rules_digest_hour(const json_t *rules)
{
    const json_t *v = json_object_get(rules, "digest_hour");
    return json_is_integer(v) ? (int)json_integer_value(v) : -1;
}

int pd_notify_local_day(const struct tm *tm)
{
    return (tm->tm_year + 1900) * 10000 + (tm->tm_mon + 1) * 100 + tm->tm_mday;
}

bool pd_notify_digest_due(const json_t *rules, const struct tm *tm, int last_day)
{
    return pd_notify_rules_digest_hour(rules) == tm->tm_hour && pd_notify_local_day(tm) != last_day;
}

const char *pd_notify_rules_template(const json_t *rules, const char *kind, const char *part)
{
    const json_t *t = json_object_get(rules, "templates");
    const char *s = json_string_value(json_object_get(json_object_get(t, kind), part));
    return s ? s : json_string_value(json_object_get(json_object_get(t, "*"), part));
}

bool pd_notify_rate_ok(pd_notify_rate *r, int64_t channel_id, const char *kind, int64_t printer_id,
                       uint64_t now_ms, uint64_t gap_ms)
{
    size_t pick = 0;
    for (size_t i = 0; i < PD_NOTIFY_RATE_SLOTS; i++) {
        pd_notify_rate_slot *s = &r->slot[i];
        if (s->event[0] && s->channel_id == channel_id && s->printer_id == printer_id && !strcmp(s->event, kind)) {
            if (now_ms - s->at_ms < gap_ms)
                return false;
            s->at_ms = now_ms;
            return true;
        }
        if (r->slot[pick].event[0] && (!s->event[0] || s->at_ms < r->slot[pick].at_ms))
            pick = i;
    }
    r->slot[pick].channel_id = channel_id;
    r->slot[pick].printer_id = printer_id;
    snprintf(r->slot[pick].event, sizeof r->slot[pick].event, "%s", kind);
    r->slot[pick].at_ms = now_ms;
    return true;
}
