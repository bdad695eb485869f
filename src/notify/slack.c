/* A Slack incoming webhook (https://api.slack.com/messaging/webhooks): POST the webhook's URL
 * with {text, blocks}: the text is what notifications and old clients show, the blocks a
 * header (the title), a section (the message) and a context line (printer and time). Text in
 * mrkdwn has &, < and > escaped, as Slack's formatting guide asks
 * (https://api.slack.com/reference/surfaces/formatting#escaping). A snapshot goes as an image
 * block (https://api.slack.com/reference/block-kit/blocks#image) on a signed short-lived URL
 * Slack fetches, on [notify] dashboard_url. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/date.h"
#include "notify/types.h"

static const pd_notify_field rules[] = {
    {"url", true, pd_notify_check_url},
};

static pd_err validate(const json_t *cfg, const char **field, char *why, size_t whylen)
{
    return pd_notify_fields_check(rules, sizeof rules / sizeof *rules, cfg, field, why, whylen);
}

static char *escaped(const char *s)
{
    pd_buf b;
    size_t len;
    pd_buf_init(&b, 8192);
    pd_buf_reserve(&b, 256);  /* an empty text is "", not NULL */
    pd_notify_escape(&b, s, false);
    return pd_buf_detach(&b, &len);
}

static pd_err build(const json_t *cfg, const pd_notify_msg *m, int64_t now_s, pd_notify_req *out)
{
    /* Slack shows a date in the reader's own time zone and words */
    char iso[PD_DATE_LEN], when[160];
    int64_t t = m->ts ? m->ts : now_s;
    pd_date_format(t, iso);
    snprintf(when, sizeof when, "<!date^%lld^{date_short_pretty} {time}|%s>", (long long)t, iso);
    size_t head = strnlen(m->title, 150);
    while (head && ((unsigned char)m->title[head] & 0xc0) == 0x80)
        head--;  /* not inside a UTF-8 sequence */
    snprintf(out->url, sizeof out->url, "%s", pd_notify_cfg_str(cfg, "url", ""));
    char *title = escaped(m->title), *text = escaped(m->text), *printer = escaped(m->printer);
    char *fallback = title && text ? malloc(strlen(title) + strlen(text) + 2) : NULL;
    char *context = printer ? malloc(strlen(printer) + strlen(when) + 8) : NULL;
    json_t *o = NULL;
    if (fallback && context) {
        sprintf(fallback, "%s\n%s", title, text);
        sprintf(context, "%s%s%s", printer, printer[0] ? " · " : "", when);
        /* a header is plain text (no escaping) of at most 150 characters */
        o = json_pack("{s:s,s:[{s:s,s:{s:s,s:s%}},{s:s,s:{s:s,s:s}},{s:s,s:[{s:s,s:s}]}]}", "text", fallback,
                      "blocks", "type", "header", "text", "type", "plain_text", "text", m->title,
                      head, "type", "section", "text", "type", "mrkdwn", "text", text, "type",
                      "context", "elements", "type", "mrkdwn", "text", context);
    }
    if (o && m->snapshot_url[0])  /* Slack fetches it, before the context line */
        json_array_insert_new(json_object_get(o, "blocks"), 2,
                              json_pack("{s:s,s:s,s:s}", "type", "image", "image_url", m->snapshot_url, "alt_text",
                                        "the printer's camera"));
    free(title);
    free(text);
    free(printer);
    free(fallback);
    free(context);
    return pd_notify_req_json(out, o);
}

/* the URL holds the webhook's secret */
static const char *const secrets[] = {"url", NULL};

const pd_notify_type pd_notify_slack = {
    .name = "slack", .picture = PD_NOTIFY_PICTURE_URL, .validate = validate, .build = build, .secrets = secrets};
