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
#include <uv.h>

#include "core/bus.h"
#include "core/err.h"
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
} pd_notify_msg;

/* The message an event makes, or false when nobody is told of it (a job that merely changed,
 * an alert cleared, …). A true return leaves m->data for pd_notify_msg_clear. */
bool pd_notify_msg_from_event(const pd_event *ev, pd_notify_msg *m);
/* The message POST …/channels/{id}/test sends. */
void pd_notify_msg_test(pd_notify_msg *m, int64_t now_s);
void pd_notify_msg_clear(pd_notify_msg *m);

/* --- channels: one function table per type (channels.c) --------------------------------- */
#define PD_NOTIFY_URL_MAX 2048
#define PD_NOTIFY_BODY_MAX 65536

/* One request of a delivery: POST url with headers and body (all owned); for e-mail (email.c)
 * the mail's headers, and its recipients and MIME body, made by the type's transfer hook. */
typedef struct pd_notify_req {
    char url[PD_NOTIFY_URL_MAX + 256];
    struct curl_slist *headers;
    char *body;
    size_t body_len;
    struct curl_slist *rcpt;
    curl_mime *mime;
} pd_notify_req;
void pd_notify_req_clear(pd_notify_req *r);

typedef struct pd_notify_type {
    const char *name;
    /* The type's fields of a channel (cfg holds nothing else): INVAL/FIELD with the field's
     * name and why in words when one is wrong, missing or unknown. */
    pd_err (*validate)(const json_t *cfg, const char **field, char *why, size_t whylen);
    /* The request that delivers m, now_s being the time it is sent (the webhook signs it). */
    pd_err (*build)(const json_t *cfg, const pd_notify_msg *m, int64_t now_s, pd_notify_req *out);
    const char *const *secrets;     /* fields written, never shown (NULL-terminated) */
    /* NULL for a POST of the built body. Else the transfer is not a POST (e-mail over SMTP):
     * this sets it up on e, after the options every delivery shares; what it makes lives in
     * r and goes with pd_notify_req_clear. */
    pd_err (*transfer)(const json_t *cfg, const pd_notify_msg *m, pd_notify_req *r, CURL *e);
} pd_notify_type;
const pd_notify_type *pd_notify_type_find(const char *name);
/* Whether field is one of t's write-only fields. */
bool pd_notify_type_secret(const pd_notify_type *t, const char *field);

/* The webhook's signature: "sha256=" and the hex HMAC-SHA256 with secret over
 * "<ts>.<body>", into out (at least 72 bytes). */
pd_err pd_notify_sign(const char *secret, int64_t ts, const char *body, size_t body_len, char out[72]);
/* The webhook's JSON body (version 1, docs/notify.md), owned by the caller. */
char *pd_notify_webhook_body(const pd_notify_msg *m, size_t *len);

/* --- the dispatcher and deliveries (notify.c) --------------------------------------------- */
typedef struct pd_notify pd_notify;
struct pd_fleet;
typedef struct pd_notify_opts {
    int timeout_s;          /* one attempt, all of it */
    int attempts;           /* at most, a first one included */
    int retry_base_ms;      /* the wait before the second attempt; doubled for each next one */
    int min_interval_s;     /* one message per event kind and printer in this long */
    int max_queue;          /* deliveries in flight or waiting to retry; past it one is dropped */
} pd_notify_opts;

/* fleet: the printers' names, for events that do not carry them. */
pd_err pd_notify_start(pd_notify **out, uv_loop_t *loop, pd_bus *bus, pd_db *db, struct pd_fleet *fleet,
                       const pd_notify_opts *o);
/* Deliveries still under way end without a log row; the loop must then run until handles close. */
void pd_notify_stop(pd_notify **n);

/* A test delivery's outcome: ok, the receiver's HTTP status (0 none), and in words. */
typedef void (*pd_notify_test_cb)(bool ok, long status, const char *words, void *ud);
/* Sends the test message to channel id once, no retries; cb runs exactly once, on the loop,
 * unless the handle is cancelled. NOTFOUND when there is no such channel. */
pd_err pd_notify_test(pd_notify *n, int64_t channel_id, pd_notify_test_cb cb, void *ud, uint64_t *handle);
void pd_notify_test_cancel(pd_notify *n, uint64_t handle);

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
