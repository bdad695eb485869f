/* Alerts (docs/alerts.md): conditions worth a person's attention, each raised ONCE per crossing
 * and kept as a row of `alert` that stays open while its condition holds. An open row is the
 * whole memory of a crossing, so a restart neither repeats an alert nor forgets one; the row
 * clears (and the alert re-arms) only when the condition is over past its hysteresis.
 *
 * Every raise, clear and acknowledgement is announced after its commit as PD_EV_ALERT (SSE
 * `alert.raised|cleared|acked`). The engine raises low stock (per spool, per filament with all
 * its spools together, and the [alerts] low_stock_g default), AMS humidity, hygroscopic spools
 * in an AMS too long since dried, and stalled prints from the bus; other modules raise theirs
 * (insufficient filament for a starting job) through pd_alerts_raise. */
#ifndef PD_TRACK_ALERTS_H
#define PD_TRACK_ALERTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "core/bus.h"
#include "core/config.h"
#include "inventory/inventory.h"
#include "printer/printer.h"
#include "store/store.h"
#include "track/exposure.h"

typedef enum pd_alert_kind {
    PD_ALERT_LOW_STOCK_SPOOL,     /* a spool under its own low_stock_weight */
    PD_ALERT_LOW_STOCK_FILAMENT,  /* a filament's spools together under its threshold */
    PD_ALERT_INSUFFICIENT,        /* a starting job needs more than its spools hold */
    PD_ALERT_HUMIDITY,            /* an AMS unit's humidity high, sustained */
    PD_ALERT_DRYING,              /* a hygroscopic spool in an AMS past its limit since dried */
    PD_ALERT_STALLED,             /* no layer progress while RUNNING */
    PD_ALERT__N
} pd_alert_kind;
const char *pd_alert_kind_name(pd_alert_kind k);
bool pd_alert_kind_parse(const char *s, pd_alert_kind *out);

/* --- the rules, pure ------------------------------------------------------------------------ */

/* A hysteresis gate: `raised` is whether the crossing is current (its alert open). A value
 * past the limit raises once; the gate re-arms only when the value is back beyond limit ±
 * margin. high: the condition is value > limit (humidity), else value < limit (stock). */
typedef enum pd_gate_move { PD_GATE_STAY, PD_GATE_RAISE, PD_GATE_CLEAR } pd_gate_move;
pd_gate_move pd_alerts_gate(bool raised, bool high, double value, double limit, double margin);

/* --- the engine ------------------------------------------------------------------------------ */

typedef struct pd_alerts pd_alerts;

/* Subscribes to the bus, starts checks of stock and drying (read off the loop, raised when the
 * reads are done) and the timer that watches humidity, stalls and drying. cfg is read at each
 * check, so a SIGHUP applies. */
pd_err pd_alerts_start(pd_alerts **out, uv_loop_t *loop, pd_bus *bus, pd_fleet *fleet, pd_inv *inv,
                       const pd_config *cfg);
void pd_alerts_stop(pd_alerts **a);  /* closes the timer: the loop must run after */
/* [alerts] changed while the daemon runs (the dashboard's thresholds): stock and drying are
 * checked again now, with the new values (humidity and stalls read them at every tick). */
void pd_alerts_thresholds_changed(pd_alerts *a);
/* Whether a stock or drying check is reading or waits (they run off the loop): a test runs the
 * loop until it is false. */
bool pd_alerts_checking(const pd_alerts *a);

/* An alert another module raises. key names the crossing ("insufficient:job:12"): while an
 * alert with that key is open, raising it again does nothing (*id gets the open one). Ids of 0
 * are none; data (borrowed, may be NULL) is kept as JSON. */
typedef struct pd_alert_in {
    pd_alert_kind kind;
    const char *key;
    const char *severity;          /* "info" | "warning" | "critical" */
    int64_t printer_id, spool_id, filament_id, job_id;
    const char *message;
    json_t *data;
} pd_alert_in;
pd_err pd_alerts_raise(pd_alerts *a, const pd_alert_in *in, int64_t *id);
/* Clears the open alert with this key (its condition is over); none open is fine. */
pd_err pd_alerts_clear(pd_alerts *a, const char *key);

/* One filament of a starting job: what it needs and what its mapped spool holds. */
typedef struct pd_alert_need {
    int64_t spool_id;              /* 0: no spool known for the tray */
    int unit, slot;                /* the tray (unit 255 = external) */
    const char *material;
    double needed_g, remaining_g;
} pd_alert_need;
/* Raises PD_ALERT_INSUFFICIENT for the job when any filament needs more than it has: data
 * {filaments: [{spool_id, unit, slot, material, needed_g, remaining_g, shortfall_g}],
 * shortfall_g}; does nothing when all suffice. */
pd_err pd_alerts_insufficient(pd_alerts *a, int64_t printer_id, int64_t job_id, const pd_alert_need *need,
                              size_t n, int64_t *id);

/* --- the API ---------------------------------------------------------------------------------- */

/* GET /api/v1/alerts: open ones and those raised since `since` (default 7 days); filters kind,
 * printer_id, spool_id, state (open|acked|cleared|all), limit/offset. */
pd_err pd_alerts_list(pd_inv *inv, const pd_inv_param *p, size_t n, json_t **items, int64_t *total,
                      pd_inv_err *e);
/* NOTFOUND for an alert of a printer not seen (or of no printer, for a reader limited to
 * some), as for one that does not exist. */
pd_err pd_alerts_ack(pd_alerts *a, int64_t id, pd_inv_seen seen, json_t **out, pd_inv_err *e);
/* Stamps the spool's last_dried (now, or body's "at") and re-checks drying. */
pd_err pd_alerts_dried(pd_alerts *a, int64_t spool_id, json_t *body, json_t **out, pd_inv_err *e);

#endif
