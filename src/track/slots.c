#include "track/slots.h"

#include <string.h>

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

#define RETRY_MS 1000

/* Remembered once per slot: the retry reads the tray as it is then, so a slot that changed
 * twice while the database was locked is recorded once, as it ended. */
static void retry_later(pd_track_slots *t, int64_t printer_id, int unit, int slot)
{
    for (size_t i = 0; i < t->n_retry; i++)
        if (t->retry[i].printer_id == printer_id && t->retry[i].unit == unit && t->retry[i].slot == slot)
            return;
    if (t->n_retry == PD_TRACK_RETRY_MAX) {
        pd_error("track", "printer %lld AMS %d slot %d: not recorded: %d slots already wait for "
                 "the database", (long long)printer_id, unit, slot, PD_TRACK_RETRY_MAX);
        return;
    }
    t->retry[t->n_retry++] = (pd_track_retry){printer_id, unit, slot};
}

/* The slot's live tray into the slot map; false when the database is locked and it must be
 * tried again. */
static bool record(pd_track_slots *t, int64_t printer_id, int unit, int slot)
{
    pd_printer *p = pd_fleet_find_id(t->fleet, printer_id);
    if (!p)
        return true;
    const pd_tray *tray = pd_track_tray(pd_printer_state(p), unit, slot);
    bool loaded = tray && tray->present;
    pd_inv_reported rep = {"", "", "", .bbl = -1, .remain = -1};
    if (loaded)
        rep = (pd_inv_reported){tray->color, tray->type, tray->uuid, tray->sub_brand, tray->tag_uid,
                                tray->id_name, tray->bbl, tray->tray_weight, tray->diameter,
                                tray->nozzle_min, tray->nozzle_max, tray->remain};
    pd_err rc = pd_inv_slot_report(t->inv, printer_id, unit, slot, &rep);
    if (rc == PD_ERR_DB_BUSY)
        return false;
    if (rc)
        pd_warn("track", "printer %lld AMS %d slot %d: cannot record the tray: %s",
                (long long)printer_id, unit, slot, pd_strerror(rc));
    return true;
}

static void on_retry(uv_timer_t *h)
{
    pd_track_slots *t = h->data;
    size_t n = t->n_retry, kept = 0;
    for (size_t i = 0; i < n; i++)
        if (!record(t, t->retry[i].printer_id, t->retry[i].unit, t->retry[i].slot))
            t->retry[kept++] = t->retry[i];
    t->n_retry = kept;
    if (!kept)
        uv_timer_stop(h);
}

static void on_tray(const pd_event *ev, void *ud)
{
    pd_track_slots *t = ud;
    /* the bus names the external holder 255 with its vt_tray id; the slot map calls it slot 0 */
    bool external = ev->u.tray.ams_id == 255;
    int unit = external ? PD_INV_EXTERNAL_UNIT : ev->u.tray.ams_id;
    int slot = external ? 0 : ev->u.tray.tray_id;
    if (record(t, ev->printer_id, unit, slot))
        return;
    pd_warn("track", "printer %lld AMS %d slot %d: the database is locked by another process; "
            "recording the tray when it is free", (long long)ev->printer_id, unit, slot);
    retry_later(t, ev->printer_id, unit, slot);
    if (!uv_is_active((uv_handle_t *)&t->retry_timer))
        uv_timer_start(&t->retry_timer, on_retry, RETRY_MS, RETRY_MS);
}

pd_err pd_track_slots_start(pd_track_slots *t, uv_loop_t *loop, pd_bus *bus, pd_fleet *fleet,
                            pd_inv *inv)
{
    memset(t, 0, sizeof *t);
    t->bus = bus;
    t->fleet = fleet;
    t->inv = inv;
    if (uv_timer_init(loop, &t->retry_timer))
        return PD_ERR_INTERNAL;
    t->retry_timer.data = t;
    t->sub = pd_bus_subscribe(bus, PD_EV_TRAY, on_tray, t);
    return t->sub ? PD_OK : PD_ERR_BUSY;
}

void pd_track_slots_stop(pd_track_slots *t)
{
    if (t->sub)
        pd_bus_unsubscribe(t->bus, t->sub);
    t->sub = 0;
    if (t->retry_timer.loop && !uv_is_closing((uv_handle_t *)&t->retry_timer))
        uv_close((uv_handle_t *)&t->retry_timer, NULL);
}
