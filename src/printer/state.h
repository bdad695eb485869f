/* Typed printer state extracted from the merged raw `print` object, its JSON form for the
 * API, and the diff that turns two states into bus events. Pure; no I/O. */
#ifndef PD_STATE_H
#define PD_STATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/bus.h"
#include "core/jw.h"
#include "printer/model.h"

#define PD_MAX_AMS   8    /* AMS 0-3 + AMS HT 128-135; more are ignored (logged once) */
#define PD_MAX_TRAYS 4
#define PD_MAX_HMS   16

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
    int tray_now;          /* global tray id: 0-15 AMS, 128-135 HT, 254 external, 255 none */
    bool has_external;
    pd_tray external;      /* vt_tray, or vir_slot main holder */
    int n_hms;
    pd_hms_alert hms[PD_MAX_HMS];
    uint32_t print_error;
    bool sign_required;    /* fun bit 0x20000000: firmware wants signed commands */
    int door_open;         /* 1/0, -1 unknown */
    int64_t updated_at_ms;
} pd_state;

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
