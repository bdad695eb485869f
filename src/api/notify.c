/* /api/v1/notifications/… (docs/api.md, Notifications): the channels, a test message, the
 * delivery log. A channel is {type, name, enabled, events, owner_id, …its type's fields}; its
 * secrets are written, never shown: "<field>_set" says whether one is. Admins manage every
 * channel; a signed-in user manages the channels they own, which hear only the printers they
 * see (their URLs and secrets reach their own phones, nobody else's). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"

#define CHAN_COLS "id, type, name, enabled, events, config, created_at, last_ok_at, last_error, last_error_at, owner_id"

static json_t *time_or_null(const pd_row *row, int c)
{
    return pd_row_null(row, c) ? json_null() : pd_inv_time_json(pd_row_int(row, c));
}

static pd_err chan_row(const pd_row *row, void *ud)
{
    const pd_notify_type *t = pd_notify_type_find(pd_row_text(row, 1));
    json_t *events = json_array(), *cfg = json_loads(pd_row_text(row, 5), 0, NULL);
    char ev[512];
    snprintf(ev, sizeof ev, "%s", pd_row_text(row, 4));
    for (char *save = NULL, *tok = strtok_r(ev, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        json_array_append_new(events, json_string(tok));
    json_t *o = json_pack("{s:I,s:s,s:s,s:b,s:o}", "id", (json_int_t)pd_row_int(row, 0), "type", pd_row_text(row, 1),
                          "name", pd_row_text(row, 2), "enabled", (int)pd_row_int(row, 3), "events", events);
    for (const char *const *s = t ? t->secrets : NULL; o && s && *s; s++) {
        char key[64];
        snprintf(key, sizeof key, "%s_set", *s);
        json_object_set_new(o, key, json_boolean(json_is_string(json_object_get(cfg, *s))));
    }
    const char *k;
    json_t *v;
    json_object_foreach(cfg, k, v) if (o && t && !pd_notify_type_secret(t, k)) json_object_set(o, k, v);
    json_decref(cfg);
    if (!o)
        return PD_ERR_NOMEM;
    json_object_set_new(o, "created_at", pd_inv_time_json(pd_row_int(row, 6)));
    json_object_set_new(o, "last_ok_at", time_or_null(row, 7));
    json_object_set_new(o, "last_error", pd_row_null(row, 8) ? json_null() : json_string(pd_row_text(row, 8)));
    json_object_set_new(o, "last_error_at", time_or_null(row, 9));
    json_object_set_new(o, "owner_id", pd_row_null(row, 10) ? json_null() : json_integer(pd_row_int(row, 10)));
    return json_array_append_new(ud, o) ? PD_ERR_NOMEM : PD_OK;
}

static int64_t path_id(pd_req *r)
{
    const char *s = pd_req_param(r, "id");
    char *end = NULL;
    long long v = s && isdigit((unsigned char)*s) ? strtoll(s, &end, 10) : -1;
    return end && !*end && v > 0 ? v : -1;
}

/* The user whose channels a request manages, or 0 for an admin (every channel). */
int64_t pd_api_notify_owner(pd_req *r)
{
    const pd_ident *who = pd_req_ident(r);
    return who->role == PD_ROLE_ADMIN ? 0 : who->user_id ? who->user_id : -1;
}

/* The channel id as the API shows it, into *out; NOTFOUND when there is none. */
static pd_err chan_get(pd_db *db, int64_t id, json_t **out)
{
    json_t *a = json_array();
    pd_sqlv v = PD_SQL_I(id);
    pd_err rc = a ? pd_db_query(db, "SELECT " CHAN_COLS " FROM notify_channel WHERE id = ?", &v, 1, chan_row, a)
                  : PD_ERR_NOMEM;
    if (!rc && !json_array_size(a))
        rc = PD_ERR_NOTFOUND;
    *out = rc ? NULL : json_incref(json_array_get(a, 0));
    json_decref(a);
    return rc;
}

static pd_err found_row(const pd_row *row, void *ud)
{
    (void)row;
    *(bool *)ud = true;
    return PD_OK;
}

pd_err pd_api_notify_owned(pd_req *r, int64_t id)
{
    int64_t owner = pd_api_notify_owner(r);
    bool found = false;
    pd_sqlv v[] = {PD_SQL_I(id), PD_SQL_I(owner), PD_SQL_I(owner)};
    if (owner < 0)
        return PD_ERR_FORBIDDEN;
    pd_err rc = pd_db_query(((pd_app *)pd_req_app(r))->db, "SELECT 1 FROM notify_channel WHERE id = ? AND "
                            "(? = 0 OR owner_id = ?)", v, 3, found_row, &found);
    return rc ? rc : found ? PD_OK : PD_ERR_NOTFOUND;
}

/* Replies to a request for channel id it may not manage; false then. */
static bool owned(pd_req *r, int64_t id)
{
    pd_err rc = pd_api_notify_owned(r, id);
    if (rc)
        pd_req_reply_error(r, rc, rc == PD_ERR_NOTFOUND ? "no channel %lld"
                                  : rc == PD_ERR_FORBIDDEN ? "channel %lld: only a signed-in user owns channels"
                                                           : "cannot read the channel %lld", (long long)id);
    return !rc;
}

/* Whether user id exists, for a channel given to them. */
static bool owner_ok(pd_req *r, int64_t id)
{
    bool found = !id;
    pd_sqlv v = PD_SQL_I(id);
    if (id && pd_db_query(((pd_app *)pd_req_app(r))->db, "SELECT 1 FROM account WHERE id = ?", &v, 1, found_row,
                          &found))
        found = false;
    if (!found)
        pd_req_reply_field_error(r, "body", "owner_id", "no user %lld", (long long)id);
    return found;
}

/* --- a channel from a body ------------------------------------------------------------------- */

typedef struct chan {
    const pd_notify_type *t;
    char name[128];
    bool enabled;
    char events[512];
    json_t *cfg;                  /* owned */
    int64_t owner;                /* a user's id, 0 none (an admin's channel for everyone) */
    bool admin;                   /* the requester: only an admin gives a channel to a user */
} chan;

/* Applies body to c (a new one: type required, defaults for the rest). FIELD with the field
 * and why when something is wrong; nothing is kept then. */
static pd_err chan_apply(chan *c, json_t *body, bool create, const char **field, char *why, size_t whylen)
{
    const char *k;
    json_t *v;
    json_t *type = json_object_get(body, "type");
    *field = "type";
    if (create) {
        if (!(c->t = pd_notify_type_find(json_string_value(type)))) {
            snprintf(why, whylen, "a channel type expected (docs/notify.md lists them)");
            return PD_ERR_FIELD;
        }
        c->enabled = true;
        size_t len = 0;
        for (size_t i = 0; i < pd_notify_nkinds; i++)
            if (pd_notify_kinds[i].deflt)
                len += (size_t)snprintf(c->events + len, sizeof c->events - len, "%s%s", len ? "," : "",
                                        pd_notify_kinds[i].name);
    } else if (type && (!json_is_string(type) || strcmp(json_string_value(type), c->t->name))) {
        snprintf(why, whylen, "a channel's type cannot change");
        return PD_ERR_FIELD;
    }
    json_object_foreach(body, k, v) {
        *field = k;
        if (!strcmp(k, "type"))
            continue;
        if (!strcmp(k, "name")) {
            size_t n = json_is_string(v) ? strlen(json_string_value(v)) : 0;
            if (!n || n >= sizeof c->name) {
                snprintf(why, whylen, "a name of 1 to 127 bytes expected");
                return PD_ERR_FIELD;
            }
            snprintf(c->name, sizeof c->name, "%s", json_string_value(v));
        } else if (!strcmp(k, "enabled")) {
            if (!json_is_boolean(v)) {
                snprintf(why, whylen, "true or false expected");
                return PD_ERR_FIELD;
            }
            c->enabled = json_is_true(v);
        } else if (!strcmp(k, "events")) {
            size_t i, len = 0;
            json_t *e;
            if (!json_is_array(v)) {
                snprintf(why, whylen, "an array of event kinds expected");
                return PD_ERR_FIELD;
            }
            c->events[0] = '\0';
            json_array_foreach(v, i, e) {
                if (!json_is_string(e) || !pd_notify_kind_known(json_string_value(e))) {
                    snprintf(why, whylen, "item %zu: not an event kind (docs/notify.md lists them)", i + 1);
                    return PD_ERR_FIELD;
                }
                len += (size_t)snprintf(c->events + len, sizeof c->events - len, "%s%s", len ? "," : "",
                                        json_string_value(e));
            }
        } else if (!strcmp(k, "owner_id")) {
            if (!c->admin) {
                snprintf(why, whylen, "only an admin gives a channel to another user");
                return PD_ERR_FIELD;
            }
            if (!json_is_null(v) && (!json_is_integer(v) || json_integer_value(v) <= 0)) {
                snprintf(why, whylen, "a user's id, or null for a channel of every printer");
                return PD_ERR_FIELD;
            }
            c->owner = json_is_null(v) ? 0 : json_integer_value(v);
        } else if (json_is_null(v)) {
            json_object_del(c->cfg, k);
        } else {
            json_object_set(c->cfg, k, v);
        }
    }
    if (!c->name[0]) {
        *field = "name";
        snprintf(why, whylen, "required");
        return PD_ERR_FIELD;
    }
    return c->t->validate(c->cfg, field, why, whylen);
}

static void reply_chan(pd_req *r, int status, int64_t id)
{
    json_t *o = NULL;
    pd_err rc = chan_get(((pd_app *)pd_req_app(r))->db, id, &o) ? PD_ERR_DB : PD_OK;
    if (rc)
        pd_req_reply_error(r, rc, "cannot read the channel");
    else
        pd_req_reply_json(r, status, o);
}

static bool body_ok(pd_req *r, pd_err rc, const char *field, const char *why)
{
    if (rc)
        pd_req_reply_field_error(r, "body", field, "%s", why);
    return !rc;
}

/* --- routes ---------------------------------------------------------------------------------- */

static void channels_list(pd_req *r)
{
    pd_app *app = pd_req_app(r);
    json_t *a = json_array();
    int64_t owner = pd_api_notify_owner(r);
    pd_sqlv v[] = {PD_SQL_I(owner), PD_SQL_I(owner)};
    pd_err rc = a ? pd_db_query(app->db, "SELECT " CHAN_COLS " FROM notify_channel WHERE ? = 0 OR owner_id = ? "
                                "ORDER BY id", v, 2, chan_row, a)
                  : PD_ERR_NOMEM;
    if (rc) {
        json_decref(a);
        pd_req_reply_error(r, rc, "cannot read the channels");
        return;
    }
    pd_req_reply_json(r, 200, a);
}

static void channel_create(pd_req *r)
{
    pd_app *app = pd_req_app(r);
    json_t *body = pd_req_json(r);
    if (!body)
        return;
    int64_t owner = pd_api_notify_owner(r);
    if (owner < 0) {
        pd_req_reply_error(r, PD_ERR_FORBIDDEN, "only a signed-in user owns channels");
        return;
    }
    chan c = {.cfg = json_object(), .owner = owner, .admin = !owner};
    const char *field = "body";
    char why[256];
    pd_err rc = chan_apply(&c, body, true, &field, why, sizeof why);
    char *cfg = rc ? NULL : json_dumps(c.cfg, PD_JSON_FLAGS);
    json_decref(c.cfg);
    if (!body_ok(r, rc, field, why) || !owner_ok(r, c.owner)) {
        free(cfg);
        return;
    }
    int64_t id = 0;
    pd_sqlv v[] = {PD_SQL_S(c.t->name), PD_SQL_S(c.name), PD_SQL_I(c.enabled), PD_SQL_S(c.events),
                   PD_SQL_S(cfg ? cfg : "{}"), PD_SQL_I(pd_clock_wall_ms() / 1000),
                   c.owner ? PD_SQL_I(c.owner) : PD_SQL_NUL};
    rc = cfg ? pd_db_insert(app->db, "INSERT INTO notify_channel (type, name, enabled, events, config, created_at, "
                            "owner_id) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id", v, 7, &id)
             : PD_ERR_NOMEM;
    free(cfg);
    if (rc) {
        pd_req_reply_error(r, rc, "cannot keep the channel: %s", pd_strerror(rc));
        return;
    }
    pd_info("notify", "channel %lld (%s) created by %s", (long long)id, c.t->name, pd_req_ident(r)->name);
    reply_chan(r, 201, id);
}

typedef struct loaded {
    chan *c;
    bool found;
} loaded;

static pd_err load_row(const pd_row *row, void *ud)
{
    loaded *l = ud;
    l->found = true;
    l->c->t = pd_notify_type_find(pd_row_text(row, 0));
    snprintf(l->c->name, sizeof l->c->name, "%s", pd_row_text(row, 1));
    l->c->enabled = pd_row_int(row, 2);
    snprintf(l->c->events, sizeof l->c->events, "%s", pd_row_text(row, 3));
    l->c->cfg = json_loads(pd_row_text(row, 4), 0, NULL);
    l->c->owner = pd_row_null(row, 5) ? 0 : pd_row_int(row, 5);
    return l->c->t && l->c->cfg ? PD_OK : PD_ERR_DB;
}

static void channel_patch(pd_req *r)
{
    pd_app *app = pd_req_app(r);
    int64_t id = path_id(r);
    json_t *body = pd_req_json(r);
    if (!body)
        return;
    if (!owned(r, id))
        return;
    chan c = {.admin = !pd_api_notify_owner(r)};
    loaded l = {&c, false};
    pd_sqlv idv = PD_SQL_I(id);
    pd_err rc = pd_db_query(app->db, "SELECT type, name, enabled, events, config, owner_id FROM notify_channel "
                            "WHERE id = ?", &idv, 1, load_row, &l);
    if (rc || !l.found) {
        json_decref(c.cfg);
        pd_req_reply_error(r, rc ? rc : PD_ERR_NOTFOUND, rc ? "cannot read the channel" : "no channel %lld",
                           (long long)id);
        return;
    }
    const char *field = "body";
    char why[256];
    rc = chan_apply(&c, body, false, &field, why, sizeof why);
    char *cfg = rc ? NULL : json_dumps(c.cfg, PD_JSON_FLAGS);
    json_decref(c.cfg);
    if (!body_ok(r, rc, field, why) || !owner_ok(r, c.owner)) {
        free(cfg);
        return;
    }
    pd_sqlv v[] = {PD_SQL_S(c.name), PD_SQL_I(c.enabled), PD_SQL_S(c.events), PD_SQL_S(cfg ? cfg : "{}"),
                   c.owner ? PD_SQL_I(c.owner) : PD_SQL_NUL, PD_SQL_I(id)};
    rc = cfg ? pd_db_run(app->db, "UPDATE notify_channel SET name = ?, enabled = ?, events = ?, config = ?, "
                         "owner_id = ? WHERE id = ?", v, 6, NULL)
             : PD_ERR_NOMEM;
    free(cfg);
    if (rc)
        pd_req_reply_error(r, rc, "cannot keep the channel: %s", pd_strerror(rc));
    else
        reply_chan(r, 200, id);
}

pd_err pd_api_notify_remove(pd_db *db, int64_t id, int64_t *changes)
{
    pd_sqlv v = PD_SQL_I(id);
    /* the log first: a foreign key's cascade is not every backend's habit on every table */
    pd_err rc = pd_db_begin(db);
    if (!rc)
        rc = pd_db_run(db, "DELETE FROM notify_log WHERE channel_id = ?", &v, 1, NULL);
    if (!rc)
        rc = pd_db_run(db, "DELETE FROM notify_held WHERE channel_id = ?", &v, 1, NULL);
    if (!rc)
        rc = pd_db_run(db, "DELETE FROM notify_channel WHERE id = ?", &v, 1, changes);
    return pd_db_end(db, rc);
}

static void channel_delete(pd_req *r)
{
    pd_app *app = pd_req_app(r);
    int64_t changes = 0, id = path_id(r);
    if (!owned(r, id))
        return;
    pd_err rc = pd_api_notify_remove(app->db, id, &changes);
    if (rc || !changes) {
        pd_req_reply_error(r, rc ? rc : PD_ERR_NOTFOUND, rc ? "cannot delete the channel" : "no channel %lld",
                           (long long)id);
        return;
    }
    pd_req_reply_raw(r, 204, "application/json", "", 0);
}

typedef struct test_wait {
    pd_req *r;
    uint64_t handle;
} test_wait;

static void test_abort(void *ud)
{
    test_wait *w = ud;
    pd_notify_test_cancel(((pd_app *)pd_req_app(w->r))->notify, w->handle);
    free(w);
}

static void test_done(bool ok, long status, const char *words, void *ud)
{
    test_wait *w = ud;
    pd_req *r = w->r;
    pd_req_on_abort(r, NULL, NULL);
    free(w);
    pd_req_reply_json(r, 200, json_pack("{s:b,s:o,s:s}", "ok", ok, "status", status ? json_integer(status) : json_null(),
                                        "message", words));
}

pd_err pd_api_notify_test_run(pd_req *r, pd_api_notify_test_start start, void *arg)
{
    pd_app *app = pd_req_app(r);
    test_wait *w = calloc(1, sizeof *w);
    if (!w)
        return PD_ERR_NOMEM;
    w->r = r;
    /* the callback may run before start returns (a request that cannot be made) */
    pd_req_on_abort(r, test_abort, w);
    pd_req_wait(r, app->cfg->notify_timeout_s + 5);
    uint64_t handle = 0;
    pd_err rc = start(r, arg, test_done, w, &handle);
    if (rc) {
        pd_req_on_abort(r, NULL, NULL);
        free(w);
        return rc;
    }
    if (handle)
        w->handle = handle;
    return PD_OK;
}

static pd_err start_channel(pd_req *r, void *arg, pd_notify_test_cb cb, void *ud, uint64_t *handle)
{
    (void)arg;
    return pd_notify_test(((pd_app *)pd_req_app(r))->notify, path_id(r), cb, ud, handle);
}

static void channel_test(pd_req *r)
{
    if (!owned(r, path_id(r)))
        return;
    pd_err rc = pd_api_notify_test_run(r, start_channel, NULL);
    if (rc)
        pd_req_reply_error(r, rc, rc == PD_ERR_NOTFOUND ? "no channel %s" : "cannot read the channel %s",
                           pd_req_param(r, "id"));
}

static void channel_digest(pd_req *r)
{
    int64_t id = path_id(r);
    if (!owned(r, id))
        return;
    pd_err rc = pd_notify_digest_now(((pd_app *)pd_req_app(r))->notify, id);
    if (rc)
        pd_req_reply_error(r, rc, "cannot send channel %lld's digest", (long long)id);
    else
        pd_req_reply_json(r, 202, json_pack("{s:b}", "sent", 1));
}

static void log_list(pd_req *r) { pd_api_table_reply(r, pd_notify_log_open, false, NULL); }

const pd_route pd_api_notify_routes[] = {
    {"GET", "/api/v1/notifications/channels", channels_list, PD_ROUTE_VIEWER},
    {"POST", "/api/v1/notifications/channels", channel_create, PD_ROUTE_VIEWER},
    {"PATCH", "/api/v1/notifications/channels/{id}", channel_patch, PD_ROUTE_VIEWER},
    {"DELETE", "/api/v1/notifications/channels/{id}", channel_delete, PD_ROUTE_VIEWER},
    {"POST", "/api/v1/notifications/channels/{id}/test", channel_test, PD_ROUTE_VIEWER},
    {"POST", "/api/v1/notifications/channels/{id}/digest", channel_digest, PD_ROUTE_VIEWER},
    {"GET", "/api/v1/notifications/log", log_list, PD_ROUTE_ADMIN},
};
const size_t pd_api_notify_nroutes = sizeof pd_api_notify_routes / sizeof pd_api_notify_routes[0];
