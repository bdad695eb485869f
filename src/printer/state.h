/* Typed printer state extracted from the merged raw `print` object, its JSON form for the
 * API, and the diff that turns two states into bus events. Pure; no I/O. */
#ifndef PD_STATE_H
#define PD_STATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/bus.h"
#include "core/jw.h"
#include "printer/model.h"

#define PD_MAX_AMS   8    /* AMS 0-3 + AMS HT 128-135; more are ignored (logged once) */
#define PD_MAX_TRAYS 4
#define PD_MAX_HMS   16
#define PD_MAX_EXTRUDERS 2
#define PD_STATE_EXTERNAL_UNIT 255 /* the external holders' unit in tray events and pd_feed */

typedef struct pd_tray {
    bool present;          /* slot holds a spool (tray_exist_bits / non-empty tray_type) */
    int id;                /* slot 0-3; external holder 254/255 */
    char type[24];         /* tray_type */
    char sub_brand[48];    /* tray_sub_brands */
    char color[10];        /* "#RRGGBBAA", "" unknown */
    char info_idx[24];     /* tray_info_idx (filament preset id) */
    char id_name[24];      /* tray_id_name (RFID product code) */
    char uuid[33];         /* tray_uuid, "" when all zeros */
    char tag_uid[17];      /* tag_uid, "" when all zeros */
    int remain;            /* % or -1 unknown */
    int tray_weight;       /* g, 0 unknown */
    double diameter;       /* tray_diameter mm, 0 unknown */
    int bbl;               /* a Bambu RFID spool per tray_is_bbl_bits: 1/0, -1 not said */
    int nozzle_min, nozzle_max;
    double k;              /* pressure advance, 0 unknown */
} pd_tray;

typedef struct pd_ams_unit {
    int id;                /* 0-3 AMS/AMS 2 Pro/Lite, 16 A2L Lite, 128-135 AMS HT */
    int humidity;          /* level 1-5 (5 driest), 0 unknown */
    int humidity_pct;      /* humidity_raw %, -1 unknown */
    double temp;           /* °C, 0 unsupported */
    int n_trays;
    pd_tray trays[PD_MAX_TRAYS];
} pd_ams_unit;

/* A tray as a unit and a slot: an AMS unit's id (0-3, 16 the A2L's AMS Lite, 128-135 AMS HT)
 * and its slot, or PD_STATE_EXTERNAL_UNIT and the holder (0 the main one, 1 the deputy of a
 * dual-nozzle printer). unit -1: no tray. */
typedef struct pd_feed {
    int unit, slot;
} pd_feed;

/* One nozzle of a dual-nozzle printer and the tray loaded in it (its `snow`). */
typedef struct pd_extruder {
    int id;                /* 0 the right (main) one, 1 the left (deputy) one */
    pd_feed feed;
} pd_extruder;

typedef struct pd_hms_alert {
    uint32_t attr, code;
} pd_hms_alert;

typedef struct pd_state {
    char gcode_state[16];  /* as sent: IDLE PREPARE RUNNING PAUSE FINISH FAILED …; "" unknown */
    int stage;             /* stg_cur */
    int progress;          /* mc_percent */
    int layer, total_layers;
    int remaining_min;
    char subtask[128];
    char gcode_file[256];
    double nozzle_temp, nozzle_target, bed_temp, bed_target;
    double chamber_temp;   /* NAN when the model has no real sensor */
    int fan_part, fan_aux, fan_chamber, fan_heatbreak; /* percent 0-100, -1 unknown */
    int speed_level;       /* 1 silent … 4 ludicrous, 0 unknown */
    int speed_mag;         /* percent */
    int wifi_dbm;          /* 0 unknown */
    int light;             /* chamber light: 1 on, 0 off, -1 unknown */
    double nozzle_diameter;
    char nozzle_type[32];
    int n_ams;
    pd_ams_unit ams[PD_MAX_AMS];
    int tray_now;          /* as sent: 0-15, 128-135 AMS HT, 254 external, 255 none; some models
                            * send an AMS unit's own slot 0-3 here (feed says which tray it is) */
    int n_extruders;       /* 2 on dual-nozzle printers, else 0 */
    pd_extruder extruders[PD_MAX_EXTRUDERS];
    pd_feed feed;          /* the tray feeding now: tray_now, the push mapping and the extruders'
                            * snow decoded per model (docs/printer-state.md) */
    int extruder;          /* the extruder it feeds (0 on single-nozzle printers) */
    bool has_external;
    pd_tray external;      /* vt_tray, or vir_slot main holder */
    int n_hms;
    pd_hms_alert hms[PD_MAX_HMS];
    uint32_t print_error;
    bool sign_required;    /* fun bit 0x20000000: firmware wants signed commands */
    int door_open;         /* 1/0, -1 unknown */
    int64_t updated_at_ms; /* set by the fleet when a report changed the state: no row */
} pd_state;

/* --- the field tables ----------------------------------------------------------------------
 * Every record above is described once, one row per field, and the rows drive everything:
 * extraction from the report, the API JSON (members in row order), the diff that decides
 * whether the printer changed, and the /metrics gauges. A field is added by adding its row
 * (docs/printer-state.md). */

typedef enum pd_state_kind {
    PD_SK_INT,      /* int */
    PD_SK_REAL,     /* double */
    PD_SK_TEXT,     /* char[size] */
    PD_SK_BOOL,     /* bool */
    PD_SK_U32,      /* uint32_t */
    PD_SK_GROUP,    /* no storage: the rows of `sub` (same record) shown as one object */
    PD_SK_LIST,     /* `sub` records at off, their count an int at count_off */
    PD_SK_RECORD,   /* one `sub` record at off, null in the API unless the bool at count_off */
    PD_SK_DERIVED,  /* no storage: a member `write` computes from the record */
} pd_state_kind;

/* The value that means "not known": null in the API, no metric sample, and the value a
 * record starts with. A REAL's NAN and a TEXT's "" are unknown whatever the row says. */
typedef enum pd_state_unknown {
    PD_SU_NONE,     /* 0 is a value */
    PD_SU_ZERO,
    PD_SU_MINUS1,
    PD_SU_NAN,      /* REAL: starts as NAN rather than 0 */
} pd_state_unknown;

typedef struct pd_state_field pd_state_field;
typedef struct pd_state_table {
    const pd_state_field *rows;
    size_t n;
    size_t size;    /* of the record */
} pd_state_table;

struct pd_state_in;      /* a reader's view: the report object, the model, context (state.c) */
struct pd_state_differ;  /* the diff in progress (state.c) */

struct pd_state_field {
    const char *key;                /* API member */
    pd_state_kind kind;
    size_t off, size;               /* the value in its record */
    pd_state_unknown unknown;
    /* extraction: `src` read as the kind says (a missing or mistyped value keeps the field),
     * or `read`, a named reader for what needs decoding; alt and arg are its parameters */
    const char *src, *alt;
    int arg;
    void (*read)(const pd_state_field *f, void *rec, const struct pd_state_in *in);
    /* API JSON of a known value when it is not shown as its kind (unknown is always null) */
    void (*write)(pd_jw *w, const pd_state_field *f, const void *rec, pd_model model);
    /* diff: scalars compare by kind; LIST and RECORD rows compare in `diff` */
    void (*diff)(struct pd_state_differ *d, const pd_state_field *f, const void *old,
                 const void *cur);
    pd_event_type event;            /* emitted (once per record) when this field changes */
    const pd_state_table *sub;
    size_t count_off;
    const char *metric, *help;      /* a Prometheus gauge; unknown values are not sampled */
};

extern const pd_state_table pd_state_fields;     /* pd_state */
extern const pd_state_table pd_state_ams_fields;  /* pd_ams_unit */
extern const pd_state_table pd_state_tray_fields; /* pd_tray */
extern const pd_state_table pd_state_hms_fields;  /* pd_hms_alert */
extern const pd_state_table pd_state_extruder_fields; /* pd_extruder */

/* A scalar field of `rec` as a number; false when it is unknown or not a number. */
bool pd_state_number(const pd_state_field *f, const void *rec, double *out);

void pd_state_init(pd_state *st);
/* Read every known field from the merged raw print object. Missing or wrongly typed fields
 * keep the value they had (callers start from the previous state or pd_state_init). */
void pd_state_extract(pd_state *st, const json_t *print, pd_model model);
/* The API's printer "state" members (see docs/api.md), written into the object `w` has open. */
void pd_state_write_json(const pd_state *st, pd_model model, pd_jw *w);

/* Emit PD_EV_JOB_PHASE, PD_EV_LAYER, PD_EV_TRAY, PD_EV_HMS_RAISED/CLEARED for what changed
 * between old and cur; `base` supplies printer_id/serial/ts. Returns true if anything in the
 * state (including fields without their own event) changed. */
bool pd_state_diff(const pd_state *old, const pd_state *cur, pd_model model, pd_bus *bus,
                   const pd_event *base);

#endif
