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

struct pd_inv_pending {
    pd_inv_pending *next;
    char *resource, *change, *key, *payload;
};

static void send_event(pd_inv *inv, const char *resource, const char *change, const char *key,
                       const char *payload)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    pd_event ev = {.type = PD_EV_INVENTORY,
                   .ts_ms = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000,
                   .u.inv = {resource, change, key, payload, strlen(payload)}};
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

static void hold(pd_inv *inv, const char *resource, const char *change, const char *key, char *payload)
{
    pd_inv_pending *p = calloc(1, sizeof *p), **tail = &inv->pending;
    size_t n = 0;
    if (p && (p->resource = strdup(resource)) && (p->change = strdup(change)) && (p->key = strdup(key))) {
        p->payload = payload;
        for (; *tail; tail = &(*tail)->next)
            n++;
        *tail = p;
        if (n + 1 > PENDING_MAX) {
            pd_inv_pending *old = inv->pending;
            inv->pending = old->next;
            pending_drop(old);
        }
        return;
    }
    if (p) {
        p->payload = payload;
        pending_drop(p);
    } else {
        free(payload);
    }
}

void pd_inv_emit(pd_inv *inv, const char *resource, const char *change, const char *key,
                 json_t *payload)
{
    inv->generation++;
    if (!inv->bus)
        return;
    char *text = payload ? json_dumps(payload, PD_JSON_FLAGS) : strdup("{}");
    if (!text)
        return;
    if (pd_db_in_tx(inv->db)) {
        hold(inv, resource, change, key, text);
        return;
    }
    send_event(inv, resource, change, key, text);
    free(text);
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
            send_event(inv, p->resource, p->change, p->key, p->payload);
        pending_drop(p);
    }
    return rc;
}
