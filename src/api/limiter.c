#include "api/limiter.h"

#include <stdio.h>
#include <string.h>

void pd_limiter_init(pd_limiter *l, int max, int64_t window_ms)
{
    l->max = max;
    l->window_ms = window_ms;
    l->n = 0;
}

static size_t find(const pd_limiter *l, const char *key)
{
    for (size_t i = 0; i < l->n; i++)
        if (!strncmp(l->v[i].key, key, PD_LIMITER_KEY - 1))
            return i;
    return l->n;
}

int64_t pd_limiter_wait(const pd_limiter *l, const char *key, int64_t now_ms)
{
    size_t i = find(l, key);
    if (i == l->n || l->v[i].count < l->max)
        return 0;
    int64_t left = l->v[i].start_ms + l->window_ms - now_ms;
    return left > 0 ? left : 0;
}

void pd_limiter_hit(pd_limiter *l, const char *key, int64_t now_ms)
{
    size_t i = find(l, key);
    if (i == l->n) {
        if (l->n < PD_LIMITER_SLOTS) {
            l->n++;
        } else {
            i = 0;
            for (size_t k = 1; k < l->n; k++)
                if (l->v[k].last_ms < l->v[i].last_ms)
                    i = k;
        }
        snprintf(l->v[i].key, PD_LIMITER_KEY, "%s", key);
        l->v[i].count = 0;
        l->v[i].start_ms = now_ms;
    }
    if (now_ms - l->v[i].start_ms >= l->window_ms) {
        l->v[i].count = 0;
        l->v[i].start_ms = now_ms;
    }
    l->v[i].count++;
    l->v[i].last_ms = now_ms;
}

void pd_limiter_clear(pd_limiter *l, const char *key)
{
    size_t i = find(l, key);
    if (i < l->n)
        l->v[i] = l->v[--l->n];
}
