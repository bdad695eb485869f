/* /api/v1/notifications/rules and /api/v1/notifications/printers/{id} (docs/api.md,
 * Notifications; docs/notify.md, Rules): each channel's rules, each printer's kinds, and the
 * seed's per-printer preferences as a view over them. Everything a request changes is checked
 * first and written in one transaction: a wrong field is a 422 naming it and changes nothing. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "api/api.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"

static pd_app *app_of(pd_req *r) { return pd_req_app(r); }

/* "1,5" → ["1","5"] as a JSON array of kinds */
static json_t *kinds_json(const char *list)
{
    json_t *a = json_array();
    char buf[512];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); a && tok; tok = strtok_r(NULL, ",", &save))
        json_array_append_new(a, json_string(tok));
    return a;
}

/* A JSON array of kinds (already checked) → "a,b" in out. */
static void kinds_text(const json_t *a, char *out, size_t cap)
{
    size_t i, len = 0;
    json_t *e;
    out[0] = '\0';
    json_array_foreach(a, i, e) len += (size_t)snprintf(out + len, len < cap ? cap - len : 0, "%s%s", len ? "," : "",
                                                        json_string_value(e));
}

/* --- GET /rules ---------------------------------------------------------------------------- */

typedef struct listing {
    pd_req *r;
    json_t *out;
} listing;

static pd_err rules_row(const pd_row *row, void *ud)
{
    listing *l = ud;
    char id[24];
    snprintf(id, sizeof id, "%lld", (long long)pd_row_int(row, 0));
    json_t *rules = json_loads(pd_row_text(row, 1), 0, NULL);
    return rules && !json_object_set_new(l->out, id, rules) ? PD_OK : PD_ERR_NOMEM;
}

static pd_err printer_row(const pd_row *row, void *ud)
{
    listing *l = ud;
    int64_t id = pd_row_int(row, 0);
    char key[24];
    snprintf(key, sizeof key, "%lld", (long long)id);
    if (pd_api_printer_visible(l->r, id))
        json_object_set_new(l->out, key, kinds_json(pd_row_text(row, 1)));
    return PD_OK;
}

static void rules_get(pd_req *r)
{
    int64_t owner = pd_api_notify_owner(r);
    listing ch = {r, json_object()}, pr = {r, json_object()};
    pd_sqlv v[] = {PD_SQL_I(owner), PD_SQL_I(owner)};
    pd_db *db = app_of(r)->db;
    pd_err rc = pd_db_query(db, "SELECT id, rules FROM notify_channel WHERE ? = 0 OR owner_id = ? ORDER BY id", v, 2,
                            rules_row, &ch);
    if (!rc)
        rc = pd_db_query(db, "SELECT printer_id, events FROM notify_printer ORDER BY printer_id", NULL, 0,
                         printer_row, &pr);
    if (rc) {
        json_decref(ch.out);
        json_decref(pr.out);
        pd_req_reply_error(r, rc, "cannot read the rules");
        return;
    }
    pd_req_reply_json(r, 200, json_pack("{s:o,s:o}", "channels", ch.out, "printers", pr.out));
}

/* --- PUT /rules ---------------------------------------------------------------------------- */

static int64_t key_id(const char *k)
{
    char *end = NULL;
    long long v = isdigit((unsigned char)*k) ? strtoll(k, &end, 10) : -1;
    return end && !*end && v > 0 ? v : -1;
}

/* Writes the rules of channel id. */
static pd_err rules_write(pd_db *db, int64_t id, const json_t *rules)
{
    char *s = json_dumps(rules, PD_JSON_FLAGS);
    pd_sqlv v[] = {PD_SQL_S(s ? s : "{}"), PD_SQL_I(id)};
    pd_err rc = s ? pd_db_run(db, "UPDATE notify_channel SET rules = ? WHERE id = ?", v, 2, NULL) : PD_ERR_NOMEM;
    free(s);
    return rc;
}

/* A printer's own kinds (NULL: every kind, its row removed). */
static pd_err printer_write(pd_db *db, int64_t printer_id, const char *kinds)
{
    pd_sqlv v[] = {PD_SQL_I(printer_id), PD_SQL_S(kinds ? kinds : "")};
    pd_err rc = pd_db_run(db, "DELETE FROM notify_printer WHERE printer_id = ?", v, 1, NULL);
    if (!rc && kinds)
        rc = pd_db_run(db, "INSERT INTO notify_printer (printer_id, events) VALUES (?, ?)", v, 2, NULL);
    return rc;
}

static bool rules_valid(pd_req *r, json_t *body)
{
    char field[160], why[256];
    const char *k;
    json_t *v;
    if (!json_is_object(body)) {
        pd_req_reply_field_error(r, "body", "body", "an object {channels?, printers?} expected");
        return false;
    }
    json_object_foreach(body, k, v) {
        if (strcmp(k, "channels") && strcmp(k, "printers")) {
            pd_req_reply_field_error(r, "body", k, "not a member of the rules (channels, printers)");
            return false;
        }
        if (!json_is_object(v)) {
            pd_req_reply_field_error(r, "body", k, "an object keyed by id expected");
            return false;
        }
    }
    json_object_foreach(json_object_get(body, "channels"), k, v) {
        int64_t id = key_id(k);
        pd_err rc = id > 0 ? pd_api_notify_owned(r, id) : PD_ERR_NOTFOUND;
        char at[40];
        snprintf(at, sizeof at, "channels.%.24s", k);
        if (rc) {
            pd_req_reply_field_error(r, "body", at, "%s", rc == PD_ERR_NOTFOUND ? "no such channel of yours"
                                                                                : pd_strerror(rc));
            return false;
        }
        if (pd_notify_rules_check(v, field, sizeof field, why, sizeof why)) {
            pd_req_reply_field_error(r, "body", json_is_object(v) ? field : at, "%s", why);
            return false;
        }
    }
    json_t *printers = json_object_get(body, "printers");
    if (printers && pd_api_notify_owner(r)) {
        pd_req_reply_field_error(r, "body", "printers", "only an admin sets what a printer tells");
        return false;
    }
    json_object_foreach(printers, k, v) {
        int64_t id = key_id(k);
        char at[40];
        snprintf(at, sizeof at, "printers.%.24s", k);
        if (id < 0 || !pd_fleet_find_id(app_of(r)->fleet, id)) {
            pd_req_reply_field_error(r, "body", at, "no such printer");
            return false;
        }
        bool ok = json_is_null(v) || json_is_array(v);
        for (size_t i = 0; ok && i < json_array_size(v); i++)
            ok = pd_notify_kind_known(json_string_value(json_array_get(v, i)));
        if (!ok) {
            pd_req_reply_field_error(r, "body", at, "an array of event kinds, or null for every kind");
            return false;
        }
    }
    return true;
}

static void rules_put(pd_req *r)
{
    json_t *body = pd_req_json(r);
    if (!body || !rules_valid(r, body))
        return;
    pd_db *db = app_of(r)->db;
    const char *k;
    json_t *v;
    pd_err rc = pd_db_begin(db);
    json_object_foreach(json_object_get(body, "channels"), k, v) if (!rc) rc = rules_write(db, key_id(k), v);
    json_object_foreach(json_object_get(body, "printers"), k, v) {
        char kinds[512];
        kinds_text(v, kinds, sizeof kinds);
        if (!rc)
            rc = printer_write(db, key_id(k), json_is_null(v) ? NULL : kinds);
    }
    if ((rc = pd_db_end(db, rc))) {
        pd_req_reply_error(r, rc, "cannot keep the rules: %s", pd_strerror(rc));
        return;
    }
    pd_info("notify", "rules changed by %s", pd_req_ident(r)->name);
    rules_get(r);
}

/* --- the seed's per-printer view ----------------------------------------------------------------
 * Each flag stands for the kinds the printer tells (notify_printer); email_enabled for the
 * e-mail channels that hear it; webhook_url for the webhook channel of that printer alone. */

static const struct {
    const char *flag, *kinds;
} flags[] = {
    {"notify_print_start", "job_started,first_layer"},
    {"notify_print_complete", "job_completed"},
    {"notify_print_failed", "job_failed,job_cancelled,print_stalled,printer_offline"},
    {"notify_material_change", "slot_prompt,insufficient_filament,low_stock"},
    {"notify_maintenance", "hms,ams_humidity,drying_due"},
};
#define NFLAGS (sizeof flags / sizeof *flags)

typedef struct view {
    int64_t printer_id;
    bool found;                  /* a notify_printer row */
    char kinds[512];
    bool email, email_any;       /* an e-mail channel hears it; any e-mail channel at all */
    int64_t hook_id;             /* the printer's own webhook channel */
    json_t *hook_cfg;            /* its configuration, owned (view_clear) */
} view;

static void view_clear(view *w)
{
    json_decref(w->hook_cfg);
    w->hook_cfg = NULL;
}

static pd_err view_kinds_row(const pd_row *row, void *ud)
{
    view *w = ud;
    w->found = true;
    snprintf(w->kinds, sizeof w->kinds, "%s", pd_row_text(row, 0));
    return PD_OK;
}

/* Whether rules name exactly this printer alone. */
static bool only_printer(const json_t *rules, int64_t id)
{
    const json_t *p = json_object_get(rules, "printers");
    return json_array_size(p) == 1 && json_integer_value(json_array_get(p, 0)) == id;
}

/* channel rows: id, type, rules, config, events */
static pd_err view_chan_row(const pd_row *row, void *ud)
{
    view *w = ud;
    json_t *rules = json_loads(pd_row_text(row, 2), 0, NULL), *cfg = json_loads(pd_row_text(row, 3), 0, NULL);
    const char *type = pd_row_text(row, 1);
    if (!strcmp(type, "email")) {
        char key[24];
        snprintf(key, sizeof key, "%lld", (long long)w->printer_id);
        const json_t *own = json_object_get(json_object_get(rules, "printer_events"), key);
        w->email_any = true;
        w->email = w->email || (pd_notify_rules_hears(rules, w->printer_id) && (!own || json_array_size(own)));
    } else if (!strcmp(type, "webhook") && !w->hook_id && only_printer(rules, w->printer_id)) {
        w->hook_id = pd_row_int(row, 0);
        w->hook_cfg = json_incref(cfg);
    }
    json_decref(rules);
    json_decref(cfg);
    return PD_OK;
}

static pd_err view_read(pd_db *db, int64_t printer_id, view *w)
{
    memset(w, 0, sizeof *w);
    w->printer_id = printer_id;
    pd_sqlv v = PD_SQL_I(printer_id);
    pd_err rc = pd_db_query(db, "SELECT events FROM notify_printer WHERE printer_id = ?", &v, 1, view_kinds_row, w);
    if (!rc)
        rc = pd_db_query(db, "SELECT id, type, rules, config, events FROM notify_channel WHERE owner_id IS NULL "
                         "AND type IN ('email', 'webhook') ORDER BY id", NULL, 0, view_chan_row, w);
    return rc;
}

/* Whether the printer tells every kind of a flag. */
static bool flag_on(const view *w, size_t f)
{
    char kinds[128];
    snprintf(kinds, sizeof kinds, "%s", flags[f].kinds);
    for (char *save = NULL, *tok = strtok_r(kinds, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        if (w->found && !pd_notify_kinds_has(w->kinds, tok))
            return false;
    return true;
}

static void view_reply(pd_req *r, int64_t printer_id)
{
    view w;
    pd_err rc = view_read(app_of(r)->db, printer_id, &w);
    if (rc) {
        view_clear(&w);
        pd_req_reply_error(r, rc, "cannot read the notification preferences");
        return;
    }
    json_t *o = json_pack("{s:I,s:I}", "id", (json_int_t)printer_id, "printer_id", (json_int_t)printer_id);
    for (size_t f = 0; o && f < NFLAGS; f++)
        json_object_set_new(o, flags[f].flag, json_boolean(flag_on(&w, f)));
    if (o) {
        json_object_set_new(o, "email_enabled", json_boolean(w.email));
        json_object_set_new(o, "webhook_url", json_incref(w.hook_id ? json_object_get(w.hook_cfg, "url") : json_null()));
    }
    view_clear(&w);
    pd_req_reply_json(r, 200, o);
}

static void printer_view_get(pd_req *r)
{
    pd_printer *p = pd_api_printer_of(r);
    if (p)
        view_reply(r, pd_printer_id(p));
}

/* The kinds the printer tells once the flags of body are applied to w's. */
static void flags_apply(const view *w, const json_t *body, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < pd_notify_nkinds; i++) {
        const char *kind = pd_notify_kinds[i].name;
        bool on = !w->found || pd_notify_kinds_has(w->kinds, kind);
        for (size_t f = 0; f < NFLAGS; f++) {
            const json_t *v = json_object_get(body, flags[f].flag);
            if (json_is_boolean(v) && pd_notify_kinds_has(flags[f].kinds, kind))
                on = json_is_true(v);
        }
        if (on)
            len += (size_t)snprintf(out + len, len < cap ? cap - len : 0, "%s%s", len ? "," : "", kind);
    }
}

/* email channel rows: id, rules; gathered first, written after the read */
static pd_err email_row(const pd_row *row, void *ud)
{
    json_t *rules = json_loads(pd_row_text(row, 1), 0, NULL);
    return rules && !json_array_append_new(ud, json_pack("[I,o]", (json_int_t)pd_row_int(row, 0), rules)) ? PD_OK
                                                                                                        : PD_ERR_DB;
}

/* The e-mail channels told of the printer (their printers gain it, their own kinds for it go)
 * or not (their own kinds for it: none). */
static pd_err email_set(pd_db *db, int64_t printer_id, bool on)
{
    json_t *all = json_array(), *it;
    size_t i;
    char key[24];
    snprintf(key, sizeof key, "%lld", (long long)printer_id);
    pd_err rc = all ? pd_db_query(db, "SELECT id, rules FROM notify_channel WHERE owner_id IS NULL AND type = 'email' "
                                  "ORDER BY id", NULL, 0, email_row, all)
                    : PD_ERR_NOMEM;
    json_array_foreach(all, i, it) {
        json_t *rules = json_array_get(it, 1), *per = json_object_get(rules, "printer_events");
        if (rc)
            break;
        if (!json_is_object(per))
            json_object_set_new(rules, "printer_events", per = json_object());
        if (on) {
            json_object_del(per, key);
            json_t *printers = json_object_get(rules, "printers");
            if (json_is_array(printers) && !pd_notify_rules_hears(rules, printer_id))
                json_array_append_new(printers, json_integer(printer_id));
        } else {
            json_object_set_new(per, key, json_array());
        }
        if (!json_object_size(per))
            json_object_del(rules, "printer_events");
        rc = rules_write(db, json_integer_value(json_array_get(it, 0)), rules);
    }
    json_decref(all);
    return rc;
}

/* A secret nobody knows until an admin sets their own (PATCH the channel): the seed's webhook
 * has none, and printdeck's webhook always signs. */
static void random_secret(char out[33])
{
    unsigned char raw[16];
    randombytes_buf(raw, sizeof raw);
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
}

/* The printer's own webhook channel, as webhook_url says: made (every kind: the printer's
 * own kinds choose), its URL changed (its secret kept), or gone (url NULL). */
static pd_err hook_write(pd_db *db, const view *w, const char *url, const char *printer_name)
{
    int64_t changes = 0, id = 0;
    if (!url)
        return w->hook_id ? pd_api_notify_remove(db, w->hook_id, &changes) : PD_OK;
    json_t *cfg = w->hook_cfg ? json_deep_copy(w->hook_cfg) : json_object();
    char secret[33], name[128], kinds[512], rules[48];
    if (!json_is_string(json_object_get(cfg, "secret"))) {
        random_secret(secret);
        json_object_set_new(cfg, "secret", json_string(secret));
    }
    json_object_set_new(cfg, "url", json_string(url));
    char *text = json_dumps(cfg, PD_JSON_FLAGS);
    json_decref(cfg);
    if (!text)
        return PD_ERR_NOMEM;
    pd_err rc;
    if (w->hook_id) {
        pd_sqlv v[] = {PD_SQL_S(text), PD_SQL_I(w->hook_id)};
        rc = pd_db_run(db, "UPDATE notify_channel SET config = ? WHERE id = ?", v, 2, NULL);
    } else {
        size_t len = 0;
        for (size_t i = 0; i < pd_notify_nkinds; i++)
            len += (size_t)snprintf(kinds + len, sizeof kinds - len, "%s%s", len ? "," : "", pd_notify_kinds[i].name);
        snprintf(name, sizeof name, "%.100s webhook", printer_name);
        snprintf(rules, sizeof rules, "{\"printers\":[%lld]}", (long long)w->printer_id);
        pd_sqlv v[] = {PD_SQL_S(name), PD_SQL_S(kinds), PD_SQL_S(text), PD_SQL_S(rules),
                       PD_SQL_I(pd_clock_wall_ms() / 1000)};
        rc = pd_db_insert(db, "INSERT INTO notify_channel (type, name, enabled, events, config, rules, created_at) "
                          "VALUES ('webhook', ?, 1, ?, ?, ?, ?) RETURNING id", v, 5, &id);
    }
    free(text);
    return rc;
}

static void printer_view_put(pd_req *r)
{
    pd_printer *p = pd_api_printer_of(r);
    json_t *body = p ? pd_req_json(r) : NULL;
    if (!body)
        return;
    int64_t id = pd_printer_id(p);
    pd_db *db = app_of(r)->db;
    view w;
    pd_err rc = view_read(db, id, &w);
    if (rc) {
        view_clear(&w);
        pd_req_reply_error(r, rc, "cannot read the notification preferences");
        return;
    }
    const char *k;
    json_t *v;
    json_object_foreach(body, k, v) {
        size_t f = 0;
        while (f < NFLAGS && strcmp(flags[f].flag, k))
            f++;
        bool known = f < NFLAGS || !strcmp(k, "email_enabled") || !strcmp(k, "webhook_url") ||
                     !strcmp(k, "id") || !strcmp(k, "printer_id");
        const char *why = !known ? "not a field of the notification preferences"
                          : (f < NFLAGS || !strcmp(k, "email_enabled")) && !json_is_boolean(v) ? "true or false expected"
                          : !strcmp(k, "webhook_url") && !json_is_null(v) && !json_is_string(v)
                              ? "a URL or null expected"
                          : !strcmp(k, "email_enabled") && json_is_true(v) && !w.email_any
                              ? "no e-mail channel: create one (type email) first"
                              : NULL;
        if (why) {
            view_clear(&w);
            pd_req_reply_field_error(r, "body", k, "%s", why);
            return;
        }
    }
    json_t *url = json_object_get(body, "webhook_url");
    if (json_is_string(url)) {
        const char *field = "url";
        char why[256];
        json_t *probe = json_pack("{s:O,s:s}", "url", url, "secret", "a-secret-of-16-chars");
        rc = probe ? pd_notify_type_find("webhook")->validate(probe, &field, why, sizeof why) : PD_ERR_NOMEM;
        json_decref(probe);
        if (rc) {
            view_clear(&w);
            pd_req_reply_field_error(r, "body", "webhook_url", "%s", why);
            return;
        }
    }
    char kinds[512];
    flags_apply(&w, body, kinds, sizeof kinds);
    rc = pd_db_begin(db);
    if (!rc)
        rc = printer_write(db, id, kinds);
    json_t *email = json_object_get(body, "email_enabled");
    if (!rc && json_is_boolean(email))
        rc = email_set(db, id, json_is_true(email));
    if (!rc && url)
        rc = hook_write(db, &w, json_string_value(url), pd_printer_rec_get(p)->name);
    view_clear(&w);
    if ((rc = pd_db_end(db, rc))) {
        pd_req_reply_error(r, rc, "cannot keep the notification preferences: %s", pd_strerror(rc));
        return;
    }
    view_reply(r, id);
}

const pd_route pd_api_notify_rules_routes[] = {
    {"GET", "/api/v1/notifications/rules", rules_get, PD_ROUTE_VIEWER},
    {"PUT", "/api/v1/notifications/rules", rules_put, PD_ROUTE_VIEWER},
    {"GET", "/api/v1/notifications/printers/{id}", printer_view_get, 0},
    {"PUT", "/api/v1/notifications/printers/{id}", printer_view_put, PD_ROUTE_ADMIN},
};
const size_t pd_api_notify_rules_nroutes = sizeof pd_api_notify_rules_routes / sizeof *pd_api_notify_rules_routes;
