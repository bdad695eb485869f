/* A Telegram bot (https://core.telegram.org/bots/api#sendmessage): POST
 * <server>/bot<token>/sendMessage with {chat_id, text, parse_mode "HTML", disable_notification}:
 * the title in bold over the text, both escaped as the API's HTML style asks (&, <, > and ").
 * A quiet message (priority 2 or less) arrives without a sound. The server is Telegram's
 * unless a channel names another (a local Bot API server). With a snapshot, sendPhoto
 * (https://core.telegram.org/bots/api#sendphoto) instead: multipart/form-data with the picture
 * as `photo` and the same text as its caption, cut to the caption's 1024 characters. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notify/types.h"

/* "<bot id>:<secret>", as @BotFather hands it out */
static const char *check_bot_token(const char *s)
{
    const char *p = s;
    while (isdigit((unsigned char)*p))
        p++;
    if (p == s || *p != ':' || strlen(s) > 128)
        return "a bot token expected (digits, ':', then the secret)";
    for (p++; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
            return "a bot token expected (digits, ':', then the secret)";
    return strlen(strchr(s, ':') + 1) >= 20 ? NULL : "a bot token expected (digits, ':', then the secret)";
}

static const pd_notify_field rules[] = {
    {"server", false, pd_notify_check_url},
    {"token", true, check_bot_token},
    {"chat_id", true, NULL},
};

/* A chat id is a number (a user, a group: "-100…" for a supergroup) or "@channelusername". */
static const char *check_chat(const json_t *v)
{
    if (json_is_integer(v))
        return json_integer_value(v) ? NULL : "not 0";
    const char *s = json_string_value(v);
    if (!s)
        return "a number or \"@channelusername\" expected";
    size_t n = strlen(s);
    const char *p = s + (*s == '-');
    if (*s == '@') {
        for (p = s + 1; *p && (isalnum((unsigned char)*p) || *p == '_'); p++)
            ;
        return !*p && n >= 6 && n <= 33 ? NULL : "\"@\" and 5 to 32 letters, digits or '_' expected";
    }
    while (isdigit((unsigned char)*p))
        p++;
    return !*p && n && n <= 20 && p > s + (*s == '-') ? NULL : "a number or \"@channelusername\" expected";
}

static pd_err validate(const json_t *cfg, const char **field, char *why, size_t whylen)
{
    pd_err rc = pd_notify_fields_check(rules, sizeof rules / sizeof *rules, cfg, field, why, whylen);
    const char *bad = rc ? NULL : check_chat(json_object_get(cfg, "chat_id"));
    if (bad) {
        *field = "chat_id";
        snprintf(why, whylen, "%s", bad);
        rc = PD_ERR_FIELD;
    }
    return rc;
}

/* The title in bold over text, escaped. */
static char *html(const char *title, const char *text)
{
    pd_buf b;
    pd_buf_init(&b, 4096);  /* the API's limit for a message's text */
    pd_buf_add_str(&b, "<b>");
    pd_notify_escape(&b, title, true);
    pd_buf_add_str(&b, "</b>\n");
    pd_notify_escape(&b, text, true);
    size_t len;
    return pd_buf_detach(&b, &len);
}

char *pd_notify_telegram_text(const pd_notify_msg *m) { return html(m->title, m->text); }

#define CAPTION_MAX 1024  /* characters, the markup not counted: bytes are at least as many */

static pd_err photo(const json_t *cfg, const pd_notify_msg *m, pd_notify_req *out)
{
    char text[sizeof m->text], chat[40];
    size_t room = CAPTION_MAX - 1 - strnlen(m->title, CAPTION_MAX - 1), n = strlen(m->text);
    if (n > room) {
        n = room;
        while (n && ((unsigned char)m->text[n] & 0xc0) == 0x80)
            n--;  /* not inside a UTF-8 sequence */
    }
    snprintf(text, sizeof text, "%.*s", (int)n, m->text);
    json_t *id = json_object_get(cfg, "chat_id");
    if (json_is_integer(id))
        snprintf(chat, sizeof chat, "%lld", (long long)json_integer_value(id));
    else
        snprintf(chat, sizeof chat, "%s", json_string_value(id) ? json_string_value(id) : "");
    char *caption = html(m->title, text);
    bool ok = caption && pd_notify_form_field(out, "chat_id", chat) && pd_notify_form_snapshot(out, "photo", m) &&
              pd_notify_form_field(out, "caption", caption) && pd_notify_form_field(out, "parse_mode", "HTML") &&
              pd_notify_form_field(out, "disable_notification", m->priority <= 2 ? "true" : "false");
    free(caption);
    return ok ? PD_OK : PD_ERR_NOMEM;
}

static pd_err build(const json_t *cfg, const pd_notify_msg *m, int64_t now_s, pd_notify_req *out)
{
    (void)now_s;
    char path[160];
    snprintf(path, sizeof path, "/bot%s/%s", pd_notify_cfg_str(cfg, "token", ""),
             m->snapshot ? "sendPhoto" : "sendMessage");
    pd_notify_req_url(out, pd_notify_cfg_str(cfg, "server", "https://api.telegram.org"), path);
    if (m->snapshot)
        return photo(cfg, m, out);
    char *text = pd_notify_telegram_text(m);
    if (!text)
        return PD_ERR_TOOBIG;
    json_t *o = json_pack("{s:O,s:s,s:s,s:b}", "chat_id", json_object_get(cfg, "chat_id"), "text", text,
                          "parse_mode", "HTML", "disable_notification", m->priority <= 2);
    free(text);
    return pd_notify_req_json(out, o);
}

static const char *const secrets[] = {"token", NULL};

const pd_notify_type pd_notify_telegram = {
    .name = "telegram", .picture = PD_NOTIFY_PICTURE_FILE, .validate = validate, .build = build, .secrets = secrets};
