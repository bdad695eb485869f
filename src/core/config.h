/* Configuration: one declarative table (config.c) gives every key its type, default, bounds
 * and help text. Sources, later wins: defaults < INI file < PRINTDECK_<SECTION>_<KEY>
 * environment < command line. `[printer NAME]` sections declare printers in the file only;
 * their keys are the printer record's, checked by its table (printer/record.h). */
#ifndef PD_CONFIG_H
#define PD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "core/err.h"
#include "store/store.h"
#include "track/exposure.h"

#define PD_CFG_STR 256

typedef struct pd_cfg_printer {
    pd_printer_rec rec;   /* checked and normalised; id and created_at unset */
    int line;             /* of its [printer NAME] header, for messages */
} pd_cfg_printer;

typedef struct pd_config {
    /* [server] */
    char listen[PD_CFG_STR];
    char data_dir[PD_CFG_STR];
    int max_body;          /* bytes */
    int sse_backlog;       /* bytes queued per SSE client before it is dropped */
    int sse_replay;        /* bytes of recent events kept for Last-Event-ID resume */
    int heartbeat_s;
    int max_clients;
    int max_clients_per_address;
    int handler_timeout_s; /* a request waiting for its answer, unless its route extends it */
    int idle_timeout_s;    /* websockets: pinged at half of it, closed at it without an answer */
    char cors_origins[512];   /* browser origins allowed CORS and writes; "*" = any */
    char allowed_hosts[512];  /* Host names served besides IPs and private names */
    /* [auth] */
    bool auth_enabled;
    bool auth_allow_open_network; /* auth off on a listen address other than loopback */
    char trusted_networks[PD_CFG_STR]; /* CIDRs that reach Spoolman routes without a token */
    int session_max_s;     /* a session ends this long after sign-in */
    int session_idle_s;    /* ... or this long unused */
    int login_attempts;    /* per client address and per account name, per login_window_s */
    int login_window_s;
    int password_workers;  /* argon2id hashes and checks at once, in a pool of their own */
    int password_queue;    /* waiting for one; past it 503 */
    /* [log] */
    char log_level[16];
    char log_format[16];   /* plain | json */
    /* [database] */
    char database[PD_CFG_STR]; /* empty = SQLite file in data_dir */
    /* [mqtt] */
    int silence_s;
    int keepalive_s;
    int reconnect_min_ms;
    int reconnect_max_ms;
    int command_timeout_ms;
    int pushall_retry_s;
    int max_payload;
    int max_printers;
    /* [files] */
    int files_max_upload;  /* bytes of an uploaded 3MF or G-code */
    int files_workers;     /* analyses running at once */
    int files_queue;       /* analyses waiting; past it 503 */
    int files_timeout_s;   /* one analysis, running */
    /* [ftps] */
    int ftps_max_transfers;
    int ftps_max_per_printer;
    int ftps_max_queued;
    int ftps_connect_timeout_s;
    int ftps_stall_s;
    int ftps_timeout_s;
    int ftps_max_file_kb;
    /* [notify] */
    int notify_timeout_s;
    int notify_attempts;
    int notify_retry_base_ms;
    int notify_min_interval_s;
    int notify_max_queue;
    char notify_dashboard_url[PD_CFG_STR];
    /* [camera] */
    int camera_idle_s;
    int camera_max_fps;
    int camera_stall_s;
    int camera_timeout_s;
    int camera_snapshot_wait_s;
    int camera_max_viewers;
    int camera_url_ttl_s;
    int camera_rtsp_fps;
    int camera_rtsp_width;
    /* [timelapse] */
    bool timelapse_enabled;
    char timelapse_mode[16];       /* layer | interval */
    int timelapse_interval_s;
    int timelapse_max_frames;
    int timelapse_fps;
    int timelapse_width, timelapse_height;
    int timelapse_keep_count, timelapse_keep_days, timelapse_keep_mb;
    int camera_decode_workers;
    int camera_decode_queue;
    /* [jobs] */
    int offline_timeout_s;
    /* [alerts] */
    int alert_low_stock_g;         /* filaments without their own threshold; 0 = none */
    int alert_low_stock_margin_g;  /* re-arms above threshold + margin */
    int alert_humidity_pct;        /* AMS units reporting a percentage */
    int alert_humidity_level;      /* units reporting only a level 1-5 (5 driest): at or below */
    int alert_humidity_margin_pct;
    int alert_humidity_sustain_s;
    int alert_stall_s;
    int alert_drying_check_s;
    char alert_drying_hours[PD_EXPOSURE_TEXT];  /* "PVA:8, PA:12, …" (track/exposure.h) */
    /* [history] */
    int history_interval_s;
    int history_ams_interval_s;
    int history_keep_s;
    /* [inventory] */
    char external_db_url[PD_CFG_STR];  /* SpoolmanDB to fetch the catalogue from; "" none */
    int external_db_sync_s;            /* between fetches; 0 at start only */
    bool inventory_metrics;            /* Spoolman's gauges on /metrics */

    /* [homeassistant] */
    char ha_url[PD_CFG_STR];           /* mqtt://host[:port] or mqtts://…; "" off */
    char ha_username[128];
    char ha_password[128];
    char ha_client_id[64];
    char ha_discovery_prefix[65];
    char ha_base_topic[65];
    int ha_min_interval_ms;            /* one entity's state at most this often */
    char ha_webhook_secret[129];       /* Home Assistant's webhooks; "" off */
    char ha_api_url[PD_CFG_STR];       /* Home Assistant's WebSocket API as a source; "" off */
    char ha_token[1024];               /* its long-lived access token: never logged or shown */
    char ha_api_ca_file[PD_CFG_STR];
    int ha_api_max_message;
    int ha_api_ping_s;                 /* its heartbeat: a ping this often, */
    int ha_api_pong_timeout_s;         /* its pong within this, else the connection is stale */

    pd_cfg_printer *printers; /* owned */
    size_t n_printers;
    char path[PD_CFG_STR];    /* file it was loaded from, for SIGHUP reload */
} pd_config;

/* Fill defaults, then read `path` (may be NULL), then the environment. On error `err` says
 * which file:line, section and key, or which environment variable, is wrong; a printer
 * section that breaks a rule of the printer record is such an error. Frees any earlier
 * printers in cfg. */
pd_err pd_config_load(pd_config *cfg, const char *path, char *err, size_t errlen);
/* Set one key by "section.key" name (command line, the dashboard's thresholds), checked by
 * the key's row: its bounds, or a text's own rule; on error `err` names the key and why. */
pd_err pd_config_set(pd_config *cfg, const char *dotted, const char *value, char *err, size_t errlen);
/* A key's value as text (an integer in decimal, a boolean true or false). NOTFOUND for a key
 * that does not exist, TOOBIG when outlen is short. */
pd_err pd_config_get(const pd_config *cfg, const char *dotted, char *out, size_t outlen);

/* The keys that may change while the daemon runs, in the table's order: the alert thresholds
 * the dashboard edits (docs/api.md, Thresholds). Whoever reads one reads it at each use. */
typedef struct pd_config_key {
    char name[64];       /* "alerts.humidity_pct" */
    bool integer;        /* a whole number in [min, max]; else a text with its own rule */
    long min, max;
    const char *def, *help;
} pd_config_key;
size_t pd_config_live_count(void);
/* The i-th of them into *out; false past the last. */
bool pd_config_live_at(size_t i, pd_config_key *out);
void pd_config_free(pd_config *cfg);
/* true/yes/on/1 and false/no/off/0, any case: the one spelling of booleans in text sources. */
int pd_config_parse_bool(const char *v, bool *out);
/* Print every key, its default, env name and help (for --help). */
void pd_config_help(FILE *out);

#endif
