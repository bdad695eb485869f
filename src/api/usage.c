/* /api/v1/usage: the filament usage rows the accounting (src/track/accounting.c) and people
 * (job corrections, manual jobs) write, listed with the inventory's filters, and as CSV. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "track/usage.h"

static void usage_list(pd_req *r)
{
    pd_app *app = pd_req_app(r);
    char buf[4096], t[24], limit[PD_IDENT_MAX_PRINTERS * 21];
    pd_inv_param p[PD_API_MAX_PARAMS];
    size_t n = pd_api_query_params(r, buf, sizeof buf, p, limit, sizeof limit);
    pd_usage_list l;
    pd_inv_err e = {0};
    if (pd_usage_list_get(app->inv, p, n, &l, &e)) {
        pd_api_inv_fail(r, &e);
        return;
    }
    snprintf(t, sizeof t, "%lld", (long long)l.total);
    pd_req_add_header(r, "x-total-count", t);
    pd_req_reply_json(r, 200, l.items);
}

static void usage_export(pd_req *r)
{
    pd_app *app = pd_req_app(r);
    char buf[4096], limit[PD_IDENT_MAX_PRINTERS * 21];
    pd_inv_param p[PD_API_MAX_PARAMS];
    size_t n = pd_api_query_params(r, buf, sizeof buf, p, limit, sizeof limit), len = 0;
    const char *fmt = pd_inv_param_get(p, n, "fmt");
    if (fmt && strcmp(fmt, "csv")) {
        pd_req_reply_field_error(r, "query", "fmt", "csv expected");
        return;
    }
    char *csv = NULL;
    pd_inv_err e = {0};
    if (pd_usage_export_csv(app->inv, p, n, &csv, &len, &e)) {
        pd_api_inv_fail(r, &e);
        return;
    }
    pd_req_add_header(r, "content-disposition", "attachment; filename=\"usage.csv\"");
    pd_req_reply_raw(r, 200, "text/csv; charset=utf-8", csv, len);
    free(csv);
}

const pd_route pd_api_usage_routes[] = {
    {"GET", "/api/v1/usage", usage_list, 0},
    {"GET", "/api/v1/usage/export", usage_export, 0},
};
const size_t pd_api_usage_nroutes = sizeof pd_api_usage_routes / sizeof pd_api_usage_routes[0];
