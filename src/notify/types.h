/* What the channel types share (channels.c, and one file per type: pushover.c, telegram.c,
 * discord.c, slack.c, homeassistant.c, email.c): field rules, request headers, escaping. Inside
 * src/notify/ only. */
#ifndef PD_NOTIFY_TYPES_H
#define PD_NOTIFY_TYPES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "camera/frame.h"
#include "core/buf.h"
#include "notify/notify.h"

typedef struct pd_notify_field {
    const char *name;
    bool required;
    /* A string field's check: NULL when good, else why not. NULL for a field that is not a
     * string (a port, a list): the type's validate checks it after pd_notify_fields_check. */
    const char *(*check)(const char *value);
} pd_notify_field;

/* cfg's fields against rules: none unknown, the required ones there, the strings checked.
 * FIELD with the field's name and why in words. */
pd_err pd_notify_fields_check(const pd_notify_field *rules, size_t n, const json_t *cfg, const char **field,
                              char *why, size_t whylen);
const char *pd_notify_check_url(const char *s);     /* http or https, with a host */
const char *pd_notify_check_token(const char *s);   /* 1 to 256 bytes, no spaces */
const char *pd_notify_check_text(const char *s);    /* 1 to 256 bytes, no control characters */

/* Adds "name: value" to r's headers; false when out of memory. */
bool pd_notify_req_header(pd_notify_req *r, const char *name, const char *value);
/* r's body as multipart/form-data (r->mime, made at the first part): a text field (nothing
 * when value is NULL); false when out of memory. */
bool pd_notify_form_field(pd_notify_req *r, const char *name, const char *value);
/* m's snapshot as r's file part name, "snapshot.jpg" (image/jpeg); false when out of memory. */
#define PD_NOTIFY_SNAPSHOT_FILE "snapshot.jpg"
bool pd_notify_form_snapshot(pd_notify_req *r, const char *name, const pd_notify_msg *m);

/* The string cfg has at key, or deflt. */
const char *pd_notify_cfg_str(const json_t *cfg, const char *key, const char *deflt);
/* r's URL: base (its trailing '/' dropped) and then path. */
void pd_notify_req_url(pd_notify_req *r, const char *base, const char *path);
/* r's body: o dumped as JSON (o is stolen), with Content-Type application/json. */
pd_err pd_notify_req_json(pd_notify_req *r, json_t *o);

/* s with &, < and > (and " when quotes) as entities: HTML's text and attributes, Telegram's
 * HTML and Slack's mrkdwn. */
void pd_notify_escape(pd_buf *b, const char *s, bool quotes);

/* The few words a service's refusal says (reply.c): from the first len bytes of its reply
 * into out (always a string, "" when it says nothing readable). */
#define PD_NOTIFY_REPLY_MAX 1024   /* bytes of a reply kept */
void pd_notify_reply_words(const char *body, size_t len, char *out, size_t outlen);

/* The types in their own files, listed in channels.c's table. */
extern const pd_notify_type pd_notify_pushover, pd_notify_telegram, pd_notify_discord, pd_notify_slack,
    pd_notify_homeassistant, pd_notify_email;

/* Pushover's priority (-2 … 2) for a message's (1 … 5). */
int pd_notify_pushover_priority(int priority);

/* The builders' pure parts, for the unit tests. */
char *pd_notify_telegram_text(const pd_notify_msg *m);     /* the HTML text; the caller frees it */
int pd_notify_discord_colour(int priority);                 /* the embed's colour, 0xRRGGBB */
void pd_notify_email_date(int64_t t, char out[40]);         /* RFC 5322's date-time, UTC */
void pd_notify_email_subject(pd_buf *b, const char *s);     /* as is, or RFC 2047 encoded-words */
char *pd_notify_email_text(const pd_notify_msg *m);         /* the plain part; the caller frees it */
char *pd_notify_email_html(const pd_notify_msg *m);         /* the HTML part; the caller frees it */

#endif
