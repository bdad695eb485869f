/* Home Assistant's notify service through its REST API
 * (https://developers.home-assistant.io/docs/api/rest/, POST /api/services/<domain>/<service>):
 * POST <url>/api/services/notify/<service> with "Authorization: Bearer <long-lived token>"
 * and {title, message, data}. data is what the companion apps read
 * (https://companion.home-assistant.io/docs/notifications/notifications-basic/): a tag per
 * event and printer (a newer message replaces the older one), a group, and for urgent ones
 * Android's high priority and iOS's time-sensitive level. A snapshot goes as data.image
 * (https://companion.home-assistant.io/docs/notifications/notification-attachments/): a signed
 * short-lived URL the phone fetches, on [notify] dashboard_url. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "notify/types.h"

/* a service's name, as Home Assistant makes them: notify.mobile_app_pixel_7 → mobile_app_pixel_7 */
static const char *check_service(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > 128)
        return "1 to 128 characters expected";
    for (const char *p = s; *p; p++)
        if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && *p != '_')
            return "lower-case letters, digits and '_' only (the part after \"notify.\")";
    return NULL;
}

/* a long-lived access token is a JWT of ~180 characters */
static const char *check_ha_token(const char *s)
{
    size_t n = strlen(s);
    if (n < 16 || n > 512)
        return "16 to 512 characters expected";
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("._-", *p))
            return "a long-lived access token expected (letters, digits, '.', '_', '-')";
    return NULL;
}

static const pd_notify_field rules[] = {
    {"url", true, pd_notify_check_url},
    {"token", true, check_ha_token},
    {"service", true, check_service},
};

static pd_err validate(const json_t *cfg, const char **field, char *why, size_t whylen)
{
    return pd_notify_fields_check(rules, sizeof rules / sizeof *rules, cfg, field, why, whylen);
}

static pd_err build(const json_t *cfg, const pd_notify_msg *m, int64_t now_s, pd_notify_req *out)
{
    (void)now_s;
    char path[200], tag[96], auth[600];
    snprintf(path, sizeof path, "/api/services/notify/%s", pd_notify_cfg_str(cfg, "service", ""));
    pd_notify_req_url(out, pd_notify_cfg_str(cfg, "url", ""), path);
    snprintf(tag, sizeof tag, "printdeck-%s-%lld", m->event, (long long)m->printer_id);
    json_t *data = json_pack("{s:s,s:s}", "tag", tag, "group", "printdeck");
    if (data && m->snapshot_url[0])  /* the companion app fetches it */
        json_object_set_new(data, "image", json_string(m->snapshot_url));
    if (data && m->priority >= 4) {
        json_object_set_new(data, "ttl", json_integer(0));
        json_object_set_new(data, "priority", json_string("high"));
        json_object_set_new(data, "push", json_pack("{s:s}", "interruption-level", "time-sensitive"));
    }
    json_t *o = data ? json_pack("{s:s,s:s,s:o}", "title", m->title, "message", m->text, "data", data) : NULL;
    pd_err rc = pd_notify_req_json(out, o);
    snprintf(auth, sizeof auth, "Bearer %s", pd_notify_cfg_str(cfg, "token", ""));
    return rc ? rc : pd_notify_req_header(out, "Authorization", auth) ? PD_OK : PD_ERR_NOMEM;
}

static const char *const secrets[] = {"token", NULL};

const pd_notify_type pd_notify_homeassistant = {
    .name = "homeassistant", .picture = PD_NOTIFY_PICTURE_URL, .validate = validate, .build = build, .secrets = secrets};
