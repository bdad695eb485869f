/* GET and PATCH /api/v1/thresholds (docs/api.md, Thresholds): the alert thresholds of
 * `[alerts]`, which an admin may change while the daemon runs. The keys, their bounds and
 * their rules are the configuration's own table (core/config.h, its live keys): a value the
 * dashboard sends is checked as one from the file would be.
 *
 * A change is kept in the database and wins over the file, the environment and the command
 * line until it is reset (null); what they give is kept as `configured`, so the page can say
 * both. The database's `setting` table holds it under the key's dotted name ("alerts.stall_s"):
 * no Spoolman setting has a dot, and Spoolman's routes list only the keys of their own table
 * (inventory/settings.c), so its clients never see these. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/jw.h"
#include "core/log.h"
#include "track/alerts.h"

/* the configuration as loaded, before the stored changes: each key's `configured` value and
 * what a reset goes back to (no printers: only its scalar keys are read) */
static pd_config configured;

static pd_err stored_row(const pd_row *row, void *ud)
{
    snprintf(ud, PD_EXPOSURE_TEXT, "%s", pd_row_text(row, 0));
    return PD_OK;
}

/* The stored change of key into text ("" none). */
static pd_err stored(pd_db *db, const char *key, char text[PD_EXPOSURE_TEXT])
{
    text[0] = '\0';
    pd_sqlv v = PD_SQL_S(key);
    return pd_db_query(db, "SELECT value FROM setting WHERE key = ?", &v, 1, stored_row, text);
}

pd_err pd_api_thresholds_load(pd_db *db, pd_config *cfg)
{
    configured = *cfg;
    configured.printers = NULL;
    configured.n_printers = 0;
    pd_config_key k;
    for (size_t i = 0; pd_config_live_at(i, &k); i++) {
        char text[PD_EXPOSURE_TEXT], err[256];
        pd_err rc = stored(db, k.name, text);
        if (rc)
            return rc;
        /* a rule made stricter since it was stored: the configured value holds, and says so */
        if (text[0] && pd_config_set(cfg, k.name, text, err, sizeof err))
            pd_warn("thresholds", "the dashboard's %s no longer holds (%s): the configured value is used",
                    k.name, err);
    }
    return PD_OK;
}

/* --- JSON --------------------------------------------------------------------------------- */

/* A key's value as the API shows it: an integer, or for the materials' hours an object. */
static json_t *value_json(const pd_config_key *k, const pd_config *cfg)
{
    char text[PD_EXPOSURE_TEXT], err[160];
    if (pd_config_get(cfg, k->name, text, sizeof text))
        return json_null();
    if (k->integer)
        return json_integer(strtol(text, NULL, 10));
    pd_exposure t;
    json_t *o = json_object();
    if (!pd_exposure_parse(text, &t, err, sizeof err))
        for (size_t i = 0; i < t.n; i++)
            json_object_set_new(o, t.e[i].material, json_integer(t.e[i].hours));
    return o;
}

static json_t *list_json(pd_app *app)
{
    json_t *a = json_array();
    pd_config_key k;
    for (size_t i = 0; a && pd_config_live_at(i, &k); i++) {
        char text[PD_EXPOSURE_TEXT];
        bool set = !stored(app->db, k.name, text) && text[0];
        json_t *o = json_pack("{s:s,s:s,s:o,s:o,s:b,s:s}", "key", k.name, "type",
                              k.integer ? "integer" : "materials", "value", value_json(&k, app->cfg),
                              "configured", value_json(&k, &configured), "set", set, "help", k.help);
        if (o && k.integer) {
            json_object_set_new(o, "min", json_integer(k.min));
            json_object_set_new(o, "max", json_integer(k.max));
        } else if (o) {
            json_object_set_new(o, "min", json_integer(1));
            json_object_set_new(o, "max", json_integer(PD_EXPOSURE_HOURS_MAX));
        }
        json_array_append_new(a, o);
    }
    return a;
}

/* A body member as the configuration's text: a whole number, or {"MATERIAL": hours, …}.
 * False with why when it is neither. */
static bool value_text(const pd_config_key *k, json_t *v, char *text, size_t len, char *why, size_t whylen)
{
    if (k->integer) {
        if (!json_is_integer(v) || json_integer_value(v) < k->min || json_integer_value(v) > k->max) {
            snprintf(why, whylen, "a whole number from %ld to %ld expected", k->min, k->max);
            return false;
        }
        snprintf(text, len, "%lld", (long long)json_integer_value(v));
        return true;
    }
    if (!json_is_object(v) || json_object_size(v) > PD_EXPOSURE_MAX) {
        snprintf(why, whylen, "an object of at most %d materials and their hours expected", PD_EXPOSURE_MAX);
        return false;
    }
    const char *name;
    json_t *h;
    size_t n = 0;
    text[0] = '\0';
    json_object_foreach(v, name, h) {
        /* the text's own separators in a name would make another table of it; the rest (the
         * name's characters, the hours' range, a name twice) is the text's rule, below */
        if (strpbrk(name, ":,") || !json_is_integer(h)) {
            snprintf(why, whylen, "material %zu: a name of letters, digits, '-', '+', '_' and spaces, and "
                     "whole hours expected", n + 1);
            return false;
        }
        size_t used = strlen(text);
        int w = snprintf(text + used, len - used, "%s%s:%lld", n++ ? ", " : "", name,
                         (long long)json_integer_value(h));
        if (w < 0 || (size_t)w >= len - used) {
            snprintf(why, whylen, "the materials' names are too long");
            return false;
        }
    }
    return true;
}

pd_err pd_api_thresholds_check(json_t *body, pd_threshold_change *out, size_t *n, char *key, size_t keylen,
                               char *why, size_t whylen)
{
    *n = 0;
    key[0] = why[0] = '\0';
    if (!json_is_object(body) || !json_object_size(body)) {
        snprintf(why, whylen, "an object of thresholds by key expected (GET lists them)");
        return PD_ERR_INVAL;
    }
    const char *name;
    json_t *v;
    json_object_foreach(body, name, v) {
        snprintf(key, keylen, "%.*s", pd_jw_utf8_cut(name, keylen - 1), name);
        pd_config_key k;
        size_t i = 0;
        while (pd_config_live_at(i, &k) && strcmp(k.name, name))
            i++;
        if (strcmp(k.name, name) || *n == PD_THRESHOLDS_MAX) {
            snprintf(why, whylen, "not a threshold (GET /api/v1/thresholds lists them)");
            return PD_ERR_FIELD;
        }
        pd_threshold_change *c = &out[(*n)++];
        snprintf(c->key, sizeof c->key, "%s", name);
        c->reset = json_is_null(v);
        if (c->reset)
            continue;
        if (!value_text(&k, v, c->text, sizeof c->text, why, whylen))
            return PD_ERR_FIELD;
        /* the configuration's own rule, on a copy: nothing applies unless everything does */
        pd_config scratch = configured;
        char err[256];
        if (pd_config_set(&scratch, name, c->text, err, sizeof err)) {
            size_t skip = strlen(name);
            /* "alerts.drying_hours: entry 2: …": the field is named already */
            snprintf(why, whylen, "%s", !strncmp(err, name, skip) && !strncmp(err + skip, ": ", 2) ? err + skip + 2 : err);
            return PD_ERR_FIELD;
        }
    }
    key[0] = '\0';
    return PD_OK;
}

/* --- routes --------------------------------------------------------------------------------- */

static void thresholds_get(pd_req *r)
{
    json_t *a = list_json(pd_req_app(r));
    if (!a)
        pd_req_reply_error(r, PD_ERR_NOMEM, NULL);
    else
        pd_req_reply_json(r, 200, a);
}

static void thresholds_patch(pd_req *r)
{
    pd_app *app = pd_req_app(r);
    json_t *body = pd_req_json(r);
    if (!body)
        return;
    pd_threshold_change ch[PD_THRESHOLDS_MAX];
    size_t n;
    char key[64], why[256];
    if (pd_api_thresholds_check(body, ch, &n, key, sizeof key, why, sizeof why)) {
        if (key[0])
            pd_req_reply_field_error(r, "body", key, "%s", why);
        else
            pd_req_reply_error(r, PD_ERR_INVAL, "%s", why);
        return;
    }
    pd_err rc = pd_db_begin(app->db);
    for (size_t i = 0; i < n && !rc; i++) {
        pd_sqlv v[] = {PD_SQL_S(ch[i].key), PD_SQL_S(ch[i].text)};
        rc = ch[i].reset ? pd_db_run(app->db, "DELETE FROM setting WHERE key = ?", v, 1, NULL)
                         : pd_db_run(app->db, "INSERT INTO setting (key, value) VALUES (?, ?) "
                                              "ON CONFLICT (key) DO UPDATE SET value = excluded.value", v, 2, NULL);
    }
    if ((rc = pd_db_end(app->db, rc))) {
        if (rc == PD_ERR_DB_BUSY)
            pd_req_add_header(r, "Retry-After", "1");
        pd_req_reply_error(r, rc, "cannot keep the thresholds: %s", pd_strerror(rc));
        return;
    }
    for (size_t i = 0; i < n; i++) {
        char text[PD_EXPOSURE_TEXT], err[256];
        if (ch[i].reset)
            pd_config_get(&configured, ch[i].key, text, sizeof text);
        pd_config_set(app->cfg, ch[i].key, ch[i].reset ? text : ch[i].text, err, sizeof err);
        pd_info("thresholds", "%s %s by %s", ch[i].key, ch[i].reset ? "reset to the configured value" : "changed",
                pd_req_ident(r)->name);
    }
    if (app->alerts)
        pd_alerts_thresholds_changed(app->alerts);
    thresholds_get(r);
}

const pd_route pd_api_thresholds_routes[] = {
    {"GET", "/api/v1/thresholds", thresholds_get, 0},
    {"PATCH", "/api/v1/thresholds", thresholds_patch, PD_ROUTE_ADMIN},
};
const size_t pd_api_thresholds_nroutes = sizeof pd_api_thresholds_routes / sizeof *pd_api_thresholds_routes;
