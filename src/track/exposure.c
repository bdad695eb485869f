/* The hygroscopic materials' exposure table (exposure.h). */
#include "track/exposure.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool name_char(char c)
{
    return isalnum((unsigned char)c) || c == '-' || c == '+' || c == '_' || c == ' ';
}

/* One "NAME:HOURS" entry, from s to end (exclusive), into t; `at` counts entries for messages. */
static pd_err parse_entry(const char *s, const char *end, size_t at, pd_exposure *t, char *err, size_t errlen)
{
    while (s < end && isspace((unsigned char)*s))
        s++;
    while (end > s && isspace((unsigned char)end[-1]))
        end--;
    const char *colon = memchr(s, ':', (size_t)(end - s));
    if (!colon) {
        snprintf(err, errlen, "entry %zu: MATERIAL:HOURS expected", at);
        return PD_ERR_INVAL;
    }
    const char *ne = colon;
    while (ne > s && isspace((unsigned char)ne[-1]))
        ne--;
    size_t len = (size_t)(ne - s);
    if (!len || len >= PD_EXPOSURE_NAME) {
        snprintf(err, errlen, "entry %zu: a material name of 1 to %d characters expected", at,
                 PD_EXPOSURE_NAME - 1);
        return PD_ERR_INVAL;
    }
    for (size_t i = 0; i < len; i++)
        if (!name_char(s[i])) {
            snprintf(err, errlen, "entry %zu: a material name has letters, digits, '-', '+', '_' and "
                     "spaces only", at);
            return PD_ERR_INVAL;
        }
    const char *h = colon + 1;
    while (h < end && isspace((unsigned char)*h))
        h++;
    long hours = 0;
    const char *p = h;
    for (; p < end && isdigit((unsigned char)*p) && hours <= PD_EXPOSURE_HOURS_MAX; p++)
        hours = hours * 10 + (*p - '0');
    if (p == h || p != end || hours < 1 || hours > PD_EXPOSURE_HOURS_MAX) {
        snprintf(err, errlen, "%.*s: whole hours from 1 to %d expected", (int)len, s, PD_EXPOSURE_HOURS_MAX);
        return PD_ERR_INVAL;
    }
    for (size_t i = 0; i < t->n; i++)
        if (strlen(t->e[i].material) == len && !strncasecmp(t->e[i].material, s, len)) {
            snprintf(err, errlen, "%.*s: named twice", (int)len, s);
            return PD_ERR_INVAL;
        }
    if (t->n == PD_EXPOSURE_MAX) {
        snprintf(err, errlen, "at most %d materials", PD_EXPOSURE_MAX);
        return PD_ERR_TOOBIG;
    }
    memcpy(t->e[t->n].material, s, len);
    t->e[t->n].material[len] = '\0';
    t->e[t->n].hours = (int)hours;
    t->n++;
    return PD_OK;
}

pd_err pd_exposure_parse(const char *text, pd_exposure *out, char *err, size_t errlen)
{
    out->n = 0;
    const char *s = text;
    for (size_t at = 1;; at++) {
        while (*s && isspace((unsigned char)*s))
            s++;
        if (!*s)
            break;  /* the end, or a comma at it */
        const char *comma = strchr(s, ',');
        const char *end = comma ? comma : s + strlen(s);
        pd_err rc = parse_entry(s, end, at, out, err, errlen);
        if (rc) {
            out->n = 0;
            return rc;
        }
        s = comma ? comma + 1 : end;
    }
    return PD_OK;
}

pd_err pd_exposure_check(const char *text, char *err, size_t errlen)
{
    pd_exposure t;
    return pd_exposure_parse(text, &t, err, errlen);
}

int pd_exposure_hours(const pd_exposure *t, const char *material)
{
    size_t best = 0;
    int hours = 0;
    for (size_t i = 0; material && i < t->n; i++) {
        size_t n = strlen(t->e[i].material);
        if (n > best && !strncasecmp(material, t->e[i].material, n) && !isalpha((unsigned char)material[n])) {
            best = n;
            hours = t->e[i].hours;
        }
    }
    return hours;
}

void pd_exposure_format(const pd_exposure *t, char *out, size_t outlen)
{
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < t->n && len < outlen; i++) {
        int w = snprintf(out + len, outlen - len, "%s%s:%d", i ? ", " : "", t->e[i].material, t->e[i].hours);
        if (w < 0)
            break;
        len += (size_t)w;
    }
}
