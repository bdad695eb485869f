/* Home Assistant as a printer source (docs/homeassistant.md, Source): which entities of the
 * ha-bambulab integration follow a printer, and what their states say, as the two webhook
 * payloads (ha/inbound.h) - so their news goes through the webhooks' parsers and partial
 * reports, and the fleet merges it exactly as theirs. Pure: fuzzed by tests/fuzz/fuzz_ha_ws.c. */
#ifndef PD_HA_ENTITIES_H
#define PD_HA_ENTITIES_H

#include <jansson.h>

#include "store/store.h"

/* The print's entities, then the AMS trays' (unit-major, 4 units of 4 trays). */
enum {
    PD_HA_E_STATUS,
    PD_HA_E_TASK,
    PD_HA_E_FILE,
    PD_HA_E_PROGRESS,
    PD_HA_E_LAYER,
    PD_HA_E_TOTAL,
    PD_HA_E_ACTIVE,
    PD_HA_E_PRINT,            /* how many of the print's */
    PD_HA_UNITS = 4,
    PD_HA_TRAYS = 4,
    PD_HA_E_COUNT = PD_HA_E_PRINT + PD_HA_UNITS * PD_HA_TRAYS,
};
#define PD_HA_ENTITY_MAX 128

/* The entity ids that follow a printer with an ha_device: its overrides, else ha-bambulab's
 * names made from the device. */
void pd_ha_entity_ids(const pd_printer_rec *rec, char ids[PD_HA_E_COUNT][PD_HA_ENTITY_MAX]);

/* The print_event payload the print's entities in cache (ha/wsmsg.h) make, for printer_id. */
json_t *pd_ha_print_body(const char *printer_id, const json_t *cache,
                         char ids[PD_HA_E_COUNT][PD_HA_ENTITY_MAX]);
/* The ams_update payload of the tray entity `index` (PD_HA_E_PRINT and up); NULL when Home
 * Assistant does not know the tray's state (unknown, unavailable, not yet seen). */
json_t *pd_ha_tray_body(const char *printer_id, const json_t *cache,
                        char ids[PD_HA_E_COUNT][PD_HA_ENTITY_MAX], int index);

#endif
