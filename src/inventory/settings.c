/* Spoolman's settings (docs/inventory.md, Settings): a fixed table of keys, each holding JSON
 * text of one type with a default, stored in table `setting` only once set. Values are kept
 * exactly as the client sent them: clients compare and decode the text themselves. */
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "inventory/entities.h"

/* Spoolman caps every stored setting at 2^16-1 characters. */
#define SETTING_MAX_CHARS 65535

const pd_inv_setting_def pd_inv_settings[] = {
    {"currency", PD_INV_ST_STRING, "\"EUR\""},
    {"round_prices", PD_INV_ST_BOOLEAN, "false"},
    {"print_presets", PD_INV_ST_ARRAY, "[]"},
    {"extra_fields_vendor", PD_INV_ST_ARRAY, "[]"},
    {"extra_fields_filament", PD_INV_ST_ARRAY, "[]"},
    {"extra_fields_spool", PD_INV_ST_ARRAY, "[]"},
    {"base_url", PD_INV_ST_STRING, "\"\""},
    {"locations", PD_INV_ST_ARRAY, "[]"},
    {"locations_spoolorders", PD_INV_ST_OBJECT, "{}"},
    {"label_designs", PD_INV_ST_ARRAY, "[]"},
    {"dashboard_groups", PD_INV_ST_OBJECT, "{}"},
    {"dashboard_spoolorders", PD_INV_ST_OBJECT, "{}"},
};
const size_t pd_inv_nsettings = sizeof pd_inv_settings / sizeof pd_inv_settings[0];

static const char *const type_names[] = {
    [PD_INV_ST_BOOLEAN] = "boolean", [PD_INV_ST_NUMBER] = "number", [PD_INV_ST_STRING] = "string",
    [PD_INV_ST_ARRAY] = "array", [PD_INV_ST_OBJECT] = "object",
};

const pd_inv_setting_def *pd_inv_setting_find(const char *key)
{
    for (size_t i = 0; i < pd_inv_nsettings; i++)
        if (!strcmp(pd_inv_settings[i].key, key))
            return &pd_inv_settings[i];
    return NULL;
}

/* A failure with nothing to add to the error's own sentence (the store, memory). */
pd_err inv_fail_rc(pd_inv_err *e, pd_err rc)
{
    return pd_inv_fail(e, rc, NULL, NULL, "%s", pd_strerror(rc));
}

/* Python's len(): code points, which is what Spoolman's character limits count. */
size_t inv_utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static pd_err copy_text(const pd_row *row, void *ud)
{
    char **text = ud;
    free(*text);
    *text = strdup(pd_row_text(row, 0));
    return *text ? PD_OK : PD_ERR_NOMEM;
}

/* The stored text of a setting, malloc'd; NULL when it has not been set. */
pd_err inv_setting_text(pd_inv *inv, const pd_inv_setting_def *def, char **text)
{
    *text = NULL;
    pd_sqlv arg = PD_SQL_S(def->key);
    pd_err rc = pd_db_query(inv->db, "SELECT value FROM setting WHERE key = ?", &arg, 1, copy_text, text);
    if (rc) {
        free(*text);
        *text = NULL;
    }
    return rc;
}

/* SettingResponse: the stored text or the default, whether it was set, the JSON type. */
static json_t *setting_response(const pd_inv_setting_def *def, const char *text)
{
    return json_pack("{s:s,s:b,s:s}", "value", text ? text : def->def, "is_set", text != NULL,
                     "type", type_names[def->type]);
}

/* Writes (text) or removes (NULL) the stored value, inside the caller's transaction. */
pd_err inv_setting_put(pd_inv *inv, const pd_inv_setting_def *def, const char *text, pd_inv_err *e)
{
    pd_err rc;
    if (text) {
        if (inv_utf8_chars(text) > SETTING_MAX_CHARS)
            return pd_inv_fail(e, PD_ERR_INVAL, "body", NULL,
                               "Setting value is too big, max size is %d characters.", SETTING_MAX_CHARS);
        pd_sqlv args[] = {PD_SQL_S(def->key), PD_SQL_S(text)};
        rc = pd_db_run(inv->db,
                       "INSERT INTO setting (key, value) VALUES (?, ?)"
                       " ON CONFLICT (key) DO UPDATE SET value = excluded.value", args, 2, NULL);
    } else {
        pd_sqlv arg = PD_SQL_S(def->key);
        int64_t changes = 0;
        rc = pd_db_run(inv->db, "DELETE FROM setting WHERE key = ?", &arg, 1, &changes);
        if (!rc && !changes)
            return pd_inv_fail(e, PD_ERR_NOTFOUND, "path", "key", "Setting with key %s has not been set.",
                               def->key);
    }
    return rc ? inv_fail_rc(e, rc) : PD_OK;
}

/* After the commit: "updated" with the new value, or "deleted" with the default (Spoolman's
 * SettingEvent). */
void inv_setting_announce(pd_inv *inv, const pd_inv_setting_def *def, const char *text)
{
    json_t *payload = json_pack("{s:s,s:o}", "key", def->key, "setting", setting_response(def, text));
    pd_inv_emit(inv, "setting", text ? "updated" : "deleted", def->key, payload);
    json_decref(payload);
}

typedef struct all_ctx {
    json_t *stored;  /* key → stored text, for keys this table knows */
} all_ctx;

static pd_err collect_setting(const pd_row *row, void *ud)
{
    all_ctx *c = ud;
    const char *key = pd_row_text(row, 0);
    /* keys of settings that no longer exist are left out, as Spoolman does */
    if (!pd_inv_setting_find(key))
        return PD_OK;
    return json_object_set_new(c->stored, key, json_string(pd_row_text(row, 1))) ? PD_ERR_NOMEM : PD_OK;
}

pd_err pd_inv_setting_all(pd_inv *inv, json_t **out)
{
    all_ctx c = {json_object()};
    json_t *all = json_object();
    pd_err rc = c.stored && all ? pd_db_query(inv->db, "SELECT key, value FROM setting", NULL, 0,
                                              collect_setting, &c)
                                : PD_ERR_NOMEM;
    for (size_t i = 0; i < pd_inv_nsettings && !rc; i++) {
        const pd_inv_setting_def *def = &pd_inv_settings[i];
        json_t *resp = setting_response(def, json_string_value(json_object_get(c.stored, def->key)));
        if (json_object_set_new(all, def->key, resp))
            rc = PD_ERR_NOMEM;
    }
    json_decref(c.stored);
    if (rc) {
        json_decref(all);
        return rc;
    }
    *out = all;
    return PD_OK;
}

static const pd_inv_setting_def *known(const char *key, pd_inv_err *e)
{
    const pd_inv_setting_def *def = pd_inv_setting_find(key);
    if (!def)
        pd_inv_fail(e, PD_ERR_NOTFOUND, "path", "key", "Setting %s does not exist.", key);
    return def;
}

/* The SettingResponse of def as stored now. */
static pd_err response_now(pd_inv *inv, const pd_inv_setting_def *def, json_t **out, pd_inv_err *e)
{
    char *text;
    pd_err rc = inv_setting_text(inv, def, &text);
    if (rc)
        return inv_fail_rc(e, rc);
    *out = setting_response(def, text);
    free(text);
    return *out ? PD_OK : inv_fail_rc(e, PD_ERR_NOMEM);
}

pd_err pd_inv_setting_get(pd_inv *inv, const char *key, json_t **out, pd_inv_err *e)
{
    const pd_inv_setting_def *def = known(key, e);
    return def ? response_now(inv, def, out, e) : e->code;
}

static bool type_matches(pd_inv_stype t, const json_t *v)
{
    switch (t) {
    case PD_INV_ST_BOOLEAN: return json_is_boolean(v);
    case PD_INV_ST_NUMBER: return json_is_number(v);
    case PD_INV_ST_STRING: return json_is_string(v);
    case PD_INV_ST_ARRAY: return json_is_array(v);
    default: return json_is_object(v);
    }
}

/* A value must be JSON of the setting's type; the extra-field settings must also hold valid
 * definitions, or every later read of /field would fail. */
static pd_err check_value(const pd_inv_setting_def *def, const char *text, pd_inv_err *e)
{
    json_error_t jerr;
    json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    pd_err rc = PD_OK;
    if (!v)
        rc = pd_inv_fail(e, PD_ERR_INVAL, "body", NULL, "Setting %s is not valid JSON: %s.", def->key,
                         jerr.text);
    else if (!type_matches(def->type, v))
        rc = pd_inv_fail(e, PD_ERR_INVAL, "body", NULL, "Setting %s must be a%s %s.", def->key,
                         def->type == PD_INV_ST_ARRAY || def->type == PD_INV_ST_OBJECT ? "n" : "",
                         type_names[def->type]);
    else
        rc = inv_fields_setting_check(def->key, v, e);
    json_decref(v);
    return rc;
}

pd_err pd_inv_setting_set(pd_inv *inv, const char *key, json_t *body, json_t **out, pd_inv_err *e)
{
    if (!json_is_string(body))
        return pd_inv_fail(e, PD_ERR_FIELD, "body", NULL, "Input should be a valid string");
    const pd_inv_setting_def *def = known(key, e);
    if (!def)
        return e->code;
    /* "" and "null" reset the setting to its default */
    const char *text = json_string_value(body);
    if (!*text || !strcmp(text, "null"))
        text = NULL;
    pd_err rc = text ? check_value(def, text, e) : PD_OK;
    if (rc)
        return rc;
    if ((rc = pd_db_begin(inv->db)))
        return inv_fail_rc(e, rc);
    pd_err put = inv_setting_put(inv, def, text, e);
    if ((rc = pd_inv_end(inv, put)))
        return put ? put : inv_fail_rc(e, rc);
    inv_setting_announce(inv, def, text);
    *out = setting_response(def, text);
    return *out ? PD_OK : inv_fail_rc(e, PD_ERR_NOMEM);
}

json_t *pd_inv_setting_value(pd_inv *inv, const char *key)
{
    const pd_inv_setting_def *def = pd_inv_setting_find(key);
    if (!def)
        return NULL;
    char *text = NULL;
    /* an unreadable store reads as the default: callers want a usable value, not an error */
    inv_setting_text(inv, def, &text);
    json_t *v = text ? json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL) : NULL;
    free(text);
    return v ? v : json_loads(def->def, JSON_DECODE_ANY, NULL);
}
