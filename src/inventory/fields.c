/* Extra fields (docs/inventory.md, Extra fields): per-entity definitions kept as a JSON array in
 * setting extra_fields_<entity>, values in table `extra` as the JSON text the client sent.
 *
 * Values are stored verbatim because clients decode them themselves (and some templates print
 * them raw), so filters and sorting work on that text: exact matches compare it with the
 * term's JSON encoding, numbers are cast, range elements are cut out with ltrim/rtrim/substr —
 * functions SQLite and PostgreSQL share. A value written with \u escapes where plain UTF-8
 * would do therefore only matches a text or choice filter in that escaped form. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/json.h"
#include "core/log.h"
#include "inventory/entities.h"

#define MAX_FIELDS 128          /* per entity, as Spoolman 0.26 */
#define VALUE_MAX_CHARS 65535
#define KEY_MAX 64
#define STR_(x) #x
#define STR(x) STR_(x)

typedef enum ftype {
    FT_TEXT, FT_INTEGER, FT_INTEGER_RANGE, FT_FLOAT, FT_FLOAT_RANGE, FT_DATETIME, FT_BOOLEAN, FT_CHOICE
} ftype;
#define FT_COUNT (FT_CHOICE + 1)

static const char *const ftype_names[FT_COUNT] = {
    "text", "integer", "integer_range", "float", "float_range", "datetime", "boolean", "choice",
};

static int ftype_parse(const char *s)
{
    for (int i = 0; s && i < FT_COUNT; i++)
        if (!strcmp(s, ftype_names[i]))
            return i;
    return -1;
}

/* Definitions handled here are canonical (see field_schema), so their type is known. */
static ftype ftype_of(const json_t *f)
{
    return (ftype)ftype_parse(json_string_value(json_object_get(f, "field_type")));
}

/* NULL when key matches ^[a-z0-9_]+$ with 1–64 characters, else pydantic's complaint. */
static const char *key_problem(const char *key)
{
    size_t n = strlen(key);
    if (!n)
        return "String should have at least 1 character";
    if (n > KEY_MAX)
        return "String should have at most " STR(KEY_MAX) " characters";
    for (; *key; key++)
        if (!((*key >= 'a' && *key <= 'z') || (*key >= '0' && *key <= '9') || *key == '_'))
            return "String should match pattern '^[a-z0-9_]+$'";
    return NULL;
}

/* --- one definition ----------------------------------------------------------------------- */

typedef enum mkind { M_STR, M_INT, M_BOOL, M_TYPE, M_STRLIST } mkind;

/* ExtraFieldParameters, the body of POST /field/{entity}/{key}. Optional members take null. */
static const struct member {
    const char *name;
    mkind kind;
    bool required;
    int min, max;    /* strings: characters */
} members[] = {
    {"name", M_STR, true, 1, 128},
    {"order", M_INT, false, 0, 0},
    {"unit", M_STR, false, 1, 16},
    {"field_type", M_TYPE, true, 0, 0},
    {"default_value", M_STR, false, 0, INT32_MAX},
    {"choices", M_STRLIST, false, 1, 0},
    {"multi_choice", M_BOOL, false, 0, 0},
};

/* NULL when v suits m, else the complaint (pydantic's wording) in why. */
static const char *member_problem(const struct member *m, const json_t *v, char *why, size_t len)
{
    if (!v)
        return m->required ? "Field required" : NULL;
    if (json_is_null(v) && !m->required && m->kind != M_INT)
        return NULL;
    switch (m->kind) {
    case M_STR: {
        if (!json_is_string(v))
            return "Input should be a valid string";
        size_t n = inv_utf8_chars(json_string_value(v));
        if (n < (size_t)m->min)
            snprintf(why, len, "String should have at least %d character%s", m->min, m->min == 1 ? "" : "s");
        else if (n > (size_t)m->max)
            snprintf(why, len, "String should have at most %d characters", m->max);
        else
            return NULL;
        return why;
    }
    case M_INT: return json_is_integer(v) ? NULL : "Input should be a valid integer";
    case M_BOOL: return json_is_boolean(v) ? NULL : "Input should be a valid boolean";
    case M_TYPE:
        return ftype_parse(json_string_value(v)) >= 0 ? NULL
               : "Input should be 'text', 'integer', 'integer_range', 'float', 'float_range', "
                 "'datetime', 'boolean' or 'choice'";
    default: { /* M_STRLIST */
        if (!json_is_array(v))
            return "Input should be a valid list";
        if (json_array_size(v) < (size_t)m->min)
            return "List should have at least 1 item after validation, not 0";
        size_t i;
        json_t *s;
        json_array_foreach(v, i, s)
            if (!json_is_string(s))
                return "Input should be a valid list of strings";
        return NULL;
    }
    }
}

/* The canonical definition of `in` for key and entity: key, entity_type, the members present
 * (nulls left out), order defaulted to 0. PD_ERR_FIELD names the member at fault. */
static pd_err field_schema(const json_t *in, const char *key, pd_inv_entity en, json_t **out,
                           pd_inv_err *e)
{
    json_t *f = json_pack("{s:s,s:s}", "key", key, "entity_type", pd_inv_entity_name(en));
    if (!f)
        return inv_fail_rc(e, PD_ERR_NOMEM);
    for (size_t i = 0; i < sizeof members / sizeof members[0]; i++) {
        const struct member *m = &members[i];
        json_t *v = json_object_get(in, m->name);
        char why[96];
        const char *bad = member_problem(m, v, why, sizeof why);
        if (bad) {
            json_decref(f);
            return pd_inv_fail(e, PD_ERR_FIELD, "body", m->name, "%s", bad);
        }
        if (v && !json_is_null(v))
            json_object_set_new(f, m->name, json_deep_copy(v));
        else if (m->kind == M_INT)
            json_object_set_new(f, m->name, json_integer(0));
    }
    *out = f;
    return PD_OK;
}

static bool in_list(const json_t *list, const json_t *v)
{
    size_t i;
    json_t *x;
    json_array_foreach(list, i, x)
        if (json_equal(x, v))
            return true;
    return false;
}

static const char *range_problem(const json_t *v, bool integers)
{
    if (!json_is_array(v))
        return "Value is not a list.";
    if (json_array_size(v) != 2)
        return "Value list must have exactly two values.";
    for (size_t i = 0; i < 2; i++) {
        const json_t *x = json_array_get(v, i);
        if (!json_is_null(x) && !(integers ? json_is_integer(x) : json_is_number(x)))
            return integers ? "Value list must contain only integers or null."
                            : "Value list must contain only floats or null.";
    }
    return NULL;
}

static const char *choice_problem(const json_t *f, const json_t *v)
{
    const json_t *choices = json_object_get(f, "choices");
    if (!json_is_true(json_object_get(f, "multi_choice"))) {
        if (!json_is_string(v))
            return "Value is not a string.";
        return in_list(choices, v) ? NULL : "Value is not a valid choice.";
    }
    if (!json_is_array(v))
        return "Value is not a list.";
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x)
        if (!json_is_string(x))
            return "Value list must contain only strings.";
    json_array_foreach(v, i, x)
        if (!in_list(choices, x))
            return "Value list contains invalid choices.";
    return NULL;
}

/* NULL when text is JSON of f's type (Spoolman's validate_extra_field_value), else why not. */
static const char *value_problem(const json_t *f, const char *text)
{
    if (inv_utf8_chars(text) > VALUE_MAX_CHARS)
        return "Value is too big, max size is " STR(VALUE_MAX_CHARS) " characters.";
    json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (!v)
        return "Value is not valid JSON.";
    const char *why = NULL;
    switch (ftype_of(f)) {
    case FT_TEXT:
    case FT_DATETIME:
        why = json_is_string(v) ? NULL : "Value is not a string.";
        break;
    case FT_INTEGER:
        /* Python's bool is an int, so Spoolman lets true and false through */
        why = json_is_integer(v) || json_is_boolean(v) ? NULL : "Value is not an integer.";
        break;
    case FT_FLOAT: why = json_is_number(v) ? NULL : "Value is not a float."; break;
    case FT_BOOLEAN: why = json_is_boolean(v) ? NULL : "Value is not a boolean."; break;
    case FT_INTEGER_RANGE: why = range_problem(v, true); break;
    case FT_FLOAT_RANGE: why = range_problem(v, false); break;
    case FT_CHOICE: why = choice_problem(f, v); break;
    }
    json_decref(v);
    return why;
}

/* Spoolman's validate_extra_field: choices and multi_choice belong to choice fields only, and
 * a default must be a valid value. */
static pd_err field_rules(const json_t *f, pd_inv_err *e)
{
    bool choice = ftype_of(f) == FT_CHOICE;
    bool has_choices = json_object_get(f, "choices"), has_multi = json_object_get(f, "multi_choice");
    const char *bad = NULL;
    if (choice && !has_choices)
        bad = "Choices must be set for field type choice.";
    else if (choice && !has_multi)
        bad = "Multi choice must be set for field type choice.";
    else if (!choice && has_choices)
        bad = "Choices must not be set for field type other than choice.";
    else if (!choice && has_multi)
        bad = "Multi choice must not be set for field type other than choice.";
    if (bad)
        return pd_inv_fail(e, PD_ERR_INVAL, "body", NULL, "%s", bad);
    const char *def = json_string_value(json_object_get(f, "default_value"));
    if (def && (bad = value_problem(f, def)))
        return pd_inv_fail(e, PD_ERR_INVAL, "body", NULL, "Default value is not valid: %s", bad);
    return PD_OK;
}

/* An element of a stored extra_fields_<entity> array as a canonical definition. */
static pd_err stored_field(const json_t *in, pd_inv_entity en, json_t **out, pd_inv_err *e)
{
    const char *key = json_string_value(json_object_get(in, "key"));
    const char *type = json_string_value(json_object_get(in, "entity_type"));
    if (!json_is_object(in))
        return pd_inv_fail(e, PD_ERR_FIELD, "body", NULL, "Input should be a valid dictionary");
    if (!key || key_problem(key))
        return pd_inv_fail(e, PD_ERR_FIELD, "body", "key", "%s",
                           key ? key_problem(key) : "Input should be a valid string");
    if (!type || strcmp(type, pd_inv_entity_name(en)))
        return pd_inv_fail(e, PD_ERR_FIELD, "body", "entity_type", "Input should be '%s'",
                           pd_inv_entity_name(en));
    pd_err rc = field_schema(in, key, en, out, e);
    if (!rc && (rc = field_rules(*out, e))) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

/* --- the definitions of an entity ---------------------------------------------------------- */

static const pd_inv_setting_def *defs_setting(pd_inv_entity en)
{
    char key[32];
    snprintf(key, sizeof key, "extra_fields_%s", pd_inv_entity_name(en));
    return pd_inv_setting_find(key);
}

static size_t field_index(const json_t *defs, const char *key)
{
    size_t i;
    json_t *f;
    json_array_foreach(defs, i, f)
        if (!strcmp(json_string_value(json_object_get(f, "key")), key))
            return i;
    return SIZE_MAX;
}

static json_t *field_find(const json_t *defs, const char *key)
{
    size_t i = field_index(defs, key);
    return i == SIZE_MAX ? NULL : json_array_get(defs, i);
}

/* The definitions as canonical objects in storage order. Every write checks them, so what
 * does not parse was put there by hand: it is skipped with a warning, as Spoolman reads a
 * setting that is not an array as none. */
static pd_err fields_load(pd_inv *inv, pd_inv_entity en, json_t **out)
{
    const pd_inv_setting_def *def = defs_setting(en);
    char *text;
    pd_err rc = inv_setting_text(inv, def, &text);
    if (rc)
        return rc;
    json_t *stored = json_loads(text ? text : def->def, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    free(text);
    json_t *defs = json_array();
    if (!json_is_array(stored))
        pd_warn("inventory", "setting %s is not an array: no extra fields", def->key);
    size_t i;
    json_t *el;
    json_array_foreach(stored, i, el) {
        pd_inv_err e;
        json_t *f;
        if (stored_field(el, en, &f, &e)) {
            pd_warn("inventory", "%s[%zu] ignored: %s %s", def->key, i, e.field, e.msg);
            continue;
        }
        if (json_array_append_new(defs, f)) {
            rc = PD_ERR_NOMEM;
            break;
        }
    }
    json_decref(stored);
    if (!defs || rc) {
        json_decref(defs);
        return rc ? rc : PD_ERR_NOMEM;
    }
    *out = defs;
    return PD_OK;
}

/* Spoolman's rules for replacing a definition: existing values must stay valid, so the type,
 * multi_choice and existing choices stay. The new definition goes last. */
static pd_err field_replace(json_t *defs, pd_inv_entity en, json_t *f, pd_inv_err *e)
{
    size_t i = field_index(defs, json_string_value(json_object_get(f, "key")));
    if (i != SIZE_MAX) {
        const json_t *old = json_array_get(defs, i);
        const char *bad = NULL;
        const json_t *old_choices = json_object_get(old, "choices");
        size_t k;
        json_t *c;
        if (ftype_of(old) != ftype_of(f))
            bad = "Field type cannot be changed.";
        else if (ftype_of(f) == FT_CHOICE &&
                 !json_equal(json_object_get(old, "multi_choice"), json_object_get(f, "multi_choice")))
            bad = "Multi choice cannot be changed.";
        json_array_foreach(old_choices, k, c)
            if (!bad && !in_list(json_object_get(f, "choices"), c))
                bad = "Cannot remove existing choices.";
        if (bad)
            return pd_inv_fail(e, PD_ERR_INVAL, "body", NULL, "%s", bad);
        json_array_remove(defs, i);
    }
    if (json_array_size(defs) >= MAX_FIELDS)
        return pd_inv_fail(e, PD_ERR_INVAL, "body", NULL,
                           "Cannot add another extra field for %s, the maximum is %d.",
                           pd_inv_entity_name(en), MAX_FIELDS);
    return json_array_append(defs, f) ? inv_fail_rc(e, PD_ERR_NOMEM) : PD_OK;
}

static pd_err field_missing(pd_inv_entity en, const char *key, pd_inv_err *e)
{
    return pd_inv_fail(e, PD_ERR_NOTFOUND, "path", "key",
                       "Extra field with key %s does not exist for entity type %s", key,
                       pd_inv_entity_name(en));
}

/* Puts f in place of key's definition, or removes the definition with every stored value of
 * the key (f NULL), in one transaction; the new list goes to *out and is announced as the
 * extra_fields_<entity> setting. */
static pd_err fields_write(pd_inv *inv, pd_inv_entity en, const char *key, json_t *f, json_t **out,
                           pd_inv_err *e)
{
    const pd_inv_setting_def *def = defs_setting(en);
    json_t *defs = NULL;
    char *text = NULL;
    pd_err rc = pd_db_begin(inv->db);
    if (rc)
        return inv_fail_rc(e, rc);
    pd_err w = fields_load(inv, en, &defs);
    if (w)
        inv_fail_rc(e, w);
    else if (f)
        w = field_replace(defs, en, f, e);
    else if (field_index(defs, key) == SIZE_MAX)
        w = field_missing(en, key, e);
    else
        json_array_remove(defs, field_index(defs, key));
    if (!w && !(text = json_dumps(defs, JSON_COMPACT)))
        w = inv_fail_rc(e, PD_ERR_NOMEM);
    if (!w)
        w = inv_setting_put(inv, def, text, e);
    if (!w && !f) {
        pd_sqlv args[] = {PD_SQL_S(pd_inv_entity_name(en)), PD_SQL_S(key)};
        if ((w = pd_db_run(inv->db, "DELETE FROM extra WHERE entity = ? AND key = ?", args, 2, NULL)))
            inv_fail_rc(e, w);
    }
    if ((rc = pd_inv_end(inv, w)) && !w)
        inv_fail_rc(e, rc);
    if (!rc) {
        inv_setting_announce(inv, def, text);
        *out = defs;
        defs = NULL;
    }
    json_decref(defs);
    free(text);
    return rc;
}

/* Checks the value of an extra_fields_<entity> setting written through /setting (Spoolman
 * 0.26): a malformed list would otherwise break every later read of the fields. Other
 * settings pass. Messages are 400s naming the element. */
pd_err inv_fields_setting_check(const char *setting, const json_t *value, pd_inv_err *e)
{
    static const char prefix[] = "extra_fields_";
    pd_inv_entity en;
    if (strncmp(setting, prefix, sizeof prefix - 1) || !pd_inv_entity_parse(setting + sizeof prefix - 1, &en))
        return PD_OK;
    if (json_array_size(value) > MAX_FIELDS)
        return pd_inv_fail(e, PD_ERR_INVAL, "body", NULL, "Setting %s has %zu extra fields, the maximum is %d.",
                           setting, json_array_size(value), MAX_FIELDS);
    size_t i;
    json_t *el;
    json_array_foreach(value, i, el) {
        pd_inv_err fe;
        json_t *f;
        if (stored_field(el, en, &f, &fe))
            return pd_inv_fail(e, PD_ERR_INVAL, "body", NULL, "Extra field at index %zu is not valid: %s%s%s",
                               i, fe.field, *fe.field ? ": " : "", fe.msg);
        json_decref(f);
        const char *key = json_string_value(json_object_get(el, "key"));
        for (size_t j = 0; j < i; j++)
            if (!strcmp(key, json_string_value(json_object_get(json_array_get(value, j), "key"))))
                return pd_inv_fail(e, PD_ERR_INVAL, "body", NULL,
                                   "Setting %s contains duplicate extra field keys.", setting);
    }
    return PD_OK;
}

/* --- /field ------------------------------------------------------------------------------------ */

pd_err pd_inv_fields_list(pd_inv *inv, pd_inv_entity en, json_t **out)
{
    return fields_load(inv, en, out);
}

static pd_err path_key(const char *key, pd_inv_err *e)
{
    const char *bad = key_problem(key);
    return bad ? pd_inv_fail(e, PD_ERR_FIELD, "path", "key", "%s", bad) : PD_OK;
}

pd_err pd_inv_field_put(pd_inv *inv, pd_inv_entity en, const char *key, json_t *body, json_t **out,
                        pd_inv_err *e)
{
    pd_err rc = path_key(key, e);
    if (rc)
        return rc;
    if (!json_is_object(body))
        return pd_inv_fail(e, PD_ERR_FIELD, "body", NULL,
                           "Input should be a valid dictionary or object to extract fields from");
    json_t *f;
    if ((rc = field_schema(body, key, en, &f, e)))
        return rc;
    if (!(rc = field_rules(f, e)))
        rc = fields_write(inv, en, key, f, out, e);
    json_decref(f);
    return rc;
}

pd_err pd_inv_field_delete(pd_inv *inv, pd_inv_entity en, const char *key, json_t **out, pd_inv_err *e)
{
    pd_err rc = path_key(key, e);
    return rc ? rc : fields_write(inv, en, key, NULL, out, e);
}

/* Values sort numbers first (by value), then strings (by code point, as Python's sorted), then
 * the rest by their JSON text. */
static int value_rank(const json_t *v)
{
    return json_is_number(v) ? 0 : json_is_string(v) ? 1 : 2;
}

static int value_cmp(const void *pa, const void *pb)
{
    const json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
    int ra = value_rank(a), rb = value_rank(b);
    if (ra != rb)
        return ra - rb;
    if (ra == 0) {
        double x = json_number_value(a), y = json_number_value(b);
        return (x > y) - (x < y);
    }
    if (ra == 1)
        return strcmp(json_string_value(a), json_string_value(b));
    char *ta = json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY), *tb = json_dumps(b, JSON_COMPACT | JSON_ENCODE_ANY);
    int c = strcmp(ta ? ta : "", tb ? tb : "");
    free(ta);
    free(tb);
    return c;
}

static bool value_empty(const json_t *v)
{
    return json_is_null(v) || (json_is_string(v) && !json_string_length(v)) ||
           (json_is_array(v) && !json_array_size(v));
}

typedef struct values_ctx {
    json_t *all;
    bool multi;   /* a multi-choice field: each chosen value counts on its own */
} values_ctx;

static pd_err collect_value(const pd_row *row, void *ud)
{
    values_ctx *c = ud;
    json_t *v = json_loads(pd_row_text(row, 0), JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    size_t i;
    json_t *x;
    int bad = 0;
    if (c->multi && json_is_array(v)) {
        json_array_foreach(v, i, x)
            if (!value_empty(x))
                bad |= json_array_append(c->all, x);
    } else if (v && !value_empty(v)) {
        bad = json_array_append(c->all, v);
    }
    json_decref(v);
    return bad ? PD_ERR_NOMEM : PD_OK;
}

/* The values of all, sorted, each once. */
static json_t *sorted_distinct(const json_t *all)
{
    size_t n = json_array_size(all);
    json_t **v = malloc((n ? n : 1) * sizeof *v), *out = json_array();
    if (!v || !out) {
        free(v);
        json_decref(out);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        v[i] = json_array_get(all, i);
    qsort(v, n, sizeof *v, value_cmp);
    for (size_t i = 0; i < n && out; i++)
        if ((!i || !json_equal(v[i - 1], v[i])) && json_array_append(out, v[i])) {
            json_decref(out);
            out = NULL;
        }
    free(v);
    return out;
}

pd_err pd_inv_field_values(pd_inv *inv, pd_inv_entity en, const char *key, json_t **out, pd_inv_err *e)
{
    json_t *defs;
    pd_err rc = path_key(key, e);
    if (rc)
        return rc;
    if ((rc = fields_load(inv, en, &defs)))
        return inv_fail_rc(e, rc);
    const json_t *f = field_find(defs, key);
    values_ctx c = {json_array(), json_is_true(json_object_get(f, "multi_choice"))};
    pd_sqlv args[] = {PD_SQL_S(pd_inv_entity_name(en)), PD_SQL_S(key)};
    if (!f)
        rc = field_missing(en, key, e);
    else if (!c.all)
        rc = inv_fail_rc(e, PD_ERR_NOMEM);
    else if ((rc = pd_db_query(inv->db, "SELECT DISTINCT value FROM extra WHERE entity = ? AND key = ?", args,
                               2, collect_value, &c)))
        inv_fail_rc(e, rc);
    else if (!(*out = sorted_distinct(c.all)))
        rc = inv_fail_rc(e, PD_ERR_NOMEM);
    json_decref(c.all);
    json_decref(defs);
    return rc;
}

/* --- values on entities ---------------------------------------------------------------------- */

pd_err pd_inv_extra_check(pd_inv *inv, pd_inv_entity en, json_t *extra, pd_inv_err *e)
{
    const char *key;
    json_t *v, *defs;
    char field[96];
    if (!json_is_object(extra))
        return pd_inv_fail(e, PD_ERR_FIELD, "body", "extra", "Input should be a valid dictionary");
    /* the shape first, as the request schema checks it before any rule */
    json_object_foreach(extra, key, v)
        if (!json_is_string(v) && !json_is_null(v)) {
            snprintf(field, sizeof field, "extra.%s", key);
            return pd_inv_fail(e, PD_ERR_FIELD, "body", field, "Input should be a valid string");
        }
    if (!json_object_size(extra))
        return PD_OK;
    pd_err rc = fields_load(inv, en, &defs);
    if (rc)
        return inv_fail_rc(e, rc);
    json_object_foreach(extra, key, v) {
        const json_t *f = field_find(defs, key);
        const char *bad = f && json_is_string(v) ? value_problem(f, json_string_value(v)) : NULL;
        snprintf(field, sizeof field, "extra.%s", key);
        if (!f)
            rc = pd_inv_fail(e, PD_ERR_INVAL, "body", field, "Unknown extra field %s.", key);
        else if (bad)
            rc = pd_inv_fail(e, PD_ERR_INVAL, "body", field, "Invalid extra field for key %s: %s", key, bad);
        if (rc)
            break;
    }
    json_decref(defs);
    return rc;
}

pd_err pd_inv_extra_save(pd_inv *inv, pd_inv_entity en, int64_t id, json_t *extra)
{
    const char *key;
    json_t *v;
    json_object_foreach(extra, key, v) {
        pd_sqlv args[] = {PD_SQL_S(pd_inv_entity_name(en)), PD_SQL_I(id), PD_SQL_S(key),
                          PD_SQL_S(json_string_value(v))};
        pd_err rc;
        if (json_is_null(v))
            rc = pd_db_run(inv->db, "DELETE FROM extra WHERE entity = ? AND entity_id = ? AND key = ?",
                           args, 3, NULL);
        else if (json_is_string(v))
            rc = pd_db_run(inv->db,
                           "INSERT INTO extra (entity, entity_id, key, value) VALUES (?, ?, ?, ?)"
                           " ON CONFLICT (entity, entity_id, key) DO UPDATE SET value = excluded.value",
                           args, 4, NULL);
        else
            rc = PD_ERR_INVAL;  /* not checked by pd_inv_extra_check */
        if (rc)
            return rc;
    }
    return PD_OK;
}

pd_err pd_inv_extra_drop(pd_inv *inv, pd_inv_entity en, int64_t id)
{
    pd_sqlv args[] = {PD_SQL_S(pd_inv_entity_name(en)), PD_SQL_I(id)};
    return pd_db_run(inv->db, "DELETE FROM extra WHERE entity = ? AND entity_id = ?", args, 2, NULL);
}

pd_err inv_extra_collect(const pd_row *row, void *ud)
{
    char id[24];
    snprintf(id, sizeof id, "%lld", (long long)pd_row_int(row, 0));
    json_t *m = json_object_get(ud, id);
    if (!m && json_object_set_new(ud, id, m = json_object()))
        return PD_ERR_NOMEM;
    return json_object_set_new(m, pd_row_text(row, 1), json_string(pd_row_text(row, 2))) ? PD_ERR_NOMEM : PD_OK;
}

pd_err pd_inv_extra_load(pd_inv *inv, pd_inv_entity en, int64_t lo, int64_t hi, json_t **out)
{
    json_t *maps = json_object();
    if (!maps)
        return PD_ERR_NOMEM;
    pd_sqlv args[] = {PD_SQL_S(pd_inv_entity_name(en)), PD_SQL_I(lo), PD_SQL_I(hi)};
    pd_err rc = pd_db_query(inv->db,
                            "SELECT entity_id, key, value FROM extra WHERE entity = ?"
                            " AND entity_id >= ? AND entity_id <= ? ORDER BY entity_id, key",
                            args, 3, inv_extra_collect, maps);
    if (rc) {
        json_decref(maps);
        return rc;
    }
    *out = maps;
    return PD_OK;
}

/* --- filtering and sorting ----------------------------------------------------------------- */

/* What a stored value is read as in SQL. */
typedef enum vpart {
    V_TEXT,   /* the JSON text */
    V_NUM,    /* a number (the integer quirk's true/false read as NULL) */
    V_LOW,    /* a range's first element (null read as NULL) */
    V_HIGH,   /* a range's second element */
} vpart;

#define JSON_WS " \t\n\r"
/* what a range's second element and the closing bracket can consist of */
#define RANGE_TAIL "0123456789.eE+-nul]" JSON_WS
#define RANGE_LOW "ltrim(rtrim(rtrim(value, '" RANGE_TAIL "'), '," JSON_WS "'), '[" JSON_WS "')"
#define RANGE_HIGH                                                                               \
    "rtrim(ltrim(substr(value, length(rtrim(value, '" RANGE_TAIL "')) + 1), '" JSON_WS "'), ']" \
    JSON_WS "')"

/* A scalar subquery reading key's value for the row id_sql (NULL when it has none). Numbers are
 * cast in its select list, which only sees the row its WHERE found: PostgreSQL would fail on a
 * cast of another key's text. Only checked text goes into it: key matched ^[a-z0-9_]+$ and is
 * defined, the entity name comes from a fixed table, id_sql from the caller's code. */
static bool value_sql(const pd_db *db, pd_inv_entity en, const char *key, const char *id_sql, vpart part,
                      char *out, size_t len)
{
    char sel[512];
    const char *real = pd_db_type_real(db);
    switch (part) {
    case V_TEXT: snprintf(sel, sizeof sel, "value"); break;
    case V_NUM:
        snprintf(sel, sizeof sel, "CASE WHEN value IN ('true', 'false') THEN NULL ELSE CAST(value AS %s) END", real);
        break;
    case V_LOW:
    case V_HIGH: {
        const char *el = part == V_LOW ? RANGE_LOW : RANGE_HIGH;
        snprintf(sel, sizeof sel, "CASE WHEN %s = 'null' THEN NULL ELSE CAST(%s AS %s) END", el, el, real);
        break;
    }
    }
    int n = snprintf(out, len, "(SELECT %s FROM extra WHERE entity = '%s' AND entity_id = %s AND key = '%s')",
                     sel, pd_inv_entity_name(en), id_sql, key);
    return n > 0 && (size_t)n < len;
}

/* A term as JSON text, the argument of the condition just added. */
static void json_text(const char *term, pd_sqlb *b)
{
    json_t *s = json_string(term);
    char *t = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
    json_decref(s);
    if (t)
        pd_sqlb_arg(b, PD_SQL_S(t));
    else
        b->failed = true;
    free(t);
}

static bool parse_number(const char *s, double *out)
{
    char *end;
    *out = strtod(s, &end);
    return *s && !*end && isfinite(*out);
}

/* A side of a numeric term as Python's int() or float() reads it: surrounding whitespace
 * and a sign allowed; integers are digits only, and hex is no float. */
static bool number_side(char *s, bool integer, double *out)
{
    s += strspn(s, JSON_WS);
    size_t len = strlen(s);
    while (len && strchr(JSON_WS, s[len - 1]))
        s[--len] = '\0';
    const char *digits = s + (*s == '+' || *s == '-');
    if (integer ? !*digits || strspn(digits, "0123456789") != strlen(digits) : strpbrk(s, "xX") != NULL)
        return false;
    return parse_number(s, out);
}

static bool blank(const char *s) { return !s[strspn(s, JSON_WS)]; }

/* "lo<sep>hi" with at least one side: the value is present and lo ≤ low, high ≤ hi. Numeric
 * sides were checked by number_side; text sides compare as JSON strings, which order as the
 * strings they encode. */
static void bounds_sql(pd_sqlb *b, const char *present, const char *low, const char *high, char *lo,
                       char *hi, bool numeric)
{
    pd_sqlb_add(b, "(%s IS NOT NULL", present);
    char *side[2] = {lo, hi};
    for (int i = 0; i < 2; i++) {
        double d;
        if (numeric ? blank(side[i]) : !*side[i])
            continue;
        pd_sqlb_add(b, " AND %s %s ?", i ? high : low, i ? "<=" : ">=");
        if (numeric && number_side(side[i], false, &d))
            pd_sqlb_arg(b, PD_SQL_D(d));
        else if (!numeric)
            json_text(side[i], b);
    }
    pd_sqlb_add(b, ")");
}

typedef struct term_ctx {
    const pd_db *db;
    const json_t *f;
    const char *key;
    char val[1024], num[1024], low[1024], high[1024];   /* value_sql of each part */
} term_ctx;

/* Whether both sides of "lo<sep>hi" (cut at sep) are numbers of the kind, or blank, and not
 * both blank. */
static bool numeric_sides(char *t, char *sep, bool integer)
{
    double d;
    *sep = '\0';
    bool ok = (blank(t) || number_side(t, integer, &d)) && (blank(sep + 1) || number_side(sep + 1, integer, &d)) &&
              !(blank(t) && blank(sep + 1));
    *sep = ':';
    return ok;
}

/* One comma-separated term of an extra-field filter as a condition; a term the field's type
 * cannot read is Spoolman's 400, with its sentence. */
static pd_err term_sql(const term_ctx *c, char *t, pd_sqlb *b, pd_inv_err *e)
{
    ftype type = ftype_of(c->f);
    size_t len = strlen(t);
    const char *k = c->key, *num = type == FT_INTEGER || type == FT_INTEGER_RANGE ? "integer" : "float";
    if (!len || !strcmp(t, "<empty>")) {
        pd_sqlb_add(b, "(%s IS NULL OR %s IN ('null', '\"\"'%s))", c->val, c->val,
                    type == FT_BOOLEAN ? ", 'false'" : "");
        return PD_OK;
    }
    bool quoted = len >= 2 && t[0] == '"' && t[len - 1] == '"';
    if (quoted) {
        t[len - 1] = '\0';
        t++;
    }
    char *sep;
    double d;
    switch (type) {
    case FT_TEXT:
        if (quoted) {
            pd_sqlb_add(b, "%s = ?", c->val);
            json_text(t, b);
        } else {
            /* a substring of the JSON text: the term encoded the same way, without its quotes */
            json_t *js = json_string(t);
            char *enc = js ? json_dumps(js, JSON_ENCODE_ANY) : NULL;
            json_decref(js);
            if (!enc)
                return inv_fail_rc(e, PD_ERR_NOMEM);
            enc[strlen(enc) - 1] = '\0';
            pd_sqlb_contains_literal(b, c->db, c->val, enc + 1);
            free(enc);
        }
        return PD_OK;
    case FT_CHOICE:
        if (json_is_true(json_object_get(c->f, "multi_choice"))) {
            /* contains the choice as a JSON string; replace() compares case-sensitively on both */
            pd_sqlb_add(b, "length(%s) > length(replace(%s, ?, ''))", c->val, c->val);
        } else {
            pd_sqlb_add(b, "%s = ?", c->val);
        }
        json_text(t, b);
        return PD_OK;
    case FT_DATETIME:
        if ((sep = strchr(t, '|'))) {
            if (!sep[1] && sep == t)
                return pd_inv_fail(e, PD_ERR_INVAL, "query", k, "Invalid datetime range filter for '%s': '%s'. "
                                   "Expected '<start>|<end>' with at least one end given.", k, t);
            *sep = '\0';
            bounds_sql(b, c->val, c->val, c->val, t, sep + 1, false);
            return PD_OK;
        }
        pd_sqlb_add(b, "%s = ?", c->val);
        json_text(t, b);
        return PD_OK;
    case FT_BOOLEAN: {
        const char *v = t + strspn(t, JSON_WS);
        size_t vl = strlen(v);
        while (vl && strchr(JSON_WS, v[vl - 1]))
            vl--;
        bool yes = vl == 4 && !strncasecmp(v, "true", 4);
        if (!yes && !(vl == 5 && !strncasecmp(v, "false", 5)))
            return pd_inv_fail(e, PD_ERR_INVAL, "query", k, "Invalid boolean filter value: '%s'", t);
        pd_sqlb_add(b, "%s = '%s'", c->val, yes ? "true" : "false");
        return PD_OK;
    }
    case FT_INTEGER:
    case FT_FLOAT:
        if ((sep = strchr(t, ':'))) {
            if (!numeric_sides(t, sep, type == FT_INTEGER))
                return pd_inv_fail(e, PD_ERR_INVAL, "query", k, "Invalid %s range filter value for '%s': %s", num, k, t);
            *sep = '\0';
            bounds_sql(b, c->num, c->num, c->num, t, sep + 1, true);
            return PD_OK;
        }
        if (!number_side(t, type == FT_INTEGER, &d))
            return pd_inv_fail(e, PD_ERR_INVAL, "query", k, "Invalid %s filter value for '%s': %s", num, k, t);
        pd_sqlb_add(b, "%s = ?", c->num);
        pd_sqlb_arg(b, PD_SQL_D(d));
        return PD_OK;
    default: /* the ranges: the stored range lies inside */
        if (!(sep = strchr(t, ':')) || (t + strspn(t, JSON_WS) == sep && blank(sep + 1)))
            return pd_inv_fail(e, PD_ERR_INVAL, "query", k, "Invalid range filter value for '%s': %s. "
                               "Expected '<min>:<max>'.", k, t);
        if (!numeric_sides(t, sep, type == FT_INTEGER_RANGE))
            return pd_inv_fail(e, PD_ERR_INVAL, "query", k, "Invalid %s range filter value for '%s': %s", num, k, t);
        *sep = '\0';
        bounds_sql(b, c->val, c->low, c->high, t, sep + 1, true);
        return PD_OK;
    }
}

#define TERM_MAX 256

pd_err pd_inv_extra_filter(pd_inv *inv, pd_inv_entity en, const char *key, const char *value,
                           const char *id_sql, pd_sqlb *b, pd_inv_err *e)
{
    json_t *defs;
    if (key_problem(key))
        return PD_OK;
    pd_err rc = fields_load(inv, en, &defs);
    if (rc)
        return inv_fail_rc(e, rc);
    term_ctx *c = calloc(1, sizeof *c);
    char field[96];
    snprintf(field, sizeof field, "extra.%s", key);
    if (!c) {
        rc = inv_fail_rc(e, PD_ERR_NOMEM);
    } else if ((c->f = field_find(defs, key))) {
        c->db = inv->db;
        c->key = key;
        static const vpart parts[] = {V_TEXT, V_NUM, V_LOW, V_HIGH};
        char *const bufs[] = {c->val, c->num, c->low, c->high};
        for (size_t i = 0; i < 4 && !rc; i++)
            if (!value_sql(inv->db, en, key, id_sql, parts[i], bufs[i], sizeof c->val))
                rc = inv_fail_rc(e, PD_ERR_TOOBIG);
        if (!rc)
            pd_sqlb_add(b, " AND (");
        for (const char *p = value; !rc; p++) {
            size_t n = strcspn(p, ",");
            char term[TERM_MAX + 1];
            if (n > TERM_MAX)
                rc = pd_inv_fail(e, PD_ERR_INVAL, "query", field, "Filter term for %s is too long.", field);
            else
                snprintf(term, sizeof term, "%.*s", (int)n, p);
            if (!rc && p != value)
                pd_sqlb_add(b, " OR ");
            if (!rc)
                rc = term_sql(c, term, b, e);
            p += n;
            if (!*p) {
                pd_sqlb_add(b, ")");
                break;
            }
        }
    }
    free(c);
    json_decref(defs);
    return rc;
}

bool pd_inv_extra_sort(pd_inv *inv, pd_inv_entity en, const char *key, const char *id_sql, char *out,
                       size_t outlen)
{
    json_t *defs;
    if (key_problem(key) || fields_load(inv, en, &defs))
        return false;
    const json_t *f = field_find(defs, key);
    vpart part = V_TEXT;
    if (f && (ftype_of(f) == FT_INTEGER || ftype_of(f) == FT_FLOAT))
        part = V_NUM;
    else if (f && (ftype_of(f) == FT_INTEGER_RANGE || ftype_of(f) == FT_FLOAT_RANGE))
        part = V_LOW;
    bool ok = f && value_sql(inv->db, en, key, id_sql, part, out, outlen);
    json_decref(defs);
    return ok;
}

pd_err inv_extra_text_keys(pd_inv *inv, pd_inv_entity en, json_t **out)
{
    json_t *defs, *keys = json_array();
    pd_err rc = keys ? fields_load(inv, en, &defs) : PD_ERR_NOMEM;
    if (rc) {
        json_decref(keys);
        return rc;
    }
    size_t i;
    json_t *f;
    json_array_foreach(defs, i, f)
        if ((ftype_of(f) == FT_TEXT || ftype_of(f) == FT_CHOICE) &&
            json_array_append(keys, json_object_get(f, "key")))
            rc = PD_ERR_NOMEM;
    json_decref(defs);
    if (rc)
        json_decref(keys);
    else
        *out = keys;
    return rc;
}

pd_err inv_extra_plain(pd_inv *inv, const char *key, char *sql, size_t sqllen, pd_inv_err *e)
{
    json_t *defs = NULL;
    pd_err rc = key_problem(key) ? PD_OK : fields_load(inv, PD_INV_SPOOL, &defs);
    if (rc)
        return inv_fail_rc(e, rc);
    const json_t *f = defs ? field_find(defs, key) : NULL;
    if (!f)
        rc = pd_inv_fail(e, PD_ERR_INVAL, "query", "group_by", "Unknown spool extra field '%.64s'.", key);
    else if (ftype_of(f) != FT_TEXT && (ftype_of(f) != FT_CHOICE || json_is_true(json_object_get(f, "multi_choice"))))
        rc = pd_inv_fail(e, PD_ERR_INVAL, "query", "group_by", "Spool extra field '%s' does not hold a single "
                         "plain value. Only text and single-choice fields do.", key);
    else if (sql && !value_sql(inv->db, PD_INV_SPOOL, key, "s.id", V_TEXT, sql, sqllen))
        rc = inv_fail_rc(e, PD_ERR_TOOBIG);
    json_decref(defs);
    return rc;
}

/* The stored text's decoded string, or NULL for anything else (null, a number, bad text). */
static json_t *decoded_string(const char *text)
{
    json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (json_is_string(v))
        return v;
    json_decref(v);
    return NULL;
}

char *inv_extra_decode(const char *text)
{
    json_t *v = decoded_string(text);
    char *s = v && json_string_length(v) ? strdup(json_string_value(v)) : NULL;
    json_decref(v);
    return s;
}

typedef struct rename_scan {
    const char *from;
    inv_ids ids;
    pd_err rc;
} rename_scan;

static pd_err rename_row(const pd_row *row, void *ud)
{
    rename_scan *rs = ud;
    json_t *v = decoded_string(pd_row_text(row, 1));
    bool same = v && json_string_length(v) == strlen(rs->from) && !strcmp(json_string_value(v), rs->from);
    json_decref(v);
    return same ? inv_ids_add(&rs->ids, pd_row_int(row, 0)) : PD_OK;
}

#define RENAME_BATCH 500

pd_err inv_extra_rename(pd_inv *inv, const char *key, const char *from, const char *to, int64_t *updated)
{
    /* matched on the decoded value, so "\u0041" is renamed with "A": decoded here, not in SQL */
    rename_scan rs = {.from = from};
    pd_sqlv a[] = {PD_SQL_S(key)};
    pd_err rc = pd_db_query(inv->db, "SELECT entity_id, value FROM extra WHERE entity = 'spool' AND key = ?",
                            a, 1, rename_row, &rs);
    json_t *s = json_string(to);
    char *text = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
    json_decref(s);
    if (!rc && !text)
        rc = PD_ERR_NOMEM;
    for (size_t i = 0; !rc && i < rs.ids.n; i += RENAME_BATCH) {
        pd_sqlb *b = malloc(sizeof *b);
        if (!b) {
            rc = PD_ERR_NOMEM;
            break;
        }
        pd_sqlb_init(b);
        pd_sqlb_add(b, "UPDATE extra SET value = ? WHERE entity = 'spool' AND key = ? AND entity_id IN (");
        pd_sqlb_arg(b, PD_SQL_S(text));
        pd_sqlb_arg(b, PD_SQL_S(key));
        for (size_t k = i; k < rs.ids.n && k < i + RENAME_BATCH; k++)
            pd_sqlb_add(b, "%s%lld", k > i ? ", " : "", (long long)rs.ids.v[k]);
        pd_sqlb_add(b, ")");
        rc = pd_sqlb_ok(b) ? pd_db_run(inv->db, b->sql, b->args, b->nargs, NULL) : PD_ERR_TOOBIG;
        pd_sqlb_free(b);
        free(b);
    }
    *updated = (int64_t)rs.ids.n;
    free(text);
    free(rs.ids.v);
    return rc;
}
