/* In-process event bus. Emitted and delivered synchronously on the loop thread: a subscriber
 * sees the event while the emitter's state is consistent, and must not block. Pointers inside
 * an event are valid only during delivery; copy what you keep. */
#ifndef PD_BUS_H
#define PD_BUS_H

#include <stddef.h>
#include <stdint.h>

typedef enum pd_event_type {
    PD_EV_PRINTER_ADDED   = 1u << 0,
    PD_EV_PRINTER_REMOVED = 1u << 1,
    PD_EV_STATE           = 1u << 2,  /* any change to the printer's state (after a report merge) */
    PD_EV_JOB_PHASE       = 1u << 3,  /* gcode_state changed: u.phase */
    PD_EV_LAYER           = 1u << 4,  /* layer changed: u.layer */
    PD_EV_TRAY            = 1u << 5,  /* an AMS/external tray's identity or remain changed: u.tray */
    PD_EV_HMS_RAISED      = 1u << 6,  /* u.hms */
    PD_EV_HMS_CLEARED     = 1u << 7,  /* u.hms */
    PD_EV_ONLINE          = 1u << 8,
    PD_EV_OFFLINE         = 1u << 9,
    PD_EV_CONNECTION      = 1u << 10, /* link state changed: u.conn */
    PD_EV_INVENTORY       = 1u << 11, /* a vendor/filament/spool/setting changed: u.inv */
    PD_EV_JOB             = 1u << 12, /* a print job record changed: u.job (after its commit) */
    PD_EV_ALERT           = 1u << 13, /* an alert was raised, cleared or acknowledged: u.alert */
    PD_EV_USAGE           = 1u << 14, /* a job's filament usage was written: u.usage (after its commit) */
    PD_EV_PROMPT          = 1u << 15, /* a "which spool?" prompt changed: u.prompt (after its commit) */
    PD_EV_ALL             = 0xffffffffu
} pd_event_type;

typedef struct pd_event {
    pd_event_type type;
    int64_t printer_id;
    const char *serial;
    int64_t ts_ms;                      /* wall clock, ms since epoch */
    union {
        struct { const char *from, *to; } phase;
        struct { int layer, total; } layer;
        struct { int ams_id, tray_id; } tray;   /* ams_id 255 = external holder */
        struct { const char *code, *text; } hms; /* code "HMS_0300_0100_0001_0007" */
        struct { const char *state, *error; } conn;
        /* resource "vendor"|"filament"|"spool"|"setting", change "added"|"updated"|"deleted",
         * key the id in decimal or the setting key, payload the object as GET returns it
         * (JSON text; for a setting {"key","setting"}) */
        struct { const char *resource, *change, *key, *payload; size_t payload_len; } inv;
        /* change "started"|"paused"|"resumed"|"updated"|"ended"; payload the job object as
         * GET /api/v1/jobs/{id} returns it (JSON text) */
        struct { int64_t id; const char *change, *payload; size_t payload_len; } job;
        /* change "raised"|"cleared"|"acked"; payload the alert object as GET /api/v1/alerts
         * lists it (JSON text) */
        struct { int64_t id; const char *change, *payload; size_t payload_len; } alert;
        /* change "recorded" (the job's accounting) | "corrected" (by a person); payload
         * {job_id, change, filament, grams, cost} (JSON text) */
        struct { int64_t job_id; const char *change, *payload; size_t payload_len; } usage;
        /* change "raised"|"answered"|"dismissed"|"replaced"; payload the prompt object as
         * GET /api/v1/prompts/{id} returns it (JSON text) */
        struct { int64_t id; const char *change, *payload; size_t payload_len; } prompt;
    } u;
} pd_event;

typedef void (*pd_bus_fn)(const pd_event *ev, void *ud);
typedef struct pd_bus pd_bus;

#define PD_BUS_MAX_SUBSCRIBERS 64

pd_bus *pd_bus_new(void);
void pd_bus_free(pd_bus **bus);
/* Returns a subscription id (>0) or 0 when the table is full. */
int pd_bus_subscribe(pd_bus *bus, uint32_t mask, pd_bus_fn fn, void *ud);
void pd_bus_unsubscribe(pd_bus *bus, int id);
void pd_bus_emit(pd_bus *bus, const pd_event *ev);

#endif
