/* Vendors, filaments and spools: one declarative column table per entity drives the SELECT
 * list, the JSON a GET returns, request validation for POST and PATCH, sorting and export.
 * Spoolman's rules (docs/inventory.md, Rules kept from Spoolman) are kept to the letter, quirks
 * included, because clients depend on them. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "inventory/entities.h"

/* --- column tables ------------------------------------------------------------------------ */

#define NUM(n, t, fl, lo) {n, t, fl, lo, 0}
#define TXT(n, fl, len) {n, COL_TEXT, fl, 0, len}

static const inv_col vendor_cols[] = {
    NUM("id", COL_INT, COL_RO, 0),
    NUM("registered", COL_TIME, COL_RO, 0),
    TXT("name", COL_REQ | COL_NONNULL, 64),
    TXT("comment", 0, 1024),
    NUM("empty_spool_weight", COL_REAL, 0, 0),
    TXT("external_id", 0, 256),
};

static const inv_col filament_cols[] = {
    NUM("id", COL_INT, COL_RO, 0),
    NUM("registered", COL_TIME, COL_RO, 0),
    TXT("name", 0, 64),
    NUM("vendor_id", COL_REF, COL_HIDDEN, 0),
    TXT("material", 0, 64),
    NUM("price", COL_REAL, 0, 0),
    NUM("density", COL_REAL, COL_REQ | COL_NONNULL | COL_POSITIVE, 0),
    NUM("diameter", COL_REAL, COL_REQ | COL_NONNULL | COL_POSITIVE, 0),
    NUM("weight", COL_REAL, COL_POSITIVE, 0),
    NUM("spool_weight", COL_REAL, 0, 0),
    TXT("article_number", 0, 64),
    TXT("comment", 0, 1024),
    NUM("settings_extruder_temp", COL_INT, 0, 0),
    NUM("settings_bed_temp", COL_INT, 0, 0),
    {"color_hex", COL_COLOR, 0, 0, 9},
    {"multi_color_hexes", COL_COLORS, 0, 0, 1024},
    {"multi_color_direction", COL_DIRECTION, 0, 0, 16},
    TXT("external_id", 0, 256),
    NUM("nozzle_temp_min", COL_INT, 0, 0),
    NUM("nozzle_temp_max", COL_INT, 0, 0),
    NUM("bed_temp_min", COL_INT, 0, 0),
    NUM("bed_temp_max", COL_INT, 0, 0),
    NUM("drying_temp", COL_INT, 0, 0),
    NUM("drying_hours", COL_REAL, 0, 0),
    TXT("drying_notes", 0, 1024),
    NUM("low_stock_weight", COL_REAL, 0, 0),
};

static const inv_col spool_cols[] = {
    NUM("id", COL_INT, COL_RO, 0),
    NUM("registered", COL_TIME, COL_RO, 0),
    NUM("filament_id", COL_REF, COL_HIDDEN | COL_REQ | COL_NONNULL, 0),
    NUM("price", COL_REAL, 0, 0),
    NUM("initial_weight", COL_REAL, 0, 0),
    NUM("spool_weight", COL_REAL, 0, 0),
    NUM("used_weight", COL_REAL, COL_NONNULL, 0),
    NUM("first_used", COL_TIME, 0, 0),
    NUM("last_used", COL_TIME, 0, 0),
    TXT("location", 0, 64),
    TXT("lot_nr", 0, 64),
    TXT("comment", 0, 1024),
    NUM("archived", COL_BOOL, COL_NONNULL, 0),
    {"purchase_date", COL_DATE, 0, 0, 10},
    NUM("low_stock_weight", COL_REAL, 0, 0),
    TXT("tray_uuid", 0, 64),
    TXT("tag_uid", 0, 64),
    TXT("tray_id_name", 0, 64),
    NUM("last_dried", COL_TIME, 0, 0),
};

#define NCOLS(a) (sizeof a / sizeof a[0])

const inv_table inv_tables[PD_INV__N] = {
    [PD_INV_VENDOR] = {"vendor", "v", vendor_cols, NCOLS(vendor_cols)},
    [PD_INV_FILAMENT] = {"filament", "f", filament_cols, NCOLS(filament_cols)},
    [PD_INV_SPOOL] = {"spool", "s", spool_cols, NCOLS(spool_cols)},
};

const inv_col *inv_col_find(pd_inv_entity en, const char *name)
{
    const inv_table *t = &inv_tables[en];
    for (size_t i = 0; i < t->n; i++)
        if (!strcmp(t->cols[i].name, name))
            return &t->cols[i];
    return NULL;
}

/* "v.id, v.registered, …" for one table. */
static void select_cols(pd_sqlb *b, pd_inv_entity en)
{
    const inv_table *t = &inv_tables[en];
    for (size_t i = 0; i < t->n; i++)
        pd_sqlb_add(b, "%s%s.%s", b->len && b->sql[b->len - 1] != ' ' ? ", " : "", t->alias,
                    t->cols[i].name);
}

/* SELECT … FROM with the joins an entity's object needs: a spool embeds its filament, a
 * filament its vendor. Row layout: the entity's columns, then the embedded ones. */
void inv_select_from(pd_sqlb *b, pd_inv_entity en, bool count)
{
    inv_select_cols_from(b, en, count ? "count(*)" : NULL, NULL);
}

/* Whether sql names columns of `alias` ("f.name"), outside the subqueries it holds. */
static bool mentions(const char *sql, char alias)
{
    int depth = 0;
    for (const char *p = sql; *p; p++) {
        if (!strncmp(p, "(SELECT ", 8))
            depth++;
        else if (depth && *p == '(')
            depth++;
        else if (depth && *p == ')')
            depth--;
        else if (!depth && p[0] == alias && p[1] == '.' && (p == sql || !(isalnum((unsigned char)p[-1]) || p[-1] == '_')))
            return true;
    }
    return false;
}

void inv_select_cols_from(pd_sqlb *b, pd_inv_entity en, const char *cols, const char *uses)
{
    pd_sqlb_add(b, "SELECT ");
    if (cols) {
        pd_sqlb_add(b, "%s", cols);
    } else {
        for (int e = en; e >= 0; e--)
            select_cols(b, (pd_inv_entity)e);
    }
    /* With a narrow select list only the joins the rest of the statement uses: counting and
     * paging 100,000 spools must not look up each spool's filament for nothing. (LEFT JOIN:
     * every spool has its filament by foreign key anyway.) */
    bool vendor = !cols || (uses && mentions(uses, 'v'));
    bool filament = en == PD_INV_FILAMENT || vendor || !cols || (uses && mentions(uses, 'f'));
    pd_sqlb_add(b, " FROM %s %s", inv_tables[en].name, inv_tables[en].alias);
    if (en == PD_INV_SPOOL && filament)
        pd_sqlb_add(b, " LEFT JOIN filament f ON f.id = s.filament_id");
    if (en != PD_INV_VENDOR && vendor)
        pd_sqlb_add(b, " LEFT JOIN vendor v ON v.id = f.vendor_id");
    pd_sqlb_add(b, " WHERE 1 = 1");
}

/* --- rendering ------------------------------------------------------------------------------ */

json_t *pd_inv_time_json(int64_t t)
{
    char buf[PD_DATE_LEN];
    pd_date_format(t, buf);
    return json_string(buf);
}

static json_t *col_json(const inv_col *c, const pd_row *row, int i)
{
    if (pd_row_null(row, i))
        return NULL;
    switch (c->type) {
    case COL_INT:
    case COL_REF: return json_integer(pd_row_int(row, i));
    case COL_REAL: return json_real(pd_row_real(row, i));
    case COL_BOOL: return json_boolean(pd_row_int(row, i) != 0);
    case COL_TIME: return pd_inv_time_json(pd_row_int(row, i));
    default: return json_string(pd_row_text(row, i));
    }
}

/* The entity's own fields at row offset `base`; nulls omitted, `extra` filled in later. */
static json_t *render_own(pd_inv_entity en, const pd_row *row, int base)
{
    const inv_table *t = &inv_tables[en];
    json_t *o = json_object();
    for (size_t i = 0; i < t->n; i++) {
        const inv_col *c = &t->cols[i];
        json_t *v;
        if (c->flags & COL_HIDDEN)
            continue;
        if (c->type == COL_BOOL && pd_row_null(row, base + (int)i))
            v = json_false();  /* Spoolman: a stored null archived reads as false */
        else
            v = col_json(c, row, base + (int)i);
        if (v)
            json_object_set_new(o, c->name, v);
    }
    return o;
}

static double col_real_or(const pd_row *row, int i, double dflt)
{
    return pd_row_null(row, i) ? dflt : pd_row_real(row, i);
}

/* Spoolman's conversions: grams/density is cm³, ×1000 mm³, over the cross-section in mm². */
double inv_length_mm(double grams, double density, double diameter)
{
    double r = diameter / 2;
    return grams / density * 1000.0 / (M_PI * r * r);
}

double inv_weight_g(double length_mm, double density, double diameter)
{
    double r = diameter / 2;
    return density * length_mm * M_PI * r * r / 1000.0;
}

static int col_index(pd_inv_entity en, const char *name)
{
    const inv_col *c = inv_col_find(en, name);
    return c ? (int)(c - inv_tables[en].cols) : -1;
}

/* Spoolman's computed values: remaining weight from the spool's own initial weight, else
 * the filament's; lengths through density and diameter. */
static void spool_computed(json_t *o, const pd_row *row)
{
    int f = (int)inv_tables[PD_INV_SPOOL].n;
    double used = pd_row_real(row, col_index(PD_INV_SPOOL, "used_weight"));
    double density = pd_row_real(row, f + col_index(PD_INV_FILAMENT, "density"));
    double diameter = pd_row_real(row, f + col_index(PD_INV_FILAMENT, "diameter"));
    double initial = col_real_or(row, col_index(PD_INV_SPOOL, "initial_weight"), NAN);
    if (isnan(initial))
        initial = col_real_or(row, f + col_index(PD_INV_FILAMENT, "weight"), NAN);
    if (!isnan(initial)) {
        double rem = initial > used ? initial - used : 0;
        json_object_set_new(o, "remaining_weight", json_real(rem));
        json_object_set_new(o, "remaining_length", json_real(inv_length_mm(rem, density, diameter)));
    }
    json_object_set_new(o, "used_length", json_real(inv_length_mm(used, density, diameter)));
}

/* The object at row offset base with what it embeds after it: a spool's filament, a
 * filament's vendor (absent when the LEFT JOIN found none). */
static json_t *render_at(pd_inv_entity en, const pd_row *row, int base)
{
    json_t *o = render_own(en, row, base);
    int next = base + (int)inv_tables[en].n;
    if (en == PD_INV_SPOOL) {
        json_object_set_new(o, "filament", render_at(PD_INV_FILAMENT, row, next));
        spool_computed(o, row);
    } else if (en == PD_INV_FILAMENT && !pd_row_null(row, next)) {
        json_object_set_new(o, "vendor", render_own(PD_INV_VENDOR, row, next));
    }
    return o;
}

json_t *inv_render_row(pd_inv_entity en, const pd_row *row) { return render_at(en, row, 0); }

/* --- extra maps ------------------------------------------------------------------------------ */

typedef struct id_range {
    int64_t lo, hi;
} id_range;

static void range_add(id_range *r, json_t *o)
{
    json_t *id = o ? json_object_get(o, "id") : NULL;
    if (!id)
        return;
    int64_t v = json_integer_value(id);
    if (v < r->lo)
        r->lo = v;
    if (v > r->hi)
        r->hi = v;
}

static void extra_attach(json_t *o, json_t *maps)
{
    if (!o)
        return;
    char key[24];
    snprintf(key, sizeof key, "%" JSON_INTEGER_FORMAT, json_integer_value(json_object_get(o, "id")));
    json_t *m = maps ? json_object_get(maps, key) : NULL;
    json_object_set_new(o, "extra", m ? json_incref(m) : json_object());
}

/* Fills `extra` on every object of items and on the filaments and vendors they embed: one
 * query per entity over the id range the page covers. */
pd_err inv_attach_extras(pd_inv *inv, pd_inv_entity en, json_t *items)
{
    id_range r[PD_INV__N];
    for (int e = 0; e < PD_INV__N; e++)
        r[e] = (id_range){INT64_MAX, INT64_MIN};
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it) {
        json_t *fil = en == PD_INV_SPOOL ? json_object_get(it, "filament") : en == PD_INV_FILAMENT ? it : NULL;
        range_add(&r[en], it);
        if (fil) {
            range_add(&r[PD_INV_FILAMENT], fil);
            range_add(&r[PD_INV_VENDOR], json_object_get(fil, "vendor"));
        }
    }
    json_t *maps[PD_INV__N] = {0};
    pd_err rc = PD_OK;
    for (int e = 0; e < PD_INV__N && !rc; e++)
        if (r[e].lo <= r[e].hi)
            rc = pd_inv_extra_load(inv, (pd_inv_entity)e, r[e].lo, r[e].hi, &maps[e]);
    if (!rc) {
        json_array_foreach(items, i, it) {
            json_t *fil = en == PD_INV_SPOOL ? json_object_get(it, "filament") : en == PD_INV_FILAMENT ? it : NULL;
            if (en != PD_INV_FILAMENT)
                extra_attach(it, maps[en]);
            if (fil) {
                extra_attach(fil, maps[PD_INV_FILAMENT]);
                extra_attach(json_object_get(fil, "vendor"), maps[PD_INV_VENDOR]);
            }
        }
    }
    for (int e = 0; e < PD_INV__N; e++)
        json_decref(maps[e]);
    return rc;
}

/* --- reading ---------------------------------------------------------------------------------- */

typedef struct fetch_ctx {
    pd_inv_entity en;
    json_t *items;
} fetch_ctx;

static pd_err fetch_row(const pd_row *row, void *ud)
{
    fetch_ctx *fc = ud;
    return json_array_append_new(fc->items, inv_render_row(fc->en, row)) ? PD_ERR_NOMEM : PD_OK;
}

pd_err inv_fetch(pd_inv *inv, pd_inv_entity en, const pd_sqlb *b, json_t *items)
{
    if (!pd_sqlb_ok(b))
        return PD_ERR_TOOBIG;
    fetch_ctx fc = {en, items};
    pd_err rc = pd_db_query(inv->db, b->sql, b->args, b->nargs, fetch_row, &fc);
    return rc ? rc : inv_attach_extras(inv, en, items);
}

pd_err inv_collect_text(const pd_row *row, void *ud)
{
    return json_array_append_new(ud, json_string(pd_row_text(row, 0))) ? PD_ERR_NOMEM : PD_OK;
}

static const char *const not_found_fmt = "No %s with ID %lld found.";

pd_err pd_inv_get(pd_inv *inv, pd_inv_entity en, int64_t id, json_t **out, pd_inv_err *e)
{
    pd_sqlb b;
    pd_sqlb_init(&b);
    inv_select_from(&b, en, false);
    pd_sqlb_add(&b, " AND %s.id = ?", inv_tables[en].alias);
    pd_sqlb_arg(&b, PD_SQL_I(id));
    json_t *items = json_array();
    pd_err rc = items ? inv_fetch(inv, en, &b, items) : PD_ERR_NOMEM;
    pd_sqlb_free(&b);
    if (!rc && !json_array_size(items))
        rc = pd_inv_fail(e, PD_ERR_NOTFOUND, "path", "id", not_found_fmt, inv_tables[en].name,
                         (long long)id);
    else if (rc)
        pd_inv_fail(e, rc, NULL, NULL, "%s", pd_strerror(rc));
    if (!rc)
        *out = json_incref(json_array_get(items, 0));
    json_decref(items);
    return rc;
}
