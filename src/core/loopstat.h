/* How long the loop's turns take: the work between two waits for I/O (timers, callbacks,
 * handlers), never the wait itself. A turn that takes long is latency every client and every
 * printer shares, so /metrics shows its p99 and its maximum over the last minute. */
#ifndef PD_LOOPSTAT_H
#define PD_LOOPSTAT_H

#include <stdint.h>
#include <uv.h>

#define PD_LOOPSTAT_BUCKETS 28  /* turn times in powers of two of µs: 1 µs … 2^27 µs (134 s) */
#define PD_LOOPSTAT_SLOTS 6     /* the last minute, in 10-second slots */

typedef struct pd_loopstat_slot {
    uint64_t epoch;             /* which 10-second slot of the monotonic clock it counts */
    uint64_t max_ns;
    uint32_t n[PD_LOOPSTAT_BUCKETS];
} pd_loopstat_slot;

typedef struct pd_loopstat {
    uv_prepare_t prepare;
    uint64_t turn_start_ns, idle_start_ns;
    pd_loopstat_slot slot[PD_LOOPSTAT_SLOTS];
} pd_loopstat;

/* Before uv_run: the loop reports its idle time from then on (UV_METRICS_IDLE_TIME). The
 * handle is unreferenced: it never keeps the loop running. */
int pd_loopstat_start(pd_loopstat *ls, uv_loop_t *loop);
void pd_loopstat_stop(pd_loopstat *ls); /* closes the handle; the loop must run to finish */
/* Over the last minute, in seconds: the q-quantile (0 < q <= 1) as the upper bound of its
 * power-of-two bucket, capped at the maximum; 0 when no turn was counted. */
double pd_loopstat_quantile(const pd_loopstat *ls, double q);
double pd_loopstat_max(const pd_loopstat *ls);

#endif
