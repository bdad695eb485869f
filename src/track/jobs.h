/* The job recorder (docs/jobs.md): every print on every printer becomes a job row, opened and
 * closed from the printer's own reports whoever started the print, with its pauses, offline
 * gaps, environment, the log of the trays that fed it and the trays as they were at its start. The open job lives
 * in the database, so a restart of printdeck mid-print resumes it.
 *
 * Two layers: pd_jobs_step is the state machine alone (pure: one printer's memory and one
 * report in, the actions to take out; unit-tested), and the recorder applies those actions to
 * the database and announces each committed change as PD_EV_JOB. The job API (list, get,
 * patch, manual start and end, export) reads and writes the same rows. */
#ifndef PD_TRACK_JOBS_H
#define PD_TRACK_JOBS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "core/bus.h"
#include "inventory/inventory.h"
#include "printer/printer.h"
#include "store/store.h"

/* print_error of a user stop, "The task was canceled" (docs/bambu-protocol.md §4.1) */
#define PD_JOBS_CANCEL_ERROR 0x0300400Cu

typedef enum pd_job_status {
    PD_JOB_PRINTING, PD_JOB_PAUSED, PD_JOB_COMPLETED, PD_JOB_FAILED, PD_JOB_CANCELLED,
    PD_JOB_UNKNOWN,
} pd_job_status;
const char *pd_job_status_name(pd_job_status s);
bool pd_job_status_parse(const char *s, pd_job_status *out);

/* --- the state machine ------------------------------------------------------------------ */

/* What one report says, as the machine reads it. Strings are borrowed. */
typedef struct pd_jobs_obs {
    const char *gcode_state;     /* "" unknown: the report is ignored */
    uint32_t print_error;
    int progress, layer, total_layers, remaining_min;
    pd_feed feed;                /* the tray feeding now (pd_state.feed), unit -1 none */
    const char *task_id, *subtask_id, *name, *file;
    const char *reason;          /* decoded print_error, HMS or pause stage; NULL none */
} pd_jobs_obs;

/* One printer's memory. Zeroed = nothing seen, no job open. */
typedef struct pd_jobs_track {
    bool open;                   /* a job is open (its row is job_id once written) */
    int64_t job_id;
    pd_job_status status;        /* PRINTING or PAUSED while open */
    char task_id[32], name[128], file[256];
    char prev[16];               /* the last gcode_state seen; "" none yet */
    bool cancel_seen;            /* print_error 0x0300400C seen while the job was open */
    int progress, layer, total_layers;
    pd_feed feed;
    int64_t closed_id;           /* the last job closed as failed, for a late cancel code */
    int64_t closed_ms;           /* and when (monotonic) */
} pd_jobs_track;

enum {
    PD_JOBS_CLOSE = 1u << 0,     /* close the open job: res.status, res.reason, res.error */
    PD_JOBS_OPEN = 1u << 1,      /* open a job for the report's task (after CLOSE if both) */
    PD_JOBS_PAUSE = 1u << 2,     /* a pause starts: res.pause_reason */
    PD_JOBS_RESUME = 1u << 3,    /* the pause ends */
    PD_JOBS_TRAY = 1u << 4,      /* the tray feeding changed: log it with the layer */
    PD_JOBS_PROGRESS = 1u << 5,  /* progress, layer or total layers moved forward */
    PD_JOBS_SETTLE = 1u << 6,    /* FINISH/FAILED with no job open: a job closed as unknown
                                  * while the printer was away may learn its outcome */
    PD_JOBS_AMEND = 1u << 7,     /* the cancel code came just after a close as failed:
                                  * closed_id is cancelled after all */
};

typedef struct pd_jobs_result {
    unsigned actions;
    pd_job_status status;        /* CLOSE and SETTLE: the outcome */
    const char *reason;          /* CLOSE and SETTLE: why, NULL none */
    uint32_t error;              /* CLOSE: print_error, 0 none */
    const char *pause_reason;    /* PAUSE */
} pd_jobs_result;

/* An offline gap starting this soon after the previous one ended continues it. */
#define PD_JOBS_GAP_MERGE_S 120
/* Pause and gap rows a job keeps; job.interruptions counts past it. */
#define PD_JOBS_MAX_PAUSES 50

/* How long after a close as failed a cancel code still turns it into cancelled. */
#define PD_JOBS_AMEND_MS 15000

/* Advances t by one report seen at now_ms (monotonic); *res says what to record. */
void pd_jobs_step(pd_jobs_track *t, const pd_jobs_obs *o, int64_t now_ms, pd_jobs_result *res);

/* --- the recorder -------------------------------------------------------------------------- */

typedef struct pd_jobs pd_jobs;

/* Loads the open jobs and subscribes to the bus. offline_timeout_s: an open job whose printer
 * stays unseen that long is closed as unknown. */
pd_err pd_jobs_start(pd_jobs **out, uv_loop_t *loop, pd_bus *bus, pd_fleet *fleet, pd_db *db,
                     int offline_timeout_s);
void pd_jobs_stop(pd_jobs **j);  /* closes the timer: the loop must run after */

/* --- the rows, for the API ----------------------------------------------------------------- */

/* The list (filters: printer (ids), status, started_at / ended_at (start|end), material, text
 * (name, file, notes); sort; limit/offset — the inventory's query rules, docs/api.md) as a
 * cursor: the JSON array of job objects, or with csv the export (no paging). inv supplies the
 * rules (its database is the jobs'). */
pd_err pd_jobs_list_open(pd_inv *inv, const pd_inv_param *p, size_t n, bool csv, pd_inv_cursor **out,
                         pd_inv_err *e);
/* The job object of docs/api.md; with detail, also its tray log and start snapshot. */
pd_err pd_jobs_get(pd_db *db, int64_t id, bool detail, json_t **out, pd_inv_err *e);
/* notes (string or null) and rating (1-5 or null). */
pd_err pd_jobs_patch(pd_inv *inv, pd_bus *bus, int64_t id, json_t *body, json_t **out,
                     pd_inv_err *e);
/* A print on a printer printdeck cannot see: {name, printer_id? | printer_name?, file?, plate?,
 * started_at?, estimated_s?, notes?}. */
pd_err pd_jobs_create(pd_inv *inv, pd_bus *bus, json_t *body, json_t **out, pd_inv_err *e);
/* Ends a manual job: {status? (completed), ended_at?, reason?, progress?}. */
pd_err pd_jobs_end(pd_inv *inv, pd_bus *bus, int64_t id, json_t *body, json_t **out,
                   pd_inv_err *e);
/* The job's thumbnail (the plate's PNG from its 3MF): *png malloc'd. NOTFOUND when there is none. */
pd_err pd_jobs_thumbnail(pd_db *db, int64_t id, unsigned char **png, size_t *len, pd_inv_err *e);
/* Announces the job as it is now (PD_EV_JOB with `change`). */
void pd_jobs_announce(pd_db *db, pd_bus *bus, int64_t id, const char *change);

#endif
