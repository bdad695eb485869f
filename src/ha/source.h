/* Home Assistant as a printer source (docs/homeassistant.md, Source): one WebSocket connection
 * to Home Assistant's API (libwebsockets' client on the server's context, on the loop) for
 * every printer with source homeassistant and an ha_device. It authenticates with the
 * long-lived token, subscribes to those printers' entities only (subscribe_entities, whose
 * first event is their present state), and hands every change to the webhooks' parsers and
 * pd_fleet_feed. Reconnects with the printers' links' backoff; each printer's
 * connection.state and error say how it goes. */
#ifndef PD_HA_SOURCE_H
#define PD_HA_SOURCE_H

#include <uv.h>

#include "core/config.h"
#include "core/err.h"
#include "printer/printer.h"

struct lws_context;
typedef struct pd_ha_source pd_ha_source;

/* *out stays NULL when [homeassistant] api_url is empty. INVAL (logged) when the token is
 * missing or the TLS client cannot be set up. */
pd_err pd_ha_source_start(pd_ha_source **out, uv_loop_t *loop, struct lws_context *lws, pd_fleet *fleet,
                          const pd_config *cfg);
/* Before the HTTP server stops: its context holds the connection. */
void pd_ha_source_stop(pd_ha_source **s);

#endif
