/* Pushover (https://pushover.net/api): POST <server>/1/messages.json, form-encoded, with the
 * application's token and the user's (or group's) key; title, message, priority, an optional
 * url, device and sound. printdeck's priorities 1…5 are Pushover's -2…2; an emergency (2)
 * repeats until acknowledged, so it carries retry and expire as the API requires.
 * With a snapshot, the same fields and the picture as the `attachment` part of a
 * multipart/form-data body instead (https://pushover.net/api#attachments). */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "notify/types.h"

#define PUSHOVER_RETRY_S 60      /* the API's minimum is 30 */
#define PUSHOVER_EXPIRE_S 3600   /* its maximum is 10800 */

/* tokens and user keys: 30 letters and digits */
static const char *check_key(const char *s)
{
    size_t n = strlen(s);
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p))
            return "letters and digits only (30 of them)";
    return n == 30 ? NULL : "30 letters and digits expected";
}

/* a device name, or several separated by commas: letters, digits, '_' and '-', 25 each */
static const char *check_name(const char *s)
{
    size_t n = strlen(s), run = 0;
    if (!n || n > 128)
        return "1 to 128 characters expected";
    for (const char *p = s; *p; p++) {
        if (*p == ',') {
            run = 0;
            continue;
        }
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
            return "letters, digits, '_' and '-' only";
        if (++run > 25)
            return "at most 25 characters a name";
    }
    return NULL;
}

static const pd_notify_field rules[] = {
    {"server", false, pd_notify_check_url},
    {"token", true, check_key},
    {"user", true, check_key},
    {"device", false, check_name},
    {"sound", false, check_name},
    {"url", false, pd_notify_check_url},
};

static pd_err validate(const json_t *cfg, const char **field, char *why, size_t whylen)
{
    return pd_notify_fields_check(rules, sizeof rules / sizeof *rules, cfg, field, why, whylen);
}

int pd_notify_pushover_priority(int priority)
{
    return priority < 1 ? -2 : priority > 5 ? 2 : priority - 3;
}

/* Adds key=value (nothing when value is NULL) to the form-encoded body b, or to r's multipart
 * body when b is NULL; false when out of memory. */
static bool add(pd_buf *b, pd_notify_req *r, const char *key, const char *value)
{
    if (!value)
        return true;
    if (!b)
        return pd_notify_form_field(r, key, value);
    char *v = curl_easy_escape(NULL, value, 0);
    if (!v)
        return false;
    if (pd_buf_len(b))
        pd_buf_addc(b, '&');
    pd_buf_add_str(b, key);
    pd_buf_addc(b, '=');
    pd_buf_add_str(b, v);
    curl_free(v);
    return true;
}

static pd_err build(const json_t *cfg, const pd_notify_msg *m, int64_t now_s, pd_notify_req *out)
{
    (void)now_s;
    char prio[8], retry[8], expire[8], ts[24];
    int p = pd_notify_pushover_priority(m->priority);
    snprintf(prio, sizeof prio, "%d", p);
    snprintf(retry, sizeof retry, "%d", PUSHOVER_RETRY_S);
    snprintf(expire, sizeof expire, "%d", PUSHOVER_EXPIRE_S);
    snprintf(ts, sizeof ts, "%lld", (long long)m->ts);
    pd_notify_req_url(out, pd_notify_cfg_str(cfg, "server", "https://api.pushover.net"), "/1/messages.json");
    pd_buf form, *b = m->snapshot ? NULL : &form;
    pd_buf_init(&form, PD_NOTIFY_BODY_MAX);
    bool ok = add(b, out, "token", pd_notify_cfg_str(cfg, "token", "")) &&
              add(b, out, "user", pd_notify_cfg_str(cfg, "user", "")) && add(b, out, "title", m->title) &&
              add(b, out, "message", m->text) && add(b, out, "priority", prio) &&
              add(b, out, "retry", p == 2 ? retry : NULL) && add(b, out, "expire", p == 2 ? expire : NULL) &&
              add(b, out, "timestamp", m->ts ? ts : NULL) && add(b, out, "url", pd_notify_cfg_str(cfg, "url", NULL)) &&
              add(b, out, "device", pd_notify_cfg_str(cfg, "device", NULL)) &&
              add(b, out, "sound", pd_notify_cfg_str(cfg, "sound", NULL)) &&
              (b || pd_notify_form_snapshot(out, "attachment", m));
    pd_err rc = !ok ? PD_ERR_NOMEM : pd_buf_err(&form);
    if (!rc && b && !(out->body = pd_buf_detach(&form, &out->body_len)))
        rc = PD_ERR_NOMEM;
    pd_buf_free(&form);
    if (rc || !b)
        return rc;
    return pd_notify_req_header(out, "Content-Type", "application/x-www-form-urlencoded") ? PD_OK : PD_ERR_NOMEM;
}

static const char *const secrets[] = {"token", "user", NULL};

const pd_notify_type pd_notify_pushover = {
    .name = "pushover", .picture = PD_NOTIFY_PICTURE_FILE, .validate = validate, .build = build, .secrets = secrets};
