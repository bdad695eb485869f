/* Keeps the AMS slot map true from what printers report: every PD_EV_TRAY becomes a
 * pd_inv_slot_report (RFID spools assign themselves, a Bambu RFID spool seen for the first
 * time becomes an inventory spool, swaps unassign with their reason, a spool nobody can name
 * raises a prompt). A
 * report the database refuses because another process holds its lock is not lost: the slot is
 * recorded again, from the tray as it is then, every second until the lock is gone. */
#ifndef PD_TRACK_SLOTS_H
#define PD_TRACK_SLOTS_H

#include "core/bus.h"
#include "inventory/inventory.h"
#include "printer/printer.h"

#define PD_TRACK_RETRY_MAX 1024  /* slots waiting for the database, every slot of 100 printers */

typedef struct pd_track_retry {
    int64_t printer_id;
    int unit, slot;
} pd_track_retry;

typedef struct pd_track_slots {
    pd_bus *bus;
    pd_fleet *fleet;
    pd_inv *inv;
    int sub;
    uv_timer_t retry_timer;
    pd_track_retry retry[PD_TRACK_RETRY_MAX];
    size_t n_retry;
} pd_track_slots;

pd_err pd_track_slots_start(pd_track_slots *t, uv_loop_t *loop, pd_bus *bus, pd_fleet *fleet,
                            pd_inv *inv);
void pd_track_slots_stop(pd_track_slots *t); /* closes the timer: the loop must run after */
/* The live tray behind a slot (unit PD_INV_EXTERNAL_UNIT = external holder), or NULL. */
const pd_tray *pd_track_tray(const pd_state *st, int unit, int slot);

#endif
