/* List requests (Spoolman's lists): filters ANDed across parameters, comma-separated terms ORed
 * inside one, `"quoted"` terms exact, empty terms meaning "no value"; sort on stored, joined,
 * computed and extra columns with NULLs last; limit/offset paging with the total before paging.
 * Filters come from one table per entity: the parameter, its alias, the SQL it reads, how. */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/jw.h"
#include "core/json.h"
#include "inventory/entities.h"

/* The kinds (pd_inv_filter_kind) are in inventory.h: other lists (jobs) declare their filters
 * with the same rows. */
typedef pd_inv_filter filter;

static const filter vendor_filters[] = {
    {"name", NULL, "v.name", PD_INV_F_TEXT_REQ},
    {"external_id", NULL, "v.external_id", PD_INV_F_TEXT_OPT},
    {"registered", NULL, "v.registered", PD_INV_F_DATES},
    {NULL, NULL, NULL, PD_INV_F_TEXT_OPT},
};

static const filter filament_filters[] = {
    {"vendor.name", "vendor_name", "v.name", PD_INV_F_TEXT_REQ},
    {"vendor.id", "vendor_id", "f.vendor_id", PD_INV_F_IDS_NULL},
    {"name", NULL, "f.name", PD_INV_F_TEXT_OPT},
    {"material", NULL, "f.material", PD_INV_F_TEXT_OPT},
    {"article_number", NULL, "f.article_number", PD_INV_F_TEXT_OPT},
    {"external_id", NULL, "f.external_id", PD_INV_F_TEXT_OPT},
    {"color_hex", NULL, "f.color_hex", PD_INV_F_COLOR},
    {"registered", NULL, "f.registered", PD_INV_F_DATES},
    {NULL, NULL, NULL, PD_INV_F_TEXT_OPT},
};

static const filter spool_filters[] = {
    /* printdeck's: the spools of a label sheet, read in one request */
    {"id", NULL, "s.id", PD_INV_F_IDS},
    {"filament.name", "filament_name", "f.name", PD_INV_F_TEXT_OPT},
    {"filament.material", "filament_material", "f.material", PD_INV_F_TEXT_OPT},
    {"filament.id", "filament_id", "s.filament_id", PD_INV_F_IDS},
    {"filament.vendor.name", "vendor_name", "v.name", PD_INV_F_TEXT_REQ},
    {"filament.vendor.id", "vendor_id", "f.vendor_id", PD_INV_F_IDS_NULL},
    {"filament.multi_color_direction", NULL, "f.multi_color_direction", PD_INV_F_TEXT_OPT},
    {"location", NULL, "s.location", PD_INV_F_TEXT_OPT},
    {"lot_nr", NULL, "s.lot_nr", PD_INV_F_TEXT_OPT},
    {"tray_uuid", NULL, "s.tray_uuid", PD_INV_F_TEXT_OPT},
    {"tag_uid", NULL, "s.tag_uid", PD_INV_F_TEXT_OPT},
    {"first_used", NULL, "s.first_used", PD_INV_F_DATES},
    {"last_used", NULL, "s.last_used", PD_INV_F_DATES},
    {"registered", NULL, "s.registered", PD_INV_F_DATES},
    {NULL, NULL, NULL, PD_INV_F_TEXT_OPT},
};

static const filter *const filters[PD_INV__N] = {vendor_filters, filament_filters, spool_filters};

/* A repeated parameter counts once, with its last value, as FastAPI reads a query. */
const char *pd_inv_param_get(const pd_inv_param *p, size_t n, const char *name)
{
    for (size_t i = n; i-- > 0;)
        if (!strcmp(p[i].name, name))
            return p[i].value;
    return NULL;
}

/* Splits value on commas into terms (in place, in buf). */
static size_t split_terms(const char *value, char *buf, size_t buflen, char **terms, size_t max)
{
    snprintf(buf, buflen, "%s", value);
    size_t n = 0;
    char *p = buf;
    /* strtok would drop empty terms, and "" is a meaningful term here */
    while (n < max) {
        terms[n++] = p;
        char *comma = strchr(p, ',');
        if (!comma)
            break;
        *comma = '\0';
        p = comma + 1;
    }
    return n;
}

#define MAX_TERMS 32

static pd_err text_filter(pd_inv *inv, const filter *f, const char *value, pd_sqlb *b)
{
    char buf[1024], *terms[MAX_TERMS];
    size_t n = split_terms(value, buf, sizeof buf, terms, MAX_TERMS);
    pd_sqlb_add(b, " AND (");
    for (size_t i = 0; i < n; i++) {
        char *t = terms[i];
        size_t len = strlen(t);
        if (i)
            pd_sqlb_add(b, " OR ");
        if (!len) {
            if (f->kind == PD_INV_F_TEXT_OPT)
                pd_sqlb_add(b, "%s IS NULL OR %s = ''", f->sql, f->sql);
            else
                pd_sqlb_add(b, "%s = ''", f->sql);
        } else if (len >= 2 && t[0] == '"' && t[len - 1] == '"') {
            t[len - 1] = '\0';
            pd_sqlb_add(b, "%s = ?", f->sql);
            pd_sqlb_arg(b, PD_SQL_S(t + 1));
        } else {
            /* Spoolman's ILIKE %term%: % and _ in the term stay wildcards, as there */
            pd_sqlb_contains(b, inv->db, f->sql);
            pd_sqlb_arg(b, PD_SQL_S(t));
        }
    }
    pd_sqlb_add(b, ")");
    return PD_OK;
}

static bool parse_id(const char *s, int64_t *out)
{
    const char *p = s;
    if (*p == '-')
        p++;
    if (!*p || strlen(p) > 18)
        return false;
    for (; *p; p++)
        if (!isdigit((unsigned char)*p))
            return false;
    *out = strtoll(s, NULL, 10);
    return true;
}

/* A printer limit's ids (PD_IDENT_MAX_PRINTERS) arrive as one id filter, so an id list holds
 * that many; its ids are checked integers, written into the statement as literals so they do
 * not count against PD_SQLB_MAX_ARGS. */
#define MAX_ID_TERMS 256

static pd_err ids_filter(const filter *f, const char *value, pd_sqlb *b, pd_inv_err *e)
{
    char buf[MAX_ID_TERMS * 21], *terms[MAX_ID_TERMS + 1];
    size_t n = strlen(value) < sizeof buf ? split_terms(value, buf, sizeof buf, terms, MAX_ID_TERMS + 1) : 0;
    if (!n || n > MAX_ID_TERMS)
        return pd_inv_fail(e, PD_ERR_FIELD, "query", f->param, "Too long an id list: at most %d ids",
                           MAX_ID_TERMS);
    bool null = false;
    pd_sqlb_add(b, " AND (%s IN (0", f->sql);
    for (size_t i = 0; i < n; i++) {
        int64_t id;
        if (!parse_id(terms[i], &id))
            return pd_inv_fail(e, PD_ERR_FIELD, "query", f->param,
                               "Invalid id list \"%.64s\": comma-separated integers expected", value);
        if (id == -1 && f->kind == PD_INV_F_IDS_NULL)
            null = true;
        else
            pd_sqlb_add(b, ", %lld", (long long)id);
    }
    pd_sqlb_add(b, ")%s%s%s)", null ? " OR " : "", null ? f->sql : "", null ? " IS NULL" : "");
    return PD_OK;
}

/* One bound of a date filter, trimmed; a time without offset is UTC here (unlike a body). */
static pd_err date_bound(const filter *f, char *s, int64_t *t, pd_inv_err *e)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t len = strlen(s);
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        s[--len] = '\0';
    if (pd_date_parse(s, PD_DATE_NAIVE_UTC, t, NULL))
        return PD_OK;
    return pd_inv_fail(e, PD_ERR_INVAL, "query", f->param,
                       "Invalid datetime '%.*s' for '%s'. Expected an ISO 8601 datetime, e.g. 2024-05-01T00:00:00Z.",
                       pd_jw_utf8_cut(s, 64), s, f->param);
}

/* Spoolman's date filter: comma-separated parts ORed, each empty (never set), "start|end"
 * (inclusive, one side may be empty) or one exact time. A NULL matches only an empty part.
 * The bounds are parsed integers, written into the statement: no argument limit. */
static pd_err dates_filter(const filter *f, const char *value, pd_sqlb *b, pd_inv_err *e)
{
    char buf[1024], *parts[MAX_TERMS];
    size_t n = split_terms(value, buf, sizeof buf, parts, MAX_TERMS);
    pd_sqlb_add(b, " AND (");
    for (size_t i = 0; i < n; i++) {
        char *t = parts[i], *bar;
        size_t len = strlen(t);
        int64_t t0, t1;
        pd_err rc;
        if (len >= 2 && t[0] == '"' && t[len - 1] == '"') {
            t[len - 1] = '\0';
            t++;
        }
        pd_sqlb_add(b, "%s(", i ? " OR " : "");
        if (!*t) {
            pd_sqlb_add(b, "%s IS NULL", f->sql);
        } else if (!(bar = strchr(t, '|'))) {
            if ((rc = date_bound(f, t, &t0, e)))
                return rc;
            pd_sqlb_add(b, "%s = %lld", f->sql, (long long)t0);
        } else {
            bool lo = bar > t + strspn(t, " \t"), hi = bar[1 + strspn(bar + 1, " \t")];
            if (!lo && !hi)
                return pd_inv_fail(e, PD_ERR_INVAL, "query", f->param,
                                   "Invalid datetime range filter for '%s': '%.*s'. Expected '<start>|<end>' "
                                   "with at least one end given.", f->param, pd_jw_utf8_cut(t, 64), t);
            *bar = '\0';
            if (lo && (rc = date_bound(f, t, &t0, e)))
                return rc;
            if (hi && (rc = date_bound(f, bar + 1, &t1, e)))
                return rc;
            if (lo)
                pd_sqlb_add(b, "%s >= %lld", f->sql, (long long)t0);
            if (hi)
                pd_sqlb_add(b, "%s%s <= %lld", lo ? " AND " : "", f->sql, (long long)t1);
        }
        pd_sqlb_add(b, ")");
    }
    pd_sqlb_add(b, ")");
    return PD_OK;
}

/* --- colour similarity (CIE94 ΔE in L*a*b*, as Spoolman's filter) ------------------------ */

typedef struct lab {
    double l, a, b;
} lab;

static double srgb_linear(double c)
{
    return c <= 0.04045 ? c / 12.92 : pow((c + 0.055) / 1.055, 2.4);
}

static double lab_f(double t)
{
    return t > 216.0 / 24389 ? cbrt(t) : (24389.0 / 27 * t + 16) / 116;
}

static bool hex_lab(const char *hex, lab *out)
{
    if (*hex == '#')
        hex++;
    size_t len = strlen(hex);
    if (len != 6 && len != 8)
        return false;
    unsigned v[3];
    for (int i = 0; i < 3; i++) {
        char part[3] = {hex[2 * i], hex[2 * i + 1], 0};
        char *end;
        v[i] = (unsigned)strtoul(part, &end, 16);
        if (*end || !isxdigit((unsigned char)part[0]))
            return false;
    }
    double r = srgb_linear(v[0] / 255.0), g = srgb_linear(v[1] / 255.0), bl = srgb_linear(v[2] / 255.0);
    double x = (0.4124 * r + 0.3576 * g + 0.1805 * bl) / 0.95047;
    double y = 0.2126 * r + 0.7152 * g + 0.0722 * bl;
    double z = (0.0193 * r + 0.1192 * g + 0.9505 * bl) / 1.08883;
    double fx = lab_f(x), fy = lab_f(y), fz = lab_f(z);
    *out = (lab){116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)};
    return true;
}

static double delta_e94(lab p, lab q)
{
    double dl = p.l - q.l, c1 = hypot(p.a, p.b), c2 = hypot(q.a, q.b), dc = c1 - c2;
    double da = p.a - q.a, db = p.b - q.b, dh2 = da * da + db * db - dc * dc;
    double sc = 1 + 0.045 * c1, sh = 1 + 0.015 * c1;
    return sqrt(dl * dl + (dc / sc) * (dc / sc) + (dh2 > 0 ? dh2 : 0) / (sh * sh));
}

double pd_inv_color_distance(const char *a, const char *b)
{
    lab p, q;
    return hex_lab(a, &p) && hex_lab(b, &q) ? delta_e94(p, q) : -1;
}

double pd_inv_filament_color_distance(const char *one, const char *multi, const char *want)
{
    lab w, have;
    double best = -1;
    if (!hex_lab(want, &w))
        return -1;
    if (one && hex_lab(one, &have))
        best = delta_e94(w, have);
    char buf[1100], *terms[MAX_TERMS];
    size_t n = multi ? split_terms(multi, buf, sizeof buf, terms, MAX_TERMS) : 0;
    for (size_t i = 0; i < n; i++)
        if (hex_lab(terms[i], &have) && (best < 0 || delta_e94(w, have) < best))
            best = delta_e94(w, have);
    return best;
}

static bool color_match(json_t *filament, lab want, double threshold)
{
    const char *one = json_string_value(json_object_get(filament, "color_hex"));
    const char *multi = json_string_value(json_object_get(filament, "multi_color_hexes"));
    lab have;
    if (one && hex_lab(one, &have) && delta_e94(want, have) <= threshold)
        return true;
    if (!multi)
        return false;
    char buf[1100], *terms[MAX_TERMS];
    size_t n = split_terms(multi, buf, sizeof buf, terms, MAX_TERMS);
    for (size_t i = 0; i < n; i++)
        if (hex_lab(terms[i], &have) && delta_e94(want, have) <= threshold)
            return true;
    return false;
}

/* --- sorting ------------------------------------------------------------------------------- */

#define LENGTH_SQL(w) "(" w " / f.density * 1000.0 / (3.141592653589793 * f.diameter * f.diameter / 4.0))"

static const struct computed {
    const char *name, *sql;
} spool_computed_sort[] = {
    {"remaining_weight", INV_REMAINING_SQL},
    {"remaining_length", LENGTH_SQL(INV_REMAINING_SQL)},
    {"used_length", LENGTH_SQL("s.used_weight")},
    {"price", "COALESCE(s.price, f.price)"},
    {"filament.combined_name", "(COALESCE(v.name, '') || ' ' || COALESCE(f.name, ''))"},
};

static const char *const model_names[PD_INV__N] = {"Vendor", "Filament", "Spool"};

/* A stored column of `en`, or through its relation (a spool's `filament.`, a filament's
 * `vendor.`), as a sort expression; else false with Spoolman's reason in out. */
static bool nested_column(pd_inv_entity en, const char *field, char *out, size_t outlen)
{
    static const char *const rel[PD_INV__N] = {NULL, "vendor", "filament"};
    size_t rl = rel[en] ? strlen(rel[en]) : 0;
    if (rl && !strncmp(field, rel[en], rl) && (!field[rl] || field[rl] == '.')) {
        if (!field[rl]) {
            snprintf(out, outlen, "No field specified for %s", rel[en]);
            return false;
        }
        return nested_column((pd_inv_entity)(en - 1), field + rl + 1, out, outlen);
    }
    size_t nl = strcspn(field, ".");
    char name[96];
    snprintf(name, sizeof name, "%.*s", (int)nl, field);
    const inv_col *c = nl < sizeof name ? inv_col_find(en, name) : NULL;
    if (!c)
        snprintf(out, outlen, "Invalid field name '%.*s', '%.*s' is not a valid field on '%s'.",
                 pd_jw_utf8_cut(field, 64), field, pd_jw_utf8_cut(name, 64), name, model_names[en]);
    else if (field[nl])
        snprintf(out, outlen, "Field '%s' does not have any nested fields", name);
    else
        snprintf(out, outlen, "%s.%s", inv_tables[en].alias, c->name);
    return c && !field[nl];
}

static bool sort_expr(pd_inv *inv, pd_inv_entity en, const char *field, char *out, size_t outlen)
{
    if (en == PD_INV_SPOOL)
        for (size_t i = 0; i < sizeof spool_computed_sort / sizeof spool_computed_sort[0]; i++)
            if (!strcmp(field, spool_computed_sort[i].name)) {
                snprintf(out, outlen, "%s", spool_computed_sort[i].sql);
                return true;
            }
    if (!strncmp(field, "extra.", 6))
        return pd_inv_extra_sort(inv, en, field + 6, en == PD_INV_SPOOL ? "s.id" : en == PD_INV_FILAMENT ? "f.id" : "v.id",
                                 out, outlen);
    return nested_column(en, field, out, outlen);
}

/* The sort once more as columns of the paging query (page_by_ids): "s.id AS id, <expr> AS k0,
 * …" and an ORDER BY over those names. Sort expressions carry no arguments. */
typedef struct sort_keys {
    char cols[4096], order[1024];
    size_t ncols, norder;
    unsigned n;
    bool over;
} sort_keys;

static void keys_add(char *buf, size_t cap, size_t *len, bool *over, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void keys_add(char *buf, size_t cap, size_t *len, bool *over, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int w = *over ? -1 : vsnprintf(buf + *len, cap - *len, fmt, ap);
    va_end(ap);
    if (w < 0 || (size_t)w >= cap - *len)
        *over = true;
    else
        *len += (size_t)w;
}

static void sort_term(pd_sqlb *b, sort_keys *k, const char *expr, const char *dir)
{
    pd_sqlb_add(b, "%s %s NULLS LAST, ", expr, dir);
    keys_add(k->cols, sizeof k->cols, &k->ncols, &k->over, ", %s AS k%u", expr, k->n);
    keys_add(k->order, sizeof k->order, &k->norder, &k->over, " k%u %s NULLS LAST,", k->n, dir);
    k->n++;
}

static pd_err parse_count(const char *name, const char *v, int64_t *out, pd_inv_err *e)
{
    if (!parse_id(v, out) || *out < 0)
        return pd_inv_fail(e, PD_ERR_FIELD, "query", name, "Input should be a valid non-negative integer");
    return PD_OK;
}

typedef bool (*sort_resolve_fn)(void *ud, const char *field, char *out, size_t outlen);

static char *trim(char *s)
{
    s += strspn(s, " \t\n\r\f\v");
    size_t len = strlen(s);
    while (len && isspace((unsigned char)s[len - 1]))
        s[--len] = '\0';
    return s;
}

pd_err inv_sort_item(char *item, char **field, bool *desc, pd_inv_err *e)
{
    item = trim(item);
    *field = NULL;
    if (!*item)
        return PD_OK;
    char *colon = strchr(item, ':');
    if (!colon)
        return pd_inv_fail(e, PD_ERR_INVAL, "query", "sort",
                           "Invalid sort '%.*s', expected the form 'field:asc' or 'field:desc'.",
                           pd_jw_utf8_cut(item, 64), item);
    if (colon == item)
        return pd_inv_fail(e, PD_ERR_INVAL, "query", "sort", "Invalid sort '%.*s', no field name was given.",
                           pd_jw_utf8_cut(item, 64), item);
    *colon = '\0';
    char *d = colon + 1, *t = trim(d);
    if (strcasecmp(t, "asc") && strcasecmp(t, "desc"))
        return pd_inv_fail(e, PD_ERR_INVAL, "query", "sort",
                           "Invalid sort direction '%.*s' for field '%.*s', expected 'asc' or 'desc'.",
                           pd_jw_utf8_cut(d, 64), d, pd_jw_utf8_cut(item, 64), item);
    *field = item;
    *desc = strcasecmp(t, "asc") != 0;
    return PD_OK;
}

/* " ORDER BY" the terms of `sort` ("field[:asc|desc],…", each made an expression by resolve),
 * then the id of `alias`. */
static pd_err order_by_with(const char *alias, const char *sort, sort_resolve_fn resolve, void *ud,
                            pd_sqlb *b, sort_keys *k, pd_inv_err *e)
{
    pd_sqlb_add(b, " ORDER BY ");
    *k = (sort_keys){.over = false};
    keys_add(k->cols, sizeof k->cols, &k->ncols, &k->over, "%s.id AS id", alias);
    keys_add(k->order, sizeof k->order, &k->norder, &k->over, " ORDER BY");
    if (sort && *sort) {
        char buf[1024], *terms[MAX_TERMS];
        size_t n = split_terms(sort, buf, sizeof buf, terms, MAX_TERMS);
        for (size_t i = 0; i < n; i++) {
            char *field, expr[1024];
            bool desc;
            pd_err rc = inv_sort_item(terms[i], &field, &desc, e);
            if (rc)
                return rc;
            if (!field)
                continue;
            expr[0] = '\0';
            if (!resolve(ud, field, expr, sizeof expr)) {
                if (expr[0])
                    return pd_inv_fail(e, PD_ERR_INVAL, "query", "sort", "%s", expr);
                if (!strncmp(field, "extra.", 6))
                    continue;  /* unknown extra keys are ignored, as in Spoolman */
                return pd_inv_fail(e, PD_ERR_INVAL, "query", "sort", "Invalid sort field \"%.*s\".",
                                   pd_jw_utf8_cut(field, 64), field);
            }
            sort_term(b, k, expr, desc ? "DESC" : "ASC");
        }
    }
    /* the id breaks ties, so pages never repeat or skip a row */
    pd_sqlb_add(b, "%s.id ASC", alias);
    keys_add(k->order, sizeof k->order, &k->norder, &k->over, " id ASC");
    return PD_OK;
}

typedef struct entity_sort {
    pd_inv *inv;
    pd_inv_entity en;
} entity_sort;

static bool entity_sort_expr(void *ud, const char *field, char *out, size_t outlen)
{
    entity_sort *es = ud;
    return sort_expr(es->inv, es->en, field, out, outlen);
}

static pd_err order_by(pd_inv *inv, pd_inv_entity en, const char *sort, pd_sqlb *b, sort_keys *k,
                       pd_inv_err *e)
{
    entity_sort es = {inv, en};
    return order_by_with(inv_tables[en].alias, sort, entity_sort_expr, &es, b, k, e);
}

pd_err pd_inv_order_add(const char *alias, const char *sort,
                        bool (*resolve)(void *ud, const char *field, char *out, size_t outlen),
                        void *ud, pd_sqlb *b, pd_inv_err *e)
{
    sort_keys *k = malloc(sizeof *k);
    if (!k)
        return pd_inv_fail(e, PD_ERR_NOMEM, NULL, NULL, "out of memory");
    pd_err rc = order_by_with(alias, sort, resolve, ud, b, k, e);
    free(k);
    return rc;
}

pd_err pd_inv_paging(const pd_inv_param *p, size_t n, int64_t *limit, int64_t *offset,
                     pd_inv_err *e)
{
    const char *lv = pd_inv_param_get(p, n, "limit"), *ov = pd_inv_param_get(p, n, "offset");
    pd_err rc;
    *limit = -1;
    *offset = 0;
    if (lv && (rc = parse_count("limit", lv, limit, e)))
        return rc;
    if (ov && (rc = parse_count("offset", ov, offset, e)))
        return rc;
    if (*limit < 0)
        *offset = 0;  /* Spoolman ignores offset without limit */
    return PD_OK;
}

/* --- the list ------------------------------------------------------------------------------ */


/* A spool filter on its filament or vendor picks filament ids once, instead of testing every
 * spool row's joined filament; the unary + keeps SQLite from walking spool_filament row by row
 * for what is usually half the table: a scan is cheaper and never bad. */
#define VIA_FILAMENT " AND +s.filament_id IN (SELECT f.id FROM filament f LEFT JOIN vendor v " \
                     "ON v.id = f.vendor_id WHERE 1 = 1"

/* Extra-field filters of `en` and, for spools, of the filament and vendor they embed (a spool
 * whose filament has no vendor has no vendor value: v.id is NULL). A key that repeats counts
 * once, with its last value. Spoolman has no vendor.extra.<k> filter on filaments. */
static pd_err extra_filters(pd_inv *inv, pd_inv_entity en, const pd_inv_param *p, size_t n,
                            pd_sqlb *b, pd_inv_err *e)
{
    static const struct {
        pd_inv_entity owner, target;
        const char *prefix, *id_sql;
    } scopes[] = {
        {PD_INV_VENDOR, PD_INV_VENDOR, "extra.", "v.id"},
        {PD_INV_FILAMENT, PD_INV_FILAMENT, "extra.", "f.id"},
        {PD_INV_SPOOL, PD_INV_SPOOL, "extra.", "s.id"},
        {PD_INV_SPOOL, PD_INV_FILAMENT, "filament.extra.", "f.id"},
        {PD_INV_SPOOL, PD_INV_VENDOR, "filament.vendor.extra.", "v.id"},
    };
    for (size_t i = 0; i < n; i++) {
        if (pd_inv_param_get(p + i, n - i, p[i].name) != p[i].value)
            continue;
        for (size_t k = 0; k < sizeof scopes / sizeof scopes[0]; k++) {
            size_t plen = strlen(scopes[k].prefix);
            if (scopes[k].owner != en || strncmp(p[i].name, scopes[k].prefix, plen))
                continue;
            bool via = scopes[k].owner != scopes[k].target;
            size_t at = b->len;
            if (via)
                pd_sqlb_add(b, VIA_FILAMENT);
            size_t inner = b->len;
            pd_err rc = pd_inv_extra_filter(inv, scopes[k].target, p[i].name + plen, p[i].value,
                                            scopes[k].id_sql, b, e);
            if (rc)
                return rc;
            if (via && b->len == inner) {
                b->len = at;  /* an unknown key adds no condition, nor does its wrapper */
                b->sql[at] = '\0';
            } else if (via) {
                pd_sqlb_add(b, ")");
            }
        }
    }
    return PD_OK;
}

pd_err pd_inv_filter_add(pd_inv *inv, const pd_inv_filter *f, const char *value, pd_sqlb *b,
                        pd_inv_err *e)
{
    switch (f->kind) {
    case PD_INV_F_TEXT_OPT:
    case PD_INV_F_TEXT_REQ: return text_filter(inv, f, value, b);
    case PD_INV_F_IDS:
    case PD_INV_F_IDS_NULL: return ids_filter(f, value, b, e);
    case PD_INV_F_DATES: return dates_filter(f, value, b, e);
    case PD_INV_F_COLOR: break;  /* after the query */
    }
    return PD_OK;
}

pd_err inv_where(pd_inv *inv, pd_inv_entity en, const pd_inv_param *p, size_t n, bool aliases,
                 pd_sqlb *b, pd_inv_err *e)
{
    pd_err rc = PD_OK;
    for (const filter *f = filters[en]; f->param && !rc; f++) {
        const char *v = pd_inv_param_get(p, n, f->param);
        if (!v && f->alias && aliases)
            v = pd_inv_param_get(p, n, f->alias);
        if (!v)
            continue;
        bool via_filament = en == PD_INV_SPOOL && (f->sql[0] == 'f' || f->sql[0] == 'v');
        if (via_filament)
            pd_sqlb_add(b, VIA_FILAMENT);
        rc = pd_inv_filter_add(inv, f, v, b, e);
        if (via_filament)
            pd_sqlb_add(b, ")");
    }
    if (!rc && en == PD_INV_SPOOL) {
        const char *aa = pd_inv_param_get(p, n, "allow_archived");
        bool allow = false;
        if (aa && !pd_inv_bool_parse(aa, &allow))
            return pd_inv_fail(e, PD_ERR_FIELD, "query", "allow_archived", "Input should be a valid boolean");
        if (!allow)
            pd_sqlb_add(b, INV_LIVE_SQL);
    }
    return rc ? rc : extra_filters(inv, en, p, n, b, e);
}

/* Colour filter: the matching filaments of a query without paging, then paged here. */
static pd_err color_list(pd_inv *inv, const pd_inv_param *p, size_t n, pd_sqlb *b, int64_t limit,
                         int64_t offset, pd_inv_list *out, pd_inv_err *e)
{
    const char *hex = pd_inv_param_get(p, n, "color_hex"), *th = pd_inv_param_get(p, n, "color_similarity_threshold");
    double threshold = 20;
    lab want;
    if (!hex_lab(hex, &want))
        return pd_inv_fail(e, PD_ERR_INVAL, "query", "color_hex", "Invalid colour \"%.*s\": use RRGGBB",
                              pd_jw_utf8_cut(hex, 64), hex);
    if (th) {
        char *end;
        threshold = strtod(th, &end);
        if (*end || !isfinite(threshold) || threshold < 0)
            return pd_inv_fail(e, PD_ERR_FIELD, "query", "color_similarity_threshold",
                               "Input should be a valid number");
    }
    json_t *all = json_array();
    pd_err rc = all ? inv_fetch(inv, PD_INV_FILAMENT, b, all) : PD_ERR_NOMEM;
    size_t i;
    json_t *it;
    int64_t seen = 0;
    json_array_foreach(all, i, it) {
        if (rc || !color_match(it, want, threshold))
            continue;
        if (seen >= offset && (limit < 0 || seen < offset + limit))
            json_array_append(out->items, it);
        seen++;
    }
    out->total = seen;
    json_decref(all);
    return rc;
}

/* --- ids, and cursors over them ----------------------------------------------------------- */

pd_err inv_ids_add(inv_ids *ids, int64_t id)
{
    if (ids->n == ids->cap) {
        size_t cap = ids->cap ? 2 * ids->cap : 256;
        int64_t *v = cap > SIZE_MAX / sizeof *v ? NULL : realloc(ids->v, cap * sizeof *v);
        if (!v)
            return PD_ERR_NOMEM;
        ids->v = v;
        ids->cap = cap;
    }
    ids->v[ids->n++] = id;
    return PD_OK;
}

void inv_select_ids(pd_sqlb *c, pd_inv_entity en, const int64_t *ids, size_t n, const char *order)
{
    /* the ids are ours, integers: written into the statement, no argument limit */
    inv_select_from(c, en, false);
    pd_sqlb_add(c, " AND %s.id IN (", inv_tables[en].alias);
    for (size_t i = 0; i < n; i++)
        pd_sqlb_add(c, "%s%lld", i ? ", " : "", (long long)ids[i]);
    pd_sqlb_add(c, ")%s", order);
}

pd_inv_cursor *inv_cursor_new(pd_inv *inv, pd_inv_entity en, const inv_cursor_ops *ops,
                              const char *order, pd_sqlb *query)
{
    pd_inv_cursor *c = calloc(1, sizeof *c);
    if (!c || !(c->order = strdup(order))) {
        free(c);
        pd_sqlb_free(query);
        free(query);
        return NULL;
    }
    c->inv = inv;
    c->en = en;
    c->ops = ops;
    c->query = query;
    c->total = -1;
    return c;
}

void pd_inv_cursor_free(pd_inv_cursor **cp)
{
    pd_inv_cursor *c = *cp;
    if (!c)
        return;
    *cp = NULL;
    if (c->ops->free)
        c->ops->free(c);
    if (c->query)
        pd_sqlb_free(c->query);
    free(c->query);
    free(c->ids.v);
    free(c->order);
    free(c);
}

static pd_err cursor_id_row(const pd_row *row, void *ud)
{
    pd_inv_cursor *c = ud;
    int64_t id = pd_row_int(row, 0);
    if (id < 0) {
        c->total = pd_row_int(row, 1);
        return PD_OK;
    }
    return inv_ids_add(&c->ids, id);
}

pd_err pd_inv_cursor_prepare(pd_inv_cursor *c, pd_db *db)
{
    if (c->prepared)
        return PD_OK;
    c->prepared = true;
    pd_sqlb *q = c->query;
    pd_err rc = c->ops->prepare ? c->ops->prepare(c, db) : PD_OK;
    if (!rc)
        rc = pd_sqlb_ok(q) ? pd_db_query(db, q->sql, q->args, q->nargs, cursor_id_row, c) : PD_ERR_TOOBIG;
    if (c->total < 0)
        c->total = (int64_t)c->ids.n;
    pd_sqlb_free(q);
    free(q);
    c->query = NULL;
    return rc;
}

size_t pd_inv_cursor_rows(const pd_inv_cursor *c) { return c->ids.n; }
int64_t pd_inv_cursor_total(const pd_inv_cursor *c) { return c->total; }

pd_err pd_inv_cursor_next(pd_inv_cursor *c, pd_buf *out, bool *done)
{
    pd_err rc = pd_inv_cursor_prepare(c, c->inv->db);
    *done = false;
    if (!rc && !c->started) {
        c->started = true;
        rc = c->ops->head ? c->ops->head(c, out) : PD_OK;
    }
    size_t k = c->ids.n - c->next < PD_INV_CURSOR_BATCH ? c->ids.n - c->next : PD_INV_CURSOR_BATCH;
    json_t *rows = k && !rc ? json_array() : NULL;
    pd_sqlb *b = rows ? malloc(sizeof *b) : NULL;
    if (k && !rc && !b)
        rc = PD_ERR_NOMEM;
    if (b) {
        /* rows deleted since the ids were taken are left out; the rest keep the ids' order */
        pd_sqlb_init(b);
        if (c->ops->select)
            c->ops->select(c, b, c->ids.v + c->next, k);
        else
            inv_select_ids(b, c->en, c->ids.v + c->next, k, c->order);
        rc = pd_sqlb_ok(b) ? c->ops->fetch(c, b, rows) : PD_ERR_TOOBIG;
        pd_sqlb_free(b);
        free(b);
        size_t i;
        json_t *row;
        json_array_foreach(rows, i, row) {
            if (!rc && c->written++ && c->ops->sep)
                pd_buf_add_str(out, c->ops->sep);
            if (!rc)
                rc = c->ops->write(c, row, out);
        }
        c->next += k;
    }
    json_decref(rows);
    if (!rc && c->next == c->ids.n) {
        if (c->ops->tail)
            pd_buf_add_str(out, c->ops->tail);
        *done = true;
    }
    return rc ? rc : pd_buf_err(out);
}

static int dump_piece(const char *piece, size_t len, void *ud)
{
    return pd_buf_add(ud, piece, len) ? -1 : 0;
}

pd_err inv_dump_into(const json_t *v, size_t flags, pd_buf *out)
{
    /* one pass straight into the buffer: sizing first with json_dumpb would render it twice */
    if (json_dump_callback(v, dump_piece, out, flags))
        return pd_buf_err(out) ? pd_buf_err(out) : PD_ERR_NOMEM;
    return PD_OK;
}

/* A list is the JSON array of the objects GET returns, as json_dumps writes it. */
static pd_err list_fetch(pd_inv_cursor *c, const pd_sqlb *b, json_t *rows)
{
    return inv_fetch(c->inv, c->en, b, rows);
}

static pd_err list_head(pd_inv_cursor *c, pd_buf *out)
{
    (void)c;
    return pd_buf_add_str(out, "[");
}

static pd_err list_write(pd_inv_cursor *c, json_t *row, pd_buf *out)
{
    (void)c;
    return inv_dump_into(row, PD_JSON_FLAGS, out);
}

static const inv_cursor_ops list_ops = {
    .fetch = list_fetch, .head = list_head, .write = list_write, .sep = ",", .tail = "]",
};

/* One scan keeps each match's id and sort keys; the total is counted over those and the
 * page sorted from them, then only the page's rows are joined and rendered: sorting narrow
 * rows and rendering 50 is far cheaper than sorting every joined row of a large inventory
 * to keep 50. The count travels as a row of its own (id -1), so a page past the end still
 * learns the total without scanning again. With `cur` that scan is not run here: the cursor
 * runs it when prepared (off the loop, for the API) and renders a batch at a time. */
static pd_err page_by_ids(pd_inv *inv, pd_inv_entity en, const pd_sqlb *b, const char *conds,
                          const sort_keys *k, const char *order, int64_t limit, int64_t offset,
                          pd_sqlb *c, pd_inv_list *out, pd_inv_cursor **cur)
{
    pd_sqlb_init(c);
    pd_sqlb_add(c, "WITH m AS MATERIALIZED (");
    inv_select_cols_from(c, en, k->cols, conds);
    pd_sqlb_add(c, "%.*s) SELECT -1, count(*) FROM m UNION ALL SELECT * FROM (SELECT id, 0 FROM m%s "
                   "LIMIT ? OFFSET ?) p", (int)(order - conds), conds, k->order);
    for (size_t i = 0; i < b->nargs; i++)
        pd_sqlb_arg(c, b->args[i]);
    pd_sqlb_arg(c, PD_SQL_I(limit < 0 ? INT64_MAX : limit));
    pd_sqlb_arg(c, PD_SQL_I(offset));
    pd_sqlb *q = malloc(sizeof *q);
    if (!q) {
        pd_sqlb_free(c);
        return PD_ERR_NOMEM;
    }
    *q = *c;  /* the builder owns its text copies: moved, not shared */
    pd_inv_cursor *pc = inv_cursor_new(inv, en, &list_ops, order, q);
    if (!pc)
        return PD_ERR_NOMEM;
    if (cur) {
        *cur = pc;
        return PD_OK;
    }
    pd_err rc = pd_inv_cursor_prepare(pc, inv->db);
    out->total = pc->total;
    if (!rc && pc->ids.n) {
        pd_sqlb_init(c);
        inv_select_ids(c, en, pc->ids.v, pc->ids.n, order);
        rc = inv_fetch(inv, en, c, out->items);
        pd_sqlb_free(c);
    }
    pd_inv_cursor_free(&pc);
    return rc;
}

/* Runs `b` (filters from where_at, then its ORDER BY) through page_by_ids; a sort too long
 * for its key list as the total over count(*) and then the rows. */
static pd_err paged(pd_inv *inv, pd_inv_entity en, pd_sqlb *b, size_t where_at, const sort_keys *k,
                    int64_t limit, int64_t offset, pd_inv_list *out, pd_inv_cursor **cur)
{
    const char *conds = b->sql + where_at, *order = strstr(conds, " ORDER BY ");
    if (!pd_sqlb_ok(b) || !order)
        return PD_ERR_TOOBIG;  /* the filters filled the builder: there is no ORDER BY to split at */
    pd_sqlb *c = malloc(sizeof *c);
    if (!c)
        return PD_ERR_NOMEM;
    pd_err rc;
    if (!k->over) {
        rc = page_by_ids(inv, en, b, conds, k, order, limit, offset, c, out, cur);
    } else {
        pd_sqlb_init(c);
        inv_select_cols_from(c, en, "count(*)", conds);
        pd_sqlb_add(c, "%.*s", (int)(order - conds), conds);
        for (size_t i = 0; i < b->nargs; i++)
            pd_sqlb_arg(c, b->args[i]);
        rc = pd_sqlb_ok(c) ? pd_db_scalar(inv->db, c->sql, c->args, c->nargs, &out->total) : PD_ERR_TOOBIG;
        pd_sqlb_free(c);
        if (!rc) {
            if (limit >= 0) {
                pd_sqlb_add(b, " LIMIT ? OFFSET ?");
                pd_sqlb_arg(b, PD_SQL_I(limit));
                pd_sqlb_arg(b, PD_SQL_I(offset));
            }
            rc = inv_fetch(inv, en, b, out->items);
        }
    }
    free(c);
    return rc;
}

pd_err pd_inv_list_get(pd_inv *inv, pd_inv_entity en, const pd_inv_param *p, size_t n,
                       pd_inv_list *out, pd_inv_err *e)
{
    return pd_inv_list_open(inv, en, p, n, out, NULL, e);
}

pd_err pd_inv_list_open(pd_inv *inv, pd_inv_entity en, const pd_inv_param *p, size_t n,
                        pd_inv_list *out, pd_inv_cursor **cur, pd_inv_err *e)
{
    int64_t limit, offset;
    if (cur)
        *cur = NULL;
    pd_err rc = pd_inv_paging(p, n, &limit, &offset, e);
    if (rc)
        return rc;
    out->items = json_array();
    out->total = 0;
    if (!out->items)
        return pd_inv_fail(e, PD_ERR_NOMEM, NULL, NULL, "out of memory");
    pd_sqlb *b = malloc(sizeof *b);
    sort_keys *k = malloc(sizeof *k);
    if (!b || !k) {
        free(b);
        free(k);
        json_decref(out->items);
        out->items = NULL;
        return pd_inv_fail(e, PD_ERR_NOMEM, NULL, NULL, "out of memory");
    }
    pd_sqlb_init(b);
    inv_select_from(b, en, false);
    size_t where_at = b->len;
    if (!(rc = inv_where(inv, en, p, n, true, b, e)) && !(rc = order_by(inv, en, pd_inv_param_get(p, n, "sort"), b, k, e))) {
        if (en == PD_INV_FILAMENT && pd_inv_param_get(p, n, "color_hex")) {
            rc = color_list(inv, p, n, b, limit, offset, out, e);
        } else {
            rc = paged(inv, en, b, where_at, k, limit, offset, out, cur);
        }
        if (rc && !e->code)
            pd_inv_fail(e, rc, NULL, NULL, "%s", rc == PD_ERR_TOOBIG ? "Too many filter terms." : pd_strerror(rc));
    }
    pd_sqlb_free(b);
    free(b);
    free(k);
    if (rc || (cur && *cur)) {
        json_decref(out->items);
        out->items = NULL;
    }
    if (rc && cur)
        pd_inv_cursor_free(cur);
    return rc;
}

pd_err pd_inv_distinct(pd_inv *inv, const char *what, json_t **out)
{
    static const struct {
        const char *name, *sql;
    } lists[] = {
        {"material", "SELECT DISTINCT material FROM filament WHERE material IS NOT NULL"},
        {"article_number", "SELECT DISTINCT article_number FROM filament WHERE article_number IS NOT NULL"},
        {"lot_nr", "SELECT DISTINCT lot_nr FROM spool WHERE lot_nr IS NOT NULL"},
        {"location", "SELECT DISTINCT location FROM spool WHERE location IS NOT NULL"},
    };
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
        if (strcmp(what, lists[i].name))
            continue;
        json_t *arr = json_array();
        pd_err rc = arr ? pd_db_query(inv->db, lists[i].sql, NULL, 0, inv_collect_text, arr) : PD_ERR_NOMEM;
        if (rc) {
            json_decref(arr);
            return rc;
        }
        *out = arr;
        return PD_OK;
    }
    return PD_ERR_NOTFOUND;
}
