/* Print statistics (docs/stats.md): GET /api/v1/stats and /api/v1/stats/low-stock. The request
 * is read on the loop (pd_stats_parse); the queries run on a reader connection in the thread
 * pool (pd_stats_run, pd_stats_low_stock with pd_db_read's connection). pd_stats_run reads the
 * summaries of whole days, weeks and months (track/rollup.h), the rows themselves only for
 * the partial days at the range's ends and the open jobs; the grouping into materials,
 * printers, spools and periods is done here. */
#ifndef PD_TRACK_STATS_H
#define PD_TRACK_STATS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "inventory/inventory.h"

/* a printer limit's ids (PD_IDENT_MAX_PRINTERS) arrive as the printer filter */
#define PD_STATS_MAX_PRINTERS 256

typedef enum pd_stats_period { PD_STATS_DAY, PD_STATS_WEEK, PD_STATS_MONTH } pd_stats_period;

typedef struct pd_stats_req {
    int64_t from, to;            /* started_at (jobs) and at (usage) in [from, to); from 0: all */
    int64_t printers[PD_STATS_MAX_PRINTERS];
    size_t n_printers;           /* 0: every printer */
    char material[64];           /* "": every material */
    pd_stats_period period;
    int top;                     /* failure reasons listed */
    int days;                    /* low stock: usage window of the days-left estimate */
    int64_t now;
    bool raw;                    /* read the rows themselves, not the summaries (tests compare) */
} pd_stats_req;

/* Query parameters: printer_id (ids, comma-separated; 0 is no printer: a requester limited to
 * printers none of which it asked for sees empty statistics), from, to (ISO 8601), material, period
 * (day|week|month, default month), top (1-100, default 10), days (low stock, 1-365, default 30). */
pd_err pd_stats_parse(const pd_inv_param *p, size_t n, pd_stats_req *q, pd_inv_err *e);
/* Touch only db and q: they run off the loop. *out is the reply object. */
pd_err pd_stats_run(pd_db *db, const pd_stats_req *q, json_t **out);
pd_err pd_stats_low_stock(pd_db *db, const pd_stats_req *q, int default_threshold_g, json_t **out);

#endif
