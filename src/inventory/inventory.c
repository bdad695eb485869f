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

void pd_inv_emit(pd_inv *inv, const char *resource, const char *change, const char *key,
                 json_t *payload)
{
    inv->generation++;
    if (!inv->bus)
        return;
    char *text = payload ? json_dumps(payload, PD_JSON_FLAGS) : NULL;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    pd_event ev = {.type = PD_EV_INVENTORY,
                   .ts_ms = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000,
                   .u.inv = {resource, change, key, text ? text : "{}", text ? strlen(text) : 2}};
    pd_bus_emit(inv->bus, &ev);
    free(text);
}
