/* How long a dried spool of a hygroscopic material may sit in an AMS before it should be dried
 * again (docs/alerts.md, "Hygroscopic materials"): a table of material names and hours, kept as
 * text in `[alerts] drying_hours` ("PVA:8, PA:12, …") so the file, the environment and the
 * dashboard's thresholds (docs/api.md) set it alike, and read by the drying check. Pure. */
#ifndef PD_TRACK_EXPOSURE_H
#define PD_TRACK_EXPOSURE_H

#include <stddef.h>

#include "core/err.h"

#define PD_EXPOSURE_MAX 32        /* materials in a table */
#define PD_EXPOSURE_NAME 24       /* a material's name, with its NUL */
#define PD_EXPOSURE_HOURS_MAX 8760
/* printdeck's defaults: docs/alerts.md gives their sources and why they are what they are */
#define PD_EXPOSURE_DEFAULT                                                                        \
    "PVA:8, BVOH:8, BUTENEDIOL:8, PA:12, PAHT:12, PPA:12, NYLON:12, PET-CF:24, PC:24, PPS:48, "    \
    "TPU:48, TPE:48, TPC:48, PETG:168, PET:168, PCTG:168, COPE:168"
/* the longest text a full table formats to: 32 names of 23 bytes, ":8760" and ", " each */
#define PD_EXPOSURE_TEXT (PD_EXPOSURE_MAX * (PD_EXPOSURE_NAME - 1 + 7) + 1)

typedef struct pd_exposure {
    size_t n;
    struct {
        char material[PD_EXPOSURE_NAME];
        int hours;
    } e[PD_EXPOSURE_MAX];
} pd_exposure;

/* "NAME:HOURS" entries separated by commas (spaces around either are ignored; "" is an empty
 * table). A name is letters, digits, '-', '+', '_' and inner spaces, at most 23 bytes, each
 * name once (without case); hours a whole number from 1 to 8760. On error `err` says which
 * entry and why, and *out is empty. */
pd_err pd_exposure_parse(const char *text, pd_exposure *out, char *err, size_t errlen);
/* The same check for a configuration key (core/config.h): nothing is kept. */
pd_err pd_exposure_check(const char *text, char *err, size_t errlen);
/* Hours for a material's name: the entry that is its longest prefix, any case, not followed by
 * a letter ("PA6-CF" is PA, "PETG HF" PETG, "PACK" nothing); 0 when none (not flagged). */
int pd_exposure_hours(const pd_exposure *t, const char *material);
/* The table as text pd_exposure_parse reads back the same (out holds PD_EXPOSURE_TEXT). */
void pd_exposure_format(const pd_exposure *t, char *out, size_t outlen);

#endif
