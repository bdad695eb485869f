/* The cameras over HTTP (docs/camera.md): GET /api/v1/printers/{id}/camera (MJPEG,
 * multipart/x-mixed-replace), …/snapshot (one JPEG) and …/camera/status. Frames come from the
 * hub (camera/camera.h); this file only sends them.
 *
 * An <img> tag, Home Assistant or Frigate cannot send a token, so the stream and the snapshot
 * also take a short-lived signed URL (?exp=&sig=, HMAC-SHA256 of printer and expiry) that
 * the status hands to whoever may see the printer. The key is made at start: a restart ends
 * the URLs handed out before, which live minutes anyway. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "camera/sizes.h"
#include "core/log.h"

#define BOUNDARY "pdframe"
/* what one turn queues of a frame: well under the stream backlog, so a frame of any size
 * goes out in steps the socket takes, and a viewer never holds more than this of its own */
#define PIECE 16384
#define SIG_B64 sodium_base64_ENCODED_LEN(crypto_auth_hmacsha256_BYTES, \
                                          sodium_base64_VARIANT_URLSAFE_NO_PADDING)

static unsigned char url_key[crypto_auth_hmacsha256_KEYBYTES];
static bool url_key_made;

static void url_sign(int64_t id, int64_t exp, char out[SIG_B64])
{
    if (!url_key_made) {
        randombytes_buf(url_key, sizeof url_key);
        url_key_made = true;
    }
    char msg[48];
    int n = snprintf(msg, sizeof msg, "%lld:%lld", (long long)id, (long long)exp);
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256(mac, (const unsigned char *)msg, (unsigned long long)n, url_key);
    sodium_bin2base64(out, SIG_B64, mac, sizeof mac, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

static bool url_valid(pd_req *r, int64_t id)
{
    char exp_s[24], sig[SIG_B64 + 8], want[SIG_B64];
    if (!pd_req_query(r, "exp", exp_s, sizeof exp_s) || !pd_req_query(r, "sig", sig, sizeof sig))
        return false;
    char *end;
    long long exp = strtoll(exp_s, &end, 10);
    if (*end || end == exp_s || exp < (long long)time(NULL))
        return false;
    url_sign(id, exp, want);
    return strlen(sig) == strlen(want) && !sodium_memcmp(sig, want, strlen(want));
}

/* The printer of a camera route: as any route for a token or session, else by a signed URL
 * (which names a printer, so no printer limit applies). NULL after replying. */
static pd_printer *camera_printer(pd_req *r)
{
    const pd_ident *who = pd_req_ident(r);
    if (who->kind != PD_IDENT_NONE)
        return pd_api_printer_of(r);
    pd_app *app = pd_req_app(r);
    pd_printer *p = pd_fleet_find(app->fleet, pd_req_param(r, "id"));
    if (p && url_valid(r, pd_printer_id(p)))
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
    pd_stream *s;
    pd_cam_viewer *v;
    pd_cam_frame *f;       /* the frame being sent */
    size_t off;            /* ... its bytes queued so far */
    bool sent;             /* a frame went whole to the socket: ask for the next at the drain */
} mjpeg;

static void mjpeg_free(mjpeg *m)
{
    pd_camera_unwatch(&m->v);
    pd_cam_frame_unref(&m->f);
    free(m);
}

/* Queues the next piece of the frame; the frame's end with its closing line. */
static void mjpeg_piece(mjpeg *m)
{
    size_t n = m->f->len - m->off < PIECE ? m->f->len - m->off : PIECE;
    if (pd_stream_write(m->s, (const char *)m->f->data + m->off, n))
        return;  /* being dropped: on_close follows */
    m->off += n;
    if (m->off < m->f->len)
        return;
    pd_cam_frame_unref(&m->f);
    m->sent = !pd_stream_write(m->s, "\r\n", 2);
}

static void mjpeg_frame(pd_cam_frame *f, void *ud)
{
    mjpeg *m = ud;
    char head[128];
    int n = snprintf(head, sizeof head, "--" BOUNDARY "\r\nContent-Type: image/jpeg\r\n"
                     "Content-Length: %zu\r\n\r\n", f->len);
    if (pd_stream_write(m->s, head, (size_t)n))
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

static void mjpeg_closed(pd_stream *s, void *ud) { mjpeg_free(ud); }

/* The hub dropped the viewer (it stopped reading) or is stopping. */
static void mjpeg_dropped(void *ud)
{
    mjpeg *m = ud;
    m->v = NULL;
    pd_stream_close(m->s);
    mjpeg_free(m);
}

static void camera_stream(pd_req *r)
{
    pd_app *app = pd_req_app(r);
    pd_printer *p = camera_printer(r);
    if (!p)
        return;
    char why[256];
    if (pd_camera_usable(app->camera, p, why, sizeof why)) {
        camera_fail(r, 409, "camera_unavailable", why);
        return;
    }
    /* a smaller size, for a phone or a camera wall: the largest of a fixed set not above
     * the width asked, so viewers of about the same size share one resize */
    pd_cam_viewer_cb cb = {mjpeg_frame, mjpeg_dropped, 0};
    char w[16];
    if (pd_req_query(r, "width", w, sizeof w)) {
        char *end;
        long asked = strtol(w, &end, 10);
        if (*end || end == w || !(cb.width = pd_cam_width_pick(asked))) {
            pd_req_reply_error(r, PD_ERR_INVAL, "width: a number of pixels, at least 320 (320, "
                               "480, 640, 800, 960 or 1280; another is taken down to one of them)");
            return;
        }
    }
    if (!strcmp(pd_req_method(r), "HEAD")) {  /* the headers only: no camera is opened */
        pd_req_reply_raw(r, 200, "multipart/x-mixed-replace;boundary=" BOUNDARY, "", 0);
        return;
    }
    mjpeg *m = calloc(1, sizeof *m);
    if (!m) {
        pd_req_reply_error(r, PD_ERR_NOMEM, NULL);
        return;
    }
    pd_req_add_header(r, "Cache-Control", "no-store");
    if (!(m->s = pd_req_stream_begin_as(r, "multipart/x-mixed-replace;boundary=" BOUNDARY,
                                        mjpeg_closed, m))) {
        free(m);
        pd_req_reply_error(r, PD_ERR_INTERNAL, "cannot start the stream");
        return;
    }
    pd_stream_on_drain(m->s, mjpeg_drain);
    pd_err rc = pd_camera_watch(app->camera, p, &cb, m, &m->v);
    if (rc) {
        pd_info("camera", "printer %lld: viewer refused: %s", (long long)pd_printer_id(p), pd_strerror(rc));
        pd_stream_close(m->s);
        free(m);
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
    pd_printer *p = camera_printer(r);
    if (!p)
        return;
    snap_wait *w = calloc(1, sizeof *w);
    if (!w) {
        pd_req_reply_error(r, PD_ERR_NOMEM, NULL);
        return;
    }
    w->r = r;
    pd_cam_frame *fresh;
    pd_err rc = pd_camera_snapshot(app->camera, p, snap_done, w, &fresh, &w->s);
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
    int64_t id = pd_printer_id(p), exp = (int64_t)time(NULL) + app->cfg->camera_url_ttl_s;
    char sig[SIG_B64], stream[160], snap[160];
    url_sign(id, exp, sig);
    snprintf(stream, sizeof stream, "/api/v1/printers/%lld/camera?exp=%lld&sig=%s", (long long)id,
             (long long)exp, sig);
    snprintf(snap, sizeof snap, "/api/v1/printers/%lld/snapshot?exp=%lld&sig=%s", (long long)id,
             (long long)exp, sig);
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
