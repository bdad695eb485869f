/* libFuzzer target for Home Assistant's WebSocket messages as printdeck reads them
 * (src/ha/wsmsg.c) and the entities' states made webhook payloads (src/ha/entities.c): what
 * a Home Assistant, or whoever answers at api_url, sends. Promises kept: the cache holds only
 * the entities asked for; every payload made parses as a webhook's or is refused naming a
 * field, and one accepted merges into a report. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ha/entities.h"
#include "ha/inbound.h"
#include "ha/wsmsg.h"
#include "merged.h"

#define FUZZ_MAX_INPUT (64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void nothing(const char *id, void *ud)
{
    (void)id;
    ++*(size_t *)ud;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_MAX_INPUT)
        return 0;
    pd_ha_ws_msg m;
    if (pd_ha_ws_parse((const char *)data, size, &m))
        return 0;
    pd_printer_rec rec = {0};
    strcpy(rec.ha_device, "bambu_lab_p1s");
    static char ids[PD_HA_E_COUNT][PD_HA_ENTITY_MAX];
    pd_ha_entity_ids(&rec, ids);
    const char *list[PD_HA_E_COUNT];
    for (int i = 0; i < PD_HA_E_COUNT; i++)
        list[i] = ids[i];
    json_t *cache = pd_ha_ws_cache_new(list, PD_HA_E_COUNT);
    size_t calls = 0;
    size_t n = cache && m.kind == PD_HA_WS_EVENT ? pd_ha_ws_apply(cache, m.event, nothing, &calls) : 0;
    if (n != calls || (cache && json_object_size(cache) != PD_HA_E_COUNT))
        abort();
    const char *field;
    char why[256];
    json_t *body = cache ? pd_ha_print_body("01P00A451200002", cache, ids) : NULL;
    pd_ha_print_event e;
    if (body && !pd_ha_parse_print_event(body, &e, &field, why, sizeof why))
        fuzz_merged(pd_ha_print_event_report(&e));
    json_decref(body);
    for (int k = PD_HA_E_PRINT; cache && k < PD_HA_E_COUNT; k++) {
        pd_ha_ams_update u;
        body = pd_ha_tray_body("01P00A451200002", cache, ids, k);
        if (body && !pd_ha_parse_ams_update(body, &u, &field, why, sizeof why))
            fuzz_merged(pd_ha_ams_update_report(&u));
        json_decref(body);
    }
    json_decref(cache);
    pd_ha_ws_msg_free(&m);
    return 0;
}
