/* The fleet: every configured printer, its MQTT link driven by the loop, its merged raw
 * report and typed state, and the commands sent to it. Owned by the loop thread; other
 * modules read through these functions and learn of changes from the bus. */
#ifndef PD_PRINTER_H
#define PD_PRINTER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "core/bus.h"
#include "core/err.h"
#include "printer/model.h"
#include "printer/state.h"
#include "store/store.h"

typedef struct pd_fleet pd_fleet;
typedef struct pd_printer pd_printer;

typedef struct pd_fleet_opts {
    int silence_s;
    int keepalive_s;
    int reconnect_min_ms, reconnect_max_ms;
    int command_timeout_ms;
    int pushall_retry_s;   /* a printer that sends deltas without a full report: ask again */
    int max_payload;
    int max_printers;
    int max_links;         /* connections the descriptor limit leaves room for; 0 = no bound */
} pd_fleet_opts;
/* Descriptors one printer connection holds: its socket, and the socket pair libmosquitto makes
 * on every connect to wake a threaded loop (it makes it without threads too). */
#define PD_FLEET_FDS_PER_LINK 3

/* Connection states, as served in connection.state */
typedef enum pd_link_state {
    PD_LINK_DISCONNECTED,  /* not started / removed */
    PD_LINK_CONNECTING,
    PD_LINK_CONNECTED,     /* MQTT session up, reports flowing */
    PD_LINK_STALE,         /* session up but silent past silence_s */
    PD_LINK_BACKOFF,       /* waiting to reconnect after an error */
    PD_LINK_AUTH_FAILED,   /* CONNACK 5: wrong access code; retried only slowly */
    PD_LINK_TLS_FAILED     /* certificate did not verify */
} pd_link_state;
const char *pd_link_state_name(pd_link_state s);

pd_err pd_fleet_new(uv_loop_t *loop, pd_bus *bus, const pd_fleet_opts *opts, pd_fleet **out);
/* Disconnects everything; the loop must then run until handles are closed. */
void pd_fleet_free(pd_fleet **f);

/* Starts connecting at once. EXISTS for a duplicate serial or id. */
pd_err pd_fleet_add(pd_fleet *f, const pd_printer_rec *rec, pd_printer **out);
/* Applies a changed record; reconnects only if connection fields changed. */
pd_err pd_fleet_update(pd_fleet *f, pd_printer *p, const pd_printer_rec *rec);
void pd_fleet_remove(pd_fleet *f, pd_printer *p);
/* By numeric id ("12") or serial. */
pd_printer *pd_fleet_find(pd_fleet *f, const char *id_or_serial);
pd_printer *pd_fleet_find_id(pd_fleet *f, int64_t id);
/* By the printer_id Home Assistant's webhooks name it by (pd_printer_rec.ha_id). */
pd_printer *pd_fleet_find_ha(pd_fleet *f, const char *ha_id);
/* A Home Assistant-backed printer's news, as a partial report in the printer's own form
 * ({"gcode_state": …, "ams": {"ams": [...]}}): merged, turned into typed state and diffed
 * into bus events exactly as an MQTT report is. Ignored for an MQTT printer. */
void pd_fleet_feed(pd_printer *p, json_t *delta);
/* The connection state of a printer Home Assistant's API feeds (ha/source.c), shown as its
 * connection.state and error as a link's. Ignored for an MQTT printer. */
void pd_fleet_source_state(pd_printer *p, pd_link_state s, const char *error);
size_t pd_fleet_count(const pd_fleet *f);
/* Calls fn for every printer in ascending id order. fn must not add or remove printers. */
void pd_fleet_foreach(pd_fleet *f, void (*fn)(pd_printer *p, void *ud), void *ud);

const pd_printer_rec *pd_printer_rec_get(const pd_printer *p);
int64_t pd_printer_id(const pd_printer *p);
pd_model pd_printer_model(const pd_printer *p);
const char *pd_printer_firmware(const pd_printer *p); /* "" until get_version answered */
bool pd_printer_online(const pd_printer *p);
pd_link_state pd_printer_link_state(const pd_printer *p);
const pd_state *pd_printer_state(const pd_printer *p);
/* The API printer object (docs/api.md) as compact JSON, cached until the printer changes.
 * Borrowed: valid until control returns to the loop. */
const char *pd_printer_json_str(pd_printer *p, size_t *len);
/* Merged raw report {"print":{…},"info":{…}} (borrowed). */
const json_t *pd_printer_raw(const pd_printer *p);

typedef struct pd_printer_counters {
    uint64_t messages;     /* MQTT messages received */
    uint64_t dropped;      /* malformed / oversized / unmergeable */
    uint64_t reconnects;
    uint64_t commands, command_failures;
    uint64_t commands_pending; /* sent and still waiting for an answer or their deadline */
} pd_printer_counters;
void pd_printer_counters_get(const pd_printer *p, pd_printer_counters *out);

/* Commands. `req` is the API body: {"command":"pause|resume|stop|light|speed|gcode|pushall",
 * "on":bool (light), "node":"chamber_light"? (light), "level":1-4 (speed), "gcode":"…"}.
 * Validation errors return INVAL synchronously (message in err). Otherwise the command is
 * published at QoS 1 with a fresh sequence_id and `cb` is called exactly once, later, on the
 * loop: PD_OK with the ack, REFUSED (printer said failed; detail = reason), SIGNED (firmware
 * requires signed commands), TIMEOUT, or OFFLINE (link dropped). *handle lets a caller that
 * goes away cancel the callback. */
typedef void (*pd_cmd_cb)(pd_err rc, const char *detail, const json_t *ack, void *ud);
pd_err pd_printer_command(pd_printer *p, const json_t *req, pd_cmd_cb cb, void *ud,
                          uint64_t *handle, char *err, size_t errlen);
void pd_printer_command_cancel(pd_printer *p, uint64_t handle);

#endif
