/* Moving an inventory in and out over HTTP (docs/inventory-transfer.md): Spoolman's export,
 * GET /api/v1/export/{spools,filaments,vendors}?fmt=csv|json, and printdeck's import,
 * POST /api/v1/import?fmt=csv|json with an export as the body. The work is in
 * src/inventory/transfer.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/log.h"

/* ?fmt=, required as in Spoolman, whose schema check answers 422 for a missing or unknown one.
 * A Spoolman database is imported from the command line, where its file is. */
static bool query_format(pd_req *r, pd_inv_format *fmt)
{
    char buf[32];
    const char *v = pd_req_query(r, "fmt", buf, sizeof buf);
    if (v && pd_inv_format_parse(v, fmt) && *fmt != PD_INV_FMT_SPOOLMAN_DB)
        return true;
    pd_req_reply_field_error(r, "query", "fmt", "%s", v ? "Input should be 'csv' or 'json'" : "Field required");
    return false;
}

static void export_rows(pd_req *r)
{
    static const struct {
        const char *what;
        pd_inv_entity en;
    } tables[] = {{"vendors", PD_INV_VENDOR}, {"filaments", PD_INV_FILAMENT}, {"spools", PD_INV_SPOOL}};
    const char *what = pd_req_param(r, "what");
    size_t i = 0;
    while (i < sizeof tables / sizeof tables[0] && strcmp(tables[i].what, what))
        i++;
    if (i == sizeof tables / sizeof tables[0]) {
        pd_req_reply_error(r, PD_ERR_NOTFOUND, "Not Found");
        return;
    }
    pd_inv_format fmt;
    char buf[16];
    bool archived = false;
    if (!query_format(r, &fmt))
        return;
    /* as Spoolman, only the spool export reads allow_archived; the others ignore it */
    const char *aa = tables[i].en == PD_INV_SPOOL ? pd_req_query(r, "allow_archived", buf, sizeof buf) : NULL;
    if (aa && !pd_inv_bool_parse(aa, &archived)) {
        pd_req_reply_field_error(r, "query", "allow_archived", "Input should be a valid boolean");
        return;
    }
    pd_inv_cursor *cur;
    pd_err rc = pd_inv_export_open(((pd_app *)pd_req_app(r))->inv, tables[i].en, fmt, archived, &cur);
    if (rc) {
        pd_req_reply_error(r, rc, "%s", pd_strerror(rc));
        return;
    }
    char disposition[64];  /* browsers save it under Spoolman's name for it */
    snprintf(disposition, sizeof disposition, "attachment; filename=\"%s.%s\"", tables[i].what,
             fmt == PD_INV_FMT_CSV ? "csv" : "json");
    pd_req_add_header(r, "Content-Disposition", disposition);
    pd_api_inv_reply_cursor(r, fmt == PD_INV_FMT_CSV ? "text/csv; charset=utf-8" : "application/json", cur, false);
}

static void import_rows(pd_req *r)
{
    pd_inv_format fmt;
    pd_inv_import_counts n;
    pd_inv_err e;
    size_t len;
    if (!query_format(r, &fmt))
        return;
    const char *body = pd_req_body(r, &len);
    if (pd_inv_import(((pd_app *)pd_req_app(r))->inv, fmt, body, len, &n, &e)) {
        /* the message names the row and the field; a bad value is 422, a bad file 400 */
        pd_req_reply_error(r, e.code, "%s", e.msg);
        return;
    }
    pd_info("inventory", "import: %zu vendors, %zu filaments, %zu spools", n.created[PD_INV_VENDOR],
            n.created[PD_INV_FILAMENT], n.created[PD_INV_SPOOL]);
    pd_req_reply_json(r, 200, json_pack("{s:I,s:I,s:I}", "vendors", (json_int_t)n.created[PD_INV_VENDOR],
                                        "filaments", (json_int_t)n.created[PD_INV_FILAMENT], "spools",
                                        (json_int_t)n.created[PD_INV_SPOOL]));
}

const pd_route pd_api_transfer_routes[] = {
    {"GET", "/api/v1/export/{what}", export_rows, PD_ROUTE_SPOOLMAN},
    {"POST", "/api/v1/import", import_rows, PD_ROUTE_ADMIN},
};
const size_t pd_api_transfer_nroutes = sizeof pd_api_transfer_routes / sizeof pd_api_transfer_routes[0];
