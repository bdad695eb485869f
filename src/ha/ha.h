/* Home Assistant, outbound (docs/homeassistant.md): one MQTT connection to the user's own
 * broker, MQTT discovery of a device per printer (its state, its AMS slots) and of the
 * inventory's spools, their states published when they change, and the broker as the sender
 * of the notification channel type `mqtt`. */
#ifndef PD_HA_H
#define PD_HA_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "core/bus.h"
#include "core/config.h"
#include "core/err.h"
#include "notify/notify.h"
#include "printer/state.h"

/* --- what is published, pure (discovery.c) ----------------------------------------------- */
#define PD_HA_TOPIC_MAX 256

/* Whether a discovery prefix or base topic is usable: 1-64 bytes of printable ASCII, no MQTT
 * wildcard (+ #), no empty level, no leading or trailing '/'. The config's check. */
pd_err pd_ha_check_topic(const char *v, char *err, size_t errlen);
/* mqtt://[user[:pass]@]host[:port] or mqtts://…, the config's check. */
pd_err pd_ha_check_url(const char *v, char *err, size_t errlen);
/* The URL's parts: tls, host (at most hostlen-1 bytes), port (1883 or 8883 by default). */
pd_err pd_ha_parse_url(const char *v, bool *tls, char *host, size_t hostlen, int *port);
/* [homeassistant] api_url: http://host[:port][/prefix] (8123), https:// (443), or ws:// and
 * wss:// alike; path is the WebSocket API's, PREFIX/api/websocket. The config's check. */
pd_err pd_ha_parse_api_url(const char *v, bool *tls, char *host, size_t hostlen, int *port, char *path,
                           size_t pathlen);
pd_err pd_ha_check_api_url(const char *v, char *err, size_t errlen);

typedef struct pd_ha_device {
    const char *id;             /* identifiers[0]: "printdeck_<serial>", "printdeck_inventory" */
    const char *name, *model, *manufacturer;
} pd_ha_device;

/* One entity of a device: its discovery config under component/node/object, and the member of
 * its state topic's JSON that is its state. */
typedef struct pd_ha_entity {
    const char *component;      /* "sensor" | "binary_sensor" */
    const char *object;         /* object id within the device: "progress", "ams0_1", "remaining" */
    const char *name;           /* shown in Home Assistant, after the device's name */
    const char *value;          /* member of the state JSON holding the state */
    const char *device_class, *unit, *state_class, *icon; /* NULL: none */
    bool attributes;            /* the state JSON is also its attributes */
} pd_ha_entity;

/* The printer's entities, in the order they are announced. */
extern const pd_ha_entity pd_ha_printer_entities[];
extern const size_t pd_ha_printer_nentities;

/* "<prefix>/<component>/<node>/<object>/config", the topic HA's discovery reads. */
pd_err pd_ha_config_topic(char *out, size_t n, const char *prefix, const char *component, const char *node,
                          const char *object);
/* The config message (compact JSON, owned by the caller): name, unique_id
 * "<node>_<object>", state_topic, value_template, availability, device. NULL when out of
 * memory. */
char *pd_ha_config_json(const pd_ha_entity *e, const char *node, const char *state_topic,
                        const char *availability_topic, const pd_ha_device *dev);

/* A printer's state message: state, stage, progress, remaining_min, finish (ISO 8601 UTC, or
 * null when not printing), nozzle_temp, bed_temp, job, online and prompt ("ON"/"OFF"). now_s
 * is the wall clock the finish time counts from. Owned by the caller; NULL out of memory. */
char *pd_ha_printer_state(const pd_state *st, bool online, bool prompt, int64_t now_s);
/* A slot's state message from its row as GET /api/v1/ams lists it: spool (its name, "empty"
 * or "unknown"), spool_id, material, color, remaining_g. */
char *pd_ha_slot_state(const json_t *slot);
/* A spool's state message from the spool object: remaining_g, low ("ON"/"OFF"), threshold_g,
 * name, material, color. The threshold is the spool's low_stock_weight, else its filament's,
 * else default_low_g (0: none, never low). */
char *pd_ha_spool_state(const json_t *spool, int default_low_g);
/* The spool's name as people read it: "<vendor> <filament> #<id>". */
void pd_ha_spool_name(const json_t *spool, char *out, size_t n);

/* --- the connection and the publisher (ha.c) ----------------------------------------------- */
typedef struct pd_ha pd_ha;
struct pd_fleet;
struct pd_inv;

/* Nothing to do (PD_OK, *out NULL) when cfg has no [homeassistant] url. */
pd_err pd_ha_start(pd_ha **out, uv_loop_t *loop, pd_bus *bus, struct pd_fleet *fleet, struct pd_inv *inv,
                   const pd_config *cfg);
/* Says offline, leaves the broker; the loop must then run until handles close. */
void pd_ha_stop(pd_ha **ha);
/* The notification channel type mqtt's sender (pd_notify_set_sender): topic the message's
 * destination, QoS 1; done once PUBACK came, or the connection is down or drops first. */
extern const pd_notify_sender pd_ha_sender;

#endif
