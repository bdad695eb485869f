/* The cameras over HTTP (docs/camera.md): GET /api/v1/printers/{id}/camera (MJPEG,
 * multipart/x-mixed-replace), …/snapshot (one JPEG) and …/camera/status. Frames come from the
 * hub (camera/camera.h); this file only sends them.
 *
 * An <img> tag, Home Assistant or Frigate cannot send a token, so the stream and the snapshot
 * also take a short-lived signed URL (pd_camera_signed_path) that the status hands to whoever
 * may see the printer.
 *
 * MJPEG viewers are streams like the event streams: their own hub list (api/hub.h) ends each
 * with the session it was opened with or a change of its rights, and one opened with a signed
 * URL at the URL's expiry. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/hub.h"
#include "camera/sizes.h"
#include "core/log.h"

#define BOUNDARY "pdframe"
/* what one turn queues of a frame: well under the stream backlog, so a frame of any size
 * goes out in steps the socket takes, and a viewer never holds more than this of its own */
#define PIECE 16384

/* The printer of a camera route: as any route for a token or session, else by a signed URL
 * (which names a printer, so no printer limit applies). NULL after replying. *who: who asks,
 * with a signed URL's expiry as its end. */
static pd_printer *camera_printer(pd_req *r, pd_ident *who)
{
    *who = *pd_req_ident(r);
    if (who->kind != PD_IDENT_NONE)
        return pd_api_printer_of(r);
    pd_app *app = pd_req_app(r);
    pd_printer *p = pd_fleet_find(app->fleet, pd_req_param(r, "id"));
    char exp[24], sig[96];
    if (p && pd_req_query(r, "exp", exp, sizeof exp) && pd_req_query(r, "sig", sig, sizeof sig) &&
        pd_camera_signature_ok(app->camera, pd_printer_id(p), exp, sig, &who->expires_at))
        return p;
    pd_req_reply_error(r, PD_ERR_AUTH, "a token, a session or a signed URL (exp, sig) that has not "
                       "expired is needed");
    return NULL;
}

static void camera_fail(pd_req *r, int status, const char *code, const char *why)
{
    pd_req_reply_json(r, status, json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", why));
}

static void unusable(pd_req *r, pd_app *app, pd_printer *p, pd_err rc)
{
    char why[256];
    if (rc == PD_ERR_UNSUPPORTED && pd_camera_usable(app->camera, p, why, sizeof why))
        camera_fail(r, 409, "camera_unavailable", why);
    else if (rc == PD_ERR_BUSY)
        pd_req_reply_error(r, rc, "this camera has as many viewers as camera.max_viewers allows");
    else
        pd_req_reply_error(r, rc, NULL);
}

/* --- MJPEG --------------------------------------------------------------------------------- */

typedef struct mjpeg {
    pd_hub_client base;    /* first: the viewers' list frees it */
    pd_cam_viewer *v;
    pd_cam_frame *f;       /* the frame being sent */
    size_t off;            /* ... its bytes queued so far */
    bool sent;             /* a frame went whole to the socket: ask for the next at the drain */
} mjpeg;

static pd_hub viewers;
static bool viewers_on;

/* Before the list frees a viewer, whichever way it goes. */
static void mjpeg_release(pd_hub_client *c)
{
    mjpeg *m = (mjpeg *)c;
    pd_camera_unwatch(&m->v);
    pd_cam_frame_unref(&m->f);
}

/* Queues the next piece of the frame; the frame's end with its closing line. */
static void mjpeg_piece(mjpeg *m)
{
    size_t n = m->f->len - m->off < PIECE ? m->f->len - m->off : PIECE;
    if (pd_hub_write(&viewers, &m->base, (const char *)m->f->data + m->off, n))
        return;  /* being dropped: on_close follows */
    m->off += n;
    if (m->off < m->f->len)
        return;
    pd_cam_frame_unref(&m->f);
    m->sent = !pd_hub_write(&viewers, &m->base, "\r\n", 2);
}

static void mjpeg_frame(pd_cam_frame *f, void *ud)
{
    mjpeg *m = ud;
    char head[128];
    int n = snprintf(head, sizeof head, "--" BOUNDARY "\r\nContent-Type: image/jpeg\r\n"
                     "Content-Length: %zu\r\n\r\n", f->len);
    if (pd_hub_write(&viewers, &m->base, head, (size_t)n))
        return;
    m->f = pd_cam_frame_ref(f);
    m->off = 0;
    mjpeg_piece(m);
}

static void mjpeg_drain(pd_stream *s, void *ud)
{
    mjpeg *m = ud;
    if (m->f) {
        mjpeg_piece(m);
    } else if (m->sent) {
        m->sent = false;
        pd_camera_ready(m->v);
    }
}

static void mjpeg_closed(pd_stream *s, void *ud) { pd_hub_gone(&viewers, ud); }

/* The frame hub dropped the viewer (it stopped reading) or is stopping. */
static void mjpeg_dropped(void *ud)
{
    mjpeg *m = ud;
    m->v = NULL;
    pd_hub_close(&viewers, &m->base);
}

/* ?width=: a smaller size, for a phone, a camera wall or a thumbnail: the largest of a fixed
 * set not above the width asked, so viewers and snapshots of about the same size share one
 * resize. 0 when not asked; false after replying. */
static bool width_param(pd_req *r, int *width)
{
    char w[16];
    *width = 0;
    if (!pd_req_query(r, "width", w, sizeof w))
        return true;
    char *end;
    long asked = strtol(w, &end, 10);
    if (*end || end == w || !(*width = pd_cam_width_pick(asked))) {
        pd_req_reply_error(r, PD_ERR_INVAL, "width: a number of pixels, at least 320 (320, "
                           "480, 640, 800, 960 or 1280; another is taken down to one of them)");
        return false;
    }
    return true;
}

static void camera_stream(pd_req *r)
{
    pd_app *app = pd_req_app(r);
    pd_ident who;
    pd_printer *p = camera_printer(r, &who);
    if (!p)
        return;
    char why[256];
    if (pd_camera_usable(app->camera, p, why, sizeof why)) {
        camera_fail(r, 409, "camera_unavailable", why);
        return;
    }
    pd_cam_viewer_cb cb = {mjpeg_frame, mjpeg_dropped, 0};
    if (!width_param(r, &cb.width))
        return;
    if (!strcmp(pd_req_method(r), "HEAD")) {  /* the headers only: no camera is opened */
        pd_req_reply_raw(r, 200, "multipart/x-mixed-replace;boundary=" BOUNDARY, "", 0);
        return;
    }
    mjpeg *m = viewers_on ? calloc(1, sizeof *m) : NULL;
    if (!m) {
        pd_req_reply_error(r, viewers_on ? PD_ERR_NOMEM : PD_ERR_INTERNAL, NULL);
        return;
    }
    pd_req_add_header(r, "Cache-Control", "no-store");
    if (!(m->base.s = pd_req_stream_begin_as(r, "multipart/x-mixed-replace;boundary=" BOUNDARY,
                                             mjpeg_closed, m))) {
        free(m);
        pd_req_reply_error(r, PD_ERR_INTERNAL, "cannot start the stream");
        return;
    }
    pd_stream_on_drain(m->base.s, mjpeg_drain);
    m->base.who = who;
    pd_hub_add(&viewers, &m->base);
    pd_err rc = pd_camera_watch(app->camera, p, &cb, m, &m->v);
    if (rc) {
        pd_info("camera", "printer %lld: viewer refused: %s", (long long)pd_printer_id(p), pd_strerror(rc));
        pd_hub_close(&viewers, &m->base);
    }
}

/* --- snapshots ---------------------------------------------------------------------------- */

static void reply_jpeg(pd_req *r, const pd_cam_frame *f)
{
    char *body = pd_req_reply_alloc(r, f->len);
    if (!body) {
        pd_req_reply_error(r, PD_ERR_NOMEM, NULL);
        return;
    }
    memcpy(body, f->data, f->len);
    pd_req_add_header(r, "Cache-Control", "no-store");
    pd_req_reply_commit(r, 200, "image/jpeg");
}

typedef struct snap_wait {
    pd_req *r;
    pd_cam_snap *s;
} snap_wait;

static void snap_done(pd_cam_frame *f, pd_err rc, const char *why, void *ud)
{
    snap_wait *w = ud;
    pd_req *r = w->r;
    free(w);
    pd_req_on_abort(r, NULL, NULL);
    if (f)
        reply_jpeg(r, f);
    else if (rc == PD_ERR_TIMEOUT)
        camera_fail(r, 504, "camera_timeout", why);
    else
        camera_fail(r, 502, "camera_error", why);
}

static void snap_abort(void *ud)
{
    snap_wait *w = ud;
    pd_camera_snapshot_cancel(&w->s);
    free(w);
}

static void camera_snapshot(pd_req *r)
{
    pd_app *app = pd_req_app(r);
    pd_ident who;
    pd_printer *p = camera_printer(r, &who);
    int width;
    if (!p || !width_param(r, &width))
        return;
    snap_wait *w = calloc(1, sizeof *w);
    if (!w) {
        pd_req_reply_error(r, PD_ERR_NOMEM, NULL);
        return;
    }
    w->r = r;
    pd_cam_frame *fresh;
    pd_err rc = pd_camera_snapshot(app->camera, p, width, snap_done, w, &fresh, &w->s);
    if (rc || fresh) {
        free(w);
        if (fresh)
            reply_jpeg(r, fresh);
        else
            unusable(r, app, p, rc);
        pd_cam_frame_unref(&fresh);
        return;
    }
    pd_req_on_abort(r, snap_abort, w);
    /* the hub's own bound ends the wait; this only backs it up */
    pd_req_wait(r, app->cfg->camera_snapshot_wait_s + 5);
}

/* --- status ------------------------------------------------------------------------------- */

static void camera_status(pd_req *r)
{
    pd_app *app = pd_req_app(r);
    pd_printer *p = pd_api_printer_of(r);
    if (!p)
        return;
    pd_camera_info in;
    pd_camera_info_get(app->camera, p, &in);
    const pd_printer_rec *rec = pd_printer_rec_get(p);
    int64_t id = pd_printer_id(p);
    char stream[PD_CAM_SIGNED_MAX], snap[PD_CAM_SIGNED_MAX];
    pd_camera_signed_path(app->camera, id, "camera", stream);
    int64_t exp = pd_camera_signed_path(app->camera, id, "snapshot", snap);
    json_t *o = json_pack("{s:I,s:s?,s:b,s:s,s:b,s:f,s:I,s:I,s:I,s:I,s:o,s:s?,s:{s:s,s:s,s:I}}",
                          "printer_id", (json_int_t)id, "type", in.type, "enabled", rec->camera_enabled,
                          "state", in.state, "connected", in.connected,
                          "fps_in", (double)(int)(in.fps_in * 100 + 0.5) / 100, "frames_in",
                          (json_int_t)in.frames_in, "connects", (json_int_t)in.connects,
                          "viewers", (json_int_t)in.viewers, "waiting", (json_int_t)in.waiting,
                          "frame_age_ms", in.frame_age_ms < 0 ? json_null() : json_integer(in.frame_age_ms),
                          "error", in.error[0] ? in.error : NULL,
                          "signed", "camera", stream, "snapshot", snap, "expires_at", (json_int_t)exp);
    if (!o)
        pd_req_reply_error(r, PD_ERR_NOMEM, NULL);
    else
        pd_req_reply_json(r, 200, o);
}

const pd_route pd_api_camera_routes[] = {
    {"GET", "/api/v1/printers/{id}/camera", camera_stream, PD_ROUTE_OPEN},
    {"GET", "/api/v1/printers/{id}/snapshot", camera_snapshot, PD_ROUTE_OPEN},
    {"GET", "/api/v1/printers/{id}/camera/status", camera_status, 0},
};
const size_t pd_api_camera_nroutes = sizeof pd_api_camera_routes / sizeof *pd_api_camera_routes;

void pd_api_camera_start(pd_app *app)
{
    if (viewers_on)
        return;
    pd_hub_init(&viewers, app->loop, app->auth, mjpeg_release);
    viewers_on = true;
}

void pd_api_camera_stop(void)
{
    if (!viewers_on)
        return;
    pd_hub_stop(&viewers);
    viewers_on = false;
}
