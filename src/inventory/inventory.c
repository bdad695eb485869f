/* Shared pieces of the inventory: entity names, errors, change announcements. */
#include "inventory/inventory.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "core/json.h"

static const char *const entity_names[PD_INV__N] = {"vendor", "filament", "spool"};

const char *pd_inv_entity_name(pd_inv_entity en)
{
    return en < PD_INV__N ? entity_names[en] : "?";
}

bool pd_inv_entity_parse(const char *name, pd_inv_entity *out)
{
    for (int i = 0; i < PD_INV__N; i++)
        if (!strcmp(name, entity_names[i])) {
            *out = (pd_inv_entity)i;
            return true;
        }
    return false;
}

pd_err pd_inv_fail(pd_inv_err *e, pd_err code, const char *loc, const char *field,
                   const char *fmt, ...)
{
    e->code = code;
    snprintf(e->loc, sizeof e->loc, "%s", loc ? loc : "");
    snprintf(e->field, sizeof e->field, "%s", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return code;
}

/* Held back while a transaction is open; bounded, since a bulk write inside one transaction
 * could announce without end: past the bound the oldest are dropped (listeners re-read). */
#define PENDING_MAX 1024

/* An inventory change (PD_EV_INVENTORY: resource, change, key) or a prompt's (PD_EV_PROMPT:
 * change, id, printer_id). */
struct pd_inv_pending {
    pd_inv_pending *next;
    pd_event_type type;
    int64_t id, printer_id;
    char *resource, *change, *key, *payload;
};

static void send_event(pd_inv *inv, const pd_inv_pending *p)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    pd_event ev = {.type = p->type, .printer_id = p->printer_id,
                   .ts_ms = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000};
    if (p->type == PD_EV_PROMPT) {
        ev.u.prompt.id = p->id;
        ev.u.prompt.change = p->change;
        ev.u.prompt.payload = p->payload;
        ev.u.prompt.payload_len = strlen(p->payload);
    } else {
        ev.u.inv.resource = p->resource;
        ev.u.inv.change = p->change;
        ev.u.inv.key = p->key;
        ev.u.inv.payload = p->payload;
        ev.u.inv.payload_len = strlen(p->payload);
    }
    pd_bus_emit(inv->bus, &ev);
}

static void pending_drop(pd_inv_pending *p)
{
    free(p->resource);
    free(p->change);
    free(p->key);
    free(p->payload);
    free(p);
}

/* Sends p now, or holds it until the outermost transaction commits; takes p. */
static void announce(pd_inv *inv, pd_inv_pending *p)
{
    if (!pd_db_in_tx(inv->db)) {
        send_event(inv, p);
        pending_drop(p);
        return;
    }
    pd_inv_pending **tail = &inv->pending;
    size_t n = 0;
    for (; *tail; tail = &(*tail)->next)
        n++;
    *tail = p;
    if (n + 1 > PENDING_MAX) {
        pd_inv_pending *old = inv->pending;
        inv->pending = old->next;
        pending_drop(old);
    }
}

static pd_inv_pending *pending_new(pd_event_type type, const char *resource, const char *change,
                                   const char *key, json_t *payload)
{
    pd_inv_pending *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->type = type;
    p->payload = payload ? json_dumps(payload, PD_JSON_FLAGS) : strdup("{}");
    if (p->payload && (p->resource = strdup(resource)) && (p->change = strdup(change)) &&
        (p->key = strdup(key)))
        return p;
    pending_drop(p);
    return NULL;
}

void pd_inv_emit(pd_inv *inv, const char *resource, const char *change, const char *key,
                 json_t *payload)
{
    inv->generation++;
    pd_inv_pending *p = inv->bus ? pending_new(PD_EV_INVENTORY, resource, change, key, payload) : NULL;
    if (p)
        announce(inv, p);
}

void pd_inv_emit_prompt(pd_inv *inv, const char *change, int64_t id, int64_t printer_id,
                        json_t *payload)
{
    pd_inv_pending *p = inv->bus ? pending_new(PD_EV_PROMPT, "prompt", change, "", payload) : NULL;
    if (!p)
        return;
    p->id = id;
    p->printer_id = printer_id;
    announce(inv, p);
}

pd_err pd_inv_end(pd_inv *inv, pd_err rc)
{
    rc = pd_db_end(inv->db, rc);
    if (pd_db_in_tx(inv->db))
        return rc;
    while (inv->pending) {
        pd_inv_pending *p = inv->pending;
        inv->pending = p->next;
        if (!rc)
            send_event(inv, p);
        pending_drop(p);
    }
    return rc;
}
