/* A camera source: how frames come from one camera, behind one function table, so the hub
 * (camera.h) does not care which protocol brings them: the port-6000 JPEG stream of the A1
 * and P1 series (jpeg6000.c) and the RTSPS H.264 stream of the X1, P2S, H2 and X2D series
 * (rtsps.c), decoded on a worker, which hands the loop finished JPEG frames the same way
 * (docs/camera.md). */
#ifndef PD_CAMERA_SOURCE_H
#define PD_CAMERA_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "camera/frame.h"
#include "core/err.h"
#include "core/work.h"

/* Where and how to reach a camera: read during open only. */
typedef struct pd_cam_target {
    const char *host;
    int port;
    const char *serial;       /* the name the certificate must carry */
    const char *access_code;
    bool tls_verify;
    const char *ca_pem;       /* the printer's ca_file's text; NULL: the Bambu CA */
    size_t ca_len;
    int timeout_ms;           /* to connect and get a first frame; then the longest gap */
    pd_work_pool *work;       /* where a source that decodes does it */
    int fps;                  /* frames a decoding source makes per second at most */
    int width;                /* ... and their width at most (0: the camera's) */
    uint64_t *dropped;        /* counts the decode jobs it had to drop (on the loop) */
} pd_cam_target;

typedef struct pd_cam_source pd_cam_source;

/* What a source tells its owner, on the loop. After `down` it says nothing more; the owner
 * then closes it. */
typedef struct pd_cam_events {
    void (*frame)(pd_cam_frame *f, void *ud);           /* a whole frame, handed over */
    void (*down)(pd_err rc, const char *why, void *ud); /* the connection is over, why in words */
} pd_cam_events;

/* An end told once, in words: the TLS connection (tlsconn.c) and both sources end this way.
 * down does what its module does at its end (stop its timers, tell its owner); told is also
 * set by a close, after which nothing is said. */
typedef struct pd_cam_end {
    void (*down)(pd_err rc, const char *why, void *ud);
    void *ud;
    bool told;
} pd_cam_end;

/* why formatted as printf does (at most 255 bytes) and handed to e->down, unless told. */
void pd_cam_end_tell(pd_cam_end *e, pd_err rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

typedef struct pd_cam_source_ops {
    const char *type;         /* as the API shows it: "jpeg6000" */
    /* Starts connecting; ev and ud are kept. NOMEM, INVAL (a target it cannot use). */
    pd_err (*open)(uv_loop_t *loop, const pd_cam_target *t, const pd_cam_events *ev, void *ud,
                   pd_cam_source **out);
    /* Stops at once (no callback after it) and frees once the loop has closed its handles;
     * NULLs *s. */
    void (*close)(pd_cam_source **s);
} pd_cam_source_ops;

/* Port 6000: TLS, the auth packet, 16-byte headers and JPEG frames (jpeg6000.c). */
extern const pd_cam_source_ops pd_cam_jpeg6000;
/* Port 322: RTSP over TLS, H.264 decoded and made JPEG on a worker (rtsps.c). */
extern const pd_cam_source_ops pd_cam_rtsps;

#endif
