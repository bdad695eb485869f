/* Filament usage (docs/accounting.md): every gram taken off a spool is a filament_usage row,
 * written in the same transaction that moves the spool's used_weight and last_used, so the
 * inventory, Spoolman clients (the spool's "updated" event follows the commit) and the
 * statistics never disagree. Every source of grams goes through here: the job's 3MF, its
 * G-code up to the last layer printed, AMS remain deltas, and people (manual jobs, corrections). */
#ifndef PD_TRACK_USAGE_H
#define PD_TRACK_USAGE_H

#include <jansson.h>
#include <stdint.h>

#include "core/bus.h"
#include "inventory/inventory.h"

typedef enum pd_usage_source {
    PD_USAGE_3MF,     /* the slicer's per-filament grams, the print completed */
    PD_USAGE_GCODE,   /* the plate's G-code up to the last layer printed */
    PD_USAGE_REMAIN,  /* the AMS remain % deltas × the spool's weight */
    PD_USAGE_MANUAL,  /* typed by a person */
} pd_usage_source;
const char *pd_usage_source_name(pd_usage_source s);
bool pd_usage_source_parse(const char *s, pd_usage_source *out);

typedef struct pd_usage {
    int64_t job_id;       /* 0: none */
    int64_t spool_id;     /* 0: grams known, spool not (the row is kept; no spool moves) */
    int64_t printer_id;   /* 0: none */
    int unit, slot;       /* the tray (unit 255 = external holder); -1: none */
    double grams;         /* negative gives filament back (a correction) */
    double meters;        /* < 0: unknown */
    pd_usage_source source;
    int64_t at;           /* unix seconds; 0: now */
} pd_usage;

/* Writes the row and moves the spool in one transaction (nested inside the caller's, if any).
 * The cost is grams × the spool's price per gram (its price over its initial weight, else its
 * filament's price over the filament's weight), NULL when neither is known. *id may be NULL. */
pd_err pd_usage_record(pd_inv *inv, const pd_usage *u, int64_t *id, pd_inv_err *e);
/* Takes back every usage row of a job: each spool gets its grams back and the rows go, in one
 * transaction (nested inside the caller's), so a correction or a job that turns out to be
 * still printing starts from nothing. */
pd_err pd_usage_reverse_job(pd_inv *inv, int64_t job_id, pd_inv_err *e);

/* --- the rows, for the API (usagerows.c) ---------------------------------------------------- */

/* Announces a job's usage as it is now: PD_EV_USAGE with change "recorded" or "corrected". */
void pd_usage_announce(pd_db *db, pd_bus *bus, int64_t job_id, const char *change);

/* The list (filters: spool (spool_id, ids, -1 none), printer (printer_id), job (job_id),
 * material, source, at (start|end); sort; limit/offset — the inventory's query rules,
 * docs/api.md) as a cursor: the JSON array of usage rows, or with csv the export (no paging). */
pd_err pd_usage_list_open(pd_inv *inv, const pd_inv_param *p, size_t n, bool csv, pd_inv_cursor **out,
                          pd_inv_err *e);

#endif
