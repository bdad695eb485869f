/* Keeps the AMS slot map true from what printers report: every PD_EV_TRAY becomes a
 * pd_inv_slot_report (RFID spools assign themselves, swaps unassign with their reason). */
#ifndef PD_TRACK_SLOTS_H
#define PD_TRACK_SLOTS_H

#include "core/bus.h"
#include "inventory/inventory.h"
#include "printer/printer.h"

typedef struct pd_track_slots {
    pd_bus *bus;
    pd_fleet *fleet;
    pd_inv *inv;
    int sub;
} pd_track_slots;

pd_err pd_track_slots_start(pd_track_slots *t, pd_bus *bus, pd_fleet *fleet, pd_inv *inv);
void pd_track_slots_stop(pd_track_slots *t);
/* The live tray behind a slot (unit PD_INV_EXTERNAL_UNIT = external holder), or NULL. */
const pd_tray *pd_track_tray(const pd_state *st, int unit, int slot);

#endif
