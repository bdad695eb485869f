/* Notifications (docs/notify.md): events of the bus turned into messages and delivered to
 * the channels people configured (a webhook, ntfy, …) over libcurl's multi interface on the
 * loop (core/curlm.h): a timeout per attempt, retries with exponential backoff, a bounded
 * queue, a minimum interval per event kind and printer, and each attempt in the delivery log
 * (table notify_log; each channel's last error in notify_channel). */
#ifndef PD_NOTIFY_H
#define PD_NOTIFY_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <uv.h>

#include "core/bus.h"
#include "core/err.h"
#include "printer/model.h"
#include "store/store.h"

/* --- messages: what an event says, pure (message.c) ------------------------------------- */
#define PD_NOTIFY_KIND_MAX 32
/* The event kinds a channel may ask for; `defaults` those a new channel starts with. */
typedef struct pd_notify_kind {
    const char *name;
    bool deflt;
} pd_notify_kind;
extern const pd_notify_kind pd_notify_kinds[];
extern const size_t pd_notify_nkinds;
bool pd_notify_kind_known(const char *name);

/* The facts a message carries, by placeholder name ({job}, {eta}, …): what templates may say
 * (template.c) and what the default texts are made of. "" where an event does not know one. */
typedef enum pd_notify_fact {
    PD_NF_PRINTER, PD_NF_JOB, PD_NF_PROGRESS, PD_NF_LAYER, PD_NF_DURATION, PD_NF_ETA, PD_NF_FINISH_TIME,
    PD_NF_FILAMENT, PD_NF_SPOOL, PD_NF_SHORTFALL_G, PD_NF_HMS_CODE, PD_NF_HMS_TEXT, PD_NF_HMS_URL,
    PD_NF_REASON, PD_NF_URL, PD_NF_COUNT
} pd_notify_fact;
#define PD_NOTIFY_FACT_MAX 200
#define PD_NOTIFY_SNAPSHOT_URL_MAX 512
extern const char *const pd_notify_fact_names[PD_NF_COUNT];

typedef struct pd_notify_msg {
    char id[40];                     /* the delivery's: the same on every attempt (receivers' dedup) */
    char event[PD_NOTIFY_KIND_MAX];  /* a pd_notify_kinds name, or "test" */
    int64_t printer_id;              /* 0: none */
    char printer[128];               /* its name, else its serial, else "" */
    char title[160];
    char text[1024];
    int priority;                    /* 1 (min) … 5 (urgent), ntfy's scale; 3 the default */
    char tags[64];                   /* ntfy's tags, comma separated */
    int64_t ts;                      /* when it happened, Unix seconds */
    json_t *data;                    /* the event's own object (job, alert, prompt, hms), owned */
    bool critical;                   /* may pass a channel's quiet hours (docs/notify.md) */
    char facts[PD_NF_COUNT][PD_NOTIFY_FACT_MAX];
    /* A picture of the printer's camera (docs/notify.md, Snapshots): the frame for the types
     * that attach it (a reference, NULL: none), and a signed short-lived snapshot URL for those
     * whose receiver fetches it ("": none). */
    struct pd_cam_frame *snapshot;
    char snapshot_url[PD_NOTIFY_SNAPSHOT_URL_MAX];
} pd_notify_msg;

/* The message an event makes, or false when nobody is told of it (a job that merely changed,
 * an alert cleared, …). A true return leaves m->data for pd_notify_msg_clear. */
bool pd_notify_msg_from_event(const pd_event *ev, pd_notify_msg *m);
/* What the printer knows now, for the facts an event did not carry (the job's name, progress,
 * layer, time left) and the finish time from the time left. */
typedef struct pd_notify_live {
    const char *job;
    int progress, layer, total_layers;  /* -1: unknown */
    int remaining_min;                  /* -1: unknown */
    pd_model model;                     /* for the HMS wiki link */
} pd_notify_live;
void pd_notify_msg_enrich(pd_notify_msg *m, const pd_notify_live *live, const char *dashboard_url);
/* The default title and text of m's kind, from its facts (pd_notify_msg_from_event has made
 * them once; again after pd_notify_msg_enrich). */
void pd_notify_msg_compose(pd_notify_msg *m);
/* The message POST …/channels/{id}/test sends. */
void pd_notify_msg_test(pd_notify_msg *m, int64_t now_s);
/* Lets go of m's data and snapshot. */
void pd_notify_msg_clear(pd_notify_msg *m);

/* --- channels: one function table per type (channels.c) --------------------------------- */
#define PD_NOTIFY_URL_MAX 2048
#define PD_NOTIFY_BODY_MAX 65536

/* One request of a delivery: POST url with headers and body (all owned), or with a
 * multipart/form-data body (mime) when a type attaches a picture; for e-mail (email.c) the
 * mail's headers, and its recipients and MIME body, made by the type's transfer hook. */
typedef struct pd_notify_req {
    char url[PD_NOTIFY_URL_MAX + 256];
    struct curl_slist *headers;
    char *body;
    size_t body_len;
    struct curl_slist *rcpt;
    curl_mime *mime;
} pd_notify_req;
void pd_notify_req_clear(pd_notify_req *r);

/* How a type shows the printer's camera: not at all, the picture sent along, or a URL its
 * receiver fetches. */
typedef enum pd_notify_picture {
    PD_NOTIFY_PICTURE_NONE = 0,
    PD_NOTIFY_PICTURE_FILE,
    PD_NOTIFY_PICTURE_URL,
} pd_notify_picture;

typedef struct pd_notify_type {
    const char *name;
    pd_notify_picture picture;
    /* The type's fields of a channel (cfg holds nothing else): INVAL/FIELD with the field's
     * name and why in words when one is wrong, missing or unknown. */
    pd_err (*validate)(const json_t *cfg, const char **field, char *why, size_t whylen);
    /* The request that delivers m, now_s being the time it is sent (the webhook signs it). */
    pd_err (*build)(const json_t *cfg, const pd_notify_msg *m, int64_t now_s, pd_notify_req *out);
    const char *const *secrets;     /* fields written, never shown (NULL-terminated) */
    bool via_sender;                /* delivered by the sender (below), not over HTTP */
    /* NULL: a channel is one receiver, reached with its own configuration. Else the channel
     * reaches several (webpush: each subscribed device), and this lists them for m: an array
     * of configurations, each delivered on its own with build. */
    pd_err (*targets)(pd_db *db, const json_t *cfg, const pd_notify_msg *m, json_t **out);
    /* NULL, or told each HTTP status a receiver answered to a delivery built from cfg
     * (webpush forgets a subscription its push service says is gone). */
    void (*answered)(pd_db *db, const json_t *cfg, long status);
    /* NULL for a POST of the built body. Else the transfer is not a POST (e-mail over SMTP):
     * this sets it up on e, after the options every delivery shares; what it makes lives in
     * r and goes with pd_notify_req_clear. */
    pd_err (*transfer)(const json_t *cfg, const pd_notify_msg *m, pd_notify_req *r, CURL *e);
} pd_notify_type;
const pd_notify_type *pd_notify_type_find(const char *name);
/* Whether field is one of t's write-only fields. */
bool pd_notify_type_secret(const pd_notify_type *t, const char *field);

/* The type mqtt (mqtt.c): the webhook's body published to a topic of the user's broker. */
pd_err pd_notify_mqtt_validate(const json_t *cfg, const char **field, char *why, size_t whylen);
pd_err pd_notify_mqtt_build(const json_t *cfg, const pd_notify_msg *m, int64_t now_s, pd_notify_req *out);

/* The webhook's signature: "sha256=" and the hex HMAC-SHA256 with secret over
 * "<ts>.<body>", into out (at least 72 bytes). */
pd_err pd_notify_sign(const char *secret, int64_t ts, const char *body, size_t body_len, char out[72]);
/* The webhook's JSON body (version 1, docs/notify.md), owned by the caller. */
char *pd_notify_webhook_body(const pd_notify_msg *m, size_t *len);

/* --- templates (template.c) -----------------------------------------------------------------
 * "{job} on {printer}: {progress}"; "{{" and "}}" are braces. */
#define PD_NOTIFY_TPL_MAX 1024
/* PD_OK, or FIELD with why in words (the placeholder it does not know, a brace left open). */
pd_err pd_notify_tpl_check(const char *tpl, char *why, size_t whylen);
/* tpl with m's facts into out (cap bytes, cut on a character boundary); tpl already checked. */
void pd_notify_tpl_render(const char *tpl, const pd_notify_msg *m, char *out, size_t cap);

/* --- rules (rules.c): which channel hears which printer and kind, when --------------------
 * A channel's rules are a JSON object (docs/notify.md, Rules), checked by pd_notify_rules_check
 * and read as stored: {printers, printer_events, quiet_hours, min_interval_s, digest_hour,
 * templates}, every member optional. */
/* PD_OK, or FIELD with the member's path ("quiet_hours.start") in field and why in words. */
pd_err pd_notify_rules_check(const json_t *rules, char *field, size_t fieldlen, char *why, size_t whylen);
/* Whether the rules' printers (none: every one) include printer_id (0: no printer, always). */
bool pd_notify_rules_hears(const json_t *rules, int64_t printer_id);
/* Whether a channel with these rules and event kinds (comma separated) tells printer_id (0:
 * no printer) of kind. */
bool pd_notify_rules_wants(const json_t *rules, const char *events, int64_t printer_id, const char *kind);
/* Whether local time *tm falls in the rules' quiet hours (a window may wrap midnight; its
 * days are those it starts on). */
bool pd_notify_rules_quiet(const json_t *rules, const struct tm *tm);
/* Whether a critical message passes the quiet hours. */
bool pd_notify_rules_critical_passes(const json_t *rules);
/* The channel's minimum interval per kind and printer, else deflt. */
int pd_notify_rules_interval(const json_t *rules, int deflt);
/* The local hour of the daily digest, or -1 for none. */
int pd_notify_rules_digest_hour(const json_t *rules);
/* The local day of tm as yyyymmdd. */
int pd_notify_local_day(const struct tm *tm);
/* Whether the digest is due at local time tm, the last one having gone out on local day
 * last_day (0: never): in its hour, once a day. */
bool pd_notify_digest_due(const json_t *rules, const struct tm *tm, int last_day);
/* The channel's template of kind for "title" or "text" (its own, else the one for all "*"),
 * or NULL. */
const char *pd_notify_rules_template(const json_t *rules, const char *kind, const char *part);
/* Whether kinds (comma separated) has kind. */
bool pd_notify_kinds_has(const char *kinds, const char *kind);

/* One message per (channel, kind, printer) per interval, on the monotonic clock; the oldest
 * pair is forgotten when the table is full. */
#define PD_NOTIFY_RATE_SLOTS 512
typedef struct pd_notify_rate_slot {
    int64_t channel_id, printer_id;
    char event[PD_NOTIFY_KIND_MAX];
    uint64_t at_ms;
} pd_notify_rate_slot;
typedef struct pd_notify_rate {
    pd_notify_rate_slot slot[PD_NOTIFY_RATE_SLOTS];
} pd_notify_rate;
bool pd_notify_rate_ok(pd_notify_rate *r, int64_t channel_id, const char *kind, int64_t printer_id,
                       uint64_t now_ms, uint64_t gap_ms);

/* --- the dispatcher and deliveries (notify.c) --------------------------------------------- */
typedef struct pd_notify pd_notify;
struct pd_fleet;
typedef struct pd_notify_opts {
    int timeout_s;          /* one attempt, all of it */
    int attempts;           /* at most, a first one included */
    int retry_base_ms;      /* the wait before the second attempt; doubled for each next one */
    int min_interval_s;     /* one message per event kind and printer in this long */
    int max_queue;          /* deliveries in flight or waiting to retry; past it one is dropped */
    const char *dashboard_url;  /* the dashboard as people open it, for {url} and snapshot URLs; "" none */
    struct pd_camera *camera;   /* the frame hub, for snapshots; NULL: none */
} pd_notify_opts;

/* fleet: the printers' names, for events that do not carry them. */
pd_err pd_notify_start(pd_notify **out, uv_loop_t *loop, pd_bus *bus, pd_db *db, struct pd_fleet *fleet,
                       const pd_notify_opts *o);
/* Deliveries still under way end without a log row; the loop must then run until handles close. */
void pd_notify_stop(pd_notify **n);

/* Channel types that do not speak HTTP (via_sender) are delivered by a sender: mqtt by the
 * Home Assistant broker connection (ha/ha.h). Their build leaves the destination (a topic) in
 * req.url and the payload in req.body; send calls done once, later, on the loop, unless the
 * ticket is cancelled. Without a sender such a channel's deliveries fail, saying why. */
typedef void (*pd_notify_sent_cb)(void *ud, bool ok, const char *words);
typedef struct pd_notify_sender {
    pd_err (*send)(void *ctx, const char *dest, const char *body, size_t len, pd_notify_sent_cb done, void *ud,
                   uint64_t *ticket);
    void (*cancel)(void *ctx, uint64_t ticket);
} pd_notify_sender;
void pd_notify_set_sender(pd_notify *n, const pd_notify_sender *s, void *ctx);

/* A test delivery's outcome: ok, the receiver's HTTP status (0 none), and in words. */
typedef void (*pd_notify_test_cb)(bool ok, long status, const char *words, void *ud);
/* Sends the test message to channel id once, no retries; cb runs exactly once, on the loop,
 * unless the handle is cancelled. NOTFOUND when there is no such channel. */
pd_err pd_notify_test(pd_notify *n, int64_t channel_id, pd_notify_test_cb cb, void *ud, uint64_t *handle);
void pd_notify_test_cancel(pd_notify *n, uint64_t handle);
/* Sends channel id's daily digest now (its held messages go with it). NOTFOUND when there is
 * no such channel. */
pd_err pd_notify_digest_now(pd_notify *n, int64_t channel_id);
/* The test message to one target of channel_id (of type t, as its targets list it), as
 * pd_notify_test sends it: Web Push's "send a test" to this device. */
void pd_notify_test_target(pd_notify *n, int64_t channel_id, const pd_notify_type *t, const json_t *target,
                           pd_notify_test_cb cb, void *ud, uint64_t *handle);

/* --- the delivery log, listed (logrows.c) --------------------------------------------------
 * Filters channel_id (alias channel), printer_id (printer), event, at (date); sort, limit and
 * offset by the inventory's rules; newest first. */
struct pd_inv;
struct pd_inv_param;
struct pd_inv_cursor;
struct pd_inv_err;
pd_err pd_notify_log_open(struct pd_inv *inv, const struct pd_inv_param *p, size_t n, bool csv,
                          struct pd_inv_cursor **out, struct pd_inv_err *e);

#endif
