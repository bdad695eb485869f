/* Filament accounting (docs/accounting.md): for every job the recorder opens, fetch its 3MF
 * from the printer's storage at the moment that model has it (files/fetchplan.h), analyse it in
 * the worker pool and keep the analysis with the job (filaments, the per-layer curve, the
 * thumbnail), warn when the mapped spools hold less than the print needs, and when the job
 * closes take its grams off the right spools — once, even across restarts — through
 * pd_usage_record (track/usage.h), from the 3MF, the G-code curve up to the last layer, or the
 * AMS remain deltas, split at rollovers and swaps (track/split.h).
 *
 * Everything it needs lives in the database (job_file, job_swap, the job's mapping and end
 * trays), so a restart mid-print, or one between a job's end and its accounting, loses
 * nothing and counts nothing twice. */
#ifndef PD_TRACK_ACCOUNTING_H
#define PD_TRACK_ACCOUNTING_H

#include <uv.h>

#include "core/bus.h"
#include "core/work.h"
#include "files/ftps.h"
#include "inventory/inventory.h"
#include "printer/printer.h"
#include "track/alerts.h"

typedef struct pd_acct pd_acct;

typedef struct pd_acct_opts {
    int analysis_timeout_s;      /* one analysis, running ([files] timeout_s) */
    int64_t max_file;            /* bytes: the largest 3MF fetched */
    pd_alerts *alerts;           /* raises insufficient_filament when a job starts short; may be NULL */
} pd_acct_opts;

/* Loads the open jobs and those that ended unaccounted, and subscribes to the bus. */
pd_err pd_acct_start(pd_acct **out, uv_loop_t *loop, pd_bus *bus, pd_fleet *fleet, pd_inv *inv,
                     pd_ftps *ftps, pd_work_pool *work, const pd_acct_opts *opts);
/* Cancels its transfers (before pd_ftps_free); an analysis still running frees it when done. */
void pd_acct_stop(pd_acct **a);

#endif
