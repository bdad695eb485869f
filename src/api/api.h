/* What API handlers see of the daemon, and each resource's route table. */
#ifndef PD_API_H
#define PD_API_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "api/auth.h"
#include "camera/camera.h"
#include "core/bus.h"
#include "core/config.h"
#include "core/loopstat.h"
#include "core/work.h"
#include "files/ftps.h"
#include "http/http.h"
#include "inventory/inventory.h"
#include "notify/notify.h"
#include "printer/printer.h"
#include "store/store.h"
#include "track/alerts.h"

typedef struct pd_app {
    uv_loop_t *loop;
    pd_bus *bus;
    pd_fleet *fleet;
    pd_db *db;
    pd_inv *inv;
    pd_config *cfg;               /* read by all; its live keys written by thresholds.c */
    int64_t started_ms;
    const pd_loopstat *loopstat;  /* turn times for /metrics; NULL outside the daemon */
    pd_work_pool *work;           /* blocking work off the loop (file analysis) */
    pd_work_pool *pw_work;        /* password hashes and checks: a pool of their own, so a
                                   * burst of sign-ins cannot take the file analyses' threads */
    pd_ftps *ftps;                /* the printers' storage over FTPS */
    pd_alerts *alerts;            /* the alert engine: raise, ack, spool dried */
    struct pd_history *history;   /* the printers' recent samples (track/history.h) */
    pd_auth *auth;                /* tokens and sessions */
    pd_notify *notify;            /* notification channels and deliveries */
    pd_camera *camera;            /* the cameras' frame hub */
    struct pd_tl *timelapse;      /* the timelapses (camera/timelapse.h) */
} pd_app;

extern const pd_route pd_api_printers_routes[];
extern const size_t pd_api_printers_nroutes;
/* The printer {id} of the path (numeric id or serial), or NULL after replying 404 (also for a
 * printer the requester's printer limit hides: it does not learn that it exists). */
pd_printer *pd_api_printer_of(pd_req *r);
/* Whether the requester may see and control printer id (docs/accounts.md, printer limits). */
bool pd_api_printer_visible(pd_req *r, int64_t id);
/* The printer's storage over FTPS: /api/v1/printers/{id}/files[/download] (storage.c). */
extern const pd_route pd_api_storage_routes[];
extern const size_t pd_api_storage_nroutes;
/* Replies the open file fd (taken over) of size bytes, streamed a piece per turn with
 * X-File-Size; on failure the error is replied and fd closed (storage.c). */
void pd_api_reply_file(pd_req *r, int fd, int64_t size, const char *content_type);
/* What a large reply refused by pd_req_reply_stream (PD_HTTP_REPLY_STREAMS already streaming)
 * says with its 429. */
#define PD_API_STREAMS_BUSY "Too many large replies are being sent; try again shortly."
extern const pd_route pd_api_system_routes[];   /* /healthz, /metrics */
extern const size_t pd_api_system_nroutes;
/* With [inventory] metrics, /metrics also carries Spoolman's gauges, read off the loop each
 * minute (system.c). Stop after the worker pool is freed. */
pd_err pd_api_metrics_start(pd_app *app);
void pd_api_metrics_stop(void);

/* Inventory (Spoolman-compatible, PD_ROUTE_SPOOLMAN): vendor, filament, spool, info, health,
 * backup, distinct lists (inventory.c); setting and field (settings.c); export (transfer.c). */
extern const pd_route pd_api_inventory_routes[];
extern const size_t pd_api_inventory_nroutes;
extern const pd_route pd_api_settings_routes[];
extern const size_t pd_api_settings_nroutes;
/* Export (GET /api/v1/export/{spools,filaments,vendors}, Spoolman's) and import (POST
 * /api/v1/import, printdeck's, token required): transfer.c. */
extern const pd_route pd_api_transfer_routes[];
extern const size_t pd_api_transfer_nroutes;
/* Replies an inventory error in the route's shape (422 naming the field, else the status of
 * the code with Spoolman's message). */
void pd_api_inv_fail(pd_req *r, const pd_inv_err *e);
/* Frees the rendered list replies kept between requests (at shutdown). */
void pd_api_inventory_cache_clear(void);
/* Replies the text of cur (stolen) with content_type, its ids read off the loop (pd_db_read):
 * up to PD_API_BUILD_MAX rows built whole, more streamed as the client takes it
 * (pd_req_reply_stream); 429 when too many are sent or read at once. total: a list's
 * X-Total-Count. */
#define PD_API_BUILD_MAX 2000
void pd_api_inv_reply_cursor(pd_req *r, const char *content_type, pd_inv_cursor *cur, bool total);
/* A consistent copy of db as <data_dir>/backups/printdeck.db, the older ones rotated to
 * printdeck.db.1 … .5 (POST /backup off the loop on a read connection, `printdeck backup`).
 * *created false when nothing was written: the newest copy is the same, or this process
 * rotated less than 5 minutes ago. One at a time per process: POST /backup refuses a second. */
pd_err pd_api_backup(pd_db *db, const char *data_dir, char *path, size_t pathlen, bool *created, char *err,
                     size_t errlen);

/* SpoolmanDB's catalogue at /api/v1/external/… (external.c): loaded at start (the last one
 * fetched, else the built-in one), then fetched again when inventory.external_db_url says
 * where from. Stop after the worker pool is freed. */
extern const pd_route pd_api_external_routes[];
extern const size_t pd_api_external_nroutes;
pd_err pd_api_external_start(pd_app *app);
void pd_api_external_stop(void);

/* printdeck's slot API: /api/v1/ams, /api/v1/printers/{id}/ams… (ams.c). */
extern const pd_route pd_api_ams_routes[];
extern const size_t pd_api_ams_nroutes;

/* Alerts, a spool dried, statistics: /api/v1/alerts…, /api/v1/spool/{id}/dried,
 * /api/v1/stats[/low-stock] (alerts.c). */
extern const pd_route pd_api_alerts_routes[];
extern const size_t pd_api_alerts_nroutes;
/* The path's {id} as an integer; false after replying 422 with `what` (alerts.c). */
bool pd_api_path_id(pd_req *r, const char *what, int64_t *id);
/* "Which spool is this?": /api/v1/prompts… (prompts.c). */
extern const pd_route pd_api_prompts_routes[];
extern const size_t pd_api_prompts_nroutes;
/* GET /api/v1/printers/{id}/history: recent temperatures, fans, AMS climate (history.c). */
extern const pd_route pd_api_history_routes[];
extern const size_t pd_api_history_nroutes;

/* The alert thresholds an admin changes while the daemon runs: GET, PATCH /api/v1/thresholds
 * (thresholds.c). The live keys of the configuration (core/config.h); a change is stored and
 * wins over the configuration until reset. */
extern const pd_route pd_api_thresholds_routes[];
extern const size_t pd_api_thresholds_nroutes;
/* Keeps cfg, just loaded, as what the configuration says, then applies the stored changes to
 * it; at start and after each reload. A stored value the rules refuse now is left out, with a
 * warning. */
pd_err pd_api_thresholds_load(pd_db *db, pd_config *cfg);
#define PD_THRESHOLDS_MAX 16
typedef struct pd_threshold_change {
    char key[64];
    bool reset;                   /* null: back to the configured value */
    char text[PD_EXPOSURE_TEXT];  /* else the value as the configuration's text */
} pd_threshold_change;
/* A PATCH body checked against the configuration's rules: its changes into out (up to
 * PD_THRESHOLDS_MAX, *n of them), or an error with why, and the key it is about (a field
 * error) or "" (the body). Nothing is applied. */
pd_err pd_api_thresholds_check(json_t *body, pd_threshold_change *out, size_t *n, char *key, size_t keylen,
                               char *why, size_t whylen);

/* Notification channels, their tests and the delivery log: /api/v1/notifications/… (notify.c). */
extern const pd_route pd_api_notify_routes[];
extern const size_t pd_api_notify_nroutes;
/* The user whose channels a request manages: 0 for an admin (every channel), -1 for a
 * requester that is neither an admin nor a user (a non-admin token owns nothing). */
int64_t pd_api_notify_owner(pd_req *r);
/* PD_OK when the requester may manage channel id; NOTFOUND (none, or another user's),
 * FORBIDDEN (no user) or a database error. */
pd_err pd_api_notify_owned(pd_req *r, int64_t id);
/* Deletes channel id with its log and held messages, in one transaction. */
pd_err pd_api_notify_remove(pd_db *db, int64_t id, int64_t *changes);
/* The rules and the seed's per-printer view: /api/v1/notifications/rules and
 * …/printers/{id} (notifyrules.c). */
extern const pd_route pd_api_notify_rules_routes[];
extern const size_t pd_api_notify_rules_nroutes;
/* A test delivery that start begins (with cb and ud for pd_notify's test functions), its
 * outcome replied as {ok, status, message} when it ends; start's error returned, and nothing
 * replied then. */
typedef pd_err (*pd_api_notify_test_start)(pd_req *r, void *arg, pd_notify_test_cb cb, void *ud, uint64_t *handle);
pd_err pd_api_notify_test_run(pd_req *r, pd_api_notify_test_start start, void *arg);
/* Web Push: the VAPID key and this device's subscriptions, /api/v1/notifications/push/…
 * (webpush.c). */
extern const pd_route pd_api_webpush_routes[];
extern const size_t pd_api_webpush_nroutes;
/* Home Assistant's webhooks and the merge of a printer they created (homeassistant.c). */
extern const pd_route pd_api_homeassistant_routes[];
extern const size_t pd_api_homeassistant_nroutes;

/* The cameras: /api/v1/printers/{id}/camera (MJPEG), …/snapshot, …/camera/status (camera.c). */
extern const pd_route pd_api_camera_routes[];
extern const size_t pd_api_camera_nroutes;
/* The MJPEG viewers' list (bound to sessions like the event streams); stop closes them. */
void pd_api_camera_start(pd_app *app);
void pd_api_camera_stop(void);
/* Timelapses: /api/v1/timelapses…, /api/v1/jobs/{id}/timelapse (timelapse.c). */
extern const pd_route pd_api_timelapse_routes[];
extern const size_t pd_api_timelapse_nroutes;

/* The print history: /api/v1/jobs… (jobs.c). */
#define PD_API_MAX_PARAMS 64
/* The query as name/value pairs (buf holds them), for the lists that filter like the
 * inventory's; at most PD_API_MAX_PARAMS. For a requester limited to some printers the
 * printer filter (printer_id, alias printer) is narrowed to those it may see (limit holds it,
 * PD_IDENT_MAX_PRINTERS * 21 bytes): the printers asked for among them, or all of them. */
size_t pd_api_query_params(pd_req *r, char *buf, size_t buflen, pd_inv_param *p, char *limit,
                           size_t limitlen);
/* A list (JSON, X-Total-Count) or with csv its export (?fmt=csv, a download named `file`) of
 * one of those tables, through the cursor `open` makes (pd_api_inv_reply_cursor). */
typedef pd_err (*pd_api_table_open)(pd_inv *inv, const pd_inv_param *p, size_t n, bool csv,
                                    pd_inv_cursor **out, pd_inv_err *e);
void pd_api_table_reply(pd_req *r, pd_api_table_open open, bool csv, const char *file);
extern const pd_route pd_api_jobs_routes[];
extern const size_t pd_api_jobs_nroutes;

/* Filament usage rows: /api/v1/usage and its CSV export (usage.c). */
extern const pd_route pd_api_usage_routes[];
extern const size_t pd_api_usage_nroutes;

/* Spoolman's websocket notifications (PD_ROUTE_SPOOLMAN "WS" routes): /api/v1/ and
 * /api/v1/{vendor,filament,spool,setting}[/{id|key}]. Subscribes to PD_EV_INVENTORY at
 * start; stop closes the sockets still open. */
extern const pd_route pd_api_changes_routes[];
extern const size_t pd_api_changes_nroutes;
pd_err pd_api_changes_start(pd_app *app);
void pd_api_changes_stop(void);
/* Spoolman's setting keys, in its order: a socket to /setting/{key} must name one. */
extern const char *const pd_api_setting_keys[];
extern const size_t pd_api_setting_nkeys;

/* The SSE hub: /api/v1/events. Subscribes to the bus at start. */
extern const pd_route pd_api_events_routes[];
extern const size_t pd_api_events_nroutes;
pd_err pd_api_events_start(pd_app *app);
/* Unsubscribes, stops the heartbeat and closes the streams still open (their handles close
 * on the next loop turn). */
void pd_api_events_stop(void);
/* For /metrics: event-stream clients connected now, and dropped so far for falling behind. */
size_t pd_api_events_clients(void);
uint64_t pd_api_events_dropped(void);

/* Setup, sign-in and out, /me, users and tokens (accounts.c). limits: sign-in attempts per
 * client address and per account name in a window of window_s (call once at start). */
extern const pd_route pd_api_accounts_routes[];
extern const size_t pd_api_accounts_nroutes;
void pd_api_accounts_limits(int attempts, int window_s);

/* POST /api/v1/files/analyze (files.c): a 3MF or G-code analysed in app->work, with the
 * spools to load for it. */
extern const pd_route pd_api_files_routes[];
extern const size_t pd_api_files_nroutes;

#endif
