/* /api/v1/jobs: the print history the job recorder keeps (src/track/jobs.c), manual jobs for
 * printers printdeck cannot see, and the CSV export. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "track/jobs.h"

static bool path_id(pd_req *r, int64_t *id)
{
    const char *s = pd_req_param(r, "id");
    char *end;
    long long v = s && isdigit((unsigned char)*s) ? strtoll(s, &end, 10) : -1;
    if (v < 0 || *end) {
        pd_req_reply_field_error(r, "path", "id", "a job id (integer) expected");
        return false;
    }
    *id = v;
    return true;
}

static void reply(pd_req *r, pd_err rc, int status, json_t *obj, const pd_inv_err *e)
{
    if (rc)
        pd_api_inv_fail(r, e);
    else
        pd_req_reply_json(r, status, obj);
}

size_t pd_api_query_params(pd_req *r, char *buf, size_t buflen, pd_inv_param *p)
{
    const char *names[PD_API_MAX_PARAMS], *values[PD_API_MAX_PARAMS];
    size_t n = pd_req_query_all(r, buf, buflen, names, values, PD_API_MAX_PARAMS);
    for (size_t i = 0; i < n; i++)
        p[i] = (pd_inv_param){names[i], values[i]};
    return n;
}

void pd_api_table_reply(pd_req *r, pd_api_table_open open, bool csv, const char *file)
{
    char buf[4096], disposition[128];
    pd_inv_param p[PD_API_MAX_PARAMS];
    size_t n = pd_api_query_params(r, buf, sizeof buf, p);
    const char *fmt = pd_inv_param_get(p, n, "fmt");
    if (csv && fmt && strcmp(fmt, "csv")) {
        pd_req_reply_field_error(r, "query", "fmt", "csv expected");
        return;
    }
    pd_inv_cursor *cur;
    pd_inv_err e = {0};
    if (open(((pd_app *)pd_req_app(r))->inv, p, n, csv, &cur, &e)) {
        pd_api_inv_fail(r, &e);
        return;
    }
    if (csv) {
        snprintf(disposition, sizeof disposition, "attachment; filename=\"%s\"", file);
        pd_req_add_header(r, "content-disposition", disposition);
    }
    pd_api_inv_reply_cursor(r, csv ? "text/csv; charset=utf-8" : "application/json", cur, !csv);
}

static void jobs_list(pd_req *r) { pd_api_table_reply(r, pd_jobs_list_open, false, NULL); }
static void jobs_export(pd_req *r) { pd_api_table_reply(r, pd_jobs_list_open, true, "jobs.csv"); }

static void jobs_get(pd_req *r)
{
    int64_t id;
    if (!path_id(r, &id))
        return;
    json_t *o = NULL;
    pd_inv_err e = {0};
    pd_err rc = pd_jobs_get(((pd_app *)pd_req_app(r))->db, id, true, &o, &e);
    reply(r, rc, 200, o, &e);
}

static void jobs_patch(pd_req *r)
{
    pd_app *app = pd_req_app(r);
    int64_t id;
    json_t *body;
    if (!path_id(r, &id) || !(body = pd_req_json(r)))
        return;
    json_t *o = NULL;
    pd_inv_err e = {0};
    pd_err rc = pd_jobs_patch(app->inv, app->bus, id, body, &o, &e);
    reply(r, rc, 200, o, &e);
}

static void jobs_create(pd_req *r)
{
    pd_app *app = pd_req_app(r);
    json_t *body = pd_req_json(r), *o = NULL;
    if (!body)
        return;
    pd_inv_err e = {0};
    pd_err rc = pd_jobs_create(app->inv, app->bus, body, &o, &e);
    reply(r, rc, 201, o, &e);
}

static void jobs_end(pd_req *r)
{
    pd_app *app = pd_req_app(r);
    int64_t id;
    size_t len;
    if (!path_id(r, &id))
        return;
    pd_req_body(r, &len);
    json_t *body = len ? pd_req_json(r) : NULL, *o = NULL;
    if (len && !body)
        return;
    pd_inv_err e = {0};
    pd_err rc = pd_jobs_end(app->inv, app->bus, id, body, &o, &e);
    reply(r, rc, 200, o, &e);
}

/* The plate's picture from the job's 3MF. It never changes once kept, so clients may keep it. */
static void jobs_thumbnail(pd_req *r)
{
    int64_t id;
    if (!path_id(r, &id))
        return;
    unsigned char *png = NULL;
    size_t len = 0;
    pd_inv_err e = {0};
    if (pd_jobs_thumbnail(((pd_app *)pd_req_app(r))->db, id, &png, &len, &e)) {
        pd_api_inv_fail(r, &e);
        return;
    }
    char etag[48], have[64];
    snprintf(etag, sizeof etag, "\"job-%lld-%zu\"", (long long)id, len);
    pd_req_add_header(r, "cache-control", "private, max-age=86400");
    pd_req_add_header(r, "etag", etag);
    const char *inm = pd_req_header(r, "if-none-match", have, sizeof have);
    if (inm && !strcmp(inm, etag))
        pd_req_reply_raw(r, 304, "image/png", "", 0);
    else
        pd_req_reply_raw(r, 200, "image/png", (const char *)png, len);
    free(png);
}

/* export before {id}: the first pattern that matches wins */
const pd_route pd_api_jobs_routes[] = {
    {"GET", "/api/v1/jobs", jobs_list, 0},
    {"POST", "/api/v1/jobs", jobs_create, 0},
    {"GET", "/api/v1/jobs/export", jobs_export, 0},
    {"GET", "/api/v1/jobs/{id}", jobs_get, 0},
    {"PATCH", "/api/v1/jobs/{id}", jobs_patch, 0},
    {"POST", "/api/v1/jobs/{id}/end", jobs_end, 0},
    {"GET", "/api/v1/jobs/{id}/thumbnail", jobs_thumbnail, 0},
};
const size_t pd_api_jobs_nroutes = sizeof pd_api_jobs_routes / sizeof pd_api_jobs_routes[0];
