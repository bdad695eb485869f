#include "core/date.h"

#include <ctype.h>
#include <stdio.h>
#include <time.h>

/* The moments pd_date_format can write: four-digit years in UTC. */
#define FIRST (-62167219200LL) /* 0000-01-01T00:00:00Z */
#define LAST 253402300799LL    /* 9999-12-31T23:59:59Z */

/* Reads exactly n digits. */
static bool digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++, (*p)++) {
        if (!isdigit((unsigned char)**p))
            return false;
        v = v * 10 + (**p - '0');
    }
    *out = v;
    return true;
}

static bool fail(const char **why, const char *msg)
{
    if (why)
        *why = msg;
    return false;
}

/* The round trip: timegm rolls a field that is out of range into the next one (31 April into
 * 1 May, hour 24 into the next day), so a field that reads back different names no moment. */
static bool real_moment(const struct tm *want, time_t *t)
{
    struct tm norm = *want, back;
    *t = timegm(&norm);
    return gmtime_r(t, &back) && back.tm_year == want->tm_year && back.tm_mon == want->tm_mon &&
           back.tm_mday == want->tm_mday && back.tm_hour == want->tm_hour &&
           back.tm_min == want->tm_min && back.tm_sec == want->tm_sec;
}

bool pd_date_parse(const char *s, int flags, int64_t *out, const char **why)
{
    const char *form = flags & PD_DATE_DAY ? "not a date YYYY-MM-DD"
                                           : "not an ISO 8601 date and time, e.g. 2024-05-01T10:00:00Z";
    int y, mo, d, h = 0, mi = 0, sec = 0, off = 0;
    bool naive = true;
    const char *p = s;
    if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' || !digits(&p, 2, &d))
        return fail(why, form);
    if (!(flags & PD_DATE_DAY) && (*p == 'T' || *p == 't' || *p == ' ')) {
        p++;
        if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi))
            return fail(why, form);
        if (*p == ':') {
            p++;
            if (!digits(&p, 2, &sec))
                return fail(why, form);
            if (*p == '.' || *p == ',') {
                p++;
                if (!isdigit((unsigned char)*p))
                    return fail(why, form);
                while (isdigit((unsigned char)*p))
                    p++;
            }
        }
    }
    if (!(flags & PD_DATE_DAY) && (*p == 'Z' || *p == 'z')) {
        naive = false;
        p++;
    } else if (!(flags & PD_DATE_DAY) && (*p == '+' || *p == '-')) {
        int sign = *p++ == '-' ? -1 : 1, oh, om = 0;
        naive = false;
        if (!digits(&p, 2, &oh))
            return fail(why, form);
        if (*p == ':' || isdigit((unsigned char)*p)) {
            if (*p == ':')
                p++;
            if (!digits(&p, 2, &om))
                return fail(why, form);
        }
        if (oh > 23 || om > 59)
            return fail(why, "the offset is out of range (-23:59 to +23:59)");
        off = sign * (oh * 3600 + om * 60);
    }
    if (*p)
        return fail(why, form);

    time_t t;
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d};
    if (!real_moment(&tm, &t))
        return fail(why, "there is no such day");
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec == 60 ? 59 : sec;
    if (!real_moment(&tm, &t))
        return fail(why, "there is no such time of day");
    if (naive && !(flags & (PD_DATE_NAIVE_UTC | PD_DATE_DAY))) {
        tm.tm_isdst = -1;
        if ((t = mktime(&tm)) == (time_t)-1)
            return fail(why, "not a local time this system can represent");
    } else {
        t -= off;
    }
    if (t < FIRST || t > LAST)
        return fail(why, "outside the years 0000 to 9999 (UTC)");
    /* Leap seconds are inserted only at the end of a UTC day; 60 anywhere else is a typo. */
    if (sec == 60 && ((int64_t)t % 86400 + 86400) % 86400 != 86399)
        return fail(why, "second 60 is a leap second, which is only at 23:59:60 UTC");
    *out = (int64_t)t;
    return true;
}

void pd_date_format(int64_t t, char out[PD_DATE_LEN])
{
    time_t tt = (time_t)t;
    struct tm tm;
    /* the narrow types below bound the text for gcc; the range check makes them exact */
    if (t < FIRST || t > LAST || !gmtime_r(&tt, &tm))
        tm = (struct tm){.tm_year = 70, .tm_mday = 1};
    snprintf(out, PD_DATE_LEN, "%04hu-%02hhu-%02hhuT%02hhu:%02hhu:%02hhuZ", (unsigned short)(tm.tm_year + 1900),
             (unsigned char)(tm.tm_mon + 1), (unsigned char)tm.tm_mday, (unsigned char)tm.tm_hour,
             (unsigned char)tm.tm_min, (unsigned char)tm.tm_sec);
}
