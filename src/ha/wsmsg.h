/* Home Assistant's WebSocket API as printdeck reads it (docs/homeassistant.md, Source;
 * https://developers.home-assistant.io/docs/api/websocket): one message's kind, id and error,
 * and the entities' states kept from subscribe_entities' events. Pure: fuzzed by
 * tests/fuzz/fuzz_ha_ws.c.
 *
 * subscribe_entities sends the present state of every entity it was asked for first ("a",
 * additions), then only what changes ("c": "+" sets the state and the attributes given, "-"
 * removes attributes) and removals ("r"). The cache holds only the entities printdeck asked
 * for: anything else in an event is ignored, so its size is bounded by the subscription. */
#ifndef PD_HA_WSMSG_H
#define PD_HA_WSMSG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

typedef enum pd_ha_ws_kind {
    PD_HA_WS_OTHER,          /* a type printdeck does not use */
    PD_HA_WS_AUTH_REQUIRED,
    PD_HA_WS_AUTH_OK,
    PD_HA_WS_AUTH_INVALID,
    PD_HA_WS_RESULT,         /* id, success, error */
    PD_HA_WS_EVENT,          /* id, event */
    PD_HA_WS_PONG,           /* id */
} pd_ha_ws_kind;

typedef struct pd_ha_ws_msg {
    pd_ha_ws_kind kind;
    int64_t id;              /* -1 when it has none */
    bool success;
    char error[160];         /* result's error.message or auth_invalid's message; "" none */
    const json_t *event;     /* EVENT: borrowed from root */
    json_t *root;            /* owned; pd_ha_ws_msg_free */
} pd_ha_ws_msg;

/* One text message. INVAL when it is not a JSON object with a text "type" (out is then
 * empty); any other message parses, its kind OTHER when printdeck has no use for it. */
pd_err pd_ha_ws_parse(const char *text, size_t len, pd_ha_ws_msg *out);
void pd_ha_ws_msg_free(pd_ha_ws_msg *m);

/* The cache: an object whose keys are the entity ids asked for, each null until its first
 * state, then {"s": state, "a": {attributes}}. */
json_t *pd_ha_ws_cache_new(const char *const *ids, size_t n);
/* Applies a subscribe_entities event to the cache; changed(id) for each entity whose state or
 * attributes changed. Returns how many did. */
size_t pd_ha_ws_apply(json_t *cache, const json_t *event, void (*changed)(const char *id, void *ud),
                      void *ud);

#endif
