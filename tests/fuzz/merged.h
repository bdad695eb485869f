/* What the Home Assistant targets (fuzz_ha_inbound.c, fuzz_ha_ws.c) promise of every partial
 * report they make: the printer's own merge takes it (src/printer/report.c). Header-only:
 * each target is one file. */
#ifndef PD_FUZZ_MERGED_H
#define PD_FUZZ_MERGED_H

#include <stdlib.h>

#include <jansson.h>

#include "printer/report.h"

/* Merges report (taken) into an empty printer; aborts when it was not made or not taken. */
static inline void fuzz_merged(json_t *report)
{
    json_t *base = json_object();
    if (!report || !base || pd_report_merge(base, report, false))
        abort();
    json_decref(base);
    json_decref(report);
}

#endif
