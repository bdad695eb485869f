/* A bounded worker pool on libuv's threadpool (uv_queue_work), for work that would block the
 * loop: parsing a large file, image work. At most max_running jobs run at once, and main.c
 * sizes the threadpool (UV_THREADPOOL_SIZE) to max_running + the database readers + 2, so
 * libuv's own file work and a ca_file read always find a thread; at most max_queued wait;
 * past that a submit is refused (BUSY), which the API turns into a 503 rather than a queue
 * that grows without end. run happens on a worker thread and must touch no loop state; done
 * happens on the loop afterwards. */
#ifndef PD_WORK_H
#define PD_WORK_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "core/err.h"

typedef struct pd_work_pool pd_work_pool;

pd_err pd_work_pool_new(uv_loop_t *loop, int max_running, int max_queued, pd_work_pool **out);
/* Jobs still queued get done(ud, true) at once, without running; running ones finish and get
 * done(ud, false) as usual, after which the pool frees itself (the loop must run until then).
 * NULLs *p. */
void pd_work_pool_free(pd_work_pool **p);
/* BUSY when max_running run and max_queued wait; NOMEM. On success done is called exactly
 * once, later, on the loop and never before pd_work_submit has returned (the caller may
 * finish setting ud up after it): cancelled is true when the job never ran (pool freed). */
pd_err pd_work_submit(pd_work_pool *p, void (*run)(void *ud),
                      void (*done)(void *ud, bool cancelled), void *ud);
void pd_work_counts(const pd_work_pool *p, size_t *running, size_t *queued);

#endif
