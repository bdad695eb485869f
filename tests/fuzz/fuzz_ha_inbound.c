/* libFuzzer target for Home Assistant's webhook payloads (src/ha/inbound.c), the JSON anyone
 * holding the webhook secret posts to /webhook/homeassistant/print_event and …/ams_update.
 * Promises kept: a payload accepted yields a partial report the printer's own merge takes
 * (src/printer/report.c), its numbers in range; one refused names the field at fault; the
 * printer_id read to choose the secret is the one the parsers accept. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ha/inbound.h"
#include "merged.h"

#define FUZZ_MAX_INPUT (16 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_MAX_INPUT)
        return 0;
    json_t *j = json_loadb((const char *)data, size, 0, NULL);
    const char *field = NULL;
    char why[256];
    pd_ha_print_event e;
    if (!pd_ha_parse_print_event(j, &e, &field, why, sizeof why)) {
        if (!e.printer_id[0] || e.progress > 100 || e.unit > 3 || e.slot > 3 || (e.unit < 0) != (e.slot < 0))
            abort();
        fuzz_merged(pd_ha_print_event_report(&e));
    } else if (!field || !why[0]) {
        abort();
    }
    pd_ha_ams_update u;
    field = NULL;
    if (!pd_ha_parse_ams_update(j, &u, &field, why, sizeof why)) {
        if (!u.printer_id[0] || u.unit < 0 || u.unit > 3 || u.slot < 0 || u.slot > 3 || u.remain > 100 ||
            (u.has_color && strlen(u.color) != 8) || (!u.has_color && !u.has_material && u.remain < 0))
            abort();
        fuzz_merged(pd_ha_ams_update_report(&u));
    } else if (!field || !why[0]) {
        abort();
    }
    char id[PD_HA_ID_MAX + 1];
    bool named = pd_ha_payload_printer_id(j, id);
    if ((named && !id[0]) || (!pd_ha_parse_ams_update(j, &u, &field, why, sizeof why) &&
                              (!named || strcmp(id, u.printer_id))))
        abort();
    char serial[PD_HA_SERIAL_LEN + 1];
    if (j && json_is_string(json_object_get(j, "printer_id"))) {
        pd_ha_serial(json_string_value(json_object_get(j, "printer_id")), serial);
        if (strlen(serial) != PD_HA_SERIAL_LEN)
            abort();
    }
    json_decref(j);
    return 0;
}
