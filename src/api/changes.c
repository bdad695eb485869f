/* Spoolman's websocket notifications: /api/v1/ (every resource), /api/v1/{resource} and
 * /api/v1/{resource}/{id|key} for vendor, filament, spool and setting (docs/api.md, "Change
 * notifications"). Moonraker holds /api/v1/spool open and takes it as "Spoolman is online";
 * Fluidd and spoolman2slicer follow /api/v1/.
 *
 * Each PD_EV_INVENTORY event from the bus is serialised once into the frame Spoolman sends
 * and written to every socket that follows it; like the SSE hub, a client that cannot keep
 * up is dropped by the HTTP layer. Clients send nothing meaningful: any text message is
 * answered with Spoolman's health reply. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "api/hub.h"
#include "core/json.h"
#include "core/jw.h"
#include "core/log.h"

#define HEALTHY "{\"status\":\"healthy\"}"

const char *const pd_api_setting_keys[] = {
    "currency",         "extra_fields_vendor", "extra_fields_filament", "extra_fields_spool",
    "print_presets",    "base_url",            "locations",             "locations_spoolorders",
    "round_prices",     "label_designs",       "dashboard_groups",      "dashboard_spoolorders",
};
const size_t pd_api_setting_nkeys = sizeof pd_api_setting_keys / sizeof *pd_api_setting_keys;

typedef struct ch_client {
    pd_hub_client base;  /* first: the hub list frees the client */
    char resource[16];   /* "" = every resource (the root socket) */
    char key[64];        /* "" = every item of the resource */
} ch_client;

static struct {
    pd_app *app;
    bool running;
    int sub;
    pd_hub list;
} hub;

/* {"type","resource","date","payload"}: the payload is the object as GET returns it, copied
 * verbatim rather than parsed and dumped again. */
static char *frame_new(const pd_event *ev, size_t *flen)
{
    static const char mid[] = ",\"payload\":";
    struct timespec ts;
    struct tm tm;
    char date[40];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t dn = strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(date + dn, sizeof date - dn, ".%06ldZ", ts.tv_nsec / 1000);
    json_t *head = json_pack("{s:s,s:s,s:s}", "type", ev->u.inv.change, "resource",
                             ev->u.inv.resource, "date", date);
    char *h = head ? json_dumps(head, PD_JSON_FLAGS) : NULL;
    json_decref(head);
    if (!h)
        return NULL;
    const char *payload = ev->u.inv.payload ? ev->u.inv.payload : "null";
    size_t plen = ev->u.inv.payload ? ev->u.inv.payload_len : 4;
    size_t hlen = strlen(h) - 1;  /* up to its closing brace */
    size_t n = hlen + sizeof mid - 1 + plen + 1;
    char *f = malloc(n + 1);
    if (f) {
        memcpy(f, h, hlen);
        memcpy(f + hlen, mid, sizeof mid - 1);
        memcpy(f + hlen + sizeof mid - 1, payload, plen);
        memcpy(f + n - 1, "}", 2);
        *flen = n;
    }
    free(h);
    return f;
}

static void on_event(const pd_event *ev, void *ud)
{
    (void)ud;
    if (!hub.list.head || !ev->u.inv.resource || !ev->u.inv.change)
        return;
    size_t flen;
    char *f = frame_new(ev, &flen);
    if (!f) {
        pd_warn("changes", "out of memory: %s change not sent", ev->u.inv.resource);
        return;
    }
    const char *key = ev->u.inv.key ? ev->u.inv.key : "";
    for (pd_hub_client *hc = hub.list.head; hc; hc = hc->next) {
        const ch_client *c = (const ch_client *)hc;
        if (!c->resource[0] ||
            (!strcmp(c->resource, ev->u.inv.resource) && (!c->key[0] || !strcmp(c->key, key))))
            pd_hub_write(&hub.list, hc, f, flen);
    }
    free(f);
}

static void client_message(pd_stream *s, const char *data, size_t len, void *ud)
{
    (void)s;
    (void)data;
    (void)len;
    pd_hub_write(&hub.list, ud, HEALTHY, sizeof HEALTHY - 1);
}

static void client_closed(pd_stream *s, void *ud)
{
    (void)s;
    pd_hub_gone(&hub.list, ud);
}

/* --- routes ------------------------------------------------------------------------------- */

static bool setting_known(const char *key)
{
    for (size_t i = 0; i < pd_api_setting_nkeys; i++)
        if (!strcmp(pd_api_setting_keys[i], key))
            return true;
    return false;
}

/* Every socket route: the path says what the socket follows. */
static void changes_ws(pd_req *r)
{
    const char *id = pd_req_param(r, "id"), *key = pd_req_param(r, "key");
    ch_client c = {.base.s = NULL};
    /* the router matched one of the patterns below: "/api/v1[/resource[/x]]" */
    const char *res = pd_req_path(r) + strlen("/api/v1");
    res += *res == '/';
    snprintf(c.resource, sizeof c.resource, "%.*s", (int)strcspn(res, "/"), res);
    if (id) {
        /* the event's key is the id in decimal: compare canonical forms ("007" is 7); 18
         * digits cannot overflow */
        size_t digits = strspn(id, "0123456789");
        long long n = digits && !id[digits] && digits <= 18 ? strtoll(id, NULL, 10) : 0;
        if (n < 1) {
            pd_req_reply_field_error(r, "path", "id", "Input should be a valid integer");
            return;
        }
        snprintf(c.key, sizeof c.key, "%lld", n);
    } else if (key) {
        if (!setting_known(key)) {
            /* Spoolman closes it before accepting (4040), which its clients see as a 403 */
            pd_req_reply_error(r, PD_ERR_FORBIDDEN, "Setting %.*s does not exist.",
                               pd_jw_utf8_cut(key, 64), key);
            return;
        }
        snprintf(c.key, sizeof c.key, "%s", key);
    }
    if (!hub.running) {
        pd_req_reply_error(r, PD_ERR_INTERNAL, "the change hub is not running");
        return;
    }
    ch_client *nc = malloc(sizeof *nc);
    if (!nc) {
        pd_req_reply_error(r, PD_ERR_NOMEM, NULL);
        return;
    }
    *nc = c;
    nc->base.s = pd_req_ws_accept(r, client_closed, nc);
    if (!nc->base.s) {
        free(nc);
        pd_req_reply_error(r, PD_ERR_INTERNAL, NULL);
        return;
    }
    pd_stream_on_message(nc->base.s, client_message);
    nc->base.who = *pd_req_ident(r);
    pd_hub_add(&hub.list, &nc->base);
}

const pd_route pd_api_changes_routes[] = {
    {"WS", "/api/v1", changes_ws, PD_ROUTE_SPOOLMAN},
    {"WS", "/api/v1/vendor", changes_ws, PD_ROUTE_SPOOLMAN},
    {"WS", "/api/v1/vendor/{id}", changes_ws, PD_ROUTE_SPOOLMAN},
    {"WS", "/api/v1/filament", changes_ws, PD_ROUTE_SPOOLMAN},
    {"WS", "/api/v1/filament/{id}", changes_ws, PD_ROUTE_SPOOLMAN},
    {"WS", "/api/v1/spool", changes_ws, PD_ROUTE_SPOOLMAN},
    {"WS", "/api/v1/spool/{id}", changes_ws, PD_ROUTE_SPOOLMAN},
    {"WS", "/api/v1/setting", changes_ws, PD_ROUTE_SPOOLMAN},
    {"WS", "/api/v1/setting/{key}", changes_ws, PD_ROUTE_SPOOLMAN},
};
const size_t pd_api_changes_nroutes = sizeof pd_api_changes_routes / sizeof *pd_api_changes_routes;

pd_err pd_api_changes_start(pd_app *app)
{
    if (hub.running)
        return PD_OK;
    hub.sub = pd_bus_subscribe(app->bus, PD_EV_INVENTORY, on_event, NULL);
    if (!hub.sub)
        return PD_ERR_BUSY;
    hub.app = app;
    pd_hub_init(&hub.list, app->loop, app->auth, NULL);
    hub.running = true;
    return PD_OK;
}

void pd_api_changes_stop(void)
{
    if (!hub.running)
        return;
    pd_bus_unsubscribe(hub.app->bus, hub.sub);
    pd_hub_stop(&hub.list);
    hub.running = false;
}
