/* Pure functions on report JSON: classify a message and merge it into the printer's merged
 * raw `print` object as the printer means it (docs/bambu-protocol.md §3.3). No I/O; fuzzed. */
#ifndef PD_REPORT_H
#define PD_REPORT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"

typedef enum pd_msg_kind {
    PD_MSG_INVALID = 0,   /* not an object with one known category */
    PD_MSG_FULL,          /* print.push_status with msg 0 or no msg: reset the base */
    PD_MSG_DELTA,         /* print.push_status msg 1: merge */
    PD_MSG_ACK,           /* any category carrying "result": a command acknowledgement */
    PD_MSG_VERSION,       /* info.get_version reply (no result) */
    PD_MSG_OTHER          /* valid but not state: mc_print logs, events, … */
} pd_msg_kind;

/* Classify a parsed message. *body is set to the category's object (borrowed) and *category
 * to its name. An ack is recognised by "result" (case-insensitive values). */
pd_msg_kind pd_report_classify(const json_t *msg, const char **category, json_t **body);

/* Merge `in` (a print object) into `base` (owned by the caller, a print object):
 *  - full:  base is replaced by a copy of `in` (AMS tray fields normalised the same way);
 *  - delta: objects deep-merged, scalars and most arrays replaced whole, `ams.ams[]` merged
 *           by unit id and `tray[]` by tray id, `vir_slot[]` by id, trays whose
 *           tray_exist_bits bit is 0 cleared (unless all bits are 0 and power_on_flag is
 *           false), `tray_type == ""` clears tray identity; sequence_id/command/msg dropped.
 * Never fails half-way: on error base is unchanged. Depth and size are bounded. */
pd_err pd_report_merge(json_t *base, const json_t *in, bool full);

/* Readers for report values, shared with state.c so both read the wire the same way.
 * A JSON number or a numeric string ("0.4", "255", "-1"): the printer sends both. */
bool pd_report_number(const json_t *v, double *out);
/* A hex string of at most 16 digits ("f", "1000f", "41AFFF9CFF"). */
bool pd_report_hex(const json_t *v, uint64_t *out);
/* The "id" of an object as an integer (ids come as "0" or 0). */
bool pd_report_id(const json_t *obj, long long *out);
/* The first object in arr whose id equals id, or NULL. */
json_t *pd_report_find_id(const json_t *arr, long long id);
/* The tray_exist_bits bit of AMS unit ams_id, slot (docs/bambu-protocol.md §4.4), or -1 when
 * the unit has no known bit (A2L's unit 16, out-of-range ids). */
int pd_report_tray_bit(long long ams_id, long long slot);

#endif
