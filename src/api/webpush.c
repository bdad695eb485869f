/* /api/v1/notifications/push/… (docs/api.md, Notifications; docs/notify.md, Web Push): the
 * VAPID public key a browser subscribes with, and the requester's own subscriptions: a
 * viewer may have their devices told, so these are a viewer's routes, each seeing only its
 * owner's rows (the user, else the token a session came from). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "api/api.h"
#include "core/clock.h"
#include "core/log.h"
#include "notify/webpush.h"

/* the devices one owner keeps; the oldest go first, as sessions do */
#define SUBS_PER_OWNER 32

/* The requester as an owner: the SQL condition on webpush_sub and its argument (*n of them). */
static const char *owner(pd_req *r, pd_sqlv *v, size_t *n)
{
    const pd_ident *id = pd_req_ident(r);
    *n = 1;
    if (id->user_id) {
        *v = PD_SQL_I(id->user_id);
        return "user_id = ?";
    }
    if (id->token_id) {
        *v = PD_SQL_I(id->token_id);
        return "user_id IS NULL AND token_id = ?";
    }
    *n = 0;
    return "user_id IS NULL AND token_id IS NULL";
}

typedef struct wp_channel {
    json_t *shown;   /* {id, name, enabled} */
    json_t *cfg;     /* its configuration */
} wp_channel;

static pd_err channel_row(const pd_row *row, void *ud)
{
    wp_channel *c = ud;
    if (c->shown)
        return PD_OK;
    c->shown = json_pack("{s:I,s:s,s:b}", "id", (json_int_t)pd_row_int(row, 0), "name", pd_row_text(row, 1),
                         "enabled", (int)pd_row_int(row, 2));
    c->cfg = json_loads(pd_row_text(row, 3), 0, NULL);
    return c->shown && c->cfg ? PD_OK : PD_ERR_DB;
}

/* The first webpush channel (the one the dashboard offers); both NULL when there is none. */
static pd_err channel_of(pd_db *db, wp_channel *c)
{
    *c = (wp_channel){0};
    pd_err rc = pd_db_query(db, "SELECT id, name, enabled, config FROM notify_channel WHERE type = 'webpush' "
                            "ORDER BY id", NULL, 0, channel_row, c);
    if (rc) {
        json_decref(c->shown);
        json_decref(c->cfg);
        *c = (wp_channel){0};
    }
    return rc;
}

static void key_get(pd_req *r)
{
    pd_app *app = pd_req_app(r);
    uint8_t d[PD_WP_PRIV_LEN], k[PD_WP_PUB_LEN];
    char text[100];
    wp_channel ch = {0};
    pd_err rc = pd_wp_key(app->db, d, k);
    OPENSSL_cleanse(d, sizeof d);
    if (!rc)
        rc = channel_of(app->db, &ch);
    if (rc) {
        pd_req_reply_error(r, rc, "cannot read the Web Push key");
        return;
    }
    pd_b64url_enc(k, sizeof k, text, sizeof text);
    json_decref(ch.cfg);
    pd_req_reply_json(r, 200, json_pack("{s:s,s:o}", "public_key", text, "channel", ch.shown ? ch.shown : json_null()));
}

static pd_err sub_row(const pd_row *row, void *ud)
{
    json_t *o = json_pack("{s:I,s:s,s:o}", "id", (json_int_t)pd_row_int(row, 0), "endpoint", pd_row_text(row, 1),
                          "created_at", pd_inv_time_json(pd_row_int(row, 2)));
    return json_array_append_new(ud, o) ? PD_ERR_NOMEM : PD_OK;
}

/* The requester's subscriptions, or the one of `endpoint` when not NULL. */
static pd_err subs_of(pd_req *r, const char *endpoint, json_t **out)
{
    pd_app *app = pd_req_app(r);
    pd_sqlv v[2];
    size_t n;
    const char *who = owner(r, v, &n);
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT id, endpoint, created_at FROM webpush_sub WHERE %s%s ORDER BY id", who,
             endpoint ? " AND endpoint = ?" : "");
    if (endpoint)
        v[n++] = PD_SQL_S(endpoint);
    *out = json_array();
    pd_err rc = *out ? pd_db_query(app->db, sql, v, n, sub_row, *out) : PD_ERR_NOMEM;
    if (rc) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

static void subs_list(pd_req *r)
{
    json_t *a;
    pd_err rc = subs_of(r, NULL, &a);
    if (rc)
        pd_req_reply_error(r, rc, "cannot read the subscriptions");
    else
        pd_req_reply_json(r, 200, a);
}

static void sub_create(pd_req *r)
{
    pd_app *app = pd_req_app(r);
    json_t *body = pd_req_json(r);
    if (!body)
        return;
    pd_wp_sub s;
    const char *field = "body";
    char why[256];
    if (pd_wp_sub_parse(body, &s, &field, why, sizeof why)) {
        pd_req_reply_field_error(r, "body", field, "%s", why);
        return;
    }
    const pd_ident *id = pd_req_ident(r);
    pd_sqlv v[] = {PD_SQL_S(s.endpoint), PD_SQL_S(s.p256dh), PD_SQL_S(s.auth),
                   id->user_id ? PD_SQL_I(id->user_id) : PD_SQL_NUL,
                   !id->user_id && id->token_id ? PD_SQL_I(id->token_id) : PD_SQL_NUL,
                   PD_SQL_I(pd_clock_wall_ms() / 1000)};
    /* the same browser again (a renewed subscription, or another person signed in on it): its
     * keys and owner are the latest */
    pd_err rc = pd_db_run(app->db, "INSERT INTO webpush_sub (endpoint, p256dh, auth, user_id, token_id, created_at) "
                          "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (endpoint) DO UPDATE SET p256dh = excluded.p256dh, "
                          "auth = excluded.auth, user_id = excluded.user_id, token_id = excluded.token_id, "
                          "created_at = excluded.created_at", v, 6, NULL);
    pd_sqlv o[2];
    size_t n;
    const char *who = owner(r, o, &n);
    char sql[256];
    snprintf(sql, sizeof sql, "DELETE FROM webpush_sub WHERE id IN (SELECT id FROM webpush_sub WHERE %s "
             "ORDER BY id DESC LIMIT 1000000 OFFSET %d)", who, SUBS_PER_OWNER);
    if (!rc)
        rc = pd_db_run(app->db, sql, o, n, NULL);
    json_t *a = NULL;
    if (!rc)
        rc = subs_of(r, s.endpoint, &a);
    if (rc || !json_array_size(a)) {
        json_decref(a);
        pd_req_reply_error(r, rc ? rc : PD_ERR_DB, "cannot keep the subscription");
        return;
    }
    pd_info("notify", "Web Push subscription %lld for %s", (long long)json_integer_value(json_object_get(json_array_get(a, 0), "id")),
            id->name);
    pd_req_reply_json(r, 201, json_incref(json_array_get(a, 0)));
    json_decref(a);
}

/* The endpoint a body {endpoint} names, or NULL after replying 422. */
static const char *endpoint_of(pd_req *r)
{
    json_t *body = pd_req_json(r);
    const char *e = body ? json_string_value(json_object_get(body, "endpoint")) : NULL;
    if (body && !e)
        pd_req_reply_field_error(r, "body", "endpoint", "required");
    return e;
}

/* DELETE …/subscriptions?endpoint=…: DELETE carries no body here (http.c) */
static void sub_delete(pd_req *r)
{
    pd_app *app = pd_req_app(r);
    char e[PD_NOTIFY_URL_MAX + 1];
    if (!pd_req_query(r, "endpoint", e, sizeof e)) {
        pd_req_reply_field_error(r, "query", "endpoint", "required");
        return;
    }
    pd_sqlv v[2];
    size_t n;
    const char *who = owner(r, v, &n);
    char sql[256];
    snprintf(sql, sizeof sql, "DELETE FROM webpush_sub WHERE %s AND endpoint = ?", who);
    v[n++] = PD_SQL_S(e);
    int64_t changes = 0;
    pd_err rc = pd_db_run(app->db, sql, v, n, &changes);
    if (rc || !changes)
        pd_req_reply_error(r, rc ? rc : PD_ERR_NOTFOUND, rc ? "cannot delete the subscription"
                                                            : "no subscription of yours has this endpoint");
    else
        pd_req_reply_raw(r, 204, "application/json", "", 0);
}

typedef struct device {
    int64_t channel_id;
    json_t *target;
} device;

static pd_err start_device(pd_req *r, void *arg, pd_notify_test_cb cb, void *ud, uint64_t *handle)
{
    device *dv = arg;
    pd_notify_test_target(((pd_app *)pd_req_app(r))->notify, dv->channel_id, pd_notify_type_find("webpush"),
                          dv->target, cb, ud, handle);
    return PD_OK;
}

/* POST …/push/test {endpoint}: the test message to one of the requester's devices, through
 * the Web Push channel (so its subject and the delivery log apply). */
static void device_test(pd_req *r)
{
    pd_app *app = pd_req_app(r);
    const char *e = endpoint_of(r);
    if (!e)
        return;
    json_t *subs = NULL;
    wp_channel ch = {0};
    device dv = {0};
    pd_err rc = subs_of(r, e, &subs);
    if (!rc && !json_array_size(subs)) {
        json_decref(subs);
        pd_req_reply_error(r, PD_ERR_NOTFOUND, "no subscription of yours has this endpoint");
        return;
    }
    if (!rc)
        rc = channel_of(app->db, &ch);
    if (!rc && !ch.shown) {
        json_decref(subs);
        pd_req_reply_error(r, PD_ERR_INVAL, "no Web Push channel: an admin adds one (Settings, Notifications)");
        return;
    }
    dv.channel_id = ch.shown ? json_integer_value(json_object_get(ch.shown, "id")) : 0;
    if (!rc)
        rc = pd_wp_target(app->db, ch.cfg, json_integer_value(json_object_get(json_array_get(subs, 0), "id")),
                          &dv.target);
    if (!rc)
        rc = pd_api_notify_test_run(r, start_device, &dv);
    if (rc)
        pd_req_reply_error(r, rc, "cannot send the test: %s", pd_strerror(rc));
    json_decref(ch.shown);
    json_decref(ch.cfg);
    json_decref(dv.target);
    json_decref(subs);
}

const pd_route pd_api_webpush_routes[] = {
    {"GET", "/api/v1/notifications/push/key", key_get, PD_ROUTE_VIEWER},
    {"GET", "/api/v1/notifications/push/subscriptions", subs_list, PD_ROUTE_VIEWER},
    {"POST", "/api/v1/notifications/push/subscriptions", sub_create, PD_ROUTE_VIEWER},
    {"DELETE", "/api/v1/notifications/push/subscriptions", sub_delete, PD_ROUTE_VIEWER},
    {"POST", "/api/v1/notifications/push/test", device_test, PD_ROUTE_VIEWER},
};
const size_t pd_api_webpush_nroutes = sizeof pd_api_webpush_routes / sizeof pd_api_webpush_routes[0];
