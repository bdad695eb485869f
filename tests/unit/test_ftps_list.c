/* The FTPS listing parser (LIST and MLSD lines) and the fetch policy for a job's file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "files/fetchplan.h"
#include "files/ftps_list.h"

/* 2025-06-20T12:00:00Z */
#define NOW 1750420800

static void ls_lines(void **st)
{
    (void)st;
    pd_ftps_entry e;
    /* vsFTPd on an A1 (greghesp/ha-bambulab _find_latest_file): recent, no year */
    const char *a1 = "-rw-r--r--    1 1000     1000      1640240 Jun 18 00:27 video_2025-06-17_14-48-33.mp4";
    assert_int_equal(pd_ftps_list_line(a1, strlen(a1), NOW, &e), PD_OK);
    assert_string_equal(e.name, "video_2025-06-17_14-48-33.mp4");
    assert_int_equal(e.kind, PD_FTPS_FILE);
    assert_int_equal(e.size, 1640240);
    assert_int_equal(e.mtime, 1750206420); /* 2025-06-18T00:27:00Z */
    /* a recent form that would lie in the future is last year's */
    const char *dec = "-rw-r--r-- 1 0 0 6 Dec 03 08:43 a b.3mf";
    assert_int_equal(pd_ftps_list_line(dec, strlen(dec), NOW, &e), PD_OK);
    assert_string_equal(e.name, "a b.3mf");
    assert_int_equal(e.mtime, 1733215380); /* 2024-12-03T08:43:00Z */
    /* older: with the year; owner and group absent; spaces kept in the name */
    const char *old = "-rw-r--r-- 1 5 Feb 29  2024  lead space.gcode.3mf";
    assert_int_equal(pd_ftps_list_line(old, strlen(old), NOW, &e), PD_OK);
    assert_string_equal(e.name, " lead space.gcode.3mf");
    assert_int_equal(e.size, 5);
    const char *dir = "drwxr-xr-x    2 0        0            4096 Dec 03 08:43 cache";
    assert_int_equal(pd_ftps_list_line(dir, strlen(dir), NOW, &e), PD_OK);
    assert_int_equal(e.kind, PD_FTPS_DIR);
    const char *lnk = "lrwxrwxrwx 1 0 0 7 Jan  1  2024 sd -> /mnt/sdcard";
    assert_int_equal(pd_ftps_list_line(lnk, strlen(lnk), NOW, &e), PD_OK);
    assert_string_equal(e.name, "sd");
    assert_int_equal(e.kind, PD_FTPS_LINK);
    /* not entries, and garbage */
    assert_int_equal(pd_ftps_list_line("total 12", 8, NOW, &e), PD_ERR_NOTFOUND);
    const char *dot = "drwxr-xr-x 2 0 0 4096 Dec 03 08:43 ..";
    assert_int_equal(pd_ftps_list_line(dot, strlen(dot), NOW, &e), PD_ERR_NOTFOUND);
    const char *bad[] = {"hello", "-rw-r--r-- 1 0 0 x Dec 03 08:43 a", "-rw-r--r-- 1 0 0 5 Foo 03 08:43 a",
                         "-rw-r--r-- 1 0 0 5 Dec 32 08:43 a", "-rw-r--r-- 1 0 0 5 Dec 03 25:43 a",
                         "-rw-r--r-- 1 0 0 5 Dec 03 08:43", "-rw-r--r-- 1 0 0 5 Dec 03 08:43 a\tb",
                         "-rw-r--r-- 1 0 0 99999999999999999999 Dec 03 08:43 a"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (pd_ftps_list_line(bad[i], strlen(bad[i]), NOW, &e) != PD_ERR_PARSE)
            fail_msg("accepted '%s'", bad[i]);
}

static void mlsd_lines(void **st)
{
    (void)st;
    pd_ftps_entry e;
    const char *f = "type=file;size=123;modify=20250618002733.123; a b.gcode.3mf";
    assert_int_equal(pd_ftps_list_line(f, strlen(f), NOW, &e), PD_OK);
    assert_string_equal(e.name, "a b.gcode.3mf");
    assert_int_equal(e.size, 123);
    assert_int_equal(e.mtime, 1750206453);
    const char *d = "Type=dir;Modify=20240101000000;UNIX.mode=0755; model";
    assert_int_equal(pd_ftps_list_line(d, strlen(d), NOW, &e), PD_OK);
    assert_int_equal(e.kind, PD_FTPS_DIR);
    assert_int_equal(e.size, -1);
    assert_int_equal(pd_ftps_list_line("type=cdir; /cache", 17, NOW, &e), PD_ERR_NOTFOUND);
    assert_int_equal(pd_ftps_list_line("size=1; x", 9, NOW, &e), PD_ERR_PARSE);
    assert_int_equal(pd_ftps_list_line("type=file;size=1; a/b", 21, NOW, &e), PD_ERR_PARSE);
}

static void whole_listing(void **st)
{
    (void)st;
    const char *text = "total 3\r\n"
                       "-rw-r--r-- 1 0 0 10 Jun 01 10:00 old.3mf\r\n"
                       "garbage\r\n"
                       "-rw-r--r-- 1 0 0 20 Jun 19 10:00 new.gcode.3mf\r\n"
                       "-rw-r--r-- 1 0 0 30 Jun 20 10:00 newest.mp4\n"
                       "drwxr-xr-x 2 0 0 4096 Jun 20 11:00 dir.3mf";
    pd_ftps_listing l;
    assert_int_equal(pd_ftps_list_parse(text, strlen(text), NOW, 100, &l), PD_OK);
    assert_int_equal(l.n, 4);
    assert_int_equal(l.skipped, 1);
    assert_false(l.truncated);
    const pd_ftps_entry *n = pd_fetchplan_newest_3mf(l.v, l.n);
    assert_non_null(n);
    assert_string_equal(n->name, "new.gcode.3mf"); /* files only, .3mf only */
    pd_ftps_listing_free(&l);
    assert_int_equal(pd_ftps_list_parse(text, strlen(text), NOW, 2, &l), PD_OK);
    assert_int_equal(l.n, 2);
    assert_true(l.truncated);
    pd_ftps_listing_free(&l);
}

static void candidates(void **st)
{
    (void)st;
    char p[PD_FETCHPLAN_MAX][PD_FETCHPLAN_PATH_MAX];
    /* a P1S printing Cube.gcode.3mf sent to the SD card */
    size_t n = pd_fetchplan_candidates("Cube", "Cube.gcode.3mf", p, PD_FETCHPLAN_MAX);
    const char *want[] = {"/Cube.3mf", "/Cube.gcode.3mf", "/cache/Cube.3mf", "/cache/Cube.gcode.3mf",
                          "/model/Cube.3mf", "/model/Cube.gcode.3mf"};
    assert_int_equal(n, 6);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(p[i], want[i]);
    /* an X1 reports its RAM disk: only the name counts */
    n = pd_fetchplan_candidates("Benchy", "/data/Metadata/plate_1.gcode", p, PD_FETCHPLAN_MAX);
    assert_int_equal(n, 6);
    assert_string_equal(p[0], "/Benchy.3mf");
    /* gcode_file on the storage: its own path, then its name in each directory */
    n = pd_fetchplan_candidates("", "ftp:///sdcard/model/Part A.gcode.3mf", p, PD_FETCHPLAN_MAX);
    assert_int_equal(n, 3);
    assert_string_equal(p[0], "/model/Part A.gcode.3mf");
    assert_string_equal(p[1], "/Part A.gcode.3mf");
    assert_string_equal(p[2], "/cache/Part A.gcode.3mf");
    /* a subtask that is already a 3MF name, and a gcode name */
    n = pd_fetchplan_candidates("x.3mf", "x.gcode", p, PD_FETCHPLAN_MAX);
    assert_string_equal(p[0], "/x.3mf");
    assert_string_equal(p[1], "/cache/x.3mf");
    assert_string_equal(p[3], "/x.gcode.3mf");
    /* nothing usable: the caller takes the newest .3mf */
    assert_int_equal(pd_fetchplan_candidates("", "", p, PD_FETCHPLAN_MAX), 0);
    assert_int_equal(pd_fetchplan_candidates("../etc", "/sdcard/../etc/x.3mf", p, PD_FETCHPLAN_MAX), 3);
    assert_string_equal(p[0], "/x.3mf");
    assert_int_equal(pd_fetchplan_candidates("a/b", NULL, p, PD_FETCHPLAN_MAX), 0);
    assert_int_equal(pd_fetchplan_candidates("ok", NULL, p, 2), 2);
}

static void timing(void **st)
{
    (void)st;
    pd_fetch_timing t;
    pd_fetchplan_timing(PD_MODEL_P1S, &t);
    assert_int_equal(t.moment, PD_FETCH_AT_PREPARE);
    assert_int_equal(t.prepare_percent, 99);
    pd_fetchplan_timing(PD_MODEL_A1MINI, &t);
    assert_int_equal(t.moment, PD_FETCH_AT_PREPARE);
    pd_fetchplan_timing(PD_MODEL_X1C, &t);
    assert_int_equal(t.moment, PD_FETCH_RETRY_RUNNING);
    assert_int_equal(t.attempts, 12);
    assert_int_equal(t.interval_s, 5);
    pd_fetchplan_timing(PD_MODEL_H2D, &t);
    assert_int_equal(t.moment, PD_FETCH_RETRY_RUNNING);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ls_lines),  cmocka_unit_test(mlsd_lines), cmocka_unit_test(whole_listing),
        cmocka_unit_test(candidates), cmocka_unit_test(timing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
