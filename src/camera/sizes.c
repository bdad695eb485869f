#include "camera/sizes.h"

#include <stdbool.h>
#include <stdlib.h>

#include "camera/decode.h"
#include "core/log.h"

const int pd_cam_widths[PD_CAM_NWIDTHS] = {320, 480, 640, 800, 960, 1280};

typedef struct job job;

typedef struct size {
    unsigned wanted;          /* viewers of this width */
    pd_cam_frame *latest;     /* made */
    pd_cam_frame *next;       /* the source frame waiting for the job running */
    job *running;
} size;

struct pd_cam_sizes {
    pd_work_pool *pool;
    uint64_t *dropped;
    void (*ready)(int width, void *ud);
    void *ud;
    size v[PD_CAM_NWIDTHS];
    int jobs;                 /* in the pool; the sizes are freed after the last */
    bool gone;
};

struct job {
    pd_cam_sizes *s;
    int i;                    /* which width */
    pd_cam_frame *src;        /* a reference of the loop's, only read on the worker */
    pd_cam_frame *out;
    pd_err rc;
    char why[200];
};

int pd_cam_width_pick(long asked)
{
    int w = 0;
    for (int i = 0; i < PD_CAM_NWIDTHS; i++)
        if (pd_cam_widths[i] <= asked)
            w = pd_cam_widths[i];
    return w;
}

static int width_index(int width)
{
    for (int i = 0; i < PD_CAM_NWIDTHS; i++)
        if (pd_cam_widths[i] == width)
            return i;
    return -1;
}

pd_err pd_cam_sizes_new(pd_work_pool *pool, uint64_t *dropped,
                        void (*ready)(int width, void *ud), void *ud, pd_cam_sizes **out)
{
    pd_cam_sizes *s = calloc(1, sizeof *s);
    if (!s)
        return PD_ERR_NOMEM;
    *s = (pd_cam_sizes){.pool = pool, .dropped = dropped, .ready = ready, .ud = ud};
    *out = s;
    return PD_OK;
}

void pd_cam_sizes_clear(pd_cam_sizes *s)
{
    for (int i = 0; i < PD_CAM_NWIDTHS; i++) {
        pd_cam_frame_unref(&s->v[i].latest);
        pd_cam_frame_unref(&s->v[i].next);
    }
}

void pd_cam_sizes_free(pd_cam_sizes **sp)
{
    pd_cam_sizes *s = *sp;
    *sp = NULL;
    if (!s)
        return;
    pd_cam_sizes_clear(s);
    s->gone = true;
    if (!s->jobs)
        free(s);
}

static void job_run(void *ud)
{
    job *j = ud;
    j->rc = pd_cam_jpeg_scale(j->src->data, j->src->len, pd_cam_widths[j->i], &j->out, j->why,
                              sizeof j->why);
}

static void start(pd_cam_sizes *s, int i, pd_cam_frame *src);

static void job_done(void *ud, bool cancelled)
{
    job *j = ud;
    pd_cam_sizes *s = j->s;
    size *z = &s->v[j->i];
    s->jobs--;
    z->running = NULL;
    if (s->gone || cancelled || !z->wanted) {  /* its last viewer left meanwhile */
        pd_cam_frame_unref(&j->out);
    } else if (j->rc) {
        (*s->dropped)++;
        pd_debug("camera", "a frame made %d across: %s", pd_cam_widths[j->i], j->why);
    } else {
        /* no frame out: the picture is that narrow already, and goes as it is */
        pd_cam_frame *f = j->out ? j->out : pd_cam_frame_ref(j->src);
        f->seq = j->src->seq;
        f->at_ms = j->src->at_ms;
        pd_cam_frame_unref(&z->latest);
        z->latest = f;
    }
    pd_cam_frame_unref(&j->src);
    int i = j->i;
    bool made = !s->gone && !cancelled && !j->rc && z->wanted;
    free(j);
    if (s->gone) {
        if (!s->jobs)
            free(s);
        return;
    }
    if (z->next && z->wanted) {
        pd_cam_frame *next = z->next;
        z->next = NULL;
        start(s, i, next);
    }
    if (made)
        s->ready(pd_cam_widths[i], s->ud);
}

/* src: a reference, handed over. */
static void start(pd_cam_sizes *s, int i, pd_cam_frame *src)
{
    job *j = calloc(1, sizeof *j);
    if (j) {
        *j = (job){.s = s, .i = i, .src = src};
        if (!pd_work_submit(s->pool, job_run, job_done, j)) {
            s->v[i].running = j;
            s->jobs++;
            return;
        }
    }
    /* the pool is full of other cameras' work: this size skips the frame */
    (*s->dropped)++;
    free(j);
    pd_cam_frame_unref(&src);
}

void pd_cam_sizes_frame(pd_cam_sizes *s, pd_cam_frame *src)
{
    for (int i = 0; i < PD_CAM_NWIDTHS; i++) {
        size *z = &s->v[i];
        if (!z->wanted)
            continue;
        if (z->running) {
            pd_cam_frame_unref(&z->next);
            z->next = pd_cam_frame_ref(src);
        } else {
            start(s, i, pd_cam_frame_ref(src));
        }
    }
}

void pd_cam_sizes_want(pd_cam_sizes *s, int width)
{
    int i = width_index(width);
    if (i >= 0 && !s->v[i].wanted++)
        pd_cam_frame_unref(&s->v[i].latest);
}

void pd_cam_sizes_unwant(pd_cam_sizes *s, int width)
{
    int i = width_index(width);
    if (i < 0 || !s->v[i].wanted || --s->v[i].wanted)
        return;
    pd_cam_frame_unref(&s->v[i].next);
}

void pd_cam_sizes_make(pd_cam_sizes *s, int width, pd_cam_frame *src)
{
    int i = width_index(width);
    if (i >= 0 && s->v[i].wanted && !s->v[i].running)
        start(s, i, pd_cam_frame_ref(src));
}

pd_cam_frame *pd_cam_sizes_latest(pd_cam_sizes *s, int width)
{
    int i = width_index(width);
    return i < 0 ? NULL : s->v[i].latest;
}
