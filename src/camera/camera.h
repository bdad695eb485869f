/* The frame hub: one upstream per printer camera, any number of viewers (docs/camera.md).
 *
 * An upstream opens when something wants frames (a viewer, a snapshot) and closes idle_s
 * after the last one has gone, so a printer, which takes very few camera connections, is
 * held by printdeck once whatever the number of people watching. It reconnects with backoff
 * while wanted. Each viewer is offered the LATEST frame when it is done with the one before
 * and its frame-rate cap allows: a slow viewer skips frames, it never queues them, and one
 * that takes no frame for stall_s while new ones come is dropped. Snapshots wanted while the
 * upstream opens share one wait. Owned by the loop thread. */
#ifndef PD_CAMERA_H
#define PD_CAMERA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "camera/frame.h"
#include "core/bus.h"
#include "core/err.h"
#include "core/work.h"
#include "printer/printer.h"

typedef struct pd_camera pd_camera;
typedef struct pd_cam_viewer pd_cam_viewer;
typedef struct pd_cam_snap pd_cam_snap;

typedef struct pd_camera_opts {
    int idle_s;            /* an upstream nobody wants is closed after this */
    int max_fps;           /* per viewer */
    int stall_s;           /* a viewer still busy with a frame this long is dropped */
    int timeout_s;         /* to connect and get a first frame; then the longest gap */
    int snapshot_wait_s;   /* how long a snapshot waits for a frame */
    int fresh_ms;          /* a snapshot is the latest frame when it is younger than this */
    int backoff_min_ms, backoff_max_ms;
    int max_viewers;       /* per printer */
    int rtsp_fps;          /* JPEG frames an RTSPS camera's H.264 is turned into per second */
    int rtsp_width;        /* ... their width at most; 0: the camera's */
    int url_ttl_s;         /* how long a signed URL stays valid */
    int decode_workers;    /* the cameras' own worker pool: threads ... */
    int decode_queue;      /* ... and jobs waiting for one at most */
} pd_camera_opts;

/* work: where the printers' ca_files are read. The bus says when a printer's camera is
 * switched off (its viewers end at once) or the printer removed (its camera is freed). The hub decodes in a pool of its own
 * (decode_workers), so a camera streaming for hours never holds a thread that file analyses
 * wait for; each decode job is one batch and returns, so cameras take turns on its threads. */
pd_err pd_camera_new(uv_loop_t *loop, pd_fleet *fleet, pd_bus *bus, pd_work_pool *work,
                     const pd_camera_opts *opts, pd_camera **out);
/* Closes every upstream, drops every viewer (their drop runs), fails every snapshot and
 * frees the decode pool (jobs running finish first); the loop must then run until the
 * handles are closed. NULLs *c. */
void pd_camera_free(pd_camera **c);

/* Whether the printer's camera can be relayed now: PD_OK, else UNSUPPORTED with why in words
 * (switched off, a model not known yet, liveview off on the printer). */
pd_err pd_camera_usable(pd_camera *c, pd_printer *p, char *why, size_t whylen);

typedef struct pd_cam_viewer_cb {
    /* the latest frame (borrowed: take a reference to keep it); no other comes until
     * pd_camera_ready */
    void (*frame)(pd_cam_frame *f, void *ud);
    /* the viewer stalled, its printer's camera was switched off or removed, or the hub is
     * being freed: the viewer is gone already */
    void (*drop)(void *ud);
    /* frames at most this wide (one of pd_cam_widths, camera/sizes.h), made in the cameras'
     * pool once per width for all its viewers; 0: as the camera sends them */
    int width;
} pd_cam_viewer_cb;

/* A viewer of p's camera, its upstream opened if need be. The frame the hub holds, if any,
 * comes at once, before this returns (*out is set by then). UNSUPPORTED (pd_camera_usable),
 * BUSY (max_viewers), NOMEM. */
pd_err pd_camera_watch(pd_camera *c, pd_printer *p, const pd_cam_viewer_cb *cb, void *ud,
                       pd_cam_viewer **out);
/* The viewer has sent its frame whole: the next one may come (at once if it is there). */
void pd_camera_ready(pd_cam_viewer *v);
void pd_camera_unwatch(pd_cam_viewer **v);

/* f: the frame (borrowed), or NULL with rc and why when none came. */
typedef void (*pd_cam_snap_cb)(pd_cam_frame *f, pd_err rc, const char *why, void *ud);
/* One picture of p's camera, width (one of pd_cam_widths, camera/sizes.h) across at most, 0
 * as the camera sends it. A frame younger than fresh_ms is handed back at once in *fresh (a
 * reference: unref it) and nothing waits; otherwise cb runs once, later, unless the wait is
 * cancelled. A smaller one is made in the cameras' pool once per width and frame, for all the
 * snapshots and viewers of that width. UNSUPPORTED, BUSY, NOMEM as pd_camera_watch. */
pd_err pd_camera_snapshot(pd_camera *c, pd_printer *p, int width, pd_cam_snap_cb cb, void *ud,
                          pd_cam_frame **fresh, pd_cam_snap **out);
void pd_camera_snapshot_cancel(pd_cam_snap **s);

/* Signed URLs, for whoever cannot send a token (an <img> tag, Home Assistant, Frigate, a
 * notification's receiver): HMAC-SHA256 of printer and expiry with a key made at start, so a
 * restart ends the URLs handed out before, which live url_ttl_s anyway. */
#define PD_CAM_SIGNED_MAX 160
/* "/api/v1/printers/<id>/<route>?exp=…&sig=…" for route "camera" or "snapshot", valid for
 * url_ttl_s from now; its expiry (Unix seconds). */
int64_t pd_camera_signed_path(pd_camera *c, int64_t printer_id, const char *route, char out[PD_CAM_SIGNED_MAX]);
/* Whether sig signs printer_id and exp (its text), and exp has not passed; *exp_out then. */
bool pd_camera_signature_ok(pd_camera *c, int64_t printer_id, const char *exp, const char *sig, int64_t *exp_out);

typedef struct pd_camera_info {
    const char *type;          /* "jpeg6000", "rtsps", NULL: none known for the model */
    const char *state;         /* idle, opening, streaming, backoff */
    bool connected;            /* frames are coming */
    double fps_in;
    uint64_t frames_in, connects;
    size_t viewers, waiting;   /* viewers, snapshots waiting */
    int64_t frame_age_ms;      /* of the latest frame; -1 when none is held */
    char error[256];           /* the last failure in words, or why it cannot be used; "" */
} pd_camera_info;
void pd_camera_info_get(pd_camera *c, pd_printer *p, pd_camera_info *out);

/* All cameras together, for /metrics. */
typedef struct pd_camera_totals {
    size_t connected;          /* upstreams streaming now */
    size_t viewers;
    uint64_t frames_in;        /* from the cameras */
    uint64_t frames_out;       /* handed to viewers */
    uint64_t bytes_out;        /* ... their bytes */
    uint64_t decode_dropped;   /* decode or scale jobs the camera pool had no room for */
} pd_camera_totals;
void pd_camera_totals_get(pd_camera *c, pd_camera_totals *out);

#endif
