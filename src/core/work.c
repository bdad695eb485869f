#include "core/work.h"

#include <stdlib.h>

typedef struct job {
    uv_work_t req;
    pd_work_pool *pool;
    void (*run)(void *ud);
    void (*done)(void *ud, bool cancelled);
    void *ud;
    struct job *next;
} job;

struct pd_work_pool {
    uv_loop_t *loop;
    size_t max_running, max_queued;
    size_t running, queued;
    job *head, *tail;   /* waiting, oldest first */
    bool freed;         /* pd_work_pool_free was called: gone once nothing runs */
};

pd_err pd_work_pool_new(uv_loop_t *loop, int max_running, int max_queued, pd_work_pool **out)
{
    if (max_running < 1 || max_queued < 0)
        return PD_ERR_INVAL;
    pd_work_pool *p = calloc(1, sizeof *p);
    if (!p)
        return PD_ERR_NOMEM;
    p->loop = loop;
    p->max_running = (size_t)max_running;
    p->max_queued = (size_t)max_queued;
    *out = p;
    return PD_OK;
}

static void work_run(uv_work_t *w)
{
    job *j = w->data;
    j->run(j->ud);
}

static void start_next(pd_work_pool *p);

static void work_after(uv_work_t *w, int status)
{
    job *j = w->data;
    pd_work_pool *p = j->pool;
    p->running--;
    j->done(j->ud, status == UV_ECANCELED);
    free(j);
    if (p->freed && !p->running)
        free(p);
    else
        start_next(p);
}

/* Runs on the loop after a job ended, never inside a caller's pd_work_submit: a job that
 * cannot be queued gets its done(cancelled) here. A loop, not a recursion, whatever the queue
 * holds. */
static void start_next(pd_work_pool *p)
{
    while (p->head && p->running < p->max_running) {
        job *j = p->head;
        p->head = j->next;
        if (!p->head)
            p->tail = NULL;
        p->queued--;
        j->req.data = j;
        if (uv_queue_work(p->loop, &j->req, work_run, work_after)) {
            j->done(j->ud, true);
            free(j);
            continue;
        }
        p->running++;
    }
}

pd_err pd_work_submit(pd_work_pool *p, void (*run)(void *ud),
                      void (*done)(void *ud, bool cancelled), void *ud)
{
    if (p->running >= p->max_running && p->queued >= p->max_queued)
        return PD_ERR_BUSY;
    job *j = calloc(1, sizeof *j);
    if (!j)
        return PD_ERR_NOMEM;
    *j = (job){.pool = p, .run = run, .done = done, .ud = ud};
    if (p->running < p->max_running) {
        /* started here, so a failure is this call's error: done never runs inside submit */
        j->req.data = j;
        if (uv_queue_work(p->loop, &j->req, work_run, work_after)) {
            free(j);
            return PD_ERR_INTERNAL;
        }
        p->running++;
        return PD_OK;
    }
    if (p->tail)
        p->tail->next = j;
    else
        p->head = j;
    p->tail = j;
    p->queued++;
    return PD_OK;
}

void pd_work_counts(const pd_work_pool *p, size_t *running, size_t *queued)
{
    *running = p->running;
    *queued = p->queued;
}

void pd_work_pool_free(pd_work_pool **pp)
{
    pd_work_pool *p = *pp;
    if (!p)
        return;
    *pp = NULL;
    while (p->head) {
        job *j = p->head;
        p->head = j->next;
        j->done(j->ud, true);
        free(j);
    }
    p->tail = NULL;
    p->queued = 0;
    p->freed = true;
    if (!p->running)
        free(p);
}
