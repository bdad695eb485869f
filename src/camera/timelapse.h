/* Timelapses of every print (docs/camera.md, Timelapses): while a job runs, a frame of the
 * printer's camera per layer change or per interval, taken from the frame hub (a viewer of
 * its own holds the upstream open) and written to a spool directory per job by the worker
 * pool; at the job's end the frames become one MP4 (mp4.h) in the worker pool, kept with the
 * job as a row of the timelapse table, and the retention rules (count, age, total size) run.
 * A camera that stalls or drops costs frames, never the loop: a frame too old is skipped, a
 * frame that finds the last one still being written is skipped. Owned by the loop thread. */
#ifndef PD_CAMERA_TIMELAPSE_H
#define PD_CAMERA_TIMELAPSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "camera/camera.h"
#include "core/bus.h"
#include "core/work.h"
#include "inventory/inventory.h"
#include "store/store.h"

typedef enum pd_tl_mode { PD_TL_LAYER, PD_TL_INTERVAL } pd_tl_mode;
/* [timelapse] mode: "layer" or "interval" (the configuration's rule, and the mode it names) */
pd_err pd_tl_mode_check(const char *v, char *err, size_t errlen);
pd_tl_mode pd_tl_mode_of(const char *v);

typedef struct pd_tl_opts {
    bool enabled;
    pd_tl_mode mode;
    int interval_s;          /* PD_TL_INTERVAL: a frame this often */
    int max_frames;          /* per job; past it no more are taken */
    int stale_ms;            /* a frame older than this is not taken: the camera stalled */
    int fps, width, height;  /* of the video (pd_mp4_opts) */
    int keep_count;          /* timelapses kept at most; 0: no limit */
    int keep_days;           /* older ones are deleted; 0: no limit */
    int64_t keep_bytes;      /* all of them together at most; 0: no limit */
    const char *dir;         /* where videos go, spool/ under it the frames (copied) */
} pd_tl_opts;

/* --- pure: the capture schedule and the retention choice (unit-tested) -------------------- */

/* [timelapse] with a printer's own settings over it (the printer record's timelapse_*; unset:
 * the global one): what a capture of that printer runs with, decided at its job's start. */
pd_tl_opts pd_tl_printer_opts(const pd_tl_opts *global, const pd_printer_rec *rec);

typedef struct pd_tl_sched {
    int last_layer;          /* the last layer a frame was due at */
    int taken;               /* frames taken (their files numbered 0 … taken-1) */
} pd_tl_sched;

typedef enum pd_tl_verdict {
    PD_TL_TAKE,              /* take the latest frame now */
    PD_TL_NOT_DUE,           /* not a moment this mode takes a frame at */
    PD_TL_STALE,             /* due, but the camera has no frame young enough: skipped */
    PD_TL_FULL,              /* due, but max_frames are taken */
} pd_tl_verdict;

/* Whether a frame is due at a layer event (layer >= 0) or an interval tick (layer < 0), at
 * now_ms (monotonic), with the hub's latest frame having come at frame_ms (0: none). */
pd_tl_verdict pd_tl_due(const pd_tl_opts *o, pd_tl_sched *s, int layer, uint64_t now_ms, uint64_t frame_ms);

typedef struct pd_tl_item {
    int64_t id, created_s, size;
} pd_tl_item;

/* Which timelapses the retention rules delete: items newest first; drop[i] set for each past
 * keep_count, older than keep_days at now_s, or past keep_bytes counted from the newest. The
 * newest is always kept: a timelapse just made is never deleted by its own size. Returns how
 * many are dropped. */
size_t pd_tl_retain(const pd_tl_item *items, size_t n, const pd_tl_opts *o, int64_t now_s, bool *drop);

/* --- the capture ---------------------------------------------------------------------------- */

typedef struct pd_tl pd_tl;

/* Subscribes to the bus's job and layer events and applies the retention rules once. */
pd_err pd_tl_start(pd_tl **out, uv_loop_t *loop, pd_bus *bus, pd_db *db, pd_fleet *fleet, pd_camera *cam,
                   pd_work_pool *work, const pd_tl_opts *o);
/* Stops every capture (their frames stay in the spool); assemblies under way finish. Before
 * the camera hub and the worker pool are freed; the loop must run after. NULLs *t. */
void pd_tl_stop(pd_tl **t);

/* --- the rows, for the API ------------------------------------------------------------------- */

/* GET /api/v1/timelapses: filters printer_id (printer), job_id (job), created_at; sort;
 * limit/offset, the inventory's rules (inventory.h, pd_inv_table). */
pd_err pd_tl_list_open(pd_inv *inv, const pd_inv_param *p, size_t n, bool csv, pd_inv_cursor **out,
                       pd_inv_err *e);
/* One timelapse as the list shows it; NOTFOUND. */
pd_err pd_tl_get(pd_db *db, int64_t id, json_t **out);
/* The video of timelapse id, or with by_job of job id's newest: its path under dir, its
 * size, its printer (0 none). NOTFOUND. */
pd_err pd_tl_video(pd_db *db, const char *dir, int64_t id, bool by_job, char *path, size_t pathlen,
                   int64_t *size, int64_t *printer_id);
/* Deletes timelapse id, its row and its file. NOTFOUND. */
pd_err pd_tl_delete(pd_tl *t, int64_t id);

#endif
