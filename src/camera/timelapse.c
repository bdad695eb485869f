#include "camera/timelapse.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "camera/mp4.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "store/sqlb.h"
#include "track/jobs.h"

#define LOG "timelapse"
#define PATH_LEN 512
/* the timelapse directory: room under PATH_LEN for spool/<job id>/<frame> */
#define DIR_LEN 384
/* Frames of one job assembled at most: max_frames bounds each capture, this the captures of
 * a job resumed after restarts together ([timelapse] max_frames' own limit). */
#define ASSEMBLE_MAX 100000

/* --- pure -------------------------------------------------------------------------------------- */

pd_err pd_tl_mode_check(const char *v, char *err, size_t errlen)
{
    if (!strcmp(v, "layer") || !strcmp(v, "interval"))
        return PD_OK;
    snprintf(err, errlen, "'%.32s' is not layer|interval", v);
    return PD_ERR_INVAL;
}

pd_tl_mode pd_tl_mode_of(const char *v) { return strcmp(v, "interval") ? PD_TL_LAYER : PD_TL_INTERVAL; }

pd_tl_verdict pd_tl_due(const pd_tl_opts *o, pd_tl_sched *s, int layer, uint64_t now_ms, uint64_t frame_ms)
{
    if (o->mode == PD_TL_LAYER) {
        /* a report repeating the layer, or going back (a restarted count), is no new layer */
        if (layer < 0 || layer <= s->last_layer)
            return PD_TL_NOT_DUE;
        s->last_layer = layer;
    } else if (layer >= 0) {
        return PD_TL_NOT_DUE;
    }
    if (s->taken >= o->max_frames)
        return PD_TL_FULL;
    if (!frame_ms || frame_ms > now_ms || now_ms - frame_ms > (uint64_t)o->stale_ms)
        return PD_TL_STALE;
    return PD_TL_TAKE;
}

pd_tl_opts pd_tl_printer_opts(const pd_tl_opts *global, const pd_printer_rec *rec)
{
    pd_tl_opts o = *global;
    if (rec->timelapse_enabled != PD_REC_UNSET)
        o.enabled = rec->timelapse_enabled;
    if (rec->timelapse_mode[0])
        o.mode = pd_tl_mode_of(rec->timelapse_mode);
    if (rec->timelapse_interval_s != PD_REC_UNSET)
        o.interval_s = rec->timelapse_interval_s;
    if (rec->timelapse_fps != PD_REC_UNSET)
        o.fps = rec->timelapse_fps;
    return o;
}

size_t pd_tl_retain(const pd_tl_item *items, size_t n, const pd_tl_opts *o, int64_t now_s, bool *drop)
{
    size_t dropped = 0;
    int64_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        bytes += items[i].size;
        drop[i] = i > 0 && ((o->keep_count > 0 && i >= (size_t)o->keep_count) ||
                            (o->keep_days > 0 && now_s - items[i].created_s > (int64_t)o->keep_days * 86400) ||
                            (o->keep_bytes > 0 && bytes > o->keep_bytes));
        if (drop[i]) {
            bytes -= items[i].size;  /* gone: it takes no room from the older ones */
            dropped++;
        }
    }
    return dropped;
}

/* --- the capture -------------------------------------------------------------------------------- */

typedef struct capture capture;

struct pd_tl {
    uv_loop_t *loop;
    pd_bus *bus;
    pd_db *db;
    pd_fleet *fleet;
    pd_camera *cam;
    pd_work_pool *work;
    pd_tl_opts o;
    char dir[DIR_LEN];
    int sub;
    capture *caps;
    int pending;             /* captures and work under way: freed when none is left, once gone */
    bool gone;
};

struct capture {
    pd_tl *tl;
    capture *next;
    int64_t printer_id, job_id;
    pd_cam_viewer *viewer;
    pd_cam_frame *latest;
    uv_timer_t tick;         /* PD_TL_INTERVAL */
    pd_tl_opts o;            /* its printer's, as they were at the job's start */
    pd_tl_sched s;
    int64_t run_ms;          /* when this capture began (wall clock): its frames' names */
    int skipped;
    bool resumed;            /* frames of an earlier capture of the job may be in its spool */
    bool writing, ending, closed;
    char dir[PATH_LEN];
};

static void tl_release(pd_tl *t)
{
    if (--t->pending || !t->gone)
        return;
    free(t);
}

/* A frame's file or a whole spool directory gone; off the loop. */
static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[PATH_LEN + 64];
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.') {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
    if (d)
        closedir(d);
    rmdir(dir);
}

static void capture_release(capture *c)
{
    if (c->writing || !c->closed)
        return;
    pd_tl *t = c->tl;
    free(c);
    tl_release(t);
}

static void on_tick_closed(uv_handle_t *h)
{
    capture *c = h->data;
    c->closed = true;
    capture_release(c);
}

static void capture_unlink(capture *c)
{
    for (capture **p = &c->tl->caps; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            return;
        }
}

/* Stops taking frames: the viewer and the timer go; the capture itself once its write is done. */
static void capture_close(capture *c)
{
    capture_unlink(c);
    pd_camera_unwatch(&c->viewer);
    pd_cam_frame_unref(&c->latest);
    uv_timer_stop(&c->tick);
    uv_close((uv_handle_t *)&c->tick, on_tick_closed);
}

static void on_frame(pd_cam_frame *f, void *ud)
{
    capture *c = ud;
    pd_cam_frame_unref(&c->latest);
    c->latest = pd_cam_frame_ref(f);
    /* a timelapse keeps the latest only: it is never a slow viewer */
    pd_camera_ready(c->viewer);
}

static void on_drop(void *ud)
{
    capture *c = ud;
    c->viewer = NULL;  /* watched again at the next frame due */
}

static void watch(capture *c)
{
    static const pd_cam_viewer_cb cb = {on_frame, on_drop, 0};  /* frames as the camera sends them */
    pd_printer *p = c->viewer ? NULL : pd_fleet_find_id(c->tl->fleet, c->printer_id);
    if (p)
        pd_camera_watch(c->tl->cam, p, &cb, c, &c->viewer);
}

typedef struct frame_write {
    capture *c;
    pd_cam_frame *f;
    int index;
    bool ok;
} frame_write;

static void write_run(void *ud)
{
    frame_write *w = ud;
    /* named by the capture's start and the frame's number: a capture resumed after a restart
     * adds its frames after those already there, in name order (pd_mp4_assemble) */
    char path[PATH_LEN + 40];
    snprintf(path, sizeof path, "%s/%013lld-%06d.jpg", w->c->dir, (long long)w->c->run_ms, w->index);
    if (w->index == 0) {  /* the spool and the job's directory, made with the first frame */
        char spool[PATH_LEN];
        snprintf(spool, sizeof spool, "%s/spool", w->c->tl->dir);
        mkdir(w->c->tl->dir, 0700);
        mkdir(spool, 0700);
        mkdir(w->c->dir, 0700);
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    size_t at = 0;
    while (fd >= 0 && at < w->f->len) {
        ssize_t n = write(fd, w->f->data + at, w->f->len - at);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        at += (size_t)n;
    }
    w->ok = fd >= 0 && at == w->f->len;
    if (fd >= 0 && close(fd))
        w->ok = false;
}

static void capture_finish(capture *c);

static void write_done(void *ud, bool cancelled)
{
    frame_write *w = ud;
    capture *c = w->c;
    if (!w->ok && !cancelled)
        pd_warn(LOG, "job %lld: frame %d of its timelapse cannot be written to %s", (long long)c->job_id, w->index,
                c->dir);
    pd_cam_frame_unref(&w->f);
    free(w);
    c->writing = false;
    if (c->ending)
        capture_finish(c);
    else
        capture_release(c);
}

/* A moment a frame may be due at: a layer (>= 0) or an interval tick (-1). */
static void capture_moment(capture *c, int layer)
{
    if (c->ending)
        return;
    watch(c);  /* after a drop: the hub reconnects the upstream while it is wanted */
    uint64_t now = uv_now(c->tl->loop);
    pd_tl_verdict v = pd_tl_due(&c->o, &c->s, layer, now, c->latest ? c->latest->at_ms : 0);
    if (v == PD_TL_NOT_DUE || v == PD_TL_FULL)
        return;
    frame_write *w = v == PD_TL_TAKE && !c->writing ? calloc(1, sizeof *w) : NULL;
    if (!w) {
        c->skipped++;
        return;
    }
    *w = (frame_write){.c = c, .f = pd_cam_frame_ref(c->latest), .index = c->s.taken};
    if (pd_work_submit(c->tl->work, write_run, write_done, w)) {
        pd_cam_frame_unref(&w->f);
        free(w);
        c->skipped++;
        return;
    }
    c->writing = true;
    c->s.taken++;
}

static void on_tick(uv_timer_t *h) { capture_moment(h->data, -1); }

static capture *capture_find(pd_tl *t, int64_t printer_id)
{
    for (capture *c = t->caps; c; c = c->next)
        if (c->printer_id == printer_id)
            return c;
    return NULL;
}

static void capture_begin(pd_tl *t, int64_t printer_id, int64_t job_id, bool resumed)
{
    pd_printer *p = pd_fleet_find_id(t->fleet, printer_id);
    pd_tl_opts o = p ? pd_tl_printer_opts(&t->o, pd_printer_rec_get(p)) : t->o;
    char why[256];
    if (p && !o.enabled)
        snprintf(why, sizeof why, "switched off (%s)",
                 pd_printer_rec_get(p)->timelapse_enabled == PD_REC_UNSET ? "[timelapse] enabled" : "timelapse_enabled");
    if (!p || !o.enabled || pd_camera_usable(t->cam, p, why, sizeof why)) {
        pd_debug(LOG, "job %lld: no timelapse: %s", (long long)job_id, p ? why : "no such printer");
        return;
    }
    capture *c = calloc(1, sizeof *c);
    if (!c) {
        pd_warn(LOG, "job %lld: no timelapse: out of memory", (long long)job_id);
        return;
    }
    c->tl = t;
    c->o = o;
    c->printer_id = printer_id;
    c->job_id = job_id;
    c->resumed = resumed;
    c->run_ms = pd_clock_wall_ms();
    snprintf(c->dir, sizeof c->dir, "%s/spool/%lld", t->dir, (long long)job_id);
    uv_timer_init(t->loop, &c->tick);
    c->tick.data = c;
    c->next = t->caps;
    t->caps = c;
    t->pending++;
    if (o.mode == PD_TL_INTERVAL)
        uv_timer_start(&c->tick, on_tick, (uint64_t)o.interval_s * 1000, (uint64_t)o.interval_s * 1000);
    watch(c);
    pd_info(LOG, "job %lld: timelapse %s (%s)", (long long)job_id, resumed ? "resumed" : "started",
            o.mode == PD_TL_LAYER ? "a frame per layer" : "a frame per interval");
}

/* --- assembly, off the loop ---------------------------------------------------------------------- */

typedef struct assembly {
    pd_tl *tl;
    int64_t printer_id, job_id, created_s;
    char dir[PATH_LEN], file[64], out[PATH_LEN + 64];
    pd_mp4_opts mo;
    pd_mp4_info info;
    pd_err rc;
    char why[256];
} assembly;

static void assemble_run(void *ud)
{
    assembly *a = ud;
    a->rc = pd_mp4_assemble(a->dir, ASSEMBLE_MAX, a->out, &a->mo, &a->info, a->why, sizeof a->why);
    remove_dir(a->dir);
}

static void retain(pd_tl *t);

static void assemble_done(void *ud, bool cancelled)
{
    assembly *a = ud;
    pd_tl *t = a->tl;
    if (cancelled) {
        pd_warn(LOG, "job %lld: its timelapse was not assembled: printdeck is stopping (the frames stay in %s)",
                (long long)a->job_id, a->dir);
    } else if (a->rc) {
        pd_warn(LOG, "job %lld: no timelapse: %s", (long long)a->job_id, a->why);
    } else {
        /* a printer removed meanwhile is no printer of the row (the fleet is gone too once
         * printdeck stops, but then no printer was removed) */
        bool printer = a->printer_id && (t->gone || pd_fleet_find_id(t->fleet, a->printer_id));
        pd_sqlv v[] = {PD_SQL_I(a->job_id), printer ? PD_SQL_I(a->printer_id) : PD_SQL_NUL, PD_SQL_S(a->file),
                       PD_SQL_I(a->info.size), PD_SQL_I(a->info.frames), PD_SQL_I((int64_t)(a->info.duration_s * 1000)),
                       PD_SQL_I(a->mo.fps), PD_SQL_I(a->info.width), PD_SQL_I(a->info.height),
                       PD_SQL_S(a->info.codec), PD_SQL_I(a->created_s)};
        int64_t id;
        pd_err rc = pd_db_insert(t->db, "INSERT INTO timelapse (job_id, printer_id, file, size, frames, duration_ms, "
                                 "fps, width, height, codec, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                                 v, sizeof v / sizeof v[0], &id);
        if (rc) {
            pd_warn(LOG, "job %lld: its timelapse cannot be recorded: %s", (long long)a->job_id, pd_strerror(rc));
            unlink(a->out);
        } else {
            pd_info(LOG, "job %lld: timelapse %lld, %d frames, %s %dx%d, %lld bytes", (long long)a->job_id,
                    (long long)id, a->info.frames, a->info.codec, a->info.width, a->info.height,
                    (long long)a->info.size);
            pd_jobs_announce(t->db, t->bus, a->job_id, "updated");
            if (!t->gone)  /* the worker pool may be gone too: the next start applies it */
                retain(t);
        }
    }
    free(a);
    tl_release(t);
}

/* The frames in dir become job_id's video at fps, in the worker pool. */
static void assemble_submit(pd_tl *t, int64_t job_id, int64_t printer_id, int fps, const char *dir)
{
    assembly *a = calloc(1, sizeof *a);
    if (!a)
        return;
    *a = (assembly){.tl = t, .printer_id = printer_id, .job_id = job_id, .created_s = pd_clock_wall_ms() / 1000,
                    .mo = {.fps = fps, .width = t->o.width, .height = t->o.height}};
    snprintf(a->dir, sizeof a->dir, "%s", dir);
    snprintf(a->file, sizeof a->file, "job-%lld-%lld.mp4", (long long)job_id, (long long)a->created_s);
    snprintf(a->out, sizeof a->out, "%s/%s", t->dir, a->file);
    t->pending++;
    if (pd_work_submit(t->work, assemble_run, assemble_done, a)) {
        pd_warn(LOG, "job %lld: its timelapse cannot be assembled now: the worker pool is full (the frames stay "
                "in %s until printdeck starts again)", (long long)job_id, dir);
        t->pending--;
        free(a);
    }
}

/* The job ended (or printdeck stops): its frames become a video once the last write is done. */
static void capture_finish(capture *c)
{
    pd_tl *t = c->tl;
    c->ending = true;
    if (c->writing)
        return;
    if ((c->s.taken || c->resumed) && !t->gone)
        assemble_submit(t, c->job_id, c->printer_id, c->o.fps, c->dir);
    if (c->skipped)
        pd_info(LOG, "job %lld: %d timelapse frames skipped (no fresh frame from the camera, or the last one "
                "still being written)", (long long)c->job_id, c->skipped);
    capture_release(c);
}

static void capture_end(capture *c)
{
    capture_close(c);
    capture_finish(c);
}

static void on_event(const pd_event *ev, void *ud)
{
    pd_tl *t = ud;
    capture *c = ev->printer_id > 0 ? capture_find(t, ev->printer_id) : NULL;
    if (ev->type == PD_EV_LAYER) {
        if (c)
            capture_moment(c, ev->u.layer.layer);
        return;
    }
    if (ev->type == PD_EV_PRINTER_REMOVED) {  /* what it took so far becomes its job's video */
        if (c)
            capture_end(c);
        return;
    }
    if (ev->type != PD_EV_JOB || ev->printer_id <= 0)
        return;
    const char *change = ev->u.job.change;
    bool started = !strcmp(change, "started");
    /* a job closed as unknown while its printer was away comes back, still printing */
    bool back = !strcmp(change, "resumed") && (!c || c->job_id != ev->u.job.id);
    if (c && (started || back || (!strcmp(change, "ended") && c->job_id == ev->u.job.id)))
        capture_end(c);
    if (started || back)
        capture_begin(t, ev->printer_id, ev->u.job.id, back);
}

/* --- after a restart ------------------------------------------------------------------------------ */

static pd_err open_job_row(const pd_row *row, void *ud)
{
    capture_begin(ud, pd_row_int(row, 1), pd_row_int(row, 0), true);
    return PD_OK;
}

typedef struct spool_job {
    bool found, ended, has_video;
    int64_t printer_id;
} spool_job;

static pd_err spool_job_row(const pd_row *row, void *ud)
{
    spool_job *j = ud;
    *j = (spool_job){.found = true, .ended = !pd_row_null(row, 0), .has_video = pd_row_int(row, 1) > 0,
                     .printer_id = pd_row_null(row, 2) ? 0 : pd_row_int(row, 2)};
    return PD_OK;
}

/* Before the loop runs: the jobs still open take frames again (they are still printing, or
 * their end comes with the printer's first report), and the frames of a job that ended while
 * printdeck was stopped, or whose assembly was cut short, become its video now. */
static void recover(pd_tl *t)
{
    pd_err rc = pd_db_query(t->db, "SELECT id, printer_id FROM job WHERE ended_at IS NULL AND origin = 'printer' "
                                   "AND printer_id IS NOT NULL", NULL, 0, open_job_row, t);
    if (rc)
        pd_warn(LOG, "cannot list the open jobs: %s", pd_strerror(rc));
    char spool[DIR_LEN + 8], dir[PATH_LEN];
    snprintf(spool, sizeof spool, "%s/spool", t->dir);
    DIR *d = opendir(spool);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char *end;
        long long id = strtoll(e->d_name, &end, 10);
        if (e->d_name[0] < '1' || e->d_name[0] > '9' || *end)
            continue;
        bool open = false;
        for (capture *c = t->caps; c && !open; c = c->next)
            open = c->job_id == id;
        spool_job j = {0};
        pd_sqlv v = PD_SQL_I(id);
        snprintf(dir, sizeof dir, "%s/%lld", spool, id);
        if (open || pd_db_query(t->db, "SELECT ended_at, (SELECT count(*) FROM timelapse WHERE job_id = job.id), "
                                       "printer_id FROM job WHERE id = ?", &v, 1, spool_job_row, &j))
            continue;
        pd_printer *p = j.found ? pd_fleet_find_id(t->fleet, j.printer_id) : NULL;
        if (j.found && !j.has_video)
            assemble_submit(t, id, j.printer_id, p ? pd_tl_printer_opts(&t->o, pd_printer_rec_get(p)).fps : t->o.fps, dir);
        else
            remove_dir(dir);  /* a job deleted, or one whose video exists */
    }
    if (d)
        closedir(d);
}

/* --- retention ------------------------------------------------------------------------------------ */

/* Timelapses the retention reads at most: far more than a disk holds. */
#define RETAIN_MAX_ROWS 1000000

typedef char file_name[64];

typedef struct tl_rows {
    pd_buf items, files;     /* pd_tl_item, file_name: one each per row */
} tl_rows;

static pd_err retain_row(const pd_row *row, void *ud)
{
    tl_rows *r = ud;
    pd_tl_item it = {pd_row_int(row, 0), pd_row_int(row, 1), pd_row_int(row, 2)};
    file_name f;
    snprintf(f, sizeof f, "%s", pd_row_text(row, 3));
    pd_err rc = pd_buf_add(&r->items, &it, sizeof it);
    return rc ? rc : pd_buf_add(&r->files, f, sizeof f);
}

typedef struct unlinks {
    char dir[PATH_LEN];
    size_t n;
    file_name *files;
} unlinks;

static void unlink_run(void *ud)
{
    unlinks *u = ud;
    char path[PATH_LEN + 64];
    for (size_t i = 0; i < u->n; i++) {
        snprintf(path, sizeof path, "%s/%s", u->dir, u->files[i]);
        if (unlink(path) && errno != ENOENT)
            pd_warn(LOG, "cannot delete %s: %s", path, strerror(errno));
    }
}

static void unlink_done(void *ud, bool cancelled)
{
    unlinks *u = ud;
    (void)cancelled;
    free(u->files);
    free(u);
}

/* The files of rows just deleted go in the worker pool; when it is full, here (a few
 * unlinks rather than files left for good). The array is taken over. */
static void unlink_files(pd_tl *t, file_name *files, size_t n)
{
    unlinks *u = malloc(sizeof *u);
    if (!u) {
        free(files);
        return;
    }
    snprintf(u->dir, sizeof u->dir, "%s", t->dir);
    u->files = files;
    u->n = n;
    if (pd_work_submit(t->work, unlink_run, unlink_done, u)) {
        unlink_run(u);
        unlink_done(u, false);
    }
}

static void retain(pd_tl *t)
{
    if (!t->o.keep_count && !t->o.keep_days && !t->o.keep_bytes)
        return;
    tl_rows r;
    pd_buf_init(&r.items, RETAIN_MAX_ROWS * sizeof(pd_tl_item));
    pd_buf_init(&r.files, RETAIN_MAX_ROWS * sizeof(file_name));
    pd_err rc = pd_db_query(t->db, "SELECT id, created_at, size, file FROM timelapse ORDER BY created_at DESC, id DESC",
                            NULL, 0, retain_row, &r);
    size_t n = pd_buf_len(&r.items) / sizeof(pd_tl_item), k = 0, len;
    pd_tl_item *items = (pd_tl_item *)pd_buf_ptr(&r.items);
    file_name *files = n ? (file_name *)pd_buf_detach(&r.files, &len) : NULL;
    bool *drop = !rc && n ? calloc(n, sizeof *drop) : NULL;
    if (drop && pd_tl_retain(items, n, &t->o, pd_clock_wall_ms() / 1000, drop)) {
        for (size_t i = 0; i < n; i++) {
            pd_sqlv v = PD_SQL_I(items[i].id);
            if (drop[i] && !pd_db_run(t->db, "DELETE FROM timelapse WHERE id = ?", &v, 1, NULL))
                memcpy(files[k++], files[i], sizeof(file_name));
        }
        pd_info(LOG, "retention: %zu timelapse(s) deleted", k);
    }
    if (rc)
        pd_warn(LOG, "retention: cannot list the timelapses: %s", pd_strerror(rc));
    free(drop);
    pd_buf_free(&r.items);
    pd_buf_free(&r.files);
    if (k)
        unlink_files(t, files, k);
    else
        free(files);
}

/* --- lifecycle ---------------------------------------------------------------------------------------- */

pd_err pd_tl_start(pd_tl **out, uv_loop_t *loop, pd_bus *bus, pd_db *db, pd_fleet *fleet, pd_camera *cam,
                   pd_work_pool *work, const pd_tl_opts *o)
{
    *out = NULL;
    pd_tl *t = calloc(1, sizeof *t);
    if (!t)
        return PD_ERR_NOMEM;
    *t = (pd_tl){.loop = loop, .bus = bus, .db = db, .fleet = fleet, .cam = cam, .work = work, .o = *o, .pending = 1};
    snprintf(t->dir, sizeof t->dir, "%s", o->dir);
    t->o.dir = t->dir;
    /* [timelapse] enabled = false still serves the printers that switch it on for themselves */
    if (!(t->sub = pd_bus_subscribe(bus, PD_EV_JOB | PD_EV_LAYER | PD_EV_PRINTER_REMOVED, on_event, t))) {
        free(t);
        return PD_ERR_NOMEM;
    }
    recover(t);
    retain(t);
    *out = t;
    return PD_OK;
}

void pd_tl_stop(pd_tl **tp)
{
    pd_tl *t = *tp;
    *tp = NULL;
    if (!t)
        return;
    if (t->sub)
        pd_bus_unsubscribe(t->bus, t->sub);
    while (t->caps) {
        capture *c = t->caps;
        pd_info(LOG, "job %lld: timelapse stopped with printdeck (%d frames stay in %s)", (long long)c->job_id,
                c->s.taken, c->dir);
        c->ending = true;
        capture_close(c);
        capture_release(c);
    }
    t->gone = true;
    tl_release(t);
}

/* --- the rows ---------------------------------------------------------------------------------------------- */

static const pd_inv_col cols[] = {
    {"id", "t.id", PD_INV_COL_INT},         {"job_id", "t.job_id", PD_INV_COL_INT},
    {"printer_id", "t.printer_id", PD_INV_COL_INT}, {"size", "t.size", PD_INV_COL_INT},
    {"frames", "t.frames", PD_INV_COL_INT}, {"duration_s", "t.duration_ms", PD_INV_COL_INT},
    {"fps", "t.fps", PD_INV_COL_INT},       {"width", "t.width", PD_INV_COL_INT},
    {"height", "t.height", PD_INV_COL_INT}, {"codec", "t.codec", PD_INV_COL_TEXT},
    {"created_at", "t.created_at", PD_INV_COL_TIME},
};
#define NCOLS (sizeof cols / sizeof cols[0])
#define COL_DURATION 5

static const char cols_sql[] = "t.id, t.job_id, t.printer_id, t.size, t.frames, t.duration_ms, t.fps, t.width, "
                               "t.height, t.codec, t.created_at";

/* duration_s rather than the stored ms, and the video's URL */
static pd_err fetch_row(const pd_row *row, void *ud)
{
    json_t *o = json_object();
    for (size_t i = 0; i < NCOLS; i++)
        if (i != COL_DURATION)
            json_object_set_new(o, cols[i].name, pd_inv_col_json(&cols[i], row, (int)i));
    json_object_set_new(o, "duration_s", json_real((double)pd_row_int(row, COL_DURATION) / 1000));
    char url[64];
    snprintf(url, sizeof url, "/api/v1/timelapses/%lld/video", (long long)pd_row_int(row, 0));
    json_object_set_new(o, "url", json_string(url));
    return json_array_append_new(ud, o) ? PD_ERR_NOMEM : PD_OK;
}

static pd_err table_fetch(pd_db *db, const pd_sqlb *b, json_t *rows, bool csv)
{
    (void)csv;
    return pd_db_query(db, b->sql, b->args, b->nargs, fetch_row, rows);
}

static const pd_inv_filter filters[] = {
    {"printer_id", "printer", "t.printer_id", PD_INV_F_IDS_NULL},
    {"job_id", "job", "t.job_id", PD_INV_F_IDS_NULL},
    {"created_at", "date", "t.created_at", PD_INV_F_DATES},
};

static bool sort_expr(void *ud, const char *field, char *out, size_t outlen)
{
    (void)ud;
    return pd_inv_col_sort(cols, NCOLS, field, out, outlen);
}

static const char *const csv_cols[] = {"id", "job_id", "printer_id", "size", "frames", "duration_s", "fps",
                                       "width", "height", "codec", "created_at"};

static const pd_inv_table tl_table = {
    .alias = "t", .from = " FROM timelapse t", .cols = cols_sql, .filters = filters,
    .nfilters = sizeof filters / sizeof filters[0], .sort_expr = sort_expr, .default_sort = "id:desc",
    .fetch = table_fetch, .csv_cols = csv_cols, .ncsv = sizeof csv_cols / sizeof csv_cols[0], .csv_decimals = 3,
};

pd_err pd_tl_list_open(pd_inv *inv, const pd_inv_param *p, size_t n, bool csv, pd_inv_cursor **out,
                       pd_inv_err *e)
{
    return pd_inv_table_open(inv, &tl_table, p, n, csv, out, e);
}

pd_err pd_tl_get(pd_db *db, int64_t id, json_t **out)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT %s FROM timelapse t WHERE t.id = ?", cols_sql);
    pd_sqlv v = PD_SQL_I(id);
    json_t *rows = json_array();
    pd_err rc = rows ? pd_db_query(db, sql, &v, 1, fetch_row, rows) : PD_ERR_NOMEM;
    if (!rc && !json_array_size(rows))
        rc = PD_ERR_NOTFOUND;
    if (!rc)
        *out = json_incref(json_array_get(rows, 0));
    json_decref(rows);
    return rc;
}

typedef struct video_row {
    bool found;
    int64_t id, size, printer_id;
    char file[64];
} video_row;

static pd_err video_fetch(const pd_row *row, void *ud)
{
    video_row *v = ud;
    v->found = true;
    v->id = pd_row_int(row, 0);
    snprintf(v->file, sizeof v->file, "%s", pd_row_text(row, 1));
    v->size = pd_row_int(row, 2);
    v->printer_id = pd_row_null(row, 3) ? 0 : pd_row_int(row, 3);
    return PD_OK;
}

static pd_err video_row_get(pd_db *db, int64_t id, bool by_job, video_row *v)
{
    pd_sqlv a = PD_SQL_I(id);
    pd_err rc = pd_db_query(db, by_job ? "SELECT id, file, size, printer_id FROM timelapse WHERE job_id = ? "
                                         "ORDER BY id DESC LIMIT 1"
                                       : "SELECT id, file, size, printer_id FROM timelapse WHERE id = ?",
                            &a, 1, video_fetch, v);
    return rc ? rc : v->found ? PD_OK : PD_ERR_NOTFOUND;
}

pd_err pd_tl_video(pd_db *db, const char *dir, int64_t id, bool by_job, char *path, size_t pathlen,
                   int64_t *size, int64_t *printer_id)
{
    video_row v = {0};
    pd_err rc = video_row_get(db, id, by_job, &v);
    if (rc)
        return rc;
    snprintf(path, pathlen, "%s/%s", dir, v.file);
    *size = v.size;
    *printer_id = v.printer_id;
    return PD_OK;
}

pd_err pd_tl_delete(pd_tl *t, int64_t id)
{
    video_row v = {0};
    pd_err rc = video_row_get(t->db, id, false, &v);
    pd_sqlv a = PD_SQL_I(id);
    if (!rc)
        rc = pd_db_run(t->db, "DELETE FROM timelapse WHERE id = ?", &a, 1, NULL);
    file_name *files = rc ? NULL : malloc(sizeof *files);
    if (files) {
        memcpy(files[0], v.file, sizeof v.file);
        unlink_files(t, files, 1);
    }
    return rc;
}
