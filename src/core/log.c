#include "core/log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static pd_log_level log_min = PD_LOG_INFO;
static bool log_json;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void pd_log_setup(pd_log_level min, bool json)
{
    log_min = min;
    log_json = json;
}

int pd_log_level_parse(const char *s, pd_log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (pd_log_level)i;
            return 0;
        }
    }
    return -1;
}

void pd_log(pd_log_level lvl, const char *module, const char *fmt, ...)
{
    if (lvl < log_min)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[40];
    size_t n = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + n, sizeof when - n, ".%03ldZ", ts.tv_nsec / 1000000);

    if (log_json) {
        /* jansson does the escaping so a hostile string cannot break the line format */
        json_t *o = json_pack("{s:s,s:s,s:s,s:s}", "ts", when, "level", level_names[lvl],
                              "module", module, "msg", msg);
        char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
        if (line)
            fprintf(stderr, "%s\n", line);
        free(line);
        json_decref(o);
    } else {
        fprintf(stderr, "%s %-5s [%s] %s\n", when, level_names[lvl], module, msg);
    }
}
