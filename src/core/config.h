/* Configuration: one declarative table (config.c) gives every key its type, default, bounds
 * and help text. Sources, later wins: defaults < INI file < PRINTDECK_<SECTION>_<KEY>
 * environment < command line. `[printer NAME]` sections declare printers in the file. */
#ifndef PD_CONFIG_H
#define PD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "core/err.h"

#define PD_CFG_STR 256

typedef struct pd_cfg_printer {
    char name[64];
    char serial[32];
    char host[256];
    int port;
    char access_code[64];
    char model[32];
    char ca_file[PD_CFG_STR];
    bool tls_verify;
} pd_cfg_printer;

typedef struct pd_config {
    /* [server] */
    char listen[PD_CFG_STR];
    char data_dir[PD_CFG_STR];
    int max_body;          /* bytes */
    int sse_backlog;       /* bytes queued per SSE client before it is dropped */
    int heartbeat_s;
    int max_clients;
    char cors_origins[512];   /* browser origins allowed CORS and writes; "*" = any */
    char allowed_hosts[512];  /* Host names served besides IPs and private names */
    /* [auth] */
    bool auth_enabled;
    char trusted_networks[PD_CFG_STR]; /* CIDRs that reach Spoolman routes without a token */
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

    pd_cfg_printer *printers; /* owned */
    size_t n_printers;
    char path[PD_CFG_STR];    /* file it was loaded from, for SIGHUP reload */
} pd_config;

/* Fill defaults, then read `path` (may be NULL), then the environment. On error `err` says
 * which file/line/key is wrong. Frees any earlier printers in cfg. */
pd_err pd_config_load(pd_config *cfg, const char *path, char *err, size_t errlen);
/* Set one key by "section.key" name (command line). */
pd_err pd_config_set(pd_config *cfg, const char *dotted, const char *value, char *err, size_t errlen);
void pd_config_free(pd_config *cfg);
/* Print every key, its default, env name and help (for --help). */
void pd_config_help(FILE *out);

#endif
