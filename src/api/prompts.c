/* /api/v1/prompts: "which spool is this?" — the slot and job filament prompts of
 * src/inventory/prompts.c, answered by assigning a spool or dismissed. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"

static bool path_id(pd_req *r, int64_t *id)
{
    const char *s = pd_req_param(r, "id");
    char *end;
    long long v = s && isdigit((unsigned char)*s) ? strtoll(s, &end, 10) : -1;
    if (v < 0 || *end) {
        pd_req_reply_field_error(r, "path", "id", "a prompt id (integer) expected");
        return false;
    }
    *id = v;
    return true;
}

static void reply(pd_req *r, pd_err rc, json_t *obj, const pd_inv_err *e)
{
    if (rc)
        pd_api_inv_fail(r, e);
    else
        pd_req_reply_json(r, 200, obj);
}

/* The printers a requester may see, as the inventory's prompts take them. */
static pd_inv_seen seen(pd_req *r)
{
    const pd_ident *who = pd_req_ident(r);
    return (pd_inv_seen){who->printers, who->nprinters};
}

/* ?all=true adds the answered, dismissed and replaced ones; ?printer=<id|serial> one printer's;
 * ?limit=&offset= a page, the count of all in X-Total-Count */
static void prompts_list(pd_req *r)
{
    pd_app *app = pd_req_app(r);
    char v[256], lv[32], ov[32], t[24];
    pd_inv_prompt_query q = {.seen = seen(r)};
    const char *a = pd_req_query(r, "all", v, sizeof v);
    if (a && !pd_inv_bool_parse(a, &q.all)) {
        pd_req_reply_field_error(r, "query", "all", "true or false expected");
        return;
    }
    pd_inv_param pg[2];
    size_t npg = 0;
    if (pd_req_query(r, "limit", lv, sizeof lv))
        pg[npg++] = (pd_inv_param){"limit", lv};
    if (pd_req_query(r, "offset", ov, sizeof ov))
        pg[npg++] = (pd_inv_param){"offset", ov};
    pd_inv_err e = {0};
    if (pd_inv_paging(pg, npg, &q.limit, &q.offset, &e)) {
        pd_api_inv_fail(r, &e);
        return;
    }
    if (pd_req_query(r, "printer", v, sizeof v)) {
        pd_printer *p = pd_fleet_find(app->fleet, v);
        if (!p || !pd_api_printer_visible(r, pd_printer_id(p))) {
            pd_req_reply_error(r, PD_ERR_NOTFOUND, "no printer '%.64s'", v);
            return;
        }
        q.printer_id = pd_printer_id(p);
    }
    json_t *out = NULL;
    int64_t total = 0;
    pd_err rc = pd_inv_prompts_list(app->inv, &q, &out, &total);
    if (rc) {
        pd_req_reply_error(r, rc, "cannot read the prompts");
        return;
    }
    snprintf(t, sizeof t, "%lld", (long long)total);
    pd_req_add_header(r, "x-total-count", t);
    pd_req_reply_json(r, 200, out);
}

static void prompt_get(pd_req *r)
{
    int64_t id;
    if (!path_id(r, &id))
        return;
    json_t *out = NULL;
    pd_inv_err e = {0};
    pd_err rc = pd_inv_prompt_get(((pd_app *)pd_req_app(r))->inv, id, seen(r), &out, &e);
    reply(r, rc, out, &e);
}

static void prompt_assign(pd_req *r)
{
    int64_t id;
    if (!path_id(r, &id))
        return;
    json_t *body = pd_req_json(r);
    if (!body)
        return;
    json_t *sid = json_object_get(body, "spool_id");
    if (!json_is_integer(sid)) {
        pd_req_reply_field_error(r, "body", "spool_id", "an integer spool id is required");
        return;
    }
    json_t *out = NULL;
    pd_inv_err e = {0};
    pd_err rc = pd_inv_prompt_assign(((pd_app *)pd_req_app(r))->inv, id, json_integer_value(sid), seen(r), &out,
                                     &e);
    reply(r, rc, out, &e);
}

static void prompt_dismiss(pd_req *r)
{
    int64_t id;
    if (!path_id(r, &id))
        return;
    json_t *out = NULL;
    pd_inv_err e = {0};
    pd_err rc = pd_inv_prompt_dismiss(((pd_app *)pd_req_app(r))->inv, id, seen(r), &out, &e);
    reply(r, rc, out, &e);
}

const pd_route pd_api_prompts_routes[] = {
    {"GET", "/api/v1/prompts", prompts_list, 0},
    {"GET", "/api/v1/prompts/{id}", prompt_get, 0},
    {"POST", "/api/v1/prompts/{id}/assign", prompt_assign, 0},
    {"POST", "/api/v1/prompts/{id}/dismiss", prompt_dismiss, 0},
};
const size_t pd_api_prompts_nroutes = sizeof pd_api_prompts_routes / sizeof pd_api_prompts_routes[0];
