/* Creating, changing and deleting vendors, filaments and spools; `use` and `measure`.
 * Each call is one transaction: validation happens before any write, and a failure part way
 * rolls everything back. The change is announced once it is committed. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/jw.h"
#include "inventory/entities.h"

#define MAX_COLS 32
#define VAL_TEXT 1100

typedef struct inv_val {
    bool present;            /* the key was in the body */
    pd_sqlv v;               /* PD_SQL_NULL for an explicit null */
    char text[VAL_TEXT];     /* normalised text the argument points at */
} inv_val;

typedef struct inv_body {
    inv_val col[MAX_COLS];   /* by column index of the entity's table */
    bool has_remaining;      /* spool: remaining_weight given (write-only, computed) */
    bool remaining_null;
    double remaining;
    json_t *extra;           /* borrowed from the request */
} inv_body;

/* Keys a GET returns that a client may send back in a PATCH: ignored, not refused. */
static const char *const response_only[] = {"id", "registered", "vendor", "filament",
                                            "remaining_length", "used_length", NULL};

/* RRGGBB or RRGGBBAA, any case, optional '#': upper-case without '#' into out. */
static bool color_norm(const char *in, char *out, size_t outlen)
{
    if (*in == '#')
        in++;
    size_t len = strlen(in);
    if ((len != 6 && len != 8) || outlen <= len)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!isxdigit((unsigned char)in[i]))
            return false;
        out[i] = (char)toupper((unsigned char)in[i]);
    }
    out[len] = '\0';
    return true;
}

static bool colors_norm(const char *in, char *out, size_t outlen)
{
    size_t n = 0, used = 0;
    const char *p = in;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char one[16], norm[16];
        if (len >= sizeof one)
            return false;
        memcpy(one, p, len);
        one[len] = '\0';
        if (!color_norm(one, norm, sizeof norm) || used + strlen(norm) + 2 > outlen)
            return false;
        used += (size_t)snprintf(out + used, outlen - used, "%s%s", n ? "," : "", norm);
        n++;
        if (!comma)
            break;
        p = comma + 1;
    }
    return n >= 2;
}

static pd_err number(const char *name, json_t *j, bool positive, double *out, pd_inv_err *e)
{
    if (!json_is_number(j))
        return pd_inv_fail(e, PD_ERR_FIELD, "body", name, "Input should be a valid number");
    double v = json_number_value(j);
    if (!isfinite(v))
        return pd_inv_fail(e, PD_ERR_FIELD, "body", name, "Input should be a finite number");
    if (positive ? v <= 0 : v < 0)
        return pd_inv_fail(e, PD_ERR_FIELD, "body", name, "Input should be greater than %s0",
                           positive ? "" : "or equal to ");
    *out = v;
    return PD_OK;
}

/* One body value into its column's form. */
static pd_err parse_value(const inv_col *c, json_t *j, inv_val *val, pd_inv_err *e)
{
    val->present = true;
    val->v = PD_SQL_NUL;
    if (json_is_null(j)) {
        if (c->flags & COL_NONNULL)
            return pd_inv_fail(e, PD_ERR_FIELD, "body", c->name, "Input should not be null");
        return PD_OK;
    }
    const char *s = json_string_value(j);
    double d;
    pd_err rc;
    switch (c->type) {
    case COL_REAL:
        if ((rc = number(c->name, j, c->flags & COL_POSITIVE, &d, e)))
            return rc;
        val->v = PD_SQL_D(d);
        return PD_OK;
    case COL_INT:
    case COL_REF:
        if (!json_is_integer(j) && !(json_is_real(j) && json_real_value(j) == floor(json_real_value(j))))
            return pd_inv_fail(e, PD_ERR_FIELD, "body", c->name, "Input should be a valid integer");
        d = json_number_value(j);
        if (d < 0 || d > 9e15)
            return pd_inv_fail(e, PD_ERR_FIELD, "body", c->name, "Input should be greater than or equal to 0");
        val->v = PD_SQL_I((int64_t)d);
        return PD_OK;
    case COL_BOOL:
        if (!json_is_boolean(j))
            return pd_inv_fail(e, PD_ERR_FIELD, "body", c->name, "Input should be a valid boolean");
        val->v = PD_SQL_I(json_is_true(j));
        return PD_OK;
    default:
        break;
    }
    if (!s)
        return pd_inv_fail(e, PD_ERR_FIELD, "body", c->name, "Input should be a valid string");
    if (c->type == COL_TIME || c->type == COL_DATE) {
        bool day = c->type == COL_DATE;
        int64_t t;
        const char *why;
        if (!pd_date_parse(s, day ? PD_DATE_DAY : 0, &t, &why))
            return pd_inv_fail(e, PD_ERR_FIELD, "body", c->name, "Invalid %s \"%.*s\": %s",
                               day ? "date" : "datetime", pd_jw_utf8_cut(s, 64), s, why);
        /* a day stays the text Spoolman stores (no zone to shift it); a time is unix seconds */
        snprintf(val->text, sizeof val->text, "%s", s);
        val->v = day ? PD_SQL_S(val->text) : PD_SQL_I(t);
        return PD_OK;
    }
    if (inv_utf8_chars(s) > (size_t)c->maxlen)
        return pd_inv_fail(e, PD_ERR_FIELD, "body", c->name,
                           "String should have at most %d characters", c->maxlen);
    bool ok = true;
    switch (c->type) {
    case COL_COLOR:
        if (!*s)
            return PD_OK;  /* "" clears the colour */
        ok = color_norm(s, val->text, sizeof val->text);
        break;
    case COL_COLORS: ok = colors_norm(s, val->text, sizeof val->text); break;
    case COL_DIRECTION:
        ok = !strcmp(s, "coaxial") || !strcmp(s, "longitudinal");
        snprintf(val->text, sizeof val->text, "%s", s);
        break;
    default: snprintf(val->text, sizeof val->text, "%s", s); break;
    }
    if (!ok)
        return pd_inv_fail(e, PD_ERR_FIELD, "body", c->name,
                           c->type == COL_COLOR ? "Invalid colour \"%s\": use RRGGBB or RRGGBBAA hex"
                           : c->type == COL_COLORS ? "Invalid colours \"%s\": two or more RRGGBB codes, comma-separated"
                                                   : "Invalid direction \"%s\": use coaxial or longitudinal", s);
    val->v = PD_SQL_S(val->text);
    return PD_OK;
}

static bool ignored_key(const char *k)
{
    for (const char *const *p = response_only; *p; p++)
        if (!strcmp(*p, k))
            return true;
    return false;
}

static pd_err parse_body(pd_inv *inv, pd_inv_entity en, json_t *body, bool create, inv_body *ib,
                         pd_inv_err *e)
{
    const inv_table *t = &inv_tables[en];
    const char *k;
    json_t *j;
    pd_err rc;
    if (!json_is_object(body))
        return pd_inv_fail(e, PD_ERR_FIELD, "body", "body", "Input should be a valid JSON object");
    json_object_foreach(body, k, j) {
        const inv_col *c = inv_col_find(en, k);
        if (!strcmp(k, "extra")) {
            if (!json_is_object(j))
                return pd_inv_fail(e, PD_ERR_FIELD, "body", "extra", "Input should be a valid dictionary");
            if ((rc = pd_inv_extra_check(inv, en, j, e)))
                return rc;
            ib->extra = j;
        } else if (en == PD_INV_SPOOL && !strcmp(k, "remaining_weight")) {
            ib->has_remaining = true;
            ib->remaining_null = json_is_null(j);
            if (!ib->remaining_null && (rc = number(k, j, false, &ib->remaining, e)))
                return rc;
        } else if (c && !(c->flags & COL_RO)) {
            if ((rc = parse_value(c, j, &ib->col[c - t->cols], e)))
                return rc;
        } else if (!ignored_key(k)) {
            return pd_inv_fail(e, PD_ERR_FIELD, "body", k, "Unknown field \"%s\" for a %s", k, t->name);
        }
    }
    if (create)
        for (size_t i = 0; i < t->n; i++)
            if ((t->cols[i].flags & COL_REQ) && !ib->col[i].present)
                return pd_inv_fail(e, PD_ERR_FIELD, "body", t->cols[i].name, "Field required");
    if (en == PD_INV_FILAMENT) {
        const inv_val *one = &ib->col[inv_col_find(en, "color_hex") - t->cols];
        const inv_val *multi = &ib->col[inv_col_find(en, "multi_color_hexes") - t->cols];
        const inv_val *dir = &ib->col[inv_col_find(en, "multi_color_direction") - t->cols];
        bool has_multi = multi->present && multi->v.t != PD_SQL_NULL;
        if (one->present && one->v.t != PD_SQL_NULL && has_multi)
            return pd_inv_fail(e, PD_ERR_FIELD, "body", "multi_color_hexes",
                               "Cannot specify both color_hex and multi_color_hexes");
        if (has_multi != (dir->present && dir->v.t != PD_SQL_NULL))
            return pd_inv_fail(e, PD_ERR_FIELD, "body", "multi_color_direction",
                               "multi_color_hexes and multi_color_direction go together");
    }
    return PD_OK;
}

static inv_val *body_col(inv_body *ib, pd_inv_entity en, const char *name)
{
    return &ib->col[inv_col_find(en, name) - inv_tables[en].cols];
}

/* The numbers of one row the spool rules need, NAN for NULL. */
typedef struct nums {
    double v[4];
    bool found;
} nums;

static pd_err nums_row(const pd_row *row, void *ud)
{
    nums *n = ud;
    for (int i = 0; i < 4; i++)
        n->v[i] = pd_row_null(row, i) ? NAN : pd_row_real(row, i);
    n->found = true;
    return PD_OK;
}

static pd_err fetch_nums(pd_inv *inv, const char *sql, int64_t id, nums *n)
{
    pd_sqlv a[] = {PD_SQL_I(id)};
    *n = (nums){{NAN, NAN, NAN, NAN}, false};
    return pd_db_query(inv->db, sql, a, 1, nums_row, n);
}

static const char *const not_found_fmt = "No %s with ID %lld found.";

/* A referenced vendor or filament must exist: 404 with Spoolman's message. */
static pd_err check_ref(pd_inv *inv, pd_inv_entity target, const inv_val *val, pd_inv_err *e)
{
    if (!val->present || val->v.t == PD_SQL_NULL)
        return PD_OK;
    char sql[64];
    int64_t one;
    snprintf(sql, sizeof sql, "SELECT id FROM %s WHERE id = ?", inv_tables[target].name);
    pd_err rc = pd_db_scalar(inv->db, sql, &val->v, 1, &one);
    if (rc == PD_ERR_NOTFOUND)
        return pd_inv_fail(e, PD_ERR_NOTFOUND, "body", target == PD_INV_VENDOR ? "vendor_id" : "filament_id",
                           not_found_fmt, inv_tables[target].name, (long long)val->v.i);
    return rc;
}

static void set_real(inv_val *val, double v)
{
    val->present = true;
    val->v = isnan(v) ? PD_SQL_NUL : PD_SQL_D(v);
}

/* Spoolman's create defaults and remaining/used rules (docs/inventory.md). */
static pd_err spool_rules(pd_inv *inv, int64_t id, bool create, inv_body *ib, pd_inv_err *e)
{
    inv_val *used = body_col(ib, PD_INV_SPOOL, "used_weight");
    inv_val *initial = body_col(ib, PD_INV_SPOOL, "initial_weight");
    inv_val *tare = body_col(ib, PD_INV_SPOOL, "spool_weight");
    inv_val *fil = body_col(ib, PD_INV_SPOOL, "filament_id");
    if (ib->has_remaining && !ib->remaining_null && used->present && used->v.t != PD_SQL_NULL)
        return pd_inv_fail(e, PD_ERR_INVAL, "body", "remaining_weight",
                           "Only specify either remaining_weight or used_weight.");
    double stored_initial = NAN;
    if (!create) {
        nums cur;
        pd_err rc = fetch_nums(inv, "SELECT initial_weight FROM spool WHERE id = ?", id, &cur);
        if (rc)
            return rc;
        if (!cur.found)
            return pd_inv_fail(e, PD_ERR_NOTFOUND, "path", "id", not_found_fmt, "spool", (long long)id);
        stored_initial = cur.v[0];
    }
    if (fil->present) {
        nums f;
        pd_err rc = fetch_nums(inv, "SELECT weight, spool_weight FROM filament WHERE id = ?", fil->v.i, &f);
        if (rc)
            return rc;
        /* a new filament fills a missing initial weight; a new spool takes both defaults */
        if (!initial->present && isnan(stored_initial) && !isnan(f.v[0]))
            set_real(initial, f.v[0]);
        if (create && !tare->present && !isnan(f.v[1]))
            set_real(tare, f.v[1]);
    }
    if (ib->has_remaining && !ib->remaining_null) {
        double init = initial->present ? (initial->v.t == PD_SQL_NULL ? NAN : initial->v.d) : stored_initial;
        if (isnan(init) || (create && init == 0))
            return pd_inv_fail(e, PD_ERR_INVAL, "body", "remaining_weight",
                               create ? "Failed to create spool, see server logs for more information."
                                      : "Failed to update spool, see server logs for more information.");
        set_real(used, init > ib->remaining ? init - ib->remaining : 0);
    }
    if (create && !used->present)
        set_real(used, 0);
    return PD_OK;
}

/* A new filament without a tare takes its vendor's empty spool weight. */
static pd_err filament_rules(pd_inv *inv, inv_body *ib)
{
    inv_val *tare = body_col(ib, PD_INV_FILAMENT, "spool_weight");
    inv_val *vendor = body_col(ib, PD_INV_FILAMENT, "vendor_id");
    if (tare->present || !vendor->present || vendor->v.t == PD_SQL_NULL)
        return PD_OK;
    nums v;
    pd_err rc = fetch_nums(inv, "SELECT empty_spool_weight FROM vendor WHERE id = ?", vendor->v.i, &v);
    if (!rc && !isnan(v.v[0]))
        set_real(tare, v.v[0]);
    return rc;
}

static pd_err write_row(pd_inv *inv, pd_inv_entity en, inv_body *ib, bool create, int64_t *id)
{
    const inv_table *t = &inv_tables[en];
    pd_sqlb *b = malloc(sizeof *b);
    if (!b)
        return PD_ERR_NOMEM;
    pd_sqlb_init(b);
    size_t n = 0;
    pd_err rc;
    if (create) {
        pd_sqlb_add(b, "INSERT INTO %s (registered", t->name);
        pd_sqlb_arg(b, PD_SQL_I((int64_t)time(NULL)));
        for (size_t i = 0; i < t->n; i++)
            if (ib->col[i].present) {
                pd_sqlb_add(b, ", %s", t->cols[i].name);
                pd_sqlb_arg(b, ib->col[i].v);
                n++;
            }
        pd_sqlb_add(b, ") VALUES (?");
        for (size_t i = 0; i < n; i++)
            pd_sqlb_add(b, ", ?");
        pd_sqlb_add(b, ") RETURNING id");
        rc = pd_sqlb_ok(b) ? pd_db_insert(inv->db, b->sql, b->args, b->nargs, id) : PD_ERR_TOOBIG;
    } else {
        pd_sqlb_add(b, "UPDATE %s SET ", t->name);
        for (size_t i = 0; i < t->n; i++)
            if (ib->col[i].present) {
                pd_sqlb_add(b, "%s%s = ?", n++ ? ", " : "", t->cols[i].name);
                pd_sqlb_arg(b, ib->col[i].v);
            }
        pd_sqlb_add(b, " WHERE id = ?");
        pd_sqlb_arg(b, PD_SQL_I(*id));
        int64_t changed = 1;
        rc = !n ? PD_OK : pd_sqlb_ok(b) ? pd_db_run(inv->db, b->sql, b->args, b->nargs, &changed) : PD_ERR_TOOBIG;
        if (!rc && !changed)
            rc = PD_ERR_NOTFOUND;
    }
    pd_sqlb_free(b);
    free(b);
    if (!rc && ib->extra)
        rc = pd_inv_extra_save(inv, en, *id, ib->extra);
    return rc;
}

static void emit(pd_inv *inv, pd_inv_entity en, const char *change, int64_t id, json_t *obj)
{
    char key[24];
    snprintf(key, sizeof key, "%lld", (long long)id);
    pd_inv_emit(inv, inv_tables[en].name, change, key, obj);
}

/* Shared tail of every write: commit, or roll back with the error described. */
static pd_err finish(pd_inv *inv, pd_err rc, pd_inv_err *e)
{
    rc = pd_inv_end(inv, rc);
    if (rc && !e->code)
        pd_inv_fail(e, rc, NULL, NULL, "%s", pd_strerror(rc));
    return rc;
}

static pd_err save(pd_inv *inv, pd_inv_entity en, int64_t id, json_t *body, json_t **out,
                   pd_inv_err *e)
{
    bool create = id == 0;
    inv_body *ib = calloc(1, sizeof *ib);
    if (!ib)
        return pd_inv_fail(e, PD_ERR_NOMEM, NULL, NULL, "out of memory");
    memset(e, 0, sizeof *e);
    pd_err rc = pd_db_begin(inv->db);
    if (!rc)
        rc = parse_body(inv, en, body, create, ib, e);
    if (!rc && en == PD_INV_FILAMENT)
        rc = check_ref(inv, PD_INV_VENDOR, body_col(ib, en, "vendor_id"), e);
    if (!rc && en == PD_INV_SPOOL)
        rc = check_ref(inv, PD_INV_FILAMENT, body_col(ib, en, "filament_id"), e);
    if (!rc && en == PD_INV_SPOOL)
        rc = spool_rules(inv, id, create, ib, e);
    if (!rc && en == PD_INV_FILAMENT && create)
        rc = filament_rules(inv, ib);
    if (!rc && (rc = write_row(inv, en, ib, create, &id)) == PD_ERR_NOTFOUND)
        pd_inv_fail(e, rc, "path", "id", not_found_fmt, inv_tables[en].name, (long long)id);
    inv_val *uuid = en == PD_INV_SPOOL ? body_col(ib, en, "tray_uuid") : NULL;
    if (!rc && uuid && uuid->present && uuid->v.t == PD_SQL_TEXT)
        rc = pd_inv_slot_claim_rfid(inv, id, uuid->v.s);
    /* the row as it reads back, for the caller and the bus: an import wants neither, and
     * reading each row back was a quarter of its time */
    json_t *obj = NULL;
    if (!rc && (out || inv->bus))
        rc = pd_inv_get(inv, en, id, &obj, e);
    free(ib);
    if ((rc = finish(inv, rc, e))) {
        json_decref(obj);
        obj = NULL;
    }
    if (!rc)
        emit(inv, en, create ? "added" : "updated", id, obj);
    if (out)
        *out = obj;
    else
        json_decref(obj);
    return rc;
}

pd_err pd_inv_create(pd_inv *inv, pd_inv_entity en, json_t *body, json_t **out, pd_inv_err *e)
{
    return save(inv, en, 0, body, out, e);
}

pd_err pd_inv_update(pd_inv *inv, pd_inv_entity en, int64_t id, json_t *body, json_t **out,
                     pd_inv_err *e)
{
    return save(inv, en, id, body, out, e);
}

pd_err pd_inv_delete(pd_inv *inv, pd_inv_entity en, int64_t id, pd_inv_err *e)
{
    json_t *last = NULL;
    char sql[64];
    memset(e, 0, sizeof *e);
    pd_err rc = pd_db_begin(inv->db);
    if (!rc)
        rc = pd_inv_get(inv, en, id, &last, e);
    if (!rc && en == PD_INV_FILAMENT) {
        int64_t n = 0;
        pd_sqlv a[] = {PD_SQL_I(id)};
        rc = pd_db_scalar(inv->db, "SELECT count(*) FROM spool WHERE filament_id = ?", a, 1, &n);
        if (!rc && n)
            rc = pd_inv_fail(e, PD_ERR_FORBIDDEN, "path", "id",
                             "Failed to delete filament, see server logs for more information.");
    }
    if (!rc && en == PD_INV_SPOOL) {
        /* the usage rows lose the spool (ON DELETE SET NULL) but keep which it was */
        pd_sqlv a[] = {PD_SQL_I(id)};
        rc = pd_db_run(inv->db, "UPDATE filament_usage SET deleted_spool_id = spool_id WHERE spool_id = ?", a, 1,
                       NULL);
    }
    if (!rc) {
        pd_sqlv a[] = {PD_SQL_I(id)};
        snprintf(sql, sizeof sql, "DELETE FROM %s WHERE id = ?", inv_tables[en].name);
        rc = pd_db_run(inv->db, sql, a, 1, NULL);
    }
    if (!rc)
        rc = pd_inv_extra_drop(inv, en, id);
    if (!(rc = finish(inv, rc, e)))
        emit(inv, en, "deleted", id, last);
    json_decref(last);
    return rc;
}

/* --- use and measure --------------------------------------------------------------------- */

/* Adds grams (negative gives filament back, never below zero) and stamps the use dates. */
static pd_err add_use(pd_inv *inv, int64_t id, double grams)
{
    int64_t now = (int64_t)time(NULL);
    pd_sqlv a[] = {PD_SQL_D(grams), PD_SQL_D(grams), PD_SQL_I(now), PD_SQL_I(now), PD_SQL_I(id)};
    return pd_db_run(inv->db, "UPDATE spool SET used_weight = CASE WHEN used_weight + ? < 0 THEN 0 "
                              "ELSE used_weight + ? END, first_used = COALESCE(first_used, ?), "
                              "last_used = ? WHERE id = ?", a, 5, NULL);
}

/* Ends a spool change begun by the caller: renders the spool, commits, announces. */
static pd_err spool_tx(pd_inv *inv, int64_t id, pd_err rc, json_t **out, pd_inv_err *e)
{
    if (!rc)
        rc = pd_inv_get(inv, PD_INV_SPOOL, id, out, e);
    if ((rc = finish(inv, rc, e))) {
        json_decref(*out);
        *out = NULL;
        return rc;
    }
    emit(inv, PD_INV_SPOOL, "updated", id, *out);
    return PD_OK;
}

static pd_err only_keys(json_t *body, const char *const *keys, pd_inv_err *e)
{
    const char *k;
    json_t *j;
    if (!json_is_object(body))
        return pd_inv_fail(e, PD_ERR_FIELD, "body", "body", "Input should be a valid JSON object");
    json_object_foreach(body, k, j) {
        const char *const *p = keys;
        while (*p && strcmp(*p, k))
            p++;
        if (!*p)
            return pd_inv_fail(e, PD_ERR_FIELD, "body", k, "Unknown field \"%s\"", k);
    }
    return PD_OK;
}

pd_err pd_inv_spool_use(pd_inv *inv, int64_t id, json_t *body, json_t **out, pd_inv_err *e)
{
    static const char *const keys[] = {"use_weight", "use_length", NULL};
    json_t *w = json_object_get(body, "use_weight"), *l = json_object_get(body, "use_length");
    bool hw = w && !json_is_null(w), hl = l && !json_is_null(l);
    double v = 0;
    *out = NULL;
    memset(e, 0, sizeof *e);
    pd_err rc = only_keys(body, keys, e);
    if (rc)
        return rc;
    if (hw && hl)
        return pd_inv_fail(e, PD_ERR_INVAL, "body", "use_weight", "Only specify either use_weight or use_length.");
    if (!hw && !hl)
        return pd_inv_fail(e, PD_ERR_INVAL, "body", "use_weight", "Either use_weight or use_length must be specified.");
    if (!json_is_number(hw ? w : l) || !isfinite(v = json_number_value(hw ? w : l)))
        return pd_inv_fail(e, PD_ERR_FIELD, "body", hw ? "use_weight" : "use_length", "Input should be a valid number");
    if ((rc = pd_db_begin(inv->db)))
        return finish(inv, rc, e);
    nums f;
    rc = fetch_nums(inv, "SELECT f.density, f.diameter FROM spool s JOIN filament f ON f.id = s.filament_id "
                         "WHERE s.id = ?", id, &f);
    if (!rc && !f.found)
        rc = pd_inv_fail(e, PD_ERR_NOTFOUND, "path", "id", not_found_fmt, "spool", (long long)id);
    if (!rc)
        rc = add_use(inv, id, hw ? v : inv_weight_g(v, f.v[0], f.v[1]));
    return spool_tx(inv, id, rc, out, e);
}

pd_err pd_inv_spool_consume(pd_inv *inv, int64_t id, double grams, json_t **out, pd_inv_err *e)
{
    *out = NULL;
    memset(e, 0, sizeof *e);
    pd_err rc = pd_db_begin(inv->db);
    if (rc)
        return finish(inv, rc, e);
    return spool_tx(inv, id, add_use(inv, id, grams), out, e);
}

pd_err pd_inv_spool_measure(pd_inv *inv, int64_t id, json_t *body, json_t **out, pd_inv_err *e)
{
    static const char *const keys[] = {"weight", NULL};
    json_t *w = json_object_get(body, "weight");
    double gross;
    *out = NULL;
    memset(e, 0, sizeof *e);
    pd_err rc = only_keys(body, keys, e);
    if (!rc && !w)
        rc = pd_inv_fail(e, PD_ERR_FIELD, "body", "weight", "Field required");
    if (!rc)
        rc = number("weight", w, false, &gross, e);
    if (rc)
        return rc;
    if ((rc = pd_db_begin(inv->db)))
        return finish(inv, rc, e);
    /* net: the spool's initial weight, else the filament's; tare: the spool's, else the
     * filament's, else 0 (a null or 0 counts as unset in both) */
    nums n;
    rc = fetch_nums(inv, "SELECT CASE WHEN s.initial_weight > 0 THEN s.initial_weight ELSE f.weight END, "
                         "CASE WHEN s.spool_weight > 0 THEN s.spool_weight ELSE f.spool_weight END, "
                         "s.used_weight FROM spool s JOIN filament f ON f.id = s.filament_id WHERE s.id = ?",
                    id, &n);
    double net = n.v[0], tare = isnan(n.v[1]) ? 0 : n.v[1], used = n.v[2];
    if (!rc && !n.found)
        rc = pd_inv_fail(e, PD_ERR_INVAL, "path", "id", "Spool not found.");
    else if (!rc && (isnan(net) || net == 0))
        rc = pd_inv_fail(e, PD_ERR_INVAL, "body", "weight", "Initial weight is not set.");
    if (!rc && gross > net + tare) {
        /* heavier than a full spool: it was fuller than recorded */
        pd_sqlv a[] = {PD_SQL_D(gross - tare), PD_SQL_I(id)};
        rc = pd_db_run(inv->db, "UPDATE spool SET initial_weight = ?, used_weight = 0 WHERE id = ?", a, 2, NULL);
    } else if (!rc) {
        double new_used = used + gross < tare ? net : net + tare - gross;
        rc = add_use(inv, id, new_used - used);
    }
    return spool_tx(inv, id, rc, out, e);
}

/* Every spool's location (key NULL) or extra value of key that is from becomes to, in one
 * transaction; *n how many spools held it. No event, as in Spoolman, but cached lists are
 * stale. */
static pd_err rename_value(pd_inv *inv, const char *key, const char *from, const char *to, int64_t *n,
                           pd_inv_err *e)
{
    pd_sqlv a[] = {PD_SQL_S(to), PD_SQL_S(from)};
    pd_err rc = pd_db_begin(inv->db);
    if (!rc && !key)
        rc = pd_db_run(inv->db, "UPDATE spool SET location = ? WHERE location = ?", a, 2, n);
    else if (!rc)
        rc = inv_extra_rename(inv, key, from, to, n);
    rc = finish(inv, rc, e);
    if (!rc)
        inv->generation++;
    return rc;
}

pd_err pd_inv_location_rename(pd_inv *inv, const char *from, const char *to, pd_inv_err *e)
{
    memset(e, 0, sizeof *e);
    if (!*to)
        return pd_inv_fail(e, PD_ERR_FIELD, "body", "name", "String should have at least 1 character");
    if (inv_utf8_chars(to) > 64)
        return pd_inv_fail(e, PD_ERR_FIELD, "body", "name", "String should have at most 64 characters");
    int64_t n;
    return rename_value(inv, NULL, from, to, &n, e);
}

pd_err pd_inv_spool_field_rename(pd_inv *inv, const char *field, const char *from, const char *to,
                                 int64_t *updated, pd_inv_err *e)
{
    memset(e, 0, sizeof *e);
    *updated = 0;
    bool location = !strcmp(field, "location");
    if (location && inv_utf8_chars(to) > 64)
        return pd_inv_fail(e, PD_ERR_INVAL, "body", "new_value", "A location can be at most 64 characters.");
    if (!location && strncmp(field, "extra.", 6))
        return pd_inv_fail(e, PD_ERR_INVAL, "path", "field", "Cannot rename values of '%.64s'. Only fields "
                           "the spool itself owns can be renamed: location, or 'extra.<spool extra field key>'.",
                           field);
    pd_err rc = location ? PD_OK : inv_extra_plain(inv, field + 6, NULL, 0, e);
    return rc ? rc : rename_value(inv, location ? NULL : field + 6, from, to, updated, e);
}
