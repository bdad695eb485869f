#include "core/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "camera/timelapse.h"
#include "ha/ha.h"
#include "ha/inbound.h"
#include "printer/record.h"
#include "track/exposure.h"

enum cfg_type { CFG_STR, CFG_INT, CFG_BOOL };

typedef struct cfg_key {
    const char *section, *key;
    enum cfg_type type;
    size_t off, size;
    const char *def;
    long min, max;
    const char *help;
    bool live;     /* may change while the daemon runs: the dashboard's thresholds */
    pd_err (*check)(const char *v, char *err, size_t errlen);  /* a text's own rule, or NULL */
} cfg_key;

#define S(sec, k, field, d, h) {sec, k, CFG_STR, offsetof(pd_config, field), \
                                sizeof(((pd_config *)0)->field), d, 0, 0, h, false, NULL}
#define I(sec, k, field, d, lo, hi, h) {sec, k, CFG_INT, offsetof(pd_config, field), \
                                        sizeof(int), d, lo, hi, h, false, NULL}
#define B(sec, k, field, d, h) {sec, k, CFG_BOOL, offsetof(pd_config, field), sizeof(bool), d, 0, 1, \
                                h, false, NULL}
/* a text with its own rule */
#define SC(sec, k, field, d, chk, h) {sec, k, CFG_STR, offsetof(pd_config, field), \
                                      sizeof(((pd_config *)0)->field), d, 0, 0, h, false, chk}
/* live: read where it is used, at each use, so a change applies at once */
#define IL(sec, k, field, d, lo, hi, h) {sec, k, CFG_INT, offsetof(pd_config, field), \
                                         sizeof(int), d, lo, hi, h, true, NULL}
#define SL(sec, k, field, d, chk, h) {sec, k, CFG_STR, offsetof(pd_config, field), \
                                      sizeof(((pd_config *)0)->field), d, 0, 0, h, true, chk}

static const cfg_key cfg_keys[] = {
    S("server", "listen", listen, "127.0.0.1:8080", "HTTP listen address ADDR:PORT"),
    S("server", "data_dir", data_dir, "./data", "directory for the SQLite database and state"),
    I("server", "max_body", max_body, "1048576", 1024, 64 << 20, "largest accepted request body, bytes"),
    I("server", "sse_backlog", sse_backlog, "262144", 4096, 16 << 20,
      "bytes queued for one event-stream client before it is dropped"),
    I("server", "sse_replay", sse_replay, "1048576", 0, 64 << 20,
      "bytes of recent events kept for event-stream clients that reconnect with Last-Event-ID "
      "(0: every reconnect gets a fresh snapshot)"),
    I("server", "heartbeat_s", heartbeat_s, "15", 1, 3600, "event-stream heartbeat interval, seconds"),
    I("server", "max_clients", max_clients, "1024", 8, 65536, "simultaneous HTTP connections"),
    I("server", "max_clients_per_address", max_clients_per_address, "64", 1, 65536,
      "simultaneous HTTP connections from one client address (at most half of max_clients)"),
    I("server", "handler_timeout_s", handler_timeout_s, "120", 1, 3600,
      "seconds a request may wait for its answer, unless its route waits on a bound of its own "
      "(a printer's file, a file analysis)"),
    I("server", "idle_timeout_s", idle_timeout_s, "60", 2, 3600,
      "seconds a websocket may stay silent: pinged at half of it, closed at it without an answer"),
    S("server", "cors_origins", cors_origins, "",
      "browser origins (scheme://host[:port], comma-separated, or *) given CORS headers and "
      "allowed to write and open websockets, besides this host's own"),
    S("server", "allowed_hosts", allowed_hosts, "",
      "Host names served besides IP addresses, single-label and private names (.local, .lan, "
      "...): name, or .name (or *.name) for it and its subdomains, or *"),
    B("auth", "enabled", auth_enabled, "true", "require a token on /api/v1 routes"),
    B("auth", "allow_open_network", auth_allow_open_network, "false",
      "with enabled = false, start on a listen address other than loopback anyway: every route "
      "open to whoever reaches it"),
    I("auth", "session_max_s", session_max_s, "2592000", 10, 31536000,
      "a session (sign-in) ends this many seconds after it began"),
    I("auth", "session_idle_s", session_idle_s, "604800", 60, 31536000,
      "a session ends after this many seconds unused"),
    I("auth", "login_attempts", login_attempts, "10", 1, 10000,
      "sign-in attempts one client address, and one account name, may make per login_window_s"),
    I("auth", "login_window_s", login_window_s, "900", 1, 86400,
      "the window of login_attempts, seconds from the first attempt"),
    I("auth", "password_workers", password_workers, "1", 1, 16,
      "passwords hashed or checked at once (argon2id: about 100 ms and 64 MiB each), in threads "
      "of their own: sign-ins never hold up file analyses or database reads"),
    I("auth", "password_queue", password_queue, "16", 0, 1024,
      "sign-ins and password changes waiting for a password worker; past it they are answered 503"),
    S("auth", "trusted_networks", trusted_networks, "127.0.0.0/8, ::1/128",
      "CIDRs whose clients use the Spoolman-compatible routes without a token"),
    S("log", "level", log_level, "info", "debug | info | warn | error"),
    S("log", "format", log_format, "plain", "plain | json (one JSON object per line)"),
    S("database", "url", database, "",
      "empty: SQLite file <data_dir>/printdeck.db; sqlite:PATH; or postgresql://user@host:port/dbname"),
    I("mqtt", "silence_s", silence_s, "60", 5, 3600,
      "seconds without a report before a printer is asked again and then marked offline"),
    I("mqtt", "keepalive_s", keepalive_s, "30", 5, 600, "MQTT keepalive, seconds"),
    I("mqtt", "reconnect_min_ms", reconnect_min_ms, "1000", 100, 600000, "first reconnect delay"),
    I("mqtt", "reconnect_max_ms", reconnect_max_ms, "60000", 1000, 3600000, "reconnect delay cap"),
    I("mqtt", "command_timeout_ms", command_timeout_ms, "10000", 100, 600000,
      "how long a command waits for the printer's acknowledgement"),
    I("mqtt", "pushall_retry_s", pushall_retry_s, "60", 1, 3600,
      "seconds between requests for a full report while a printer sends only deltas "
      "(P1P firmware lags when asked often)"),
    I("mqtt", "max_payload", max_payload, "1048576", 4096, 16 << 20,
      "largest report accepted from a printer, bytes; larger ones are dropped and counted"),
    I("mqtt", "max_printers", max_printers, "10000", 1, 100000, "printers this daemon will manage"),
    I("files", "max_upload", files_max_upload, "268435456", 1 << 20, 1 << 30,
      "largest 3MF or G-code accepted by POST /api/v1/files/analyze, bytes"),
    I("files", "workers", files_workers, "2", 1, 64,
      "file analyses running at once (libuv's threadpool gets this many threads more than the "
      "database readers and file I/O need)"),
    I("files", "queue", files_queue, "8", 0, 1024,
      "file analyses waiting for a worker; past it an upload is answered 503"),
    I("files", "timeout_s", files_timeout_s, "60", 1, 100,
      "how long one file analysis may run before it is given up"),
    I("ftps", "max_transfers", ftps_max_transfers, "8", 1, 256,
      "FTPS transfers with printers' storage at once, all printers together"),
    I("ftps", "max_per_printer", ftps_max_per_printer, "1", 1, 8,
      "FTPS transfers with one printer at once (its storage is an SD card)"),
    I("ftps", "max_queued", ftps_max_queued, "256", 1, 100000, "FTPS transfers waiting for a slot"),
    I("ftps", "connect_timeout_s", ftps_connect_timeout_s, "10", 1, 300,
      "seconds for the TCP connect and TLS handshake with a printer's FTPS server"),
    I("ftps", "stall_s", ftps_stall_s, "30", 1, 3600,
      "seconds without a reply, or under 1 KiB/s, before an FTPS transfer is given up"),
    I("ftps", "timeout_s", ftps_timeout_s, "1800", 1, 86400,
      "seconds one FTPS transfer may take in all (printers send 75-150 KB/s over Wi-Fi)"),
    I("ftps", "max_file_kb", ftps_max_file_kb, "524288", 1, 4194304,
      "largest file fetched from a printer's storage, KiB"),
    I("notify", "timeout_s", notify_timeout_s, "10", 1, 300,
      "seconds one notification delivery attempt may take in all"),
    I("notify", "attempts", notify_attempts, "4", 1, 10,
      "delivery attempts of one notification, the first included, while the receiver fails"),
    I("notify", "retry_base_ms", notify_retry_base_ms, "2000", 100, 600000,
      "wait before the second attempt, doubled before each next one"),
    I("notify", "min_interval_s", notify_min_interval_s, "60", 0, 86400,
      "one notification per event kind and printer in this many seconds (no spam)"),
    I("notify", "max_queue", notify_max_queue, "256", 1, 100000,
      "notification deliveries under way or waiting to retry; past it a new one is dropped and logged"),
    S("notify", "dashboard_url", notify_dashboard_url, "",
      "the dashboard's address as people open it (https://host:port), for the links messages carry ({url})"),
    I("camera", "idle_s", camera_idle_s, "30", 1, 3600,
      "seconds a printer's camera stays connected after its last viewer or snapshot"),
    I("camera", "max_fps", camera_max_fps, "5", 1, 30, "frames per second sent to one viewer at most"),
    I("camera", "stall_s", camera_stall_s, "10", 1, 300,
      "seconds a viewer may take to read one frame before it is dropped"),
    I("camera", "timeout_s", camera_timeout_s, "10", 2, 300,
      "seconds to connect to a camera and get its first frame; then the longest gap between frames"),
    I("camera", "snapshot_wait_s", camera_snapshot_wait_s, "10", 1, 120,
      "seconds a snapshot waits for a frame when the camera has none fresh"),
    I("camera", "max_viewers", camera_max_viewers, "32", 1, 1000,
      "viewers and waiting snapshots of one printer's camera at once"),
    I("camera", "url_ttl_s", camera_url_ttl_s, "600", 10, 86400,
      "seconds a signed camera or snapshot URL stays valid"),
    I("camera", "rtsp_fps", camera_rtsp_fps, "5", 1, 30,
      "JPEG frames per second made from an RTSPS camera's video (X1, P2S, H2, X2D)"),
    I("camera", "rtsp_width", camera_rtsp_width, "1280", 0, 3840,
      "width in pixels of the JPEG frames made from an RTSPS camera at most (0: the camera's)"),
    B("timelapse", "enabled", timelapse_enabled, "true",
      "a timelapse of every print on a printer whose camera is relayed (docs/camera.md, Timelapses)"),
    SC("timelapse", "mode", timelapse_mode, "layer", pd_tl_mode_check,
       "layer: a frame at each layer change; interval: a frame every interval_s"),
    I("timelapse", "interval_s", timelapse_interval_s, "30", 1, 3600, "seconds between two frames in interval mode"),
    I("timelapse", "max_frames", timelapse_max_frames, "3000", 2, 100000,
      "frames of one print at most; past it no more are taken"),
    I("timelapse", "fps", timelapse_fps, "30", 1, 120, "frames per second of the video"),
    I("timelapse", "width", timelapse_width, "0", 0, 7680,
      "width of the video in pixels; 0: the camera's (height follows the camera's aspect)"),
    I("timelapse", "height", timelapse_height, "0", 0, 4320, "height of the video in pixels; 0: see width"),
    I("timelapse", "keep_count", timelapse_keep_count, "0", 0, 1000000,
      "timelapses kept at most, the oldest deleted first; 0: no limit"),
    I("timelapse", "keep_days", timelapse_keep_days, "0", 0, 36500, "timelapses older than this many days are deleted; 0: never"),
    I("timelapse", "keep_mb", timelapse_keep_mb, "10240", 0, 100000000,
      "MB all timelapses may take together, the oldest deleted first; 0: no limit"),
    I("camera", "decode_workers", camera_decode_workers, "2", 1, 16,
      "threads that decode the RTSPS cameras' video and make the smaller sizes viewers ask for: "
      "the cameras' own pool, so file analyses (files.workers) never wait behind them"),
    I("camera", "decode_queue", camera_decode_queue, "16", 0, 1000,
      "camera decode jobs waiting for a thread at most; past that a camera skips pictures"),
    I("jobs", "offline_timeout_s", offline_timeout_s, "86400", 10, 30 * 86400,
      "seconds a printer may stay unseen mid-print before its open job is closed as unknown "
      "(the job reopens if the printer returns still printing it)"),
    IL("alerts", "low_stock_g", alert_low_stock_g, "0", 0, 1000000,
      "grams left of a filament (all its spools together) under which it is low on stock, for "
      "filaments without their own low_stock_weight; 0: only those with one"),
    IL("alerts", "low_stock_margin_g", alert_low_stock_margin_g, "50", 1, 100000,
      "a low-stock alert is raised again only after the stock rose above its threshold plus "
      "this many grams (a refill, a new spool)"),
    IL("alerts", "humidity_pct", alert_humidity_pct, "40", 1, 100,
      "AMS humidity (%) above which a unit's humidity is high"),
    IL("alerts", "humidity_level", alert_humidity_level, "2", 0, 5,
      "for AMS units that report only a level (1 wettest - 5 driest): the level at or below "
      "which humidity is high; 0: never"),
    IL("alerts", "humidity_margin_pct", alert_humidity_margin_pct, "5", 0, 50,
      "a humidity alert clears once the unit is this many points under humidity_pct"),
    IL("alerts", "humidity_sustain_s", alert_humidity_sustain_s, "600", 0, 86400,
      "seconds the humidity must stay high before the alert is raised"),
    IL("alerts", "stall_s", alert_stall_s, "1800", 10, 86400,
      "seconds without layer progress while RUNNING before a print counts as stalled"),
    IL("alerts", "drying_check_s", alert_drying_check_s, "600", 1, 86400,
      "seconds between checks of how long hygroscopic spools have been in an AMS since dried"),
    SL("alerts", "drying_hours", alert_drying_hours, PD_EXPOSURE_DEFAULT, pd_exposure_check,
       "hours a dried spool of a hygroscopic material may sit in an AMS before it should be dried "
       "again: MATERIAL:HOURS, comma-separated, matched by the longest prefix of the spool's "
       "material (PA matches PA6-CF); materials not named are not flagged"),
    I("history", "interval_s", history_interval_s, "5", 1, 600,
      "seconds between two samples of each printer's temperatures and fans"),
    I("history", "ams_interval_s", history_ams_interval_s, "60", 1, 3600,
      "seconds between two samples of each AMS unit's humidity and temperature"),
    I("history", "keep_s", history_keep_s, "3600", 60, 86400,
      "seconds of samples kept per printer, in memory (docs/printer-state.md, History)"),
    S("inventory", "external_db_url", external_db_url, "",
      "where to fetch the filament catalogue of /api/v1/external from (SpoolmanDB: "
      "https://donkie.github.io/SpoolmanDB/); empty: the last one fetched, else the small one "
      "built in"),
    I("inventory", "external_db_sync_s", external_db_sync_s, "3600", 0, 31536000,
      "seconds between two fetches of the filament catalogue; 0: at start only"),
    B("inventory", "metrics", inventory_metrics, "false",
      "add Spoolman's gauges (spoolman_spool_*, spoolman_filament_*) to /metrics, read again "
      "every minute, as Spoolman's SPOOLMAN_METRICS_ENABLED does; only scrapes from a trusted "
      "network or with a token get them, as on Spoolman's routes"),
    SC("homeassistant", "url", ha_url, "", pd_ha_check_url,
       "the MQTT broker Home Assistant reads (mqtt://HOST[:PORT], mqtts://HOST[:PORT] verified against "
       "the system's CAs); empty: no Home Assistant discovery and no mqtt notification channel"),
    S("homeassistant", "username", ha_username, "", "user name on that broker; empty: none"),
    S("homeassistant", "password", ha_password, "", "its password (better in the environment)"),
    SC("homeassistant", "client_id", ha_client_id, "printdeck", pd_ha_check_topic,
       "MQTT client id on that broker (one printdeck per id)"),
    SC("homeassistant", "discovery_prefix", ha_discovery_prefix, "homeassistant", pd_ha_check_topic,
       "Home Assistant's discovery prefix: configs go to PREFIX/COMPONENT/NODE/OBJECT/config, and "
       "PREFIX/status is its birth message"),
    SC("homeassistant", "base_topic", ha_base_topic, "printdeck", pd_ha_check_topic,
       "topic under which printdeck publishes its availability (BASE/status) and states"),
    I("homeassistant", "min_interval_ms", ha_min_interval_ms, "1000", 0, 3600000,
      "one entity's state is published at most this often; the latest change goes when it passes"),
    SC("homeassistant", "webhook_secret", ha_webhook_secret, "", pd_ha_check_secret,
       "the secret Home Assistant's automations send to /webhook/homeassistant/… (X-Printdeck-Secret, "
       "Authorization: Bearer or ?token=); empty: the webhooks are off (docs/homeassistant.md)"),
    SC("homeassistant", "api_url", ha_api_url, "", pd_ha_check_api_url,
       "Home Assistant itself (http://HOST:8123 or https://…), whose WebSocket API feeds the printers "
       "with source homeassistant and an ha_device (docs/homeassistant.md, Source); empty: off"),
    S("homeassistant", "token", ha_token, "",
      "a long-lived access token of a Home Assistant user (its profile, Security) for api_url; better in "
      "the environment (PRINTDECK_HOMEASSISTANT_TOKEN)"),
    S("homeassistant", "api_ca_file", ha_api_ca_file, "",
      "PEM file of the CA that signed an https api_url's certificate; empty: the system's CAs"),
    I("homeassistant", "api_max_message", ha_api_max_message, "4194304", 4096, 268435456,
      "bytes of one message from Home Assistant at most; a longer one drops the connection (it is "
      "tried again with backoff)"),
    I("homeassistant", "api_ping_s", ha_api_ping_s, "30", 1, 3600,
      "seconds between pings to Home Assistant's API while it is connected"),
    I("homeassistant", "api_pong_timeout_s", ha_api_pong_timeout_s, "20", 1, 3600,
      "seconds a ping may wait for its pong; then the printers it feeds are stale and the "
      "connection is made again"),
};
#define N_KEYS (sizeof cfg_keys / sizeof cfg_keys[0])

int pd_config_parse_bool(const char *v, bool *out)
{
    if (!strcasecmp(v, "true") || !strcmp(v, "1") || !strcasecmp(v, "yes") || !strcasecmp(v, "on"))
        *out = true;
    else if (!strcasecmp(v, "false") || !strcmp(v, "0") || !strcasecmp(v, "no") || !strcasecmp(v, "off"))
        *out = false;
    else
        return -1;
    return 0;
}

static pd_err set_key(pd_config *cfg, const cfg_key *k, const char *v, char *err, size_t errlen)
{
    char *p = (char *)cfg + k->off;
    switch (k->type) {
    case CFG_STR: {
        if (strlen(v) >= k->size) {
            snprintf(err, errlen, "%s.%s: value longer than %zu bytes", k->section, k->key, k->size - 1);
            return PD_ERR_TOOBIG;
        }
        char why[160];
        pd_err rc = k->check ? k->check(v, why, sizeof why) : PD_OK;
        if (rc) {
            snprintf(err, errlen, "%s.%s: %s", k->section, k->key, why);
            return rc;
        }
        memcpy(p, v, strlen(v) + 1);
        return PD_OK;
    }
    case CFG_INT: {
        char *end;
        errno = 0;
        long n = strtol(v, &end, 10);
        if (errno || end == v || *end || n < k->min || n > k->max) {
            snprintf(err, errlen, "%s.%s: '%s' is not a whole number in %ld..%ld", k->section,
                     k->key, v, k->min, k->max);
            return PD_ERR_INVAL;
        }
        *(int *)p = (int)n;
        return PD_OK;
    }
    case CFG_BOOL:
        if (pd_config_parse_bool(v, (bool *)p)) {
            snprintf(err, errlen, "%s.%s: '%s' is not true/false", k->section, k->key, v);
            return PD_ERR_INVAL;
        }
        return PD_OK;
    }
    return PD_ERR_INTERNAL;
}

static const cfg_key *find_key(const char *section, const char *key)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (!strcmp(cfg_keys[i].section, section) && !strcmp(cfg_keys[i].key, key))
            return &cfg_keys[i];
    return NULL;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = 0;
    /* a quoted value keeps its inner spaces */
    if (e - s >= 2 && ((*s == '"' && e[-1] == '"') || (*s == '\'' && e[-1] == '\''))) {
        e[-1] = 0;
        s++;
    }
    return s;
}

static pd_err add_printer(pd_config *cfg, const char *name, int line, char *err, size_t errlen)
{
    pd_cfg_printer *np = realloc(cfg->printers, (cfg->n_printers + 1) * sizeof *np);
    if (!np)
        return PD_ERR_NOMEM;
    cfg->printers = np;
    pd_cfg_printer *p = &np[cfg->n_printers++];
    p->line = line;
    pd_printer_rec_init(&p->rec);
    return pd_printer_rec_set_text(&p->rec, "name", name, err, errlen);
}

static pd_err printer_set(pd_cfg_printer *p, const char *key, const char *v, char *err, size_t errlen)
{
    if (!strcmp(key, "name")) {
        snprintf(err, errlen, "name: given by the section header");
        return PD_ERR_INVAL;
    }
    return pd_printer_rec_set_text(&p->rec, key, v, err, errlen);
}

/* Once the file is read: every section complete, and no printer declared twice (serials are
 * upper-cased by the check, so case does not hide a duplicate). */
static pd_err printers_check(pd_config *cfg, const char *path, char *err, size_t errlen)
{
    char kerr[256];
    for (size_t i = 0; i < cfg->n_printers; i++) {
        pd_cfg_printer *p = &cfg->printers[i];
        if (pd_printer_rec_check(&p->rec, kerr, sizeof kerr)) {
            snprintf(err, errlen, "%s:%d: [printer %s] %s", path, p->line, p->rec.name, kerr);
            return PD_ERR_INVAL;
        }
        for (size_t j = 0; j < i; j++)
            if (!strcmp(cfg->printers[j].rec.serial, p->rec.serial)) {
                snprintf(err, errlen, "%s:%d: [printer %s] serial: the same as [printer %s] at line %d",
                         path, p->line, p->rec.name, cfg->printers[j].rec.name, cfg->printers[j].line);
                return PD_ERR_EXISTS;
            }
    }
    return PD_OK;
}

static pd_err load_file(pd_config *cfg, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot open config %s: %s", path, strerror(errno));
        return PD_ERR_IO;
    }
    char line[1024], section[128] = "";
    pd_cfg_printer *printer = NULL;
    int lineno = 0;
    pd_err rc = PD_OK;
    char kerr[256];
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (!strchr(line, '\n') && !feof(f)) {
            snprintf(err, errlen, "%s:%d: line too long", path, lineno);
            rc = PD_ERR_TOOBIG;
            break;
        }
        char *s = trim(line);
        if (!*s || *s == '#' || *s == ';')
            continue;
        if (*s == '[') {
            char *e = strchr(s, ']');
            if (!e) {
                snprintf(err, errlen, "%s:%d: unterminated section", path, lineno);
                rc = PD_ERR_PARSE;
                break;
            }
            *e = 0;
            char *name = trim(s + 1);
            printer = NULL;
            if (!strncmp(name, "printer", 7) && isspace((unsigned char)name[7])) {
                name = trim(name + 8);
                rc = add_printer(cfg, name, lineno, kerr, sizeof kerr);
                if (rc) {
                    snprintf(err, errlen, "%s:%d: [printer %.64s] %s", path, lineno, name, kerr);
                    break;
                }
                printer = &cfg->printers[cfg->n_printers - 1];
            }
            snprintf(section, sizeof section, "%s", name);
            continue;
        }
        char *eq = strchr(s, '=');
        if (!eq) {
            snprintf(err, errlen, "%s:%d: expected key = value", path, lineno);
            rc = PD_ERR_PARSE;
            break;
        }
        *eq = 0;
        char *key = trim(s), *val = trim(eq + 1);
        if (printer) {
            char perr[180];
            if ((rc = printer_set(printer, key, val, perr, sizeof perr)))
                snprintf(kerr, sizeof kerr, "[printer %s] %s", printer->rec.name, perr);
        } else {
            const cfg_key *k = find_key(section, key);
            if (!k) {
                snprintf(kerr, sizeof kerr, "unknown key [%s] %s", section, key);
                rc = PD_ERR_INVAL;
            } else {
                rc = set_key(cfg, k, val, kerr, sizeof kerr);
            }
        }
        if (rc) {
            snprintf(err, errlen, "%s:%d: %s", path, lineno, kerr);
            break;
        }
    }
    fclose(f);
    return rc ? rc : printers_check(cfg, path, err, errlen);
}

static void env_name(const cfg_key *k, char *out, size_t n)
{
    snprintf(out, n, "PRINTDECK_%s_%s", k->section, k->key);
    for (char *c = out; *c; c++)
        *c = (char)toupper((unsigned char)*c);
}

pd_err pd_config_load(pd_config *cfg, const char *path, char *err, size_t errlen)
{
    pd_config_free(cfg);
    memset(cfg, 0, sizeof *cfg);
    pd_err rc;
    for (size_t i = 0; i < N_KEYS; i++)
        if ((rc = set_key(cfg, &cfg_keys[i], cfg_keys[i].def, err, errlen)))
            return rc;
    if (path) {
        snprintf(cfg->path, sizeof cfg->path, "%s", path);
        if ((rc = load_file(cfg, path, err, errlen)))
            return rc;
    }
    for (size_t i = 0; i < N_KEYS; i++) {
        char name[96];
        env_name(&cfg_keys[i], name, sizeof name);
        const char *v = getenv(name);
        char kerr[256];
        if (v && (rc = set_key(cfg, &cfg_keys[i], v, kerr, sizeof kerr))) {
            snprintf(err, errlen, "%s: %s", name, kerr);
            return rc;
        }
    }
    return PD_OK;
}



static const cfg_key *find_dotted(const char *dotted, char *err, size_t errlen)
{
    const char *dot = strchr(dotted, '.');
    char section[64];
    if (!dot || (size_t)(dot - dotted) >= sizeof section) {
        snprintf(err, errlen, "'%s' is not SECTION.KEY", dotted);
        return NULL;
    }
    memcpy(section, dotted, (size_t)(dot - dotted));
    section[dot - dotted] = 0;
    const cfg_key *k = find_key(section, dot + 1);
    if (!k)
        snprintf(err, errlen, "unknown key %s", dotted);
    return k;
}

pd_err pd_config_set(pd_config *cfg, const char *dotted, const char *value, char *err, size_t errlen)
{
    const cfg_key *k = find_dotted(dotted, err, errlen);
    return k ? set_key(cfg, k, value, err, errlen) : PD_ERR_INVAL;
}

size_t pd_config_live_count(void)
{
    size_t n = 0;
    for (size_t i = 0; i < N_KEYS; i++)
        n += cfg_keys[i].live;
    return n;
}

bool pd_config_live_at(size_t i, pd_config_key *out)
{
    for (size_t k = 0; k < N_KEYS; k++) {
        const cfg_key *c = &cfg_keys[k];
        if (!c->live || i--)
            continue;
        *out = (pd_config_key){.integer = c->type == CFG_INT, .min = c->min, .max = c->max,
                               .def = c->def, .help = c->help};
        snprintf(out->name, sizeof out->name, "%s.%s", c->section, c->key);
        return true;
    }
    return false;
}

pd_err pd_config_get(const pd_config *cfg, const char *dotted, char *out, size_t outlen)
{
    char err[128];
    const cfg_key *k = find_dotted(dotted, err, sizeof err);
    if (!k)
        return PD_ERR_NOTFOUND;
    const char *p = (const char *)cfg + k->off;
    int n = k->type == CFG_STR ? snprintf(out, outlen, "%s", p)
          : k->type == CFG_INT ? snprintf(out, outlen, "%d", *(const int *)p)
                               : snprintf(out, outlen, "%s", *(const bool *)p ? "true" : "false");
    return n < 0 || (size_t)n >= outlen ? PD_ERR_TOOBIG : PD_OK;
}

void pd_config_free(pd_config *cfg)
{
    free(cfg->printers);
    cfg->printers = NULL;
    cfg->n_printers = 0;
}

void pd_config_help(FILE *out)
{
    fprintf(out, "Configuration keys (INI [section] key = value; environment overrides the file):\n");
    for (size_t i = 0; i < N_KEYS; i++) {
        const cfg_key *k = &cfg_keys[i];
        char env[96], name[96];
        env_name(k, env, sizeof env);
        snprintf(name, sizeof name, "[%s] %s", k->section, k->key);
        fprintf(out, "  %-26s default %-16s %s\n  %-26s %s\n", name,
                k->def[0] ? k->def : "\"\"", env, "", k->help);
    }
    fprintf(out, "\n[printer NAME] sections declare printers (the file only; NAME is its name):\n");
    pd_printer_rec_help(out, "  ");
}
