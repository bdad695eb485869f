/* Spoolman's /setting and /field resources (docs/inventory.md, settings and extra fields) over the
 * inventory's settings and extra fields. Every success is 200 with the JSON; errors take the
 * inventory's shape through pd_api_inv_fail. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "api/api.h"

static pd_inv *inv_of(pd_req *r) { return ((pd_app *)pd_req_app(r))->inv; }

static void reply(pd_req *r, pd_err rc, json_t *out, const pd_inv_err *e)
{
    if (rc)
        pd_api_inv_fail(r, e);
    else
        pd_req_reply_json(r, 200, out);
}

/* For calls that report only a code (a store failure). */
static void reply_code(pd_req *r, pd_err rc, json_t *out)
{
    pd_inv_err e;
    if (rc)
        pd_inv_fail(&e, rc, NULL, NULL, "%s", pd_strerror(rc));
    reply(r, rc, out, &e);
}

/* The body as any JSON value: a setting's body is a JSON string, which pd_req_json refuses.
 * NULL (with the 422 in e) when it does not parse, as Spoolman's request schema answers. */
static json_t *body_json(pd_req *r, pd_inv_err *e)
{
    size_t len;
    const char *body = pd_req_body(r, &len);
    json_error_t jerr;
    json_t *v = json_loadb(body, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!v)
        pd_inv_fail(e, PD_ERR_FIELD, "body", NULL, "JSON decode error: %s", jerr.text);
    return v;
}

static void settings_list(pd_req *r)
{
    json_t *out = NULL;
    pd_err rc = pd_inv_setting_all(inv_of(r), &out);
    reply_code(r, rc, out);
}

static void setting_get(pd_req *r)
{
    json_t *out = NULL;
    pd_inv_err e;
    pd_err rc = pd_inv_setting_get(inv_of(r), pd_req_param(r, "key"), &out, &e);
    reply(r, rc, out, &e);
}

/* Spoolman 0.26 takes only JSON here: an HTML form can post text/plain across origins, and a
 * bare string body would accept it. */
static bool json_content(pd_req *r, char *media, size_t len)
{
    if (!pd_req_header(r, "content-type", media, len))
        media[0] = '\0';
    const char *m = media + strspn(media, " \t");
    size_t n = strcspn(m, ";");
    while (n && isspace((unsigned char)m[n - 1]))
        n--;
    memmove(media, m, n);
    media[n] = '\0';
    for (char *p = media; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return !strcmp(media, "application/json") || (n >= 5 && !strcmp(media + n - 5, "+json"));
}

static void setting_set(pd_req *r)
{
    char media[128];
    if (!json_content(r, media, sizeof media)) {
        /* 415 with FastAPI's {"detail"} body, as Spoolman answers it */
        char msg[256];
        snprintf(msg, sizeof msg, "Unsupported content type '%s'. The body of this endpoint must be sent as "
                                  "application/json.", media);
        pd_req_reply_json(r, 415, json_pack("{s:s}", "detail", msg));
        return;
    }
    pd_inv_err e;
    json_t *out = NULL, *body = body_json(r, &e);
    pd_err rc = body ? pd_inv_setting_set(inv_of(r), pd_req_param(r, "key"), body, &out, &e) : e.code;
    json_decref(body);
    reply(r, rc, out, &e);
}

/* {entity} of a /field path, or a 422 replied. */
static bool entity_of(pd_req *r, pd_inv_entity *en)
{
    if (pd_inv_entity_parse(pd_req_param(r, "entity"), en))
        return true;
    pd_inv_err e;
    pd_inv_fail(&e, PD_ERR_FIELD, "path", "entity_type", "Input should be 'vendor', 'filament' or 'spool'");
    pd_api_inv_fail(r, &e);
    return false;
}

static void fields_list(pd_req *r)
{
    pd_inv_entity en;
    if (!entity_of(r, &en))
        return;
    json_t *out = NULL;
    pd_err rc = pd_inv_fields_list(inv_of(r), en, &out);
    reply_code(r, rc, out);
}

static void field_put(pd_req *r)
{
    pd_inv_entity en;
    if (!entity_of(r, &en))
        return;
    pd_inv_err e;
    json_t *out = NULL, *body = body_json(r, &e);
    pd_err rc = body ? pd_inv_field_put(inv_of(r), en, pd_req_param(r, "key"), body, &out, &e) : e.code;
    json_decref(body);
    reply(r, rc, out, &e);
}

static void field_delete(pd_req *r)
{
    pd_inv_entity en;
    if (!entity_of(r, &en))
        return;
    json_t *out = NULL;
    pd_inv_err e;
    pd_err rc = pd_inv_field_delete(inv_of(r), en, pd_req_param(r, "key"), &out, &e);
    reply(r, rc, out, &e);
}

static void field_values(pd_req *r)
{
    pd_inv_entity en;
    if (!entity_of(r, &en))
        return;
    json_t *out = NULL;
    pd_inv_err e;
    pd_err rc = pd_inv_field_values(inv_of(r), en, pd_req_param(r, "key"), &out, &e);
    reply(r, rc, out, &e);
}

const pd_route pd_api_settings_routes[] = {
    {"GET", "/api/v1/setting", settings_list, PD_ROUTE_SPOOLMAN},
    {"GET", "/api/v1/setting/{key}", setting_get, PD_ROUTE_SPOOLMAN},
    {"POST", "/api/v1/setting/{key}", setting_set, PD_ROUTE_SPOOLMAN | PD_ROUTE_ADMIN},
    {"GET", "/api/v1/field/{entity}", fields_list, PD_ROUTE_SPOOLMAN},
    {"POST", "/api/v1/field/{entity}/{key}", field_put, PD_ROUTE_SPOOLMAN},
    {"DELETE", "/api/v1/field/{entity}/{key}", field_delete, PD_ROUTE_SPOOLMAN},
    {"GET", "/api/v1/field/{entity}/{key}/values", field_values, PD_ROUTE_SPOOLMAN},
};
const size_t pd_api_settings_nroutes = sizeof pd_api_settings_routes / sizeof pd_api_settings_routes[0];
