/* The recent history of every printer (docs/printer-state.md, History): temperatures and
 * their targets, fan speeds and the AMS units' humidity and temperature, sampled from the
 * typed state on the loop so a chart is full the moment a page opens.
 *
 * Fixed memory: one ring per printer of keep_s / interval_s samples of 14 bytes, and one of
 * keep_s / ams_interval_s AMS samples of 50 bytes for a printer that has an AMS (its climate
 * moves slowly: a minute is the default). Every printer is sampled at the
 * same tick, so the timestamps are kept once for all of them. A printer that is offline
 * leaves a gap (unknown values), not its last reading repeated. */
#ifndef PD_TRACK_HISTORY_H
#define PD_TRACK_HISTORY_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "core/err.h"
#include "printer/printer.h"

typedef struct pd_history pd_history;

/* Samples fleet every interval_s (the AMS every ams_interval_s, rounded to a multiple of
 * it), keeping keep_s of it (all checked by the configuration). fleet may be NULL: then only
 * pd_history_tick_* feed it (tests). */
pd_err pd_history_start(pd_history **out, uv_loop_t *loop, pd_fleet *fleet, int interval_s,
                        int ams_interval_s, int keep_s);
void pd_history_stop(pd_history **h);  /* closes the timer: the loop must run after */

/* One tick by hand: begin, one put per printer in ascending id order, end (drops the rings
 * of printers not put). The timer does this with the fleet. */
void pd_history_tick_begin(pd_history *h, int64_t wall_ms);
pd_err pd_history_put(pd_history *h, int64_t printer_id, const pd_state *st, bool online);
void pd_history_tick_end(pd_history *h);

/* The history of one printer since since_ms (exclusive; 0 = all kept), as docs/api.md
 * shows it; NULL when out of memory. A printer not sampled yet has empty series. points > 0:
 * at most that many samples (a chart's width), each series reduced to its minimum and maximum
 * per bucket so peaks survive; 0: every sample. */
json_t *pd_history_json(const pd_history *h, int64_t printer_id, int64_t since_ms, size_t points);
/* Bytes the rings hold now (for /metrics and the benchmark). */
size_t pd_history_bytes(const pd_history *h);

#endif
