/* Where and when a job's file can be had from the printer's storage (docs/ftps.md, "Which
 * file, and when"). Pure data and rules, so the job recorder asks and a test can check:
 * the candidate paths for a task's subtask_name/gcode_file, the newest `.3mf` of a listing
 * when the task has no name, and the moment per model at which the file is there to fetch. */
#ifndef PD_FETCHPLAN_H
#define PD_FETCHPLAN_H

#include <stddef.h>

#include "files/ftps_list.h"
#include "printer/model.h"

#define PD_FETCHPLAN_PATH_MAX 512
#define PD_FETCHPLAN_MAX 24 /* candidates at most: 3 directories × the name variants */

typedef enum pd_fetch_moment {
    /* the file is complete once gcode_file_prepare_percent reaches prepare_percent while in
     * PREPARE: fetch then (A1, A1 mini, P1P, P1S, A2L) */
    PD_FETCH_AT_PREPARE,
    /* the file appears some seconds into RUNNING and may still be growing: try `attempts`
     * times, `interval_s` apart, from the first RUNNING report (X1, H2, P2S, X2D, unknown) */
    PD_FETCH_RETRY_RUNNING,
} pd_fetch_moment;

typedef struct pd_fetch_timing {
    pd_fetch_moment moment;
    int prepare_percent;   /* PD_FETCH_AT_PREPARE: 99 ("P1 sometimes only gets to 99 %") */
    int attempts;          /* both: how many tries in all */
    int interval_s;        /* between tries */
} pd_fetch_timing;

void pd_fetchplan_timing(pd_model m, pd_fetch_timing *out);

/* The paths to try, most likely first, without duplicates: in `/`, `/cache`, `/model`, the
 * subtask name as `NAME.3mf` and `NAME.gcode.3mf` (as is when it already ends in `.3mf`),
 * then gcode_file's own path when it is on the storage and its name's `.3mf` forms in each
 * directory. Names with a `/`, `..` or control characters are not used; gcode_file under
 * `/data` (X1's RAM disk, not served) gives only its name. Returns how many (0: the task
 * names nothing usable: take pd_fetchplan_newest_3mf of a listing of `/` and `/cache`). */
size_t pd_fetchplan_candidates(const char *subtask_name, const char *gcode_file,
                               char out[][PD_FETCHPLAN_PATH_MAX], size_t max);
/* The newest file whose name ends in `.3mf` (any case), by mtime; ties and unknown times
 * go to the later entry (vsFTPd lists in creation order). NULL when there is none. */
const pd_ftps_entry *pd_fetchplan_newest_3mf(const pd_ftps_entry *v, size_t n);

#endif
