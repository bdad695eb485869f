#include "core/bus.h"

#include <stdlib.h>

struct pd_bus {
    struct {
        int id;
        uint32_t mask;
        pd_bus_fn fn;
        void *ud;
    } subs[PD_BUS_MAX_SUBSCRIBERS];
    int next_id;
};

pd_bus *pd_bus_new(void)
{
    pd_bus *b = calloc(1, sizeof *b);
    if (b)
        b->next_id = 1;
    return b;
}

void pd_bus_free(pd_bus **bus)
{
    free(*bus);
    *bus = NULL;
}

int pd_bus_subscribe(pd_bus *bus, uint32_t mask, pd_bus_fn fn, void *ud)
{
    for (int i = 0; i < PD_BUS_MAX_SUBSCRIBERS; i++) {
        if (bus->subs[i].id == 0) {
            bus->subs[i].id = bus->next_id++;
            bus->subs[i].mask = mask;
            bus->subs[i].fn = fn;
            bus->subs[i].ud = ud;
            return bus->subs[i].id;
        }
    }
    return 0;
}

void pd_bus_unsubscribe(pd_bus *bus, int id)
{
    for (int i = 0; i < PD_BUS_MAX_SUBSCRIBERS; i++)
        if (bus->subs[i].id == id)
            bus->subs[i].id = 0;
}

void pd_bus_emit(pd_bus *bus, const pd_event *ev)
{
    /* Slots are fixed, so a subscriber that unsubscribes (itself or another) during delivery
     * only empties a slot; iteration stays valid. */
    for (int i = 0; i < PD_BUS_MAX_SUBSCRIBERS; i++)
        if (bus->subs[i].id && (bus->subs[i].mask & (uint32_t)ev->type))
            bus->subs[i].fn(ev, bus->subs[i].ud);
}
