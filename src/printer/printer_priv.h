/* Private to src/printer/: the printer object shared by fleet.c (registry, state, JSON) and
 * link.c (MQTT connection, commands). Nothing outside this directory includes it. */
#ifndef PD_PRINTER_PRIV_H
#define PD_PRINTER_PRIV_H

#include <mosquitto.h>
#include <openssl/ssl.h>

#include "core/clock.h"
#include "core/mqttio.h"
#include "printer/printer.h"

#define PD_MAX_PENDING_CMDS 32

/* The instants kept here are pd_clock_mono_ms() readings, so deadlines, backoff and silence
 * never follow a stepped wall clock; since_ms alone is wall-clock: it is shown to people. */

typedef struct pd_pending_cmd {
    uint64_t handle;       /* 0 = free slot */
    char seq[16];
    int64_t deadline_ms;
    pd_cmd_cb cb;
    void *ud;
} pd_pending_cmd;


typedef struct pd_link_prep pd_link_prep;
typedef struct pd_tls_ctx pd_tls_ctx;

struct pd_printer {
    pd_fleet *fleet;
    pd_printer_rec rec;
    pd_model model;
    pd_model detected;           /* from get_version; PD_MODEL_UNKNOWN until it answers */
    char firmware[32];

    /* link (link.c) */
    struct mosquitto *mosq;
    pd_tls_ctx *tls;             /* shared TLS context, held while mosq exists */
    pd_mqttio *poll;             /* NULL when no socket is watched */
    pd_link_prep *prep;          /* the attempt's address and ca_file, fetched off the loop */
    pd_link_state lstate;
    bool attempting;             /* holds one of the fleet's connection attempt slots */
    bool holds_fds;              /* counted in the fleet's links, from attempt to drop */
    int64_t attempt_ms;          /* when that attempt started */
    char last_error[320];
    int64_t since_ms;            /* when lstate last changed (wall clock) */
    int64_t next_attempt_ms;     /* BACKOFF/AUTH_FAILED: when to reconnect */
    int backoff_ms;
    int connack_rc;              /* refusal code from the last CONNACK, 0 = none */
    int64_t last_msg_ms;
    bool pushall_resent;         /* silence: asked once more before marking offline */
    bool online;
    uint32_t next_seq;
    pd_pending_cmd pending[PD_MAX_PENDING_CMDS];

    /* state (fleet.c) */
    json_t *raw;                 /* {"print":{…},"info":{…}} */
    bool have_full;
    int delta_misses;            /* deltas received before any full report */
    int64_t pushall_ms;          /* when pushall was last requested */
    pd_state state;
    char *json_cache;            /* API object, NULL when stale */
    size_t json_len;

    pd_printer_counters counters;
};

struct pd_fleet {
    uv_loop_t *loop;
    pd_bus *bus;
    pd_fleet_opts opts;
    uv_timer_t tick;
    pd_tls_ctx *tls;             /* link.c: one TLS context per trust configuration in use */
    pd_printer **v;              /* sorted by id */
    size_t n, cap;
    uint64_t next_handle;
    int attempts;                /* connection attempts running (link.c paces them) */
    int links;                   /* printers holding descriptors for a connection (link.c) */
    unsigned connects_since_trim; /* link attempts since the heap was last trimmed */
    int64_t trimmed_ms;          /* when the heap was last trimmed (fleet.c) */
};

/* link.c */
pd_err pd_link_start(pd_printer *p);
void pd_link_stop(pd_printer *p);          /* disconnect, fail pending commands, free mosq */
void pd_link_tick(pd_printer *p, int64_t now);
void pd_link_set_state(pd_printer *p, pd_link_state s, const char *error);
void pd_link_request_pushall(pd_printer *p);
void pd_link_on_ack(pd_printer *p, const json_t *body);
void pd_link_on_full_report(pd_printer *p);  /* completes waiting pushall commands */

/* fleet.c: a message arrived on the report topic */
void pd_fleet_on_message(pd_printer *p, const char *payload, size_t len);
void pd_fleet_emit_simple(pd_printer *p, pd_event_type type);

#endif
