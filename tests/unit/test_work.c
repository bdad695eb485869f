/* Callbacks that must come on the loop after the call returned: the worker pool (core/work)
 * and the FTPS requests (files/ftps) when a request cannot even start. Real libuv loops. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/work.h"
#include "files/ftps.h"

/* --- the worker pool ------------------------------------------------------------------- */

typedef struct job_seen {
    bool submitted;          /* pd_work_submit has returned */
    bool ran, done, cancelled, done_before_return;
} job_seen;

static void job_run(void *ud) { ((job_seen *)ud)->ran = true; }

static void job_done(void *ud, bool cancelled)
{
    job_seen *j = ud;
    j->done_before_return |= !j->submitted;
    j->done = true;
    j->cancelled = cancelled;
}

static void pool_bounds_and_order(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    pd_work_pool *p;
    assert_int_equal(pd_work_pool_new(&loop, 1, 2, &p), PD_OK);
    job_seen j[4] = {0};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(pd_work_submit(p, job_run, job_done, &j[i]), PD_OK);
        j[i].submitted = true;
        assert_false(j[i].done);
    }
    /* one runs, two wait: the fourth is refused, and nothing of it runs */
    assert_int_equal(pd_work_submit(p, job_run, job_done, &j[3]), PD_ERR_BUSY);
    size_t running, queued;
    pd_work_counts(p, &running, &queued);
    assert_int_equal(running, 1);
    assert_int_equal(queued, 2);
    uv_run(&loop, UV_RUN_DEFAULT);
    for (int i = 0; i < 3; i++) {
        assert_true(j[i].ran && j[i].done && !j[i].cancelled);
        assert_false(j[i].done_before_return);
    }
    assert_false(j[3].ran || j[3].done);
    /* freed with jobs waiting: those are done(cancelled) without running */
    job_seen k[3] = {0};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(pd_work_submit(p, job_run, job_done, &k[i]), PD_OK);
        k[i].submitted = true;
    }
    pd_work_pool_free(&p);
    assert_null(p);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_true(k[0].ran && k[0].done && !k[0].cancelled);
    assert_true(!k[1].ran && k[1].done && k[1].cancelled);
    assert_true(!k[2].ran && k[2].done && k[2].cancelled);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* --- FTPS requests that fail ---------------------------------------------------------------- */

#define MANY 200

typedef struct fetch_seen {
    bool returned;
    int calls, early;
    pd_err rc;
    char why[256];
} fetch_seen;

static void fetched(pd_err rc, const char *why, const char *path, int64_t size, void *ud)
{
    (void)path;
    (void)size;
    fetch_seen *s = ud;
    s->early += !s->returned;
    s->calls++;
    s->rc = rc;
    snprintf(s->why, sizeof s->why, "%s", why ? why : "");
}

/* Each request here fails (nothing listens on port 1): every callback still comes on a later
 * turn, once, and none made a temporary file - the directory for them is gone, which matters
 * only once a byte arrives. */
static void ftps_failures_come_later(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    char dir[] = "/tmp/pd-ftps-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char tmp[sizeof dir + 8];
    snprintf(tmp, sizeof tmp, "%s/tmp", dir);
    pd_ftps_opts o = {.max_active = 8, .max_per_printer = 8, .max_queued = MANY,
                      .connect_timeout_s = 1, .stall_s = 1, .timeout_s = 1, .max_file = 1 << 20,
                      .max_listing = 1 << 20, .max_entries = 100, .tmp_dir = tmp};
    pd_ftps *f;
    assert_int_equal(pd_ftps_new(&loop, NULL, &o, &f), PD_OK);
    assert_int_equal(rmdir(tmp), 0);
    pd_printer_rec rec = {.id = 1, .host = "127.0.0.1", .ftps_port = 1, .serial = "S"};
    fetch_seen *seen = calloc(MANY, sizeof *seen);
    assert_non_null(seen);
    for (int i = 0; i < MANY; i++) {
        const char *why = NULL;
        assert_int_equal(pd_ftps_fetch(f, &rec, "/a.3mf", 0, fetched, &seen[i], NULL, &why), PD_OK);
        seen[i].returned = true;
        assert_int_equal(seen[i].calls, 0);
    }
    int done = 0;
    for (int turn = 0; turn < 100000 && done < MANY; turn++) {
        uv_run(&loop, UV_RUN_ONCE);
        done = 0;
        for (int i = 0; i < MANY; i++)
            done += seen[i].calls > 0;
    }
    for (int i = 0; i < MANY; i++) {
        assert_int_equal(seen[i].calls, 1);
        assert_int_equal(seen[i].early, 0);
        assert_int_equal(seen[i].rc, PD_ERR_OFFLINE);
        assert_non_null(strstr(seen[i].why, "cannot connect"));
    }
    /* a cancel inside pd_ftps_cancel's caller is quiet too */
    fetch_seen one = {0};
    uint64_t h;
    assert_int_equal(pd_ftps_fetch(f, &rec, "/b.3mf", 0, fetched, &one, &h, NULL), PD_OK);
    pd_ftps_cancel(f, h);
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(one.calls, 0);
    pd_ftps_free(&f);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    free(seen);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pool_bounds_and_order),
        cmocka_unit_test(ftps_failures_come_later),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
