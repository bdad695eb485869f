/* Dates and times as text: the one parser of dates in printdeck, and the one format it writes.
 * Unix seconds inside, ISO 8601 (RFC 3339's profile, plus what people type) outside. */
#ifndef PD_DATE_H
#define PD_DATE_H

#include <stdbool.h>
#include <stdint.h>

#define PD_DATE_LEN 32   /* pd_date_format's buffer: "2024-05-01T10:00:00Z" and room to spare */

enum {
    PD_DATE_NAIVE_UTC = 1,  /* a time without offset is UTC (Spoolman's files); else local time */
    PD_DATE_DAY = 2,        /* exactly YYYY-MM-DD: a calendar day, *out its midnight UTC */
};

/* Reads YYYY-MM-DD[(T|t|space)HH:MM[:SS[(.|,)fraction]]][Z|z|±HH[[:]MM]] into unix seconds;
 * flags are PD_DATE_*. A date alone is its midnight. The fraction is dropped (whole seconds are
 * stored). Every field must name a real moment: 2024-02-29 passes, 2023-02-29 and 2024-04-31 do
 * not. Second 60 is accepted only as the leap second 23:59:60 UTC and read as 23:59:59, since
 * unix time has no number for it. false, with *why (may be NULL) saying what is wrong, when s
 * is not such a date. */
bool pd_date_parse(const char *s, int flags, int64_t *out, const char **why);

/* "2024-05-01T10:00:00Z" (UTC, whole seconds). */
void pd_date_format(int64_t t, char out[PD_DATE_LEN]);

#endif
