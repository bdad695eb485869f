#include "http/range.h"

#include <stdbool.h>
#include <string.h>

/* Digits only (the grammar's 1*DIGIT: no sign, no space), at most 18 of them: no overflow. */
static bool digits(const char **p, int64_t *out)
{
    const char *s = *p;
    int64_t v = 0;
    int n = 0;
    for (; *s >= '0' && *s <= '9'; s++)
        if (++n > 18)
            return false;
        else
            v = v * 10 + (*s - '0');
    *p = s;
    *out = v;
    return n > 0;
}

pd_http_range pd_http_range_parse(const char *h, int64_t size, int64_t *from, int64_t *to)
{
    int64_t a, b = -1;
    if (strncmp(h, "bytes=", 6))
        return PD_RANGE_NONE;
    h += 6;
    if (*h == '-') {  /* the last n bytes */
        h++;
        if (!digits(&h, &b) || *h)
            return PD_RANGE_NONE;
        if (b == 0 || size <= 0)
            return PD_RANGE_UNSATISFIABLE;
        *from = b >= size ? 0 : size - b;
        *to = size - 1;
        return PD_RANGE_OK;
    }
    if (!digits(&h, &a) || *h++ != '-' || (*h && (!digits(&h, &b) || *h || b < a)))
        return PD_RANGE_NONE;
    if (a >= size)
        return PD_RANGE_UNSATISFIABLE;
    *from = a;
    *to = b < 0 || b >= size ? size - 1 : b;
    return PD_RANGE_OK;
}
