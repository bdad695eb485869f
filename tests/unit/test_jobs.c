/* The job state machine (src/track/jobs.c, pd_jobs_step): report sequences in, actions out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "track/jobs.h"

typedef struct rig {
    pd_jobs_track t;
    pd_jobs_obs o;
    int64_t now;
    pd_jobs_result r;
} rig;

static void rig_init(rig *g)
{
    memset(g, 0, sizeof *g);
    g->o = (pd_jobs_obs){.gcode_state = "IDLE", .task_id = "0", .name = "", .file = "", .feed = {-1, -1}};
    g->now = 1000;
}

/* One report in state s; returns the actions. */
static unsigned see(rig *g, const char *s)
{
    g->o.gcode_state = s;
    g->now += 1000;
    pd_jobs_step(&g->t, &g->o, g->now, &g->r);
    if (g->r.actions & PD_JOBS_OPEN)
        g->t.job_id = 42;  /* the recorder's row */
    return g->r.actions;
}

static void task(rig *g, const char *name)
{
    g->o.name = name;
    g->o.file = name;
}

static void test_start_finish(void **state)
{
    (void)state;
    rig g;
    rig_init(&g);
    assert_int_equal(see(&g, "IDLE"), 0);
    task(&g, "benchy");
    assert_true(see(&g, "PREPARE") & PD_JOBS_OPEN);
    assert_true(g.t.open);
    g.o.progress = 10;
    g.o.layer = 3;
    assert_true(see(&g, "RUNNING") & PD_JOBS_PROGRESS);
    assert_int_equal(see(&g, "RUNNING"), 0);  /* nothing new: nothing to write */
    unsigned a = see(&g, "FINISH");
    assert_true(a & PD_JOBS_CLOSE);
    assert_int_equal(g.r.status, PD_JOB_COMPLETED);
    assert_false(g.t.open);
    assert_int_equal(see(&g, "FINISH"), 0);   /* FINISH lingers: no second close, no settle */
    assert_int_equal(see(&g, "IDLE"), 0);
}

static void test_failed_keeps_progress(void **state)
{
    (void)state;
    rig g;
    rig_init(&g);
    see(&g, "IDLE");
    task(&g, "bracket");
    see(&g, "RUNNING");
    g.o.progress = 40;
    g.o.layer = 20;
    see(&g, "RUNNING");
    g.o.progress = 0;  /* firmware resets it */
    g.o.layer = 0;
    g.o.print_error = 0x0500C010;
    g.o.reason = "0500_C010: SD card";
    assert_true(see(&g, "FAILED") & PD_JOBS_CLOSE);
    assert_int_equal(g.r.status, PD_JOB_FAILED);
    assert_int_equal(g.r.error, 0x0500C010);
    assert_string_equal(g.r.reason, "0500_C010: SD card");
    assert_int_equal(g.t.progress, 40);
    assert_int_equal(g.t.layer, 20);
}

static void test_cancel_code(void **state)
{
    (void)state;
    rig g;
    rig_init(&g);
    see(&g, "IDLE");
    task(&g, "vase");
    see(&g, "RUNNING");
    g.o.print_error = PD_JOBS_CANCEL_ERROR;
    see(&g, "RUNNING");                /* the code shows a moment before the state */
    g.o.print_error = 0;
    see(&g, "FAILED");
    assert_int_equal(g.r.status, PD_JOB_CANCELLED);
}

static void test_cancel_code_late(void **state)
{
    (void)state;
    rig g;
    rig_init(&g);
    see(&g, "IDLE");
    task(&g, "vase");
    see(&g, "RUNNING");
    see(&g, "FAILED");
    assert_int_equal(g.r.status, PD_JOB_FAILED);
    g.o.print_error = PD_JOBS_CANCEL_ERROR;
    assert_true(see(&g, "FAILED") & PD_JOBS_AMEND);
    assert_int_equal(see(&g, "FAILED") & PD_JOBS_AMEND, 0);  /* once */
}

static void test_idle_after_running(void **state)
{
    (void)state;
    rig g;
    rig_init(&g);
    see(&g, "IDLE");
    task(&g, "x");
    see(&g, "RUNNING");
    assert_true(see(&g, "IDLE") & PD_JOBS_CLOSE);
    assert_int_equal(g.r.status, PD_JOB_CANCELLED);
}

static void test_pause_resume_tray(void **state)
{
    (void)state;
    rig g;
    rig_init(&g);
    see(&g, "IDLE");
    task(&g, "gear");
    g.o.feed = (pd_feed){0, 2};
    see(&g, "RUNNING");
    g.o.reason = "paused by the user";
    assert_true(see(&g, "PAUSE") & PD_JOBS_PAUSE);
    assert_string_equal(g.r.pause_reason, "paused by the user");
    assert_int_equal(see(&g, "PAUSE"), 0);
    assert_true(see(&g, "RUNNING") & PD_JOBS_RESUME);
    g.o.feed = (pd_feed){-1, -1};      /* the tube empties during a refill */
    assert_true(see(&g, "RUNNING") & PD_JOBS_TRAY);
    g.o.feed = (pd_feed){1, 2};        /* the backup spool, the same slot of another unit */
    assert_true(see(&g, "PREPARE") & PD_JOBS_TRAY);  /* P2S leaves RUNNING during the switch */
    assert_int_equal(g.t.feed.unit, 1);
    assert_int_equal(g.t.feed.slot, 2);
    assert_int_equal(see(&g, "RUNNING") & PD_JOBS_TRAY, 0);
    assert_true(g.t.open);
}

static void test_restart_resumes(void **state)
{
    (void)state;
    rig g;
    rig_init(&g);
    /* as the recorder loads an open job: prev unknown */
    g.t = (pd_jobs_track){.open = true, .job_id = 7, .status = PD_JOB_PRINTING, .progress = 30, .feed = {-1, -1}};
    strcpy(g.t.name, "restart-me");
    task(&g, "restart-me");
    g.o.progress = 31;
    unsigned a = see(&g, "RUNNING");
    assert_false(a & (PD_JOBS_OPEN | PD_JOBS_CLOSE));
    assert_int_equal(g.t.job_id, 7);
    /* the same, but it finished while printdeck was down */
    g.t.prev[0] = '\0';
    assert_true(see(&g, "FINISH") & PD_JOBS_CLOSE);
    assert_int_equal(g.r.status, PD_JOB_COMPLETED);
    assert_false(g.r.actions & PD_JOBS_SETTLE);
}

static void test_restart_other_task(void **state)
{
    (void)state;
    rig g;
    rig_init(&g);
    g.t = (pd_jobs_track){.open = true, .job_id = 7, .status = PD_JOB_PRINTING};
    strcpy(g.t.name, "old");
    task(&g, "new");
    unsigned a = see(&g, "RUNNING");
    assert_true(a & PD_JOBS_CLOSE);
    assert_int_equal(g.r.status, PD_JOB_UNKNOWN);
    assert_true(a & PD_JOBS_OPEN);
    assert_string_equal(g.t.name, "new");
    /* idle on return: the outcome is not known */
    rig_init(&g);
    g.t = (pd_jobs_track){.open = true, .job_id = 7, .status = PD_JOB_PRINTING};
    strcpy(g.t.name, "old");
    see(&g, "IDLE");
    assert_int_equal(g.r.status, PD_JOB_UNKNOWN);
}

static void test_first_report_running_opens(void **state)
{
    (void)state;
    rig g;
    rig_init(&g);
    task(&g, "mid");
    assert_true(see(&g, "RUNNING") & PD_JOBS_OPEN);  /* printdeck started mid-print */
    rig_init(&g);
    assert_true(see(&g, "FINISH") & PD_JOBS_SETTLE);  /* maybe a job closed as unknown */
    assert_int_equal(g.r.status, PD_JOB_COMPLETED);
    assert_int_equal(see(&g, "FINISH"), 0);
}

static void test_task_ids(void **state)
{
    (void)state;
    rig g;
    rig_init(&g);
    see(&g, "IDLE");
    task(&g, "same name");
    g.o.task_id = "100";
    see(&g, "RUNNING");
    g.o.task_id = "101";              /* a cloud re-print of the same file is another task */
    unsigned a = see(&g, "RUNNING");
    assert_true((a & PD_JOBS_CLOSE) && (a & PD_JOBS_OPEN));
    g.o.gcode_state = "";
    assert_int_equal(see(&g, ""), 0);  /* no state: ignored */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_start_finish),
        cmocka_unit_test(test_failed_keeps_progress),
        cmocka_unit_test(test_cancel_code),
        cmocka_unit_test(test_cancel_code_late),
        cmocka_unit_test(test_idle_after_running),
        cmocka_unit_test(test_pause_resume_tray),
        cmocka_unit_test(test_restart_resumes),
        cmocka_unit_test(test_restart_other_task),
        cmocka_unit_test(test_first_report_running_opens),
        cmocka_unit_test(test_task_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
