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

/* The printer filter of a requester limited to some printers: the printers asked for that it
 * may see, or all of those when none was asked for ("0", no printer, when none is left). */
static const char *limited_printers(const pd_ident *who, const char *asked, char *out, size_t len)
{
    size_t at = 0;
    out[0] = '\0';
    for (size_t i = 0; i < who->nprinters && at < len; i++) {
        char id[24];
        snprintf(id, sizeof id, "%lld", (long long)who->printers[i]);
        bool want = !asked;
        for (const char *a = asked; a && *a && !want; a += strcspn(a, ","), a += *a == ',')
            want = strcspn(a, ",") == strlen(id) && !strncmp(a, id, strlen(id));
        if (want)
            at += (size_t)snprintf(out + at, len - at, "%s%s", at ? "," : "", id);
    }
    return at && at < len ? out : "0";
}

size_t pd_api_query_params(pd_req *r, char *buf, size_t buflen, pd_inv_param *p, char *limit,
                           size_t limitlen)
{
    const char *names[PD_API_MAX_PARAMS], *values[PD_API_MAX_PARAMS];
    size_t n = pd_req_query_all(r, buf, buflen, names, values, PD_API_MAX_PARAMS - 1), k = 0;
    const pd_ident *who = pd_req_ident(r);
    const char *asked = NULL;
    for (size_t i = 0; i < n; i++) {
        /* the name and its alias both go: a list reads the name first, so either one left in
         * place would widen what the requester sees */
        if (who->nprinters && (!strcmp(names[i], "printer_id") || !strcmp(names[i], "printer"))) {
            asked = asked ? asked : values[i];
            continue;
        }
        p[k++] = (pd_inv_param){names[i], values[i]};
    }
    if (who->nprinters)
        p[k++] = (pd_inv_param){"printer_id", limited_printers(who, asked, limit, limitlen)};
    return k;
}

/* The job {id} when the requester may see its printer; false after replying 404. */
static bool job_visible(pd_req *r, int64_t id)
{
    const pd_ident *who = pd_req_ident(r);
    if (!who->nprinters)
        return true;
    json_t *o = NULL;
    pd_inv_err e = {0};
    pd_err rc = pd_jobs_get(((pd_app *)pd_req_app(r))->db, id, false, &o, &e);
    json_t *pid = o ? json_object_get(o, "printer_id") : NULL;
    bool ok = !rc && json_is_integer(pid) && pd_auth_sees(who, json_integer_value(pid));
    json_decref(o);
    if (!ok)
        pd_req_reply_error(r, PD_ERR_NOTFOUND, "No job with ID %lld.", (long long)id);
    return ok;
}

void pd_api_table_reply(pd_req *r, pd_api_table_open open, bool csv, const char *file)
{
    char buf[4096], disposition[128], limit[PD_IDENT_MAX_PRINTERS * 21];
    pd_inv_param p[PD_API_MAX_PARAMS];
    size_t n = pd_api_query_params(r, buf, sizeof buf, p, limit, sizeof limit);
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
    if (!path_id(r, &id) || !job_visible(r, id))
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
    if (!path_id(r, &id) || !job_visible(r, id) || !(body = pd_req_json(r)))
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
    /* a user limited to some printers records prints on those only */
    json_t *pid = json_object_get(body, "printer_id");
    const pd_ident *who = pd_req_ident(r);
    if (who->nprinters && !(json_is_integer(pid) && pd_auth_sees(who, json_integer_value(pid)))) {
        pd_req_reply_field_error(r, "body", "printer_id", "one of your printers is required");
        return;
    }
    pd_inv_err e = {0};
    pd_err rc = pd_jobs_create(app->inv, app->bus, body, &o, &e);
    reply(r, rc, 201, o, &e);
}

static void jobs_end(pd_req *r)
{
    pd_app *app = pd_req_app(r);
    int64_t id;
    size_t len;
    if (!path_id(r, &id) || !job_visible(r, id))
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
    if (!path_id(r, &id) || !job_visible(r, id))
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
