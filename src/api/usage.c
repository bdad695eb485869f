/* /api/v1/usage: the filament usage rows the accounting (src/track/accounting.c) and people
 * (job corrections, manual jobs) write, listed with the inventory's filters, and as CSV. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "track/usage.h"

static void usage_list(pd_req *r) { pd_api_table_reply(r, pd_usage_list_open, false, NULL); }
static void usage_export(pd_req *r) { pd_api_table_reply(r, pd_usage_list_open, true, "usage.csv"); }

const pd_route pd_api_usage_routes[] = {
    {"GET", "/api/v1/usage", usage_list, 0},
    {"GET", "/api/v1/usage/export", usage_export, 0},
};
const size_t pd_api_usage_nroutes = sizeof pd_api_usage_routes / sizeof pd_api_usage_routes[0];
