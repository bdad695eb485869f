/* Home Assistant, inbound (docs/homeassistant.md, Inbound): the two webhook payloads of the
 * filament-tracking seed's automations (`print_event`, `ams_update`), read whole and checked
 * before anything is written, and turned into a partial report in the printer's own form, so
 * that the fleet merges them, types them and diffs them into the same bus events an MQTT
 * report makes (pd_fleet_feed). Pure: fuzzed by tests/fuzz/fuzz_ha_inbound.c.
 *
 * Home Assistant's templates render what they compute as text unless its native types apply,
 * so every number may come as "2", every absent value as null, "", "None", "unknown" or
 * "unavailable", and a colour as [r, g, b], its text "[255, 0, 0]" or "(255, 0, 0)", or hex. */
#ifndef PD_HA_INBOUND_H
#define PD_HA_INBOUND_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

#define PD_HA_ID_MAX 63      /* bytes of a printer_id */
#define PD_HA_FILE_MAX 255   /* bytes of a gcode_file_name */
#define PD_HA_SERIAL_LEN 15  /* the stand-in serial of a Home Assistant printer */

typedef struct pd_ha_print_event {
    char printer_id[PD_HA_ID_MAX + 1];
    char state[8];        /* the gcode_state it means: PREPARE RUNNING PAUSE FINISH FAILED IDLE;
                           * "" when Home Assistant lost the printer (unavailable): no step */
    bool cancelled;       /* FAILED because someone stopped it */
    char file[PD_HA_FILE_MAX + 1]; /* "" = not given */
    int progress, layer, total_layers;  /* -1 = not given */
    int unit, slot;       /* the tray feeding, numbered as the printer does (0-3); -1 = not given */
} pd_ha_print_event;

typedef struct pd_ha_ams_update {
    char printer_id[PD_HA_ID_MAX + 1];
    int unit, slot;       /* 0-3 as the printer numbers them; Home Assistant's entities say 1-4 */
    bool has_color, has_material;
    char color[9];        /* RRGGBBAA */
    char material[32];    /* "" = the slot is empty */
    int remain;           /* % left, 0-100; -1 = not given */
} pd_ha_ams_update;

/* INVAL (not an object) or FIELD with *field the member at fault and why in words; out is
 * complete only on PD_OK. */
pd_err pd_ha_parse_print_event(const json_t *body, pd_ha_print_event *out, const char **field,
                               char *why, size_t whylen);
pd_err pd_ha_parse_ams_update(const json_t *body, pd_ha_ams_update *out, const char **field,
                              char *why, size_t whylen);

/* The printer_id a payload names, read as both parsers read it (to choose the secret the
 * webhook must carry before the payload is judged); false when it names none. */
bool pd_ha_payload_printer_id(const json_t *body, char out[PD_HA_ID_MAX + 1]);

/* The partial report each one means (a new reference; NULL when out of memory). */
json_t *pd_ha_print_event_report(const pd_ha_print_event *e);
json_t *pd_ha_ams_update_report(const pd_ha_ams_update *u);

/* The serial a printer created by its first webhook carries until it is merged: "HA" and 13
 * hex digits of SHA-256(printer_id), a valid serial (printer/record.c) no Bambu printer has. */
void pd_ha_serial(const char *printer_id, char out[PD_HA_SERIAL_LEN + 1]);

/* [homeassistant] webhook_secret, the config's check: empty, or 16-128 printable characters
 * without spaces (it travels in a header, a bearer token or a query). */
pd_err pd_ha_check_secret(const char *v, char *err, size_t errlen);

#endif
