#include "camera/camera.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "camera/sizes.h"
#include "camera/source.h"
#include "core/log.h"
#include "core/tls.h"

#define LOG "camera"
/* frames per second are counted over windows of this length */
#define FPS_WINDOW_MS 5000

typedef enum feed_state { F_IDLE, F_OPENING, F_STREAMING, F_BACKOFF } feed_state;
static const char *const feed_state_names[] = {"idle", "opening", "streaming", "backoff"};

typedef struct feed feed;

struct pd_cam_viewer {
    feed *f;
    pd_cam_viewer_cb cb;
    void *ud;
    pd_cam_viewer *prev, *next;
    bool busy;                 /* sending a frame; the next waits for pd_camera_ready */
    uint64_t busy_since, last_sent_ms, last_seq;
};

struct pd_cam_snap {
    feed *f;
    int width;                 /* 0: as the camera sends it */
    pd_cam_snap_cb cb;
    void *ud;
    pd_cam_snap *prev, *next;
};

/* One printer's camera: its upstream, the latest frame, who wants frames. */
struct feed {
    pd_camera *cam;
    int64_t printer_id;
    feed *next;
    feed_state st;
    const pd_cam_source_ops *ops;
    pd_cam_source *src;
    bool reading_ca;           /* its ca_file is being read in a worker */
    bool gone;                 /* freed when the worker is done (the hub stops meanwhile) */
    pd_cam_frame *latest;
    pd_cam_sizes *sizes;       /* the smaller sizes viewers asked for */
    pd_cam_viewer *viewers;
    size_t nviewers;
    pd_cam_snap *snaps;
    size_t nsnaps;
    uv_timer_t timer;          /* idle close, or the next attempt after a failure */
    uv_timer_t snap_timer;     /* the bound of the snapshots' shared wait */
    int handles;
    int backoff_ms;
    uint64_t seq, connects;
    uint64_t win_t0, win_n;    /* the fps window */
    double fps;
    char error[256];
    pd_err error_rc;           /* ... and its code, for the snapshots a backoff answers */
    bool snap_fast;            /* the snapshots' wait began in a backoff: answered with that error */
    /* the ca_file read off the loop */
    char ca_file[256];
    char *pem;
    size_t pem_len;
    const char *pem_why;
};

struct pd_camera {
    uv_loop_t *loop;
    pd_fleet *fleet;
    pd_work_pool *work;       /* ca_file reads */
    pd_work_pool *decode;     /* the cameras' own: H.264 decoding */
    pd_camera_opts o;
    feed *feeds;
    unsigned char url_key[crypto_auth_hmacsha256_KEYBYTES];
    pd_bus *bus;
    int sub;
    pd_camera_totals t;        /* the counters; the gauges are counted when asked */
};

static uint64_t now_ms(const feed *f) { return uv_now(f->cam->loop); }

static void feed_start(feed *f);

/* --- lifecycle ------------------------------------------------------------------------ */

static void on_bus(const pd_event *ev, void *ud);

pd_err pd_camera_new(uv_loop_t *loop, pd_fleet *fleet, pd_bus *bus, pd_work_pool *work,
                     const pd_camera_opts *opts, pd_camera **out)
{
    if (sodium_init() < 0)  /* the signing key's randomness */
        return PD_ERR_INTERNAL;
    pd_camera *c = calloc(1, sizeof *c);
    if (!c)
        return PD_ERR_NOMEM;
    c->loop = loop;
    c->fleet = fleet;
    c->work = work;
    c->o = *opts;
    randombytes_buf(c->url_key, sizeof c->url_key);
    c->bus = bus;
    if (pd_work_pool_new(loop, opts->decode_workers, opts->decode_queue, &c->decode)) {
        free(c);
        return PD_ERR_NOMEM;
    }
    if (!(c->sub = pd_bus_subscribe(bus, PD_EV_STATE | PD_EV_PRINTER_REMOVED, on_bus, c))) {
        pd_work_pool_free(&c->decode);
        free(c);
        return PD_ERR_NOMEM;
    }
    *out = c;
    return PD_OK;
}

/* --- signed URLs ---------------------------------------------------------------------- */

#define SIG_B64 sodium_base64_ENCODED_LEN(crypto_auth_hmacsha256_BYTES, \
                                          sodium_base64_VARIANT_URLSAFE_NO_PADDING)

static void url_sign(pd_camera *c, int64_t id, int64_t exp, char out[SIG_B64])
{
    char msg[48];
    int n = snprintf(msg, sizeof msg, "%lld:%lld", (long long)id, (long long)exp);
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256(mac, (const unsigned char *)msg, (unsigned long long)n, c->url_key);
    sodium_bin2base64(out, SIG_B64, mac, sizeof mac, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

int64_t pd_camera_signed_path(pd_camera *c, int64_t printer_id, const char *route, char out[PD_CAM_SIGNED_MAX])
{
    int64_t exp = (int64_t)time(NULL) + c->o.url_ttl_s;
    char sig[SIG_B64];
    url_sign(c, printer_id, exp, sig);
    snprintf(out, PD_CAM_SIGNED_MAX, "/api/v1/printers/%lld/%s?exp=%lld&sig=%s", (long long)printer_id, route,
             (long long)exp, sig);
    return exp;
}

bool pd_camera_signature_ok(pd_camera *c, int64_t printer_id, const char *exp_s, const char *sig, int64_t *exp_out)
{
    char want[SIG_B64], *end;
    long long exp = strtoll(exp_s, &end, 10);
    if (*end || end == exp_s || exp < (long long)time(NULL))
        return false;
    url_sign(c, printer_id, exp, want);
    *exp_out = exp;
    return strlen(sig) == strlen(want) && !sodium_memcmp(sig, want, strlen(want));
}

static feed *feed_find(pd_camera *c, int64_t id)
{
    for (feed *f = c->feeds; f; f = f->next)
        if (f->printer_id == id)
            return f;
    return NULL;
}

static void on_sized(int width, void *ud);

static feed *feed_get(pd_camera *c, int64_t id)
{
    feed *f = feed_find(c, id);
    if (f || !(f = calloc(1, sizeof *f)))
        return f;
    if (pd_cam_sizes_new(c->decode, &c->t.decode_dropped, on_sized, f, &f->sizes)) {
        free(f);
        return NULL;
    }
    f->cam = c;
    f->printer_id = id;
    f->backoff_ms = c->o.backoff_min_ms;
    uv_timer_init(c->loop, &f->timer);
    uv_timer_init(c->loop, &f->snap_timer);
    f->timer.data = f->snap_timer.data = f;
    f->handles = 2;
    f->next = c->feeds;
    c->feeds = f;
    return f;
}

static void feed_release(feed *f)
{
    if (--f->handles)
        return;
    free(f->pem);
    free(f);
}

static void on_feed_handle_closed(uv_handle_t *h) { feed_release(h->data); }

static void upstream_close(feed *f)
{
    if (f->src)
        f->ops->close(&f->src);
    pd_cam_frame_unref(&f->latest);
    pd_cam_sizes_clear(f->sizes);
    f->fps = 0;
    f->win_n = 0;
}

static void snap_unlink(pd_cam_snap *s)
{
    feed *f = s->f;
    if (s->prev)
        s->prev->next = s->next;
    else
        f->snaps = s->next;
    if (s->next)
        s->next->prev = s->prev;
    if (s->width)
        pd_cam_sizes_unwant(f->sizes, s->width);
    if (!--f->nsnaps)
        uv_timer_stop(&f->snap_timer);
}

/* Ends the snapshots' shared wait: those of width (all when -1) with the frame, or with why
 * none came. The others wait on, within the same bound. */
static void snaps_answer(feed *f, int width, pd_cam_frame *fr, pd_err rc, const char *why)
{
    for (pd_cam_snap *s = f->snaps, *next; s; s = next) {
        next = s->next;
        if (width >= 0 && s->width != width)
            continue;
        pd_cam_snap_cb cb = s->cb;
        void *ud = s->ud;
        snap_unlink(s);
        free(s);
        cb(fr, rc, why, ud);
    }
}

static void viewer_unlink(pd_cam_viewer *v)
{
    feed *f = v->f;
    if (v->prev)
        v->prev->next = v->next;
    else
        f->viewers = v->next;
    if (v->next)
        v->next->prev = v->prev;
    f->nviewers--;
    if (v->cb.width)
        pd_cam_sizes_unwant(f->sizes, v->cb.width);
}

/* The viewer is gone from the hub's side: its drop runs last, as it may free what it owns. */
static void viewer_drop(pd_cam_viewer *v)
{
    viewer_unlink(v);
    void (*drop)(void *) = v->cb.drop;
    void *ud = v->ud;
    free(v);
    drop(ud);
}

/* f, already out of the hub's list: its viewers and snapshots end with why. */
static void feed_free(feed *f, pd_err rc, const char *why)
{
    while (f->viewers)
        viewer_drop(f->viewers);
    snaps_answer(f, -1, NULL, rc, why);
    upstream_close(f);
    pd_cam_sizes_free(&f->sizes);
    if (f->reading_ca) {  /* its worker's done frees it */
        f->gone = true;
        f->handles++;
    }
    uv_close((uv_handle_t *)&f->timer, on_feed_handle_closed);
    uv_close((uv_handle_t *)&f->snap_timer, on_feed_handle_closed);
}

void pd_camera_free(pd_camera **cp)
{
    pd_camera *c = *cp;
    *cp = NULL;
    if (!c)
        return;
    pd_bus_unsubscribe(c->bus, c->sub);
    while (c->feeds) {
        feed *f = c->feeds;
        c->feeds = f->next;
        feed_free(f, PD_ERR_OFFLINE, "printdeck is stopping");
    }
    pd_work_pool_free(&c->decode);  /* after the sources: their queued jobs end cancelled */
    free(c);
}

/* --- whether a camera can be used ----------------------------------------------------- */

static const char *ipcam_text(pd_printer *p, const char *key)
{
    const json_t *print = json_object_get(pd_printer_raw(p), "print");
    return json_string_value(json_object_get(json_object_get(print, "ipcam"), key));
}

pd_err pd_camera_usable(pd_camera *c, pd_printer *p, char *why, size_t whylen)
{
    (void)c;
    const pd_printer_rec *rec = pd_printer_rec_get(p);
    int port;
    const char *type = pd_model_camera(pd_printer_model(p), &port);
    const char *dev = ipcam_text(p, "ipcam_dev"), *rtsp = ipcam_text(p, "rtsp_url");
    if (!rec->camera_enabled)
        snprintf(why, whylen, "the camera is switched off for this printer (camera_enabled)");
    else if (!type)
        snprintf(why, whylen, "the printer's model is not known yet: set it, or wait until the "
                 "printer has answered");
    else if (dev && !strcmp(dev, "0"))
        snprintf(why, whylen, "the printer reports that it has no working camera (ipcam_dev 0)");
    else if (!strcmp(type, "rtsps") && rtsp && !strcmp(rtsp, "disable"))
        snprintf(why, whylen, "LAN Mode Liveview is off on the printer: on its screen, open "
                 "Settings, General and switch on \"LAN Mode Liveview\"");
    else
        return PD_OK;
    return PD_ERR_UNSUPPORTED;
}

/* --- the upstream ----------------------------------------------------------------------- */

static void deliver(pd_cam_viewer *v, uint64_t now)
{
    feed *f = v->f;
    pd_camera *c = f->cam;
    pd_cam_frame *fr = v->cb.width ? pd_cam_sizes_latest(f->sizes, v->cb.width) : f->latest;
    /* three quarters of the cap's period: a camera sending exactly max_fps, with the jitter
     * of any network, must not lose every other frame to a few milliseconds */
    uint64_t gap = c->o.max_fps > 0 ? 750u / (unsigned)c->o.max_fps : 0;
    if (v->busy || !fr || fr->seq <= v->last_seq || now - v->last_sent_ms < gap)
        return;
    v->busy = true;
    v->busy_since = v->last_sent_ms = now;
    v->last_seq = fr->seq;
    c->t.frames_out++;
    c->t.bytes_out += fr->len;
    v->cb.frame(fr, v->ud);
}

static void feed_unuse(feed *f);

/* A smaller size was made: its viewers and snapshots may take it. */
static void on_sized(int width, void *ud)
{
    feed *f = ud;
    uint64_t now = now_ms(f);
    for (pd_cam_viewer *v = f->viewers; v; v = v->next)
        if (v->cb.width == width)
            deliver(v, now);
    size_t waiting = f->nsnaps;
    snaps_answer(f, width, pd_cam_sizes_latest(f->sizes, width), PD_OK, NULL);
    if (f->nsnaps < waiting)
        feed_unuse(f);
}

static void on_src_frame(pd_cam_frame *fr, void *ud)
{
    feed *f = ud;
    uint64_t now = now_ms(f);
    fr->seq = ++f->seq;
    fr->at_ms = now;
    f->cam->t.frames_in++;
    pd_cam_frame_unref(&f->latest);
    f->latest = fr;
    pd_cam_sizes_frame(f->sizes, fr);
    if (f->st != F_STREAMING) {
        pd_info(LOG, "printer %lld: camera streaming", (long long)f->printer_id);
        f->st = F_STREAMING;
        f->error[0] = '\0';
        f->backoff_ms = f->cam->o.backoff_min_ms;
        f->win_t0 = now;
        f->win_n = 0;
    }
    if (++f->win_n, now - f->win_t0 >= FPS_WINDOW_MS) {
        f->fps = (double)f->win_n * 1000.0 / (double)(now - f->win_t0);
        f->win_t0 = now;
        f->win_n = 0;
    }
    snaps_answer(f, 0, fr, PD_OK, NULL);
    uint64_t stall = (uint64_t)f->cam->o.stall_s * 1000;
    for (pd_cam_viewer *v = f->viewers, *next; v; v = next) {
        next = v->next;
        if (v->busy && now - v->busy_since >= stall) {
            pd_info(LOG, "printer %lld: a camera viewer took no frame for %d s: dropped",
                    (long long)f->printer_id, f->cam->o.stall_s);
            viewer_drop(v);
        } else {
            deliver(v, now);
        }
    }
}

static void on_backoff_done(uv_timer_t *t)
{
    feed *f = t->data;
    f->st = F_IDLE;
    feed_start(f);
}

static void on_src_down(pd_err rc, const char *why, void *ud)
{
    feed *f = ud;
    if (strcmp(f->error, why))
        pd_warn(LOG, "printer %lld: %s", (long long)f->printer_id, why);
    snprintf(f->error, sizeof f->error, "%s", why);
    f->error_rc = rc;
    upstream_close(f);
    snaps_answer(f, -1, NULL, rc, why);
    if (!f->nviewers) {
        f->st = F_IDLE;
        uv_timer_stop(&f->timer);
        return;
    }
    /* a printer refuses while it boots and takes few connections: wait, longer each time */
    f->st = F_BACKOFF;
    uv_timer_start(&f->timer, on_backoff_done, (uint64_t)f->backoff_ms, 0);
    f->backoff_ms = f->backoff_ms * 2 > f->cam->o.backoff_max_ms ? f->cam->o.backoff_max_ms
                                                                  : f->backoff_ms * 2;
}

static void feed_fail(feed *f, pd_err rc, const char *why) { on_src_down(rc, why, f); }

/* A camera that cannot be opened any more (its printer removed, or switched off) ends its
 * viewers rather than keep them waiting for good. */
static void feed_end(feed *f, pd_err rc, const char *why)
{
    while (f->viewers)
        viewer_drop(f->viewers);
    feed_fail(f, rc, why);
}

static void feed_open(feed *f)
{
    pd_printer *p = pd_fleet_find_id(f->cam->fleet, f->printer_id);
    char why[256];
    f->st = F_OPENING;
    if (!p) {
        feed_end(f, PD_ERR_NOTFOUND, "the printer was removed");
        return;
    }
    if (pd_camera_usable(f->cam, p, why, sizeof why)) {
        feed_end(f, PD_ERR_UNSUPPORTED, why);
        return;
    }
    if (f->pem_why) {
        snprintf(why, sizeof why, "cannot load ca_file: %s", f->pem_why);
        feed_fail(f, PD_ERR_TLS, why);
        return;
    }
    const pd_printer_rec *rec = pd_printer_rec_get(p);
    int port;
    const char *type = pd_model_camera(pd_printer_model(p), &port);
    pd_cam_target t = {
        .host = rec->camera_host[0] ? rec->camera_host : rec->host,
        .port = rec->camera_port ? rec->camera_port : port,
        .serial = rec->serial,
        .access_code = rec->access_code,
        .tls_verify = rec->tls_verify,
        .ca_pem = f->pem,
        .ca_len = f->pem_len,
        .timeout_ms = f->cam->o.timeout_s * 1000,
        .work = f->cam->decode,
        .fps = f->cam->o.rtsp_fps,
        .width = f->cam->o.rtsp_width,
        .dropped = &f->cam->t.decode_dropped,
    };
    static const pd_cam_events ev = {on_src_frame, on_src_down};
    f->ops = !strcmp(type, "rtsps") ? &pd_cam_rtsps : &pd_cam_jpeg6000;
    f->connects++;
    pd_err rc = f->ops->open(f->cam->loop, &t, &ev, f, &f->src);
    if (rc)
        feed_fail(f, rc, rc == PD_ERR_INVAL ? "the access code is longer than the camera takes "
                  "(32 bytes)" : rc == PD_ERR_TLS ? "cannot set up TLS for the camera"
                  : "cannot start connecting to the camera");
}

static void ca_read(void *ud)
{
    feed *f = ud;
    f->pem_why = pd_tls_read_ca(f->ca_file, &f->pem, &f->pem_len);
}

static void ca_done(void *ud, bool cancelled)
{
    feed *f = ud;
    f->reading_ca = false;
    if (f->gone) {
        feed_release(f);
        return;
    }
    if (cancelled)
        f->pem_why = "the worker pool is stopping";
    if (f->nviewers || f->nsnaps)
        feed_open(f);
    else
        f->st = F_IDLE;
}

/* Opens the upstream: the ca_file first, when the printer names one (its read blocks, so a
 * worker does it). */
static void feed_start(feed *f)
{
    if (f->st != F_IDLE)
        return;
    f->st = F_OPENING;
    free(f->pem);
    f->pem = NULL;
    f->pem_len = 0;
    f->pem_why = NULL;
    pd_printer *p = pd_fleet_find_id(f->cam->fleet, f->printer_id);
    const pd_printer_rec *rec = p ? pd_printer_rec_get(p) : NULL;
    if (rec && rec->tls_verify && rec->ca_file[0] && f->cam->work) {
        snprintf(f->ca_file, sizeof f->ca_file, "%s", rec->ca_file);
        f->reading_ca = true;
        if (!pd_work_submit(f->cam->work, ca_read, ca_done, f))
            return;
        f->reading_ca = false;
        feed_fail(f, PD_ERR_OVERLOAD, "cannot read the ca_file now: the worker pool is busy");
        return;
    }
    feed_open(f);
}

static void on_idle(uv_timer_t *t)
{
    feed *f = t->data;
    pd_info(LOG, "printer %lld: camera closed, nobody watching", (long long)f->printer_id);
    upstream_close(f);
    f->st = F_IDLE;
}

static void on_open_turn(uv_timer_t *t)
{
    feed *f = t->data;
    f->st = F_IDLE;
    if (f->nviewers || f->nsnaps)
        feed_start(f);
}

/* Something wants frames: open the upstream, or keep it open. It opens at the next turn, so
 * an open that fails at once (an access code too long to send) fails a snapshot after
 * pd_camera_snapshot has returned, never inside it. */
static void feed_use(feed *f)
{
    if (f->st == F_IDLE && !f->reading_ca) {
        f->st = F_OPENING;
        uv_timer_start(&f->timer, on_open_turn, 0, 0);
    } else if (f->st == F_STREAMING || (f->st == F_OPENING && f->src)) {
        uv_timer_stop(&f->timer);  /* an idle close pending */
    }
}

/* Something stopped wanting frames: when nothing else does, close after idle_s. */
static void feed_unuse(feed *f)
{
    if (f->nviewers || f->nsnaps)
        return;
    if (f->st == F_BACKOFF) {
        uv_timer_stop(&f->timer);
        f->st = F_IDLE;
    } else if (f->st != F_IDLE) {
        uv_timer_start(&f->timer, on_idle, (uint64_t)f->cam->o.idle_s * 1000, 0);
    }
}

/* --- viewers and snapshots ---------------------------------------------------------------- */

static pd_err feed_for(pd_camera *c, pd_printer *p, feed **out)
{
    char why[256];
    if (pd_camera_usable(c, p, why, sizeof why))
        return PD_ERR_UNSUPPORTED;
    feed *f = feed_get(c, pd_printer_id(p));
    if (!f)
        return PD_ERR_NOMEM;
    if (f->nviewers + f->nsnaps >= (size_t)c->o.max_viewers)
        return PD_ERR_BUSY;
    *out = f;
    return PD_OK;
}

pd_err pd_camera_watch(pd_camera *c, pd_printer *p, const pd_cam_viewer_cb *cb, void *ud,
                       pd_cam_viewer **out)
{
    feed *f;
    pd_err rc = feed_for(c, p, &f);
    if (rc)
        return rc;
    pd_cam_viewer *v = calloc(1, sizeof *v);
    if (!v)
        return PD_ERR_NOMEM;
    v->f = f;
    v->cb = *cb;
    v->ud = ud;
    if (cb->width)
        pd_cam_sizes_want(f->sizes, cb->width);
    v->next = f->viewers;
    if (f->viewers)
        f->viewers->prev = v;
    f->viewers = v;
    f->nviewers++;
    *out = v;
    feed_use(f);
    deliver(v, now_ms(f));  /* the frame there is now, rather than at the next one */
    return PD_OK;
}

void pd_camera_ready(pd_cam_viewer *v)
{
    v->busy = false;
    deliver(v, now_ms(v->f));
}

void pd_camera_unwatch(pd_cam_viewer **vp)
{
    pd_cam_viewer *v = *vp;
    *vp = NULL;
    if (!v)
        return;
    feed *f = v->f;
    viewer_unlink(v);
    free(v);
    feed_unuse(f);
}

static void on_snap_timeout(uv_timer_t *t)
{
    feed *f = t->data;
    char why[96];
    snprintf(why, sizeof why, "no frame from the camera within %d s",
             f->cam->o.snapshot_wait_s);
    if (f->snap_fast)  /* decided when the wait began: the backoff may have ended since */
        snaps_answer(f, -1, NULL, f->error_rc, f->error);
    else
        snaps_answer(f, -1, NULL, PD_ERR_TIMEOUT, f->error[0] ? f->error : why);
    feed_unuse(f);
}

static bool frame_fresh(feed *f, const pd_cam_frame *fr)
{
    return fr && now_ms(f) - fr->at_ms < (uint64_t)f->cam->o.fresh_ms;
}

pd_err pd_camera_snapshot(pd_camera *c, pd_printer *p, int width, pd_cam_snap_cb cb, void *ud,
                          pd_cam_frame **fresh, pd_cam_snap **out)
{
    *fresh = NULL;
    *out = NULL;
    feed *f;
    pd_err rc = feed_for(c, p, &f);
    if (rc)
        return rc;
    pd_cam_frame *have = width ? pd_cam_sizes_latest(f->sizes, width) : f->latest;
    if (frame_fresh(f, have)) {
        *fresh = pd_cam_frame_ref(have);
        if (!f->nviewers && !f->nsnaps && f->st == F_STREAMING)  /* keeps it for idle_s more */
            uv_timer_start(&f->timer, on_idle, (uint64_t)c->o.idle_s * 1000, 0);
        return PD_OK;
    }
    pd_cam_snap *s = calloc(1, sizeof *s);
    if (!s)
        return PD_ERR_NOMEM;
    s->f = f;
    s->width = width;
    s->cb = cb;
    s->ud = ud;
    if (width) {  /* made from the hub's frame when it is fresh, else from the next */
        pd_cam_sizes_want(f->sizes, width);
        if (frame_fresh(f, f->latest))
            pd_cam_sizes_make(f->sizes, width, f->latest);
    }
    s->next = f->snaps;
    if (f->snaps)
        f->snaps->prev = s;
    f->snaps = s;
    /* the first one sets the bound of the wait they all share. A camera in its backoff (kept
     * open by a viewer or a timelapse) has just failed and is tried again within up to
     * backoff_max_ms: its error answers at once rather than a notification or a person waiting
     * out snapshot_wait_s for a camera that is off or gone. */
    if (!f->nsnaps++) {
        f->snap_fast = f->st == F_BACKOFF;
        uv_timer_start(&f->snap_timer, on_snap_timeout, f->snap_fast ? 0 : (uint64_t)c->o.snapshot_wait_s * 1000, 0);
    }
    *out = s;
    feed_use(f);
    return PD_OK;
}

void pd_camera_snapshot_cancel(pd_cam_snap **sp)
{
    pd_cam_snap *s = *sp;
    *sp = NULL;
    if (!s)
        return;
    feed *f = s->f;
    snap_unlink(s);
    free(s);
    feed_unuse(f);
}

void pd_camera_info_get(pd_camera *c, pd_printer *p, pd_camera_info *out)
{
    memset(out, 0, sizeof *out);
    int port;
    out->type = pd_model_camera(pd_printer_model(p), &port);
    out->state = feed_state_names[F_IDLE];
    out->frame_age_ms = -1;
    if (pd_camera_usable(c, p, out->error, sizeof out->error) == PD_OK)
        out->error[0] = '\0';
    feed *f = feed_find(c, pd_printer_id(p));
    if (!f)
        return;
    uint64_t now = now_ms(f);
    out->state = feed_state_names[f->st];
    out->connected = f->st == F_STREAMING;
    /* until the first window closes, what came so far */
    out->fps_in = f->fps ? f->fps : f->win_n && now > f->win_t0
                  ? (double)f->win_n * 1000.0 / (double)(now - f->win_t0) : 0;
    out->frames_in = f->seq;
    out->connects = f->connects;
    out->viewers = f->nviewers;
    out->waiting = f->nsnaps;
    if (f->latest)
        out->frame_age_ms = (int64_t)(now - f->latest->at_ms);
    if (!out->error[0])
        snprintf(out->error, sizeof out->error, "%s", f->error);
}

/* A printer removed frees its camera; one switched off (or whose liveview went off) ends its
 * viewers and snapshots at once, rather than at the next reconnect. */
static void on_bus(const pd_event *ev, void *ud)
{
    pd_camera *c = ud;
    feed *f = feed_find(c, ev->printer_id);
    if (!f)
        return;
    if (ev->type == PD_EV_PRINTER_REMOVED) {
        feed **pp = &c->feeds;
        while (*pp != f)
            pp = &(*pp)->next;
        *pp = f->next;
        pd_info(LOG, "printer %lld: removed, its camera closed", (long long)f->printer_id);
        feed_free(f, PD_ERR_NOTFOUND, "the printer was removed");
        return;
    }
    pd_printer *p = pd_fleet_find_id(c->fleet, ev->printer_id);
    char why[256];
    if (p && (f->nviewers || f->nsnaps || f->src) && pd_camera_usable(c, p, why, sizeof why))
        feed_end(f, PD_ERR_UNSUPPORTED, why);
}

void pd_camera_totals_get(pd_camera *c, pd_camera_totals *out)
{
    *out = c->t;
    for (feed *f = c->feeds; f; f = f->next) {
        out->connected += f->st == F_STREAMING;
        out->viewers += f->nviewers;
    }
}
