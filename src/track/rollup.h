/* The statistics' summaries (docs/stats.md): per (span, bucket, printer, status, material set,
 * failure reason) counts and print seconds of the closed jobs, and per (span, bucket, printer,
 * material, spool) rows, grams, metres and cost of filament usage, for spans of a UTC day, an
 * ISO week and a month. They are kept in the transaction that changes the rows they summarise:
 * every writer of a closed job (closing, correcting, reopening, deleting it) calls
 * pd_rollup_job with -1 before the change and +1 after it, and every writer of a
 * filament_usage row calls pd_rollup_usage the same way. A printer or spool deleted later is
 * set to NULL in the summaries by the same foreign keys as in the rows. */
#ifndef PD_TRACK_ROLLUP_H
#define PD_TRACK_ROLLUP_H

#include <stdint.h>

#include "store/store.h"
#include "track/stats.h"

#define PD_ROLLUP_DAY_S 86400

/* The first day (days since 1970-01-01, UTC) of the day, ISO week or month holding `day`. */
int64_t pd_rollup_bucket(pd_stats_period span, int64_t day);
/* Adds (sign +1) or takes away (-1) what job `job_id` counts for as it is now: nothing while
 * it is open. */
pd_err pd_rollup_job(pd_db *db, int64_t job_id, int sign);
/* The same for one filament_usage row. */
pd_err pd_rollup_usage(pd_db *db, int64_t usage_id, int sign);

#endif
