/* GET /api/v1/printers/{id}/history: the printer's recent samples (src/track/history.c). */
#include <ctype.h>
#include <stdlib.h>

#include "api/api.h"
#include "track/history.h"

/* wider than any screen draws a chart: past it, nothing is reduced that a person could see */
#define HISTORY_MAX_POINTS 16384

static void history_get(pd_req *r)
{
    pd_app *app = pd_req_app(r);
    pd_printer *p = pd_api_printer_of(r);
    if (!p)
        return;
    char buf[32], *end = NULL;
    long long since = 0;
    if (pd_req_query(r, "since", buf, sizeof buf)) {
        since = isdigit((unsigned char)buf[0]) ? strtoll(buf, &end, 10) : -1;
        if (since < 0 || *end) {
            pd_req_reply_field_error(r, "query", "since",
                                     "milliseconds since the epoch (integer) expected");
            return;
        }
    }
    /* a chart asks for about its width in samples: more would only be drawn over each other */
    long long points = 0;
    if (pd_req_query(r, "points", buf, sizeof buf) || pd_req_query(r, "max", buf, sizeof buf)) {
        points = isdigit((unsigned char)buf[0]) ? strtoll(buf, &end, 10) : -1;
        if (points < 2 || points > HISTORY_MAX_POINTS || *end) {
            pd_req_reply_field_error(r, "query", "points", "an integer from 2 to %d expected",
                                     HISTORY_MAX_POINTS);
            return;
        }
    }
    json_t *o = pd_history_json(app->history, pd_printer_id(p), since, (size_t)points);
    if (!o)
        pd_req_reply_error(r, PD_ERR_NOMEM, NULL);
    else
        pd_req_reply_json(r, 200, o);
}

const pd_route pd_api_history_routes[] = {
    {"GET", "/api/v1/printers/{id}/history", history_get, 0},
};
const size_t pd_api_history_nroutes = sizeof pd_api_history_routes / sizeof *pd_api_history_routes;
