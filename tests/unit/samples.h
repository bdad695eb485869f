/* Shared by the printer tests: loading the captured report samples (tests/fixtures/samples,
 * see SOURCES.md there). Include after <cmocka.h>. */
#ifndef PD_TEST_SAMPLES_H
#define PD_TEST_SAMPLES_H

#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "printer/report.h"

/* The whole message {"print": …} / {"info": …}; fails the test if it does not load. */
static inline json_t *sample_load(const char *name)
{
    char path[512];
    json_error_t err;
    snprintf(path, sizeof path, "%s/%s", PD_SAMPLES_DIR, name);
    json_t *j = json_load_file(path, 0, &err);
    if (!j)
        fail_msg("%s: %s", path, err.text);
    return j;
}

/* A merged print object built from full sample `name` (new reference). */
static inline json_t *sample_base(const char *name)
{
    json_t *msg = sample_load(name), *base = json_object();
    assert_int_equal(pd_report_merge(base, json_object_get(msg, "print"), true), PD_OK);
    json_decref(msg);
    return base;
}

/* Calls fn for every *.json sample, in directory order. */
static inline int sample_each(void (*fn)(const char *name, void *ud), void *ud)
{
    DIR *d = opendir(PD_SAMPLES_DIR);
    struct dirent *e;
    int n = 0;
    assert_non_null(d);
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len > 5 && !strcmp(e->d_name + len - 5, ".json")) {
            fn(e->d_name, ud);
            n++;
        }
    }
    closedir(d);
    return n;
}

#endif
