#include "core/clock.h"

#include <time.h>

static int64_t system_clock(pd_clock_id id)
{
    struct timespec ts;
    clock_gettime(id == PD_CLOCK_MONO ? CLOCK_MONOTONIC : CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static pd_clock_source source = system_clock;

int64_t pd_clock_mono_ms(void) { return source(PD_CLOCK_MONO); }
int64_t pd_clock_wall_ms(void) { return source(PD_CLOCK_WALL); }

void pd_clock_set_source(pd_clock_source src) { source = src ? src : system_clock; }
