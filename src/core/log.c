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

/* The length of the valid UTF-8 sequence of two or more bytes at p (RFC 3629 §4: no overlong
 * forms, no surrogates, nothing past U+10FFFF), 0 if there is none. A terminating NUL fails
 * the continuation test, so nothing past it is read. */
static size_t utf8_len(const unsigned char *p)
{
    size_t n = *p < 0xc2 ? 0 : *p < 0xe0 ? 2 : *p < 0xf0 ? 3 : *p < 0xf5 ? 4 : 0;
    unsigned char lo = *p == 0xe0 ? 0xa0 : *p == 0xf0 ? 0x90 : 0x80;
    unsigned char hi = *p == 0xed ? 0x9f : *p == 0xf4 ? 0x8f : 0xbf;
    for (size_t i = 1; i < n; i++, lo = 0x80, hi = 0xbf)
        if (p[i] < lo || p[i] > hi)
            return 0;
    return n;
}

char *pd_log_escape(char *out, size_t outlen, const char *s)
{
    static const char named[] = "\n\r\t\\", names[] = "nrt\\";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        char esc[8];
        const char *piece = esc, *c = strchr(named, *p);
        size_t in = 1, n;
        if (c)
            n = (size_t)snprintf(esc, sizeof esc, "\\%c", names[c - named]);
        else if (*p >= 0x20 && *p < 0x7f)
            piece = (const char *)p, n = 1;
        else if (*p == 0xc2 && p[1] >= 0x80 && p[1] < 0xa0)
            n = (size_t)snprintf(esc, sizeof esc, "\\u%04x", p[1]), in = 2;
        else if (*p >= 0x80 && (in = utf8_len(p)))
            piece = (const char *)p, n = in;
        else
            n = (size_t)snprintf(esc, sizeof esc, "\\x%02x", *p), in = 1;
        if (o + n >= outlen)
            break;
        memcpy(out + o, piece, n);
        o += n;
        p += in;
    }
    out[o] = '\0';
    return out;
}

void pd_log(pd_log_level lvl, const char *module, const char *fmt, ...)
{
    if (lvl < log_min)
        return;
    char msg[1024], esc[4 * sizeof msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pd_log_escape(esc, sizeof esc, msg);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[40];
    size_t n = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + n, sizeof when - n, ".%03ldZ", ts.tv_nsec / 1000000);

    if (log_json) {
        /* escaped first: jansson refuses text that is not UTF-8, which would drop the line */
        json_t *o = json_pack("{s:s,s:s,s:s,s:s}", "ts", when, "level", level_names[lvl],
                              "module", module, "msg", esc);
        char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
        if (line)
            fprintf(stderr, "%s\n", line);
        free(line);
        json_decref(o);
    } else {
        fprintf(stderr, "%s %-5s [%s] %s\n", when, level_names[lvl], module, esc);
    }
}
