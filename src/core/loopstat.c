#include "core/loopstat.h"

#include <stdbool.h>
#include <string.h>

#define SLOT_NS 10000000000ull

/* A prepare callback runs once per turn, just before the loop waits for I/O; what passed since
 * the previous one, less the time the loop spent waiting (libuv's idle time), is one turn. */
static void on_prepare(uv_prepare_t *h)
{
    pd_loopstat *ls = h->data;
    uint64_t now = uv_hrtime(), idle = uv_metrics_idle_time(h->loop);
    uint64_t span = now - ls->turn_start_ns, waited = idle - ls->idle_start_ns;
    uint64_t turn = span > waited ? span - waited : 0;
    ls->turn_start_ns = now;
    ls->idle_start_ns = idle;
    pd_loopstat_slot *s = &ls->slot[(now / SLOT_NS) % PD_LOOPSTAT_SLOTS];
    if (s->epoch != now / SLOT_NS) {
        memset(s, 0, sizeof *s);
        s->epoch = now / SLOT_NS;
    }
    int b = 0;
    for (uint64_t us = turn / 1000; us > 1 && b < PD_LOOPSTAT_BUCKETS - 1; us >>= 1)
        b++;
    s->n[b]++;
    if (turn > s->max_ns)
        s->max_ns = turn;
}

int pd_loopstat_start(pd_loopstat *ls, uv_loop_t *loop)
{
    memset(ls, 0, sizeof *ls);
    int rc = uv_loop_configure(loop, UV_METRICS_IDLE_TIME);
    if (!rc)
        rc = uv_prepare_init(loop, &ls->prepare);
    if (rc)
        return rc;
    ls->prepare.data = ls;
    ls->turn_start_ns = uv_hrtime();
    ls->idle_start_ns = uv_metrics_idle_time(loop);
    uv_unref((uv_handle_t *)&ls->prepare);
    return uv_prepare_start(&ls->prepare, on_prepare);
}

void pd_loopstat_stop(pd_loopstat *ls)
{
    if (ls->prepare.loop && !uv_is_closing((uv_handle_t *)&ls->prepare))
        uv_close((uv_handle_t *)&ls->prepare, NULL);
}

/* The slots counted in the last minute merged into one; false when there are none. */
static bool last_minute(const pd_loopstat *ls, pd_loopstat_slot *out)
{
    uint64_t epoch = uv_hrtime() / SLOT_NS;
    bool any = false;
    memset(out, 0, sizeof *out);
    for (int i = 0; i < PD_LOOPSTAT_SLOTS; i++) {
        const pd_loopstat_slot *s = &ls->slot[i];
        if (s->epoch + PD_LOOPSTAT_SLOTS <= epoch)
            continue;
        any = true;
        if (s->max_ns > out->max_ns)
            out->max_ns = s->max_ns;
        for (int b = 0; b < PD_LOOPSTAT_BUCKETS; b++)
            out->n[b] += s->n[b];
    }
    return any;
}

double pd_loopstat_max(const pd_loopstat *ls)
{
    pd_loopstat_slot m;
    return last_minute(ls, &m) ? (double)m.max_ns / 1e9 : 0;
}

double pd_loopstat_quantile(const pd_loopstat *ls, double q)
{
    pd_loopstat_slot m;
    if (!last_minute(ls, &m))
        return 0;
    uint64_t total = 0, seen = 0;
    for (int b = 0; b < PD_LOOPSTAT_BUCKETS; b++)
        total += m.n[b];
    for (int b = 0; b < PD_LOOPSTAT_BUCKETS; b++) {
        seen += m.n[b];
        if ((double)seen >= q * (double)total) {
            double upper = (double)(2ull << b) / 1e6; /* bucket b holds turns below 2^(b+1) µs */
            double max = (double)m.max_ns / 1e9;
            return upper < max ? upper : max;
        }
    }
    return (double)m.max_ns / 1e9;
}
