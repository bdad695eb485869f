/* printdeck: wiring only. Parses the command line, loads configuration, opens storage,
 * starts the fleet, the HTTP server and the event hub on one libuv loop, and handles
 * signals (SIGINT/SIGTERM stop cleanly, SIGHUP reloads the configuration). */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <mosquitto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <uv.h>

#include "api/api.h"
#include "api/auth.h"
#include "api/web.h"
#include "camera/timelapse.h"
#include "core/config.h"
#include "core/log.h"
#include "ha/ha.h"
#include "ha/source.h"
#include "notify/webpush.h"
#include "printer/printer.h"
#include "printer/record.h"
#include "store/store.h"
#include "track/alerts.h"
#include "track/accounting.h"
#include "track/history.h"
#include "track/jobs.h"
#include "track/slots.h"

#define PD_VERSION "0.1.0"
/* The daemon's statements run on the loop, so a lock another process holds (an import, a
 * backup) is waited out for a few ms only, then the write answers 503 database_busy; the CLI
 * is a process of its own and waits for the daemon's short transactions (docs/storage.md). */
#define LOOP_LOCK_WAIT_MS 10
#define CLI_LOCK_WAIT_MS 60000

typedef struct daemon_ctx {
    uv_loop_t loop;
    pd_config cfg;
    const char *cli_listen, *cli_data_dir, *cli_log_level;
    pd_db *db;
    pd_bus *bus;
    pd_fleet *fleet;
    pd_ftps *ftps;
    pd_notify *notify;
    pd_ha *ha;
    pd_ha_source *ha_source;
    pd_camera *camera;
    pd_tl *timelapse;
    pd_http *http;
    pd_auth auth;
    pd_inv inv;
    pd_track_slots slots;
    pd_jobs *jobs;
    pd_alerts *alerts;
    pd_acct *acct;
    pd_history *history;
    pd_app app;
    pd_loopstat loopstat;
    pd_work_pool *work;
    pd_work_pool *pw_work;
    uv_signal_t sig_int, sig_term, sig_hup;
} daemon_ctx;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: printdeck [options]                 run the daemon\n"
            "       printdeck [options] token create NAME [ROLE]  print a new API token (admin, or\n"
            "                                      operator | viewer)\n"
            "       printdeck [options] backup             copy the SQLite database to DATA_DIR/backups\n"
            "       printdeck [options] import FILE [--format json|csv|spoolman-db]\n"
            "                                          import an inventory export or a spoolman.db\n"
            "       printdeck [options] stats rebuild      compute the statistics' summaries again from\n"
            "                                          the job and usage rows (after rows written by SQL)\n\n"
            "options:\n"
            "  --config FILE      INI configuration file\n"
            "  --data-dir DIR     data directory (default ./data)\n"
            "  --listen ADDR:PORT HTTP listen address (default 127.0.0.1:8080)\n"
            "  --log-level LEVEL  debug | info | warn | error\n"
            "  --help, --version\n\n"
            "Environment: PRINTDECK_TOKEN, when set, is accepted as an admin API token.\n\n");
    pd_config_help(out);
}

/* Loads the configuration into *cfg; on error `err` says what and where, and *cfg holds
 * nothing. The caller decides what an error means: no start, or keep the running one. */
static int load_config(const daemon_ctx *d, const char *path, pd_config *cfg, char *err, size_t errlen)
{
    pd_log_level lvl;
    if (pd_config_load(cfg, path, err, errlen) ||
        (d->cli_listen && pd_config_set(cfg, "server.listen", d->cli_listen, err, errlen)) ||
        (d->cli_data_dir && pd_config_set(cfg, "server.data_dir", d->cli_data_dir, err, errlen)) ||
        (d->cli_log_level && pd_config_set(cfg, "log.level", d->cli_log_level, err, errlen))) {
        pd_config_free(cfg);
        return -1;
    }
    if (pd_log_level_parse(cfg->log_level, &lvl)) {
        snprintf(err, errlen, "log.level '%s' is not debug|info|warn|error", cfg->log_level);
        pd_config_free(cfg);
        return -1;
    }
    pd_log_setup(lvl, !strcmp(cfg->log_format, "json"));
    return 0;
}

static bool config_declares(const pd_config *cfg, const char *serial)
{
    for (size_t i = 0; i < cfg->n_printers; i++)
        if (!strcmp(cfg->printers[i].rec.serial, serial))
            return true;
    return false;
}

/* Printers declared in the configuration file are upserted by serial into the store, so the
 * API and the file never disagree about what exists; one whose section left the file since
 * `old` (the previous load, on SIGHUP) is removed. A section removed while the daemon was
 * stopped cannot be told from a printer added through the API: it stays (docs/printer-link.md). */
static void sync_config_printers(daemon_ctx *d, const pd_config *old)
{
    for (size_t i = 0; old && i < old->n_printers; i++) {
        const pd_printer_rec *gone = &old->printers[i].rec;
        pd_printer *p = config_declares(&d->cfg, gone->serial) ? NULL : pd_fleet_find(d->fleet, gone->serial);
        if (!p)
            continue;
        pd_err rc = pd_db_printer_delete(d->db, pd_printer_id(p));
        if (rc && rc != PD_ERR_NOTFOUND) {
            pd_error("main", "[printer %s] left %s but cannot be deleted: %s", gone->name, d->cfg.path,
                     pd_strerror(rc));
            continue;
        }
        pd_fleet_remove(d->fleet, p);
        pd_info("main", "[printer %s] (%s) left %s: removed", gone->name, gone->serial, d->cfg.path);
    }
    for (size_t i = 0; i < d->cfg.n_printers; i++) {
        const pd_cfg_printer *c = &d->cfg.printers[i];
        pd_printer_rec rec = c->rec;
        pd_printer *p = pd_fleet_find(d->fleet, rec.serial);
        pd_err rc;
        if (p) {
            rec.id = pd_printer_id(p);
            rec.created_at = pd_printer_rec_get(p)->created_at;
            rc = pd_db_printer_update(d->db, &rec);
            if (!rc)
                rc = pd_fleet_update(d->fleet, p, &rec);
        } else {
            rc = pd_db_printer_insert(d->db, &rec);
            if (!rc && (rc = pd_fleet_add(d->fleet, &rec, NULL)))
                pd_db_printer_delete(d->db, rec.id); /* store and fleet agree, as on POST */
        }
        if (rc)
            pd_error("main", "%s:%d: [printer %s] not started: %s", d->cfg.path, c->line, c->rec.name,
                     pd_strerror(rc));
    }
}

/* The stored printers, each through the record's rules before it may subscribe to anything:
 * a row written by an older version, or by hand, that breaks one is logged and left alone.
 * A row the check normalised (a lower-case serial) is written back, so the store's unique
 * serial sees what the fleet sees; of two rows that differ only in case, the one already in
 * capitals (or else the first) is started, the other logged and left alone. */
static void start_stored_printers(daemon_ctx *d, pd_printer_rec *recs, size_t n)
{
    char err[256];
    for (size_t i = 0; i < n; i++) {
        pd_printer_rec rec = recs[i];
        pd_err rc = pd_printer_rec_check(&rec, err, sizeof err);
        bool normalised = strcmp(rec.serial, recs[i].serial) || strcmp(rec.model, recs[i].model);
        if (!rc && normalised && (rc = pd_db_printer_update(d->db, &rec)))
            snprintf(err, sizeof err, "serial %s: %s", rec.serial,
                     rc == PD_ERR_EXISTS ? "another row has it, in other case" : pd_strerror(rc));
        if (!rc && (rc = pd_fleet_add(d->fleet, &rec, NULL)))
            snprintf(err, sizeof err, "%s", pd_strerror(rc));
        if (rc)
            pd_error("main", "database printer row id %lld (%s): %s; not started",
                     (long long)recs[i].id, recs[i].name, err);
    }
}

/* What the HTTP server's access rules come from (the server copies the lists). */
static pd_http_access http_access(const pd_config *cfg)
{
    return (pd_http_access){.trusted_networks = cfg->trusted_networks,
                            .cors_origins = cfg->cors_origins,
                            .allowed_hosts = cfg->allowed_hosts};
}

/* Every module in the order it must go, on a signal and after a failed start alike: each stop
 * is a no-op for a module that never started. */
static void stop_modules(daemon_ctx *d)
{
    pd_ha_source_stop(&d->ha_source);  /* before the server: its connection is the server's context's */
    pd_http_stop(&d->http);
    pd_tl_stop(&d->timelapse);  /* before the hub: it holds a viewer of each printer printing */
    pd_camera_free(&d->camera);  /* before the pool: a ca_file being read waits for it */
    pd_work_pool_free(&d->work);  /* after the server: its requests are gone, analyses cancelled */
    pd_work_pool_free(&d->pw_work);
    pd_api_external_stop();
    pd_api_metrics_stop();
    pd_api_events_stop();
    pd_api_changes_stop();
    pd_api_camera_stop();
    pd_track_slots_stop(&d->slots);
    pd_jobs_stop(&d->jobs);
    pd_alerts_stop(&d->alerts);
    pd_acct_stop(&d->acct);  /* before the FTPS client: it cancels its transfers */
    pd_history_stop(&d->history);
    pd_ftps_free(&d->ftps);
    pd_notify_stop(&d->notify);  /* before the broker connection: it cancels its sends */
    pd_ha_stop(&d->ha);
    pd_fleet_free(&d->fleet);
    pd_loopstat_stop(&d->loopstat);
}

static void on_signal(uv_signal_t *s, int signum)
{
    daemon_ctx *d = s->data;
    if (signum == SIGHUP) {
        pd_info("main", "SIGHUP: reloading %s", d->cfg.path[0] ? d->cfg.path : "(no config file)");
        char err[512];
        pd_config cfg = {0};
        if (load_config(d, d->cfg.path[0] ? d->cfg.path : NULL, &cfg, err, sizeof err)) {
            pd_error("main", "%s; the running configuration stays", err);
            return;
        }
        if (pd_api_thresholds_load(d->db, &cfg))
            pd_warn("main", "the dashboard's thresholds cannot be read: the file's hold until they can");
        pd_config old = d->cfg;
        d->cfg = cfg;
        sync_config_printers(d, &old);
        pd_config_free(&old);
        pd_http_access a = http_access(&d->cfg);
        if (pd_http_set_access(d->http, &a, err, sizeof err))
            pd_error("main", "%s; the previous access rules stay", err);
        return;
    }
    pd_info("main", "signal %d: shutting down", signum);
    stop_modules(d);
    uv_close((uv_handle_t *)&d->sig_int, NULL);
    uv_close((uv_handle_t *)&d->sig_term, NULL);
    uv_close((uv_handle_t *)&d->sig_hup, NULL);
}

/* Printer connections the descriptor limit leaves room for, after every HTTP client the server
 * admits and a reserve for the rest (database, logs, listeners, lws, backups, CA files). */
static int link_budget(const pd_config *cfg)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > INT_MAX)
        return 0;
    long room = (long)rl.rlim_cur - cfg->max_clients - 64;
    return room < PD_FLEET_FDS_PER_LINK ? 1 : (int)(room / PD_FLEET_FDS_PER_LINK);
}

static int start(daemon_ctx *d)
{
    char err[512];
    pd_printer_rec *recs = NULL;
    size_t n = 0;
    if (pd_api_thresholds_load(d->db, &d->cfg)) {
        pd_error("main", "cannot read the thresholds set in the dashboard");
        return -1;
    }
    pd_fleet_opts fo = {
        .silence_s = d->cfg.silence_s, .keepalive_s = d->cfg.keepalive_s,
        .reconnect_min_ms = d->cfg.reconnect_min_ms, .reconnect_max_ms = d->cfg.reconnect_max_ms,
        .command_timeout_ms = d->cfg.command_timeout_ms, .pushall_retry_s = d->cfg.pushall_retry_s,
        .max_payload = d->cfg.max_payload, .max_printers = d->cfg.max_printers,
        .max_links = link_budget(&d->cfg),
    };
    if (!(d->bus = pd_bus_new()) || pd_fleet_new(&d->loop, d->bus, &fo, &d->fleet)) {
        pd_error("main", "cannot create the fleet");
        return -1;
    }
    if (pd_db_printer_list(d->db, &recs, &n)) {
        pd_error("main", "cannot list printers");
        return -1;
    }
    start_stored_printers(d, recs, n);
    free(recs);
    sync_config_printers(d, NULL);
    if (fo.max_links && pd_fleet_count(d->fleet) > (size_t)fo.max_links)
        pd_warn("main", "%zu printers, but the open-files limit leaves descriptors for %d "
                "connections (%d each): the others wait; raise it (ulimit -n, systemd LimitNOFILE=)",
                pd_fleet_count(d->fleet), fo.max_links, PD_FLEET_FDS_PER_LINK);

    char tmp_dir[PD_CFG_STR + 8];
    snprintf(tmp_dir, sizeof tmp_dir, "%s/tmp", d->cfg.data_dir);
    pd_ftps_opts fto = {
        .max_active = d->cfg.ftps_max_transfers, .max_per_printer = d->cfg.ftps_max_per_printer,
        .max_queued = d->cfg.ftps_max_queued, .connect_timeout_s = d->cfg.ftps_connect_timeout_s,
        .stall_s = d->cfg.ftps_stall_s, .timeout_s = d->cfg.ftps_timeout_s,
        .max_file = (int64_t)d->cfg.ftps_max_file_kb * 1024,
        .max_listing = 4 << 20, .max_entries = 10000, .tmp_dir = tmp_dir,
    };
    if (pd_ftps_new(&d->loop, d->bus, &fto, &d->ftps)) {
        pd_error("main", "cannot start the FTPS client");
        return -1;
    }

    d->inv = (pd_inv){.db = d->db, .bus = d->bus};
    if (pd_work_pool_new(&d->loop, d->cfg.files_workers, d->cfg.files_queue, &d->work) ||
        pd_work_pool_new(&d->loop, d->cfg.password_workers, d->cfg.password_queue, &d->pw_work)) {
        pd_error("main", "cannot create the worker pool");
        return -1;
    }
    d->app = (pd_app){.loop = &d->loop, .bus = d->bus, .fleet = d->fleet, .db = d->db,
                      .inv = &d->inv, .cfg = &d->cfg, .started_ms = (int64_t)uv_now(&d->loop),
                      .loopstat = &d->loopstat, .work = d->work, .pw_work = d->pw_work,
                      .ftps = d->ftps, .auth = &d->auth};
    if (pd_history_start(&d->history, &d->loop, d->fleet, d->cfg.history_interval_s,
                         d->cfg.history_ams_interval_s, d->cfg.history_keep_s)) {
        pd_error("main", "cannot keep the printers' history");
        return -1;
    }
    d->app.history = d->history;
    if (pd_api_external_start(&d->app)) {
        pd_error("main", "cannot load the filament catalogue");
        return -1;
    }
    if (pd_api_metrics_start(&d->app)) {
        pd_error("main", "cannot start Spoolman's gauges");
        return -1;
    }
    d->auth.session_max_s = d->cfg.session_max_s;
    d->auth.session_idle_s = d->cfg.session_idle_s;
    pd_api_accounts_limits(d->cfg.login_attempts, d->cfg.login_window_s);
    pd_http_opts ho = {
        .listen = d->cfg.listen, .max_body = d->cfg.max_body, .sse_backlog = d->cfg.sse_backlog,
        .max_upload = d->cfg.files_max_upload, .upload_dir = d->cfg.data_dir,
        /* as many as the analyses can take: running and waiting */
        .max_uploads = d->cfg.files_workers + d->cfg.files_queue,
        .max_clients = d->cfg.max_clients,
        .max_clients_per_address = d->cfg.max_clients_per_address,
        .idle_timeout_s = d->cfg.idle_timeout_s, .handler_timeout_s = d->cfg.handler_timeout_s,
        .auth_enabled = d->cfg.auth_enabled,
        .allow_open_network = d->cfg.auth_allow_open_network,
        .ident = pd_auth_ident, .ident_ud = &d->auth, .app = &d->app,
        .access = http_access(&d->cfg),
    };
    if (pd_http_start(&d->loop, &ho, &d->http, err, sizeof err)) {
        pd_error("main", "HTTP server: %s", err);
        return -1;
    }
    /* a route table the router refuses (past PD_ROUTER_MAX_ROUTES, a bad pattern) is a start
     * that fails, not a daemon that answers 404 to a whole resource */
    static const struct {
        const pd_route *routes;
        const size_t *n;
    } tables[] = {
        {pd_api_system_routes, &pd_api_system_nroutes},
        {pd_api_printers_routes, &pd_api_printers_nroutes},
        {pd_api_events_routes, &pd_api_events_nroutes},
        {pd_api_changes_routes, &pd_api_changes_nroutes},
        {pd_api_inventory_routes, &pd_api_inventory_nroutes},
        {pd_api_transfer_routes, &pd_api_transfer_nroutes},
        {pd_api_external_routes, &pd_api_external_nroutes},
        {pd_api_settings_routes, &pd_api_settings_nroutes},
        {pd_api_ams_routes, &pd_api_ams_nroutes},
        {pd_api_files_routes, &pd_api_files_nroutes},
        {pd_api_storage_routes, &pd_api_storage_nroutes},
        {pd_api_jobs_routes, &pd_api_jobs_nroutes},
        {pd_api_alerts_routes, &pd_api_alerts_nroutes},
        {pd_api_usage_routes, &pd_api_usage_nroutes},
        {pd_api_prompts_routes, &pd_api_prompts_nroutes},
        {pd_api_history_routes, &pd_api_history_nroutes},
        {pd_api_thresholds_routes, &pd_api_thresholds_nroutes},
        {pd_api_notify_routes, &pd_api_notify_nroutes},
        {pd_api_notify_rules_routes, &pd_api_notify_rules_nroutes},
        {pd_api_webpush_routes, &pd_api_webpush_nroutes},
        {pd_api_camera_routes, &pd_api_camera_nroutes},
        {pd_api_homeassistant_routes, &pd_api_homeassistant_nroutes},
        {pd_api_timelapse_routes, &pd_api_timelapse_nroutes},
        {pd_api_accounts_routes, &pd_api_accounts_nroutes},
        {pd_api_web_routes, &pd_api_web_nroutes},
    };
    for (size_t i = 0; i < sizeof tables / sizeof *tables; i++)
        if (pd_http_add_routes(d->http, tables[i].routes, *tables[i].n))
            return -1;
    if (pd_track_slots_start(&d->slots, &d->loop, d->bus, d->fleet, &d->inv)) {
        pd_error("main", "cannot start slot tracking");
        return -1;
    }
    if (pd_jobs_start(&d->jobs, &d->loop, d->bus, d->fleet, d->db, d->cfg.offline_timeout_s)) {
        pd_error("main", "cannot start the job recorder");
        return -1;
    }
    if (pd_alerts_start(&d->alerts, &d->loop, d->bus, d->fleet, &d->inv, &d->cfg)) {
        pd_error("main", "cannot start the alert engine");
        return -1;
    }
    d->app.alerts = d->alerts;
    pd_acct_opts ao = {.analysis_timeout_s = d->cfg.files_timeout_s,
                       .max_file = (int64_t)d->cfg.ftps_max_file_kb * 1024, .alerts = d->alerts};
    if (pd_acct_start(&d->acct, &d->loop, d->bus, d->fleet, &d->inv, d->ftps, d->work, &ao)) {
        pd_error("main", "cannot start the filament accounting");
        return -1;
    }
    pd_camera_opts co = {.idle_s = d->cfg.camera_idle_s, .max_fps = d->cfg.camera_max_fps,
                         .stall_s = d->cfg.camera_stall_s, .timeout_s = d->cfg.camera_timeout_s,
                         .snapshot_wait_s = d->cfg.camera_snapshot_wait_s, .fresh_ms = 2000,
                         .backoff_min_ms = 1000, .backoff_max_ms = 30000,
                         .max_viewers = d->cfg.camera_max_viewers,
                         .rtsp_fps = d->cfg.camera_rtsp_fps, .rtsp_width = d->cfg.camera_rtsp_width,
                         .url_ttl_s = d->cfg.camera_url_ttl_s,
                         .decode_workers = d->cfg.camera_decode_workers,
                         .decode_queue = d->cfg.camera_decode_queue};
    if (pd_camera_new(&d->loop, d->fleet, d->bus, d->work, &co, &d->camera)) {
        pd_error("main", "cannot start the cameras");
        return -1;
    }
    d->app.camera = d->camera;
    pd_notify_opts no = {.timeout_s = d->cfg.notify_timeout_s, .attempts = d->cfg.notify_attempts,
                         .retry_base_ms = d->cfg.notify_retry_base_ms,
                         .min_interval_s = d->cfg.notify_min_interval_s, .max_queue = d->cfg.notify_max_queue,
                         .dashboard_url = d->cfg.notify_dashboard_url, .camera = d->camera};
    if (pd_notify_start(&d->notify, &d->loop, d->bus, d->db, d->fleet, &no)) {
        pd_error("main", "cannot start the notifications");
        return -1;
    }
    d->app.notify = d->notify;
    if (pd_ha_start(&d->ha, &d->loop, d->bus, d->fleet, &d->inv, &d->cfg)) {
        pd_error("main", "cannot start the Home Assistant connection");
        return -1;
    }
    if (d->ha)
        pd_notify_set_sender(d->notify, &pd_ha_sender, d->ha);
    if (pd_ha_source_start(&d->ha_source, &d->loop, pd_http_lws(d->http), d->fleet, &d->cfg)) {
        pd_error("main", "cannot follow Home Assistant's printers ([homeassistant] api_url)");
        return -1;
    }
    if (pd_wp_key(d->db, NULL, NULL)) {   /* made at the first start, kept after */
        pd_error("main", "cannot make or read the Web Push key");
        return -1;
    }
    pd_api_camera_start(&d->app);
    char tl_dir[PD_CFG_STR + 16];
    snprintf(tl_dir, sizeof tl_dir, "%s/timelapse", d->cfg.data_dir);
    pd_tl_opts tlo = {
        .enabled = d->cfg.timelapse_enabled, .mode = pd_tl_mode_of(d->cfg.timelapse_mode),
        .interval_s = d->cfg.timelapse_interval_s, .max_frames = d->cfg.timelapse_max_frames,
        .stale_ms = d->cfg.camera_timeout_s * 1000, .fps = d->cfg.timelapse_fps,
        .width = d->cfg.timelapse_width, .height = d->cfg.timelapse_height,
        .keep_count = d->cfg.timelapse_keep_count, .keep_days = d->cfg.timelapse_keep_days,
        .keep_bytes = (int64_t)d->cfg.timelapse_keep_mb << 20, .dir = tl_dir,
    };
    if (pd_tl_start(&d->timelapse, &d->loop, d->bus, d->db, d->fleet, d->camera, d->work, &tlo)) {
        pd_error("main", "cannot start the timelapses");
        return -1;
    }
    d->app.timelapse = d->timelapse;
    if (pd_api_events_start(&d->app) || pd_api_changes_start(&d->app)) {
        pd_error("main", "cannot start the event hubs");
        return -1;
    }
    uv_signal_t *sigs[] = {&d->sig_int, &d->sig_term, &d->sig_hup};
    int nums[] = {SIGINT, SIGTERM, SIGHUP};
    for (int i = 0; i < 3; i++) {
        uv_signal_init(&d->loop, sigs[i]);
        sigs[i]->data = d;
        uv_signal_start(sigs[i], on_signal, nums[i]);
    }
    /* last: the start-up above (migrations, the open jobs, the first checks) is not a turn */
    if (pd_loopstat_start(&d->loopstat, &d->loop)) {
        pd_error("main", "cannot measure the loop's turns");
        return -1;
    }
    pd_info("main", "printdeck %s listening on http://%s with %zu printer(s)", PD_VERSION,
            d->cfg.listen, pd_fleet_count(d->fleet));
    return 0;
}

static int token_command(daemon_ctx *d, int argc, char **argv)
{
    pd_role role = argc == 4 ? pd_auth_role_parse(argv[3]) : PD_ROLE_ADMIN;
    if (argc < 3 || argc > 4 || strcmp(argv[1], "create") || !role) {
        fprintf(stderr, "usage: printdeck token create NAME [admin|operator|viewer]\n");
        return 2;
    }
    char token[128];
    pd_err rc = pd_auth_token_create(&d->auth, argv[2], role, token, sizeof token, NULL);
    if (rc) {
        fprintf(stderr, "printdeck: cannot create token: %s\n", pd_strerror(rc));
        return 1;
    }
    printf("%s\n", token);
    return 0;
}

/* SQLite's VACUUM INTO: a consistent copy even while a daemon runs on the same file. */
static int backup_command(daemon_ctx *d, int argc)
{
    char path[PD_CFG_STR + 64], err[256];
    if (argc != 1) {
        fprintf(stderr, "usage: printdeck [--config FILE] [--data-dir DIR] backup\n");
        return 2;
    }
    bool created;
    if (pd_api_backup(d->db, d->cfg.data_dir, path, sizeof path, &created, err, sizeof err)) {
        fprintf(stderr, "printdeck: %s\n", err);  /* PostgreSQL: says to use pg_dump */
        return 1;
    }
    if (!created)
        fprintf(stderr, "printdeck: the database is unchanged since this backup: none written\n");
    printf("%s\n", path);
    return 0;
}

/* One transaction: on failure nothing is imported. Without events, so a daemon running on the
 * same database keeps serving its cached lists: docs/inventory-transfer.md. */
static int import_command(daemon_ctx *d, int argc, char **argv, const char *format)
{
    pd_inv inv = {.db = d->db};
    pd_inv_import_counts n;
    pd_inv_err e;
    char msg[4 * sizeof e.msg];
    if (argc != 2) {
        fprintf(stderr, "usage: printdeck import FILE [--format json|csv|spoolman-db]\n");
        return 2;
    }
    if (pd_inv_import_file(&inv, argv[1], format, &n, &e)) {
        /* the message may quote the file's text: a terminal must not run it */
        fprintf(stderr, "printdeck: nothing imported: %s\n", pd_log_escape(msg, sizeof msg, e.msg));
        return 1;
    }
    printf("imported %zu vendors, %zu filaments, %zu spools, %zu settings\n", n.created[PD_INV_VENDOR],
           n.created[PD_INV_FILAMENT], n.created[PD_INV_SPOOL], n.settings);
    return 0;
}

/* For job or usage rows written behind the daemon's back: statistics read the summaries the
 * daemon keeps as it writes, so such rows count only once these are computed again. */
static int stats_command(daemon_ctx *d, int argc, char **argv)
{
    if (argc != 2 || strcmp(argv[1], "rebuild")) {
        fprintf(stderr, "usage: printdeck stats rebuild\n");
        return 2;
    }
    if (pd_db_rebuild_summaries(d->db)) {
        fprintf(stderr, "printdeck: the summaries were not rebuilt: %s\n", pd_db_last_error(d->db));
        return 1;
    }
    printf("statistics summaries rebuilt\n");
    return 0;
}

static void say_waiting(void *ud)
{
    (void)ud;
    fprintf(stderr, "printdeck: waiting for the running daemon's lock…\n");
}

/* Each printer holds a socket, and the soft limit of 1,024 that most systems start a process
 * with exists for select(), which the loop never uses (epoll). The hard limit is what the
 * administrator allows; take all of it, as nginx's worker_rlimit_nofile asks to. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur >= rl.rlim_max)
        return;
    rlim_t was = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl))
        pd_warn("main", "cannot raise the descriptor limit from %llu: %s", (unsigned long long)was,
                strerror(errno));
}


/* libuv's thread pool (4 threads unless told) is shared: file analyses (files.workers),
 * database reads (PD_DB_READERS), password hashes (auth.password_workers) and the cameras'
 * decoding (camera.decode_workers) may each hold a thread, and a ca_file read or libuv's own
 * file work must still find one. So the pool gets a thread for each of them and two more,
 * unless UV_THREADPOOL_SIZE asks for more; libuv reads it once, at the first work queued,
 * which is after this. */
static void threadpool_size(const pd_config *cfg)
{
    int want = cfg->files_workers + PD_DB_READERS + cfg->password_workers +
               cfg->camera_decode_workers + 2;
    const char *have = getenv("UV_THREADPOOL_SIZE");
    if (have && atoi(have) >= want)
        return;
    char v[16];
    snprintf(v, sizeof v, "%d", want);
    setenv("UV_THREADPOOL_SIZE", v, 1);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},   {"data-dir", required_argument, NULL, 'd'},
        {"listen", required_argument, NULL, 'l'},   {"log-level", required_argument, NULL, 'L'},
        {"help", no_argument, NULL, 'h'},           {"version", no_argument, NULL, 'V'},
        {"format", required_argument, NULL, 'f'},   {NULL, 0, NULL, 0},
    };
    static daemon_ctx d;
    const char *config_path = NULL, *format = NULL;
    int c, status = 1;
    /* glibc raises its mmap threshold to the largest block freed (up to 32 MB); after one
     * /metrics of a big farm, every later one is carved from the heap and stays resident.
     * A fixed threshold keeps such replies in mmap, returned when freed (0.7 MB at 1,000
     * printers); the HTTP server keeps a few such buffers between big replies itself, for a
     * few seconds, so a busy API does not map and fault each one in. The loop is the only
     * thread, so arenas need no limit. */
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    /* the data directory holds printers' access codes: what the daemon or a command creates
     * there (the database and its side files, backups) is for this user alone */
    umask(S_IRWXG | S_IRWXO);
    while ((c = getopt_long(argc, argv, "c:d:l:L:hVf:", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config_path = optarg; break;
        case 'f': format = optarg; break;
        case 'd': d.cli_data_dir = optarg; break;
        case 'l': d.cli_listen = optarg; break;
        case 'L': d.cli_log_level = optarg; break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("printdeck %s\n", PD_VERSION); return 0;
        default: usage(stderr); return 2;
        }
    }
    char err[512];
    if (load_config(&d, config_path, &d.cfg, err, sizeof err)) {
        fprintf(stderr, "printdeck: %s\n", err);
        return 2;
    }
    if (pd_db_open(&d.db, d.cfg.database, d.cfg.data_dir, err, sizeof err)) {
        fprintf(stderr, "printdeck: %s\n", err);
        goto out;
    }
    if (pd_auth_init(&d.auth, d.db, getenv("PRINTDECK_TOKEN"))) {
        fprintf(stderr, "printdeck: cannot initialise token handling\n");
        goto out;
    }
    if (format && (optind >= argc || strcmp(argv[optind], "import"))) {
        fprintf(stderr, "printdeck: --format goes with import\n");
        status = 2;
        goto out;
    }
    if (optind < argc) {
        pd_db_lock_wait(d.db, CLI_LOCK_WAIT_MS, say_waiting, NULL);
        if (!strcmp(argv[optind], "token"))
            status = token_command(&d, argc - optind, argv + optind);
        else if (!strcmp(argv[optind], "backup"))
            status = backup_command(&d, argc - optind);
        else if (!strcmp(argv[optind], "import"))
            status = import_command(&d, argc - optind, argv + optind, format);
        else if (!strcmp(argv[optind], "stats"))
            status = stats_command(&d, argc - optind, argv + optind);
        else {
            usage(stderr);
            status = 2;
        }
        goto out;
    }
    raise_fd_limit();
    threadpool_size(&d.cfg);
    mosquitto_lib_init();
    uv_loop_init(&d.loop);
    if (start(&d) == 0) {
        /* the start's own writes (configured printers) may wait longer: no loop runs yet */
        pd_db_lock_wait(d.db, LOOP_LOCK_WAIT_MS, NULL, NULL);
        uv_run(&d.loop, UV_RUN_DEFAULT);
        status = 0;
    } else {
        stop_modules(&d);
        uv_run(&d.loop, UV_RUN_DEFAULT); /* lws needs several turns to close its handles */
    }
    /* everything closed its handles; a non-zero result here would be a leak of a handle */
    if (uv_loop_close(&d.loop))
        pd_warn("main", "event loop still had open handles at exit");
    pd_api_inventory_cache_clear();
    pd_bus_free(&d.bus);
    mosquitto_lib_cleanup();
out:
    pd_db_close(&d.db);
    pd_config_free(&d.cfg);
    return status;
}
