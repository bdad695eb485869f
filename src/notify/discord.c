/* A Discord webhook (https://discord.com/developers/docs/resources/webhook#execute-webhook):
 * POST the webhook's URL with one embed {title, description, color, timestamp, footer} and no
 * mentions allowed (a printer or file named "@everyone" pings nobody). The colour says how
 * bad it is. A snapshot goes as a file part of a multipart/form-data body beside the JSON as
 * `payload_json`, shown by the embed's image "attachment://snapshot.jpg"
 * (https://discord.com/developers/docs/reference#uploading-files). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/date.h"
#include "core/json.h"
#include "notify/types.h"

/* Discord's limit for a webhook's name */
static const char *check_username(const char *s)
{
    return strlen(s) > 80 ? "at most 80 characters" : pd_notify_check_text(s);
}

static const pd_notify_field rules[] = {
    {"url", true, pd_notify_check_url},
    {"username", false, check_username},
};

static pd_err validate(const json_t *cfg, const char **field, char *why, size_t whylen)
{
    return pd_notify_fields_check(rules, sizeof rules / sizeof *rules, cfg, field, why, whylen);
}

int pd_notify_discord_colour(int priority)
{
    static const int colours[] = {
        0x95a5a6, /* 1, 2: grey */
        0x95a5a6,
        0x2ecc71, /* 3: green, a print finished */
        0xe67e22, /* 4: orange, a failure or a warning */
        0xe74c3c, /* 5: red */
    };
    return colours[priority < 1 ? 0 : priority > 5 ? 4 : priority - 1];
}

static pd_err build(const json_t *cfg, const pd_notify_msg *m, int64_t now_s, pd_notify_req *out)
{
    char when[PD_DATE_LEN];
    pd_date_format(m->ts ? m->ts : now_s, when);
    snprintf(out->url, sizeof out->url, "%s", pd_notify_cfg_str(cfg, "url", ""));
    json_t *o = json_pack("{s:s,s:{s:[]},s:[{s:s,s:s,s:i,s:s,s:{s:s}}]}", "username",
                          pd_notify_cfg_str(cfg, "username", "printdeck"), "allowed_mentions", "parse", "embeds",
                          "title", m->title, "description", m->text, "color", pd_notify_discord_colour(m->priority),
                          "timestamp", when, "footer", "text", m->printer[0] ? m->printer : "printdeck");
    if (!m->snapshot)
        return pd_notify_req_json(out, o);
    json_t *e = json_array_get(json_object_get(o, "embeds"), 0);
    if (e)
        json_object_set_new(e, "image", json_pack("{s:s}", "url", "attachment://" PD_NOTIFY_SNAPSHOT_FILE));
    if (o)
        json_object_set_new(o, "attachments", json_pack("[{s:i,s:s}]", "id", 0, "filename", PD_NOTIFY_SNAPSHOT_FILE));
    char *payload = o ? json_dumps(o, PD_JSON_FLAGS) : NULL;
    json_decref(o);
    bool ok = payload && pd_notify_form_field(out, "payload_json", payload) &&
              pd_notify_form_snapshot(out, "files[0]", m);
    free(payload);
    return ok ? PD_OK : PD_ERR_NOMEM;
}

/* the URL holds the webhook's token */
static const char *const secrets[] = {"url", NULL};

const pd_notify_type pd_notify_discord = {
    .name = "discord", .picture = PD_NOTIFY_PICTURE_FILE, .validate = validate, .build = build, .secrets = secrets};
