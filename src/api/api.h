/* What API handlers see of the daemon, and each resource's route table. */
#ifndef PD_API_H
#define PD_API_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/bus.h"
#include "core/config.h"
#include "http/http.h"
#include "printer/printer.h"
#include "store/store.h"

typedef struct pd_app {
    uv_loop_t *loop;
    pd_bus *bus;
    pd_fleet *fleet;
    pd_db *db;
    const pd_config *cfg;
    int64_t started_ms;
} pd_app;

extern const pd_route pd_api_printers_routes[];
extern const size_t pd_api_printers_nroutes;
extern const pd_route pd_api_system_routes[];   /* /healthz, /metrics */
extern const size_t pd_api_system_nroutes;

/* The SSE hub: /api/v1/events. Subscribes to the bus at start. */
extern const pd_route pd_api_events_routes[];
extern const size_t pd_api_events_nroutes;
pd_err pd_api_events_start(pd_app *app);
/* Unsubscribes, stops the heartbeat and closes the streams still open (their handles close
 * on the next loop turn). */
void pd_api_events_stop(void);
/* For /metrics: event-stream clients connected now, and dropped so far for a full backlog. */
size_t pd_api_events_clients(void);
uint64_t pd_api_events_dropped(void);

#endif
