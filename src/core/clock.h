/* The daemon's two clocks. Every timer, deadline, backoff, silence check and rate limit reads
 * the monotonic one: it only moves forward, whatever NTP or an administrator does to the
 * wall clock (a step forward would otherwise time out every pending command and mark every
 * printer silent at once, a step back freeze every reconnect). The wall clock only dates
 * what people see or what is stored; two of its readings never time anything. */
#ifndef PD_CLOCK_H
#define PD_CLOCK_H

#include <stdint.h>

typedef enum pd_clock_id {
    PD_CLOCK_MONO,   /* ms since an arbitrary start (boot); for intervals and deadlines */
    PD_CLOCK_WALL    /* ms since the Unix epoch; for timestamps people see or that are stored */
} pd_clock_id;

int64_t pd_clock_mono_ms(void);
int64_t pd_clock_wall_ms(void);

/* Where both clocks are read from; NULL restores the system's. Tests put a source here that
 * steps the wall clock by hours to prove no decision follows it. Set it before any other
 * thread reads a clock. */
typedef int64_t (*pd_clock_source)(pd_clock_id id);
void pd_clock_set_source(pd_clock_source src);

#endif
