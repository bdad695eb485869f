#include "track/slots.h"

#include "core/log.h"

const pd_tray *pd_track_tray(const pd_state *st, int unit, int slot)
{
    if (unit == PD_INV_EXTERNAL_UNIT)
        return st->has_external && slot == 0 ? &st->external : NULL;
    for (int i = 0; i < st->n_ams; i++) {
        if (st->ams[i].id != unit)
            continue;
        for (int k = 0; k < st->ams[i].n_trays; k++)
            if (st->ams[i].trays[k].id == slot)
                return &st->ams[i].trays[k];
    }
    return NULL;
}

static void on_tray(const pd_event *ev, void *ud)
{
    pd_track_slots *t = ud;
    pd_printer *p = pd_fleet_find_id(t->fleet, ev->printer_id);
    if (!p)
        return;
    /* the bus names the external holder 255 with its vt_tray id; the slot map calls it slot 0 */
    bool external = ev->u.tray.ams_id == 255;
    int unit = external ? PD_INV_EXTERNAL_UNIT : ev->u.tray.ams_id;
    int slot = external ? 0 : ev->u.tray.tray_id;
    const pd_tray *tray = pd_track_tray(pd_printer_state(p), unit, slot);
    bool loaded = tray && tray->present;
    pd_inv_reported rep = {loaded ? tray->color : "", loaded ? tray->type : "", loaded ? tray->uuid : ""};
    pd_err rc = pd_inv_slot_report(t->inv, ev->printer_id, unit, slot, &rep);
    if (rc)
        pd_warn("track", "printer %lld AMS %d slot %d: cannot record the tray: %s",
                (long long)ev->printer_id, unit, slot, pd_strerror(rc));
}

pd_err pd_track_slots_start(pd_track_slots *t, pd_bus *bus, pd_fleet *fleet, pd_inv *inv)
{
    *t = (pd_track_slots){bus, fleet, inv, 0};
    t->sub = pd_bus_subscribe(bus, PD_EV_TRAY, on_tray, t);
    return t->sub ? PD_OK : PD_ERR_BUSY;
}

void pd_track_slots_stop(pd_track_slots *t)
{
    if (t->sub)
        pd_bus_unsubscribe(t->bus, t->sub);
    t->sub = 0;
}
