/* Moving an inventory in and out (docs/inventory-transfer.md).
 *
 * Export is Spoolman's: the raw rows of one table, each with what
 * it embeds flattened under dotted keys (a spool's filament under "filament.", that filament's
 * vendor under "filament.vendor."), extra values under "<prefix>extra.<key>", keys sorted,
 * datetimes "YYYY-MM-DD HH:MM:SS" in UTC; JSON is an array of flat objects, CSV a header row and
 * RFC 4180 records.
 *
 * Import takes such a file, from Spoolman or from printdeck, or a copy of Spoolman's database,
 * and rebuilds the objects it describes. Each object is written as a bare row and then given
 * its values through pd_inv_update, so an imported value passes exactly the checks a client's
 * PATCH does; the whole import is one transaction, so a bad row leaves nothing behind. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"
#include "inventory/entities.h"

#define KEY_MAX 192             /* a dotted key we build: prefix, then a column or "extra.<key>" */
#define CELL_MAX 262144         /* bytes in one value; the longest (an extra) is 65535 characters */
#define CELL_TOO_BIG "the value is over " STR(CELL_MAX) " bytes"
#define MAX_COLUMNS 1024
#define HEADER_MAX 256          /* bytes in one CSV column name */
#define FILE_MAX (256L << 20)   /* a JSON or CSV file read by pd_inv_import_file */
#define STR_(x) #x
#define STR(x) STR_(x)

/* A spreadsheet runs a cell that starts with one of these as a formula (CWE-1236), so the CSV
 * export writes such text after a single quote, as Spoolman's does, and the import drops that
 * quote again. A leading quote is escaped too, so that every text survives the round trip. */
static const char formula_start[] = "=+-@\t\r'";

bool pd_inv_format_parse(const char *s, pd_inv_format *out)
{
    static const char *const names[] = {[PD_INV_FMT_JSON] = "json", [PD_INV_FMT_CSV] = "csv",
                                        [PD_INV_FMT_SPOOLMAN_DB] = "spoolman-db"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(s, names[i])) {
            *out = (pd_inv_format)i;
            return true;
        }
    return false;
}

bool pd_inv_bool_parse(const char *s, bool *out)
{
    static const char *const words[][2] = {{"false", "true"}, {"0", "1"}, {"no", "yes"}, {"off", "on"}};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        for (int v = 0; v < 2; v++)
            if (!strcasecmp(s, words[i][v])) {
                *out = v;
                return true;
            }
    return false;
}

/* --- export ----------------------------------------------------------------------------------- */

/* Spoolman's export writes Python's str() of a naive UTC datetime. */
static void export_time(int64_t t, char out[32])
{
    pd_date_format(t, out);  /* "2024-05-01T10:00:00Z" */
    out[10] = ' ';
    out[19] = '\0';
}

/* A stored value as it is, no computed or defaulted reading (a null stays null). */
static json_t *raw_json(const inv_col *c, const pd_row *row, int i)
{
    char t[32];
    if (pd_row_null(row, i))
        return json_null();
    switch (c->type) {
    case COL_INT:
    case COL_REF: return json_integer(pd_row_int(row, i));
    case COL_REAL: return json_real(pd_row_real(row, i));
    case COL_BOOL: return json_boolean(pd_row_int(row, i) != 0);
    case COL_TIME: export_time(pd_row_int(row, i), t); return json_string(t);
    default: return json_string(pd_row_text(row, i));
    }
}

/* Where the columns of entity e sit in a row of an en export: "" for en itself, then under the
 * name of each object it embeds ("filament.", "filament.vendor."). */
static void level_prefix(pd_inv_entity en, int e, char out[KEY_MAX])
{
    size_t n = 0;
    out[0] = '\0';
    for (int k = (int)en - 1; k >= e; k--)
        n += (size_t)snprintf(out + n, KEY_MAX - n, "%s.", pd_inv_entity_name((pd_inv_entity)k));
}

/* An export's cursor state: for CSV, the header's keys in order. */
typedef struct export_ctx {
    json_t *keys;              /* every key of every row, as a set: the CSV header */
    const char **sorted;       /* its keys, sorted (they live in keys) */
    size_t nkeys;
    bool allow_archived;
} export_ctx;

typedef struct export_rows {
    pd_inv_entity en;
    json_t *rows;              /* the flat objects */
} export_rows;

/* One row of inv_select_from: the entity's columns, then those of each object it embeds. */
static pd_err export_row(const pd_row *row, void *ud)
{
    export_rows *x = ud;
    json_t *o = json_object();
    char prefix[KEY_MAX], key[KEY_MAX];
    int base = 0;
    pd_err rc = !o || json_array_append_new(x->rows, o) ? PD_ERR_NOMEM : PD_OK;
    for (int e = x->en; e >= 0 && !rc; e--) {
        const inv_table *t = &inv_tables[e];
        level_prefix(x->en, e, prefix);
        for (size_t i = 0; i < t->n && !rc; i++) {
            snprintf(key, sizeof key, "%s%s", prefix, t->cols[i].name);
            json_t *v = raw_json(&t->cols[i], row, base + (int)i);
            if (!v || json_object_set_new(o, key, v))
                rc = PD_ERR_NOMEM;
        }
        base += (int)t->n;
    }
    return rc;
}

/* The extra values of each level's objects in a batch of rows, under "<prefix>extra.<key>":
 * one query per level over the id range the batch covers. */
static pd_err export_extras(pd_inv *inv, pd_inv_entity en, json_t *rows)
{
    pd_err rc = PD_OK;
    for (int e = en; e >= 0 && !rc; e--) {
        char prefix[KEY_MAX], key[KEY_MAX], idkey[24];
        int64_t lo = INT64_MAX, hi = INT64_MIN;
        size_t i;
        json_t *row, *map = NULL;
        level_prefix(en, e, prefix);
        snprintf(key, sizeof key, "%sid", prefix);
        json_array_foreach(rows, i, row) {
            /* an embedded vendor the LEFT JOIN did not find has no id and no extras */
            json_t *id = json_object_get(row, key);
            if (json_is_integer(id)) {
                lo = json_integer_value(id) < lo ? json_integer_value(id) : lo;
                hi = json_integer_value(id) > hi ? json_integer_value(id) : hi;
            }
        }
        if (lo > hi || (rc = pd_inv_extra_load(inv, (pd_inv_entity)e, lo, hi, &map)))
            continue;
        json_array_foreach(rows, i, row) {
            json_t *id = json_object_get(row, key);
            if (!json_is_integer(id))
                continue;
            snprintf(idkey, sizeof idkey, "%" JSON_INTEGER_FORMAT, json_integer_value(id));
            const char *k;
            json_t *v;
            json_object_foreach(json_object_get(map, idkey), k, v) {
                char xkey[KEY_MAX];
                snprintf(xkey, sizeof xkey, "%sextra.%s", prefix, k);
                if (!rc && json_object_set(row, xkey, v))
                    rc = PD_ERR_NOMEM;
            }
        }
        json_decref(map);
    }
    return rc;
}

static pd_err export_fetch(pd_inv_cursor *c, const pd_sqlb *b, json_t *rows)
{
    export_rows x = {c->en, rows};
    pd_err rc = pd_db_query(c->inv->db, b->sql, b->args, b->nargs, export_row, &x);
    return rc ? rc : export_extras(c->inv, c->en, rows);
}

/* As JSON writes reals (core/json.h): 10 significant digits, and always recognisable as a real. */
static void real_text(double d, char out[40])
{
    snprintf(out, 40, "%.10g", d);
    if (!strpbrk(out, ".en"))
        strcat(out, ".0");
}

static void csv_text(pd_buf *b, const char *s)
{
    bool quote = s[strcspn(s, ",\"\r\n")] != '\0';
    if (quote)
        pd_buf_add(b, "\"", 1);
    if (*s && strchr(formula_start, *s))
        pd_buf_add(b, "'", 1);
    for (const char *q; (q = strchr(s, '"')); s = q + 1) {
        pd_buf_add(b, s, (size_t)(q - s + 1));
        pd_buf_add(b, "\"", 1);
    }
    pd_buf_add_str(b, s);
    if (quote)
        pd_buf_add(b, "\"", 1);
}

/* Python's csv module, which Spoolman's export uses, writes booleans as True and False. */
static void csv_value(pd_buf *b, const json_t *v)
{
    char num[40];
    if (json_is_string(v)) {
        csv_text(b, json_string_value(v));
    } else if (json_is_integer(v)) {
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        pd_buf_add_str(b, num);
    } else if (json_is_real(v)) {
        real_text(json_real_value(v), num);
        pd_buf_add_str(b, num);
    } else if (json_is_boolean(v)) {
        pd_buf_add_str(b, json_is_true(v) ? "True" : "False");
    }
}

static int key_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static pd_err csv_head(pd_inv_cursor *c, pd_buf *out)
{
    const export_ctx *x = c->ud;
    for (size_t i = 0; i < x->nkeys; i++) {
        pd_buf_add_str(out, i ? "," : "");
        csv_text(out, x->sorted[i]);
    }
    return pd_buf_add_str(out, "\r\n");
}

static pd_err csv_row(pd_inv_cursor *c, json_t *row, pd_buf *out)
{
    const export_ctx *x = c->ud;
    for (size_t i = 0; i < x->nkeys; i++) {
        pd_buf_add_str(out, i ? "," : "");
        csv_value(out, json_object_get(row, x->sorted[i]));
    }
    return pd_buf_add_str(out, "\r\n");  /* the adds fail for good: checked once */
}

static pd_err json_head(pd_inv_cursor *c, pd_buf *out)
{
    (void)c;
    return pd_buf_add_str(out, "[");
}

/* every row carries every column (nulls too), as Spoolman's JSON export does */
static pd_err json_row(pd_inv_cursor *c, json_t *row, pd_buf *out)
{
    (void)c;
    return inv_dump_into(row, PD_JSON_FLAGS | JSON_SORT_KEYS, out);
}

static void export_free(pd_inv_cursor *c)
{
    export_ctx *x = c->ud;
    json_decref(x->keys);
    free(x->sorted);
    free(x);
}

static pd_err csv_keys(pd_inv_cursor *c, pd_db *db);

static const inv_cursor_ops export_ops[] = {
    [PD_INV_FMT_JSON] = {.fetch = export_fetch, .head = json_head, .write = json_row,
                         .free = export_free, .sep = ",", .tail = "]"},
    [PD_INV_FMT_CSV] = {.prepare = csv_keys, .fetch = export_fetch, .head = csv_head, .write = csv_row,
                        .free = export_free},
};

/* The rows an export holds: " AND …" after inv_select_from. */
static void export_conds(pd_sqlb *b, pd_inv_entity en, bool allow_archived)
{
    if (en == PD_INV_SPOOL && !allow_archived)
        pd_sqlb_add(b, INV_LIVE_SQL);
}

typedef struct key_level {
    const char *prefix;
    json_t *keys;
} key_level;

static pd_err collect_key(const pd_row *row, void *ud)
{
    const key_level *l = ud;
    char key[KEY_MAX];
    snprintf(key, sizeof key, "%sextra.%s", l->prefix, pd_row_text(row, 0));
    return json_object_set_new(l->keys, key, json_null()) ? PD_ERR_NOMEM : PD_OK;
}

/* The CSV header: every column of every level (they head the CSV even when there is no
 * row), and every extra key an exported object has, found before any row is sent. */
static pd_err csv_keys(pd_inv_cursor *c, pd_db *db)
{
    export_ctx *x = c->ud;
    pd_inv_entity en = c->en;
    pd_err rc = PD_OK;
    pd_sqlb *b = malloc(sizeof *b);
    if (!b)
        return PD_ERR_NOMEM;
    for (int e = 0; e <= (int)en && !rc; e++) {
        char prefix[KEY_MAX], key[KEY_MAX], col[8];
        level_prefix(en, e, prefix);
        for (size_t i = 0; i < inv_tables[e].n && !rc; i++) {
            snprintf(key, sizeof key, "%s%s", prefix, inv_tables[e].cols[i].name);
            if (json_object_set_new(x->keys, key, json_null()))
                rc = PD_ERR_NOMEM;
        }
        snprintf(col, sizeof col, "%s.id", inv_tables[e].alias);
        pd_sqlb_init(b);
        pd_sqlb_add(b, "SELECT DISTINCT key FROM extra WHERE entity = ? AND entity_id IN (");
        pd_sqlb_arg(b, PD_SQL_S(pd_inv_entity_name((pd_inv_entity)e)));
        inv_select_cols_from(b, en, col, col);
        export_conds(b, en, x->allow_archived);
        pd_sqlb_add(b, ")");
        key_level l = {prefix, x->keys};
        if (!rc)
            rc = pd_sqlb_ok(b) ? pd_db_query(db, b->sql, b->args, b->nargs, collect_key, &l) : PD_ERR_TOOBIG;
        pd_sqlb_free(b);
    }
    free(b);
    size_t i = 0;
    const char *k;
    json_t *v;
    x->nkeys = json_object_size(x->keys);
    if (!rc && !(x->sorted = malloc((x->nkeys ? x->nkeys : 1) * sizeof *x->sorted)))
        rc = PD_ERR_NOMEM;
    if (rc)
        return rc;
    json_object_foreach(x->keys, k, v)
        x->sorted[i++] = k;
    qsort(x->sorted, x->nkeys, sizeof *x->sorted, key_cmp);
    return PD_OK;
}

pd_err pd_inv_export_open(pd_inv *inv, pd_inv_entity en, pd_inv_format fmt, bool allow_archived,
                          pd_inv_cursor **out)
{
    char order[32], col[8];
    *out = NULL;
    if (fmt == PD_INV_FMT_SPOOLMAN_DB)
        return PD_ERR_INVAL;
    snprintf(order, sizeof order, " ORDER BY %s.id", inv_tables[en].alias);
    snprintf(col, sizeof col, "%s.id", inv_tables[en].alias);
    export_ctx *x = calloc(1, sizeof *x);
    pd_sqlb *q = malloc(sizeof *q);
    if (!x || !q || !(x->keys = json_object())) {
        free(x);
        free(q);
        return PD_ERR_NOMEM;
    }
    x->allow_archived = allow_archived;
    pd_sqlb_init(q);
    inv_select_cols_from(q, en, col, NULL);
    export_conds(q, en, allow_archived);
    pd_sqlb_add(q, "%s", order);
    pd_inv_cursor *c = inv_cursor_new(inv, en, &export_ops[fmt], order, q);
    if (!c) {
        json_decref(x->keys);
        free(x);
        return PD_ERR_NOMEM;
    }
    c->ud = x;
    *out = c;
    return PD_OK;
}

pd_err pd_inv_export(pd_inv *inv, pd_inv_entity en, pd_inv_format fmt, bool allow_archived, char **out,
                     size_t *len)
{
    pd_inv_cursor *c;
    pd_buf b;
    bool done = false;
    *out = NULL;
    *len = 0;
    pd_err rc = pd_inv_export_open(inv, en, fmt, allow_archived, &c);
    pd_buf_init(&b, FILE_MAX);  /* what an import reads back */
    while (!rc && !done)
        rc = pd_inv_cursor_next(c, &b, &done);
    pd_inv_cursor_free(&c);
    if (!rc)
        *out = pd_buf_detach(&b, len);
    pd_buf_free(&b);
    return rc ? rc : *out ? PD_OK : PD_ERR_NOMEM;
}

/* --- import: state -------------------------------------------------------------------------- */

/* Source id → id in this inventory: open addressing, 0 marks a free slot (ids are positive). */
typedef struct idmap {
    int64_t *k, *v;
    size_t cap, n;
} idmap;

static size_t id_slot(const idmap *m, int64_t k)
{
    size_t i = (size_t)(((uint64_t)k * 0x9E3779B97F4A7C15ull) >> 20) & (m->cap - 1);
    while (m->k[i] && m->k[i] != k)
        i = (i + 1) & (m->cap - 1);
    return i;
}

static bool idmap_get(const idmap *m, int64_t k, int64_t *v)
{
    if (!m->cap)
        return false;
    size_t i = id_slot(m, k);
    if (!m->k[i])
        return false;
    *v = m->v[i];
    return true;
}

static pd_err idmap_put(idmap *m, int64_t k, int64_t v)
{
    if (2 * (m->n + 1) > m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 64;
        idmap g = {calloc(cap, sizeof *g.k), calloc(cap, sizeof *g.v), cap, m->n};
        if (!g.k || !g.v) {
            free(g.k);
            free(g.v);
            return PD_ERR_NOMEM;
        }
        for (size_t i = 0; i < m->cap; i++)
            if (m->k[i]) {
                size_t j = id_slot(&g, m->k[i]);
                g.k[j] = m->k[i];
                g.v[j] = m->v[i];
            }
        free(m->k);
        free(m->v);
        *m = g;
    }
    size_t i = id_slot(m, k);
    m->n += !m->k[i];
    m->k[i] = k;
    m->v[i] = v;
    return PD_OK;
}

typedef struct imp {
    pd_inv *inv;
    pd_inv q;                       /* inv without a bus: no event per imported object */
    bool keep_ids[PD_INV__N];       /* the table was empty: objects keep their source ids */
    bool seq_dirty[PD_INV__N];      /* kept ids inserted since the next id was synced */
    idmap map[PD_INV__N];           /* what each source id became */
    json_t *defined[PD_INV__N];     /* extra field keys with a definition, as a set */
    pd_inv_entity kind;             /* of a file's rows */
    size_t rows;
    char where[64];                 /* what an error names: "row 3 (line 4)", "spool 7" */
    pd_inv_import_counts counts;
    pd_inv_err *e;
    pd_sqlb sql;
} imp;

/* Fails the import naming the place: "row 3: filament.density: Input should be …". A reference
 * to nothing is a wrong value in the file rather than a missing resource, hence 422. */
static pd_err imp_fail(imp *im, pd_err code, const char *prefix, const char *field, const char *msg)
{
    char f[KEY_MAX];
    snprintf(f, sizeof f, "%s%s", prefix, field);
    return pd_inv_fail(im->e, code == PD_ERR_NOTFOUND ? PD_ERR_FIELD : code, "body", f, "%s: %s%s%.200s",
                       im->where, f, *f ? ": " : "", msg);
}

/* A failure reported by another inventory call, placed; field when it names none. */
static pd_err imp_fail_from(imp *im, const pd_inv_err *in, const char *prefix, const char *field)
{
    return imp_fail(im, in->code, prefix, *in->field ? in->field : field, in->msg);
}

static pd_err imp_begin(imp **out, pd_inv *inv, pd_inv_err *e)
{
    imp *im = calloc(1, sizeof *im);
    if (!im)
        return pd_inv_fail(e, PD_ERR_NOMEM, NULL, NULL, "out of memory");
    im->inv = inv;
    im->q = *inv;
    im->q.bus = NULL;
    im->q.pending = NULL;
    im->e = e;
    snprintf(im->where, sizeof im->where, "import");
    pd_err rc = pd_db_begin(inv->db);
    bool begun = !rc;
    for (int en = 0; en < PD_INV__N && !rc; en++) {
        char sql[64];
        int64_t any;
        snprintf(sql, sizeof sql, "SELECT id FROM %s LIMIT 1", inv_tables[en].name);
        rc = pd_db_scalar(inv->db, sql, NULL, 0, &any);
        im->keep_ids[en] = rc == PD_ERR_NOTFOUND;
        if (rc == PD_ERR_NOTFOUND)
            rc = PD_OK;
    }
    if (rc) {
        if (begun)
            pd_inv_end(inv, rc);
        free(im);
        return pd_inv_fail(e, rc, NULL, NULL, "%s", pd_strerror(rc));
    }
    *out = im;
    return PD_OK;
}

/* After rows that kept their ids, the table's next id must follow them before it hands one out
 * (a backend's sequence may not know of them). */
static pd_err seq_sync(imp *im, pd_inv_entity en)
{
    if (!im->seq_dirty[en])
        return PD_OK;
    im->seq_dirty[en] = false;
    return pd_db_sync_ids(im->q.db, inv_tables[en].name);
}

/* Commits (rc OK) or rolls back, hands out the counts and frees im. */
static pd_err imp_end(imp *im, pd_err rc, pd_inv_import_counts *out)
{
    for (int en = 0; en < PD_INV__N && !rc; en++)
        rc = seq_sync(im, (pd_inv_entity)en);
    if (rc && !im->e->code)
        pd_inv_fail(im->e, rc, NULL, NULL, "%s: %s", im->where, pd_strerror(rc));
    pd_err end = pd_inv_end(im->inv, rc);
    if (end && !rc)
        pd_inv_fail(im->e, end, NULL, NULL, "%s", pd_strerror(end));
    if (!end) {
        *out = im->counts;
        im->inv->generation++;  /* no event per object, but cached lists are stale */
    }
    for (int en = 0; en < PD_INV__N; en++) {
        free(im->map[en].k);
        free(im->map[en].v);
        json_decref(im->defined[en]);
    }
    free(im);
    return end;
}

/* --- import: values --------------------------------------------------------------------------- */

static bool given(const json_t *v) { return v && !json_is_null(v); }

static json_t *cell(json_t *row, const char *prefix, const char *name)
{
    char key[KEY_MAX];
    return snprintf(key, sizeof key, "%s%s", prefix, name) < (int)sizeof key ? json_object_get(row, key) : NULL;
}

/* An integer from JSON (an integer, or a real without fraction) or from text. */
static bool int_of(const json_t *v, int64_t *out)
{
    const char *s = json_string_value(v);
    double d;
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return true;
    }
    if (s) {
        char *end;
        errno = 0;
        long long x = strtoll(s, &end, 10);
        if (!*s || isspace((unsigned char)*s) || *end || errno)
            return false;
        *out = x;
        return true;
    }
    d = json_is_real(v) ? json_real_value(v) : NAN;
    if (d == floor(d) && fabs(d) < 9e15) {
        *out = (int64_t)d;
        return true;
    }
    return false;
}

static bool num_text(const char *s, double *out)
{
    char *end;
    if (!*s || isspace((unsigned char)*s))
        return false;
    *out = strtod(s, &end);
    return !*end && isfinite(*out);
}

/* A file's value in the form a PATCH body carries for column c, whose checks are then
 * pd_inv_update's: CSV gives text for everything, Spoolman writes datetimes as naive UTC and its
 * database keeps booleans as 0/1. NULL with *why when the text is not of the column's type. */
static json_t *cell_json(const inv_col *c, json_t *v, const char **why)
{
    const char *s = json_string_value(v);
    bool b;
    double d;
    int64_t t;
    char iso[PD_DATE_LEN];
    if (c->type == COL_BOOL) {
        if (!given(v))
            return json_false();  /* Spoolman reads a stored null `archived` as false */
        if (json_is_boolean(v))
            return json_incref(v);
        if (json_is_integer(v) && (json_integer_value(v) == 0 || json_integer_value(v) == 1))
            return json_boolean(json_integer_value(v));
        if (s && pd_inv_bool_parse(s, &b))
            return json_boolean(b);
        *why = "Input should be a valid boolean";
        return NULL;
    }
    if (!s)
        return json_incref(v);
    if (!*s && c->type != COL_TEXT)
        return json_null();
    switch (c->type) {
    case COL_INT:
    case COL_REAL:
        if (!num_text(s, &d)) {
            *why = "Input should be a valid number";
            return NULL;
        }
        return c->type == COL_INT && d == floor(d) && fabs(d) < 9e15 ? json_integer((json_int_t)d) : json_real(d);
    case COL_TIME:
        if (!pd_date_parse(s, PD_DATE_NAIVE_UTC, &t, why))
            return NULL;
        pd_date_format(t, iso);
        return json_string(iso);
    default: return json_incref(v);
    }
}

/* Text of a file or database as a JSON string: bounded, UTF-8, no NUL. */
static json_t *text_json(const char *s, size_t n, const char **why)
{
    json_t *j = NULL;
    if (n > CELL_MAX)
        *why = CELL_TOO_BIG;
    else if (memchr(s, '\0', n))
        *why = "the value contains a NUL byte";
    else if (!(j = json_stringn(s, n)))
        *why = "the value is not UTF-8 text";
    return j;
}

/* --- import: objects ---------------------------------------------------------------------- */

static pd_err import_object(imp *im, pd_inv_entity en, json_t *row, const char *prefix, int64_t *id);

/* The field type a value without a definition gets: the one its JSON fits. */
static const char *infer_type(const json_t *v)
{
    if (json_is_string(v))
        return "text";
    if (json_is_integer(v))
        return "integer";
    if (json_is_real(v))
        return "float";
    if (json_is_boolean(v))
        return "boolean";
    if (json_array_size(v) == 2) {
        const json_t *a = json_array_get(v, 0), *b = json_array_get(v, 1);
        bool na = json_is_null(a), nb = json_is_null(b);
        if ((na || json_is_number(a)) && (nb || json_is_number(b)))
            return (na || json_is_integer(a)) && (nb || json_is_integer(b)) ? "integer_range" : "float_range";
    }
    return NULL;
}

/* An extra value as the JSON text Spoolman stores: a file's text is that JSON when it parses
 * (Spoolman's export writes it so), else a plain string; other JSON stands for itself. */
static char *extra_text(const json_t *v)
{
    const char *s = json_string_value(v);
    json_t *j = s ? json_loads(s, JSON_DECODE_ANY, NULL) : NULL;
    json_decref(j);
    return j ? strdup(s) : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

/* A key the inventory has no definition for gets one, of the type its value fits (Spoolman's
 * export carries values, not definitions): nothing of the file is dropped. */
static pd_err define_extra(imp *im, pd_inv_entity en, const char *key, const char *text, const char *prefix)
{
    char field[KEY_MAX];
    pd_inv_err ie = {0};
    json_t *list = NULL;
    pd_err rc;
    snprintf(field, sizeof field, "extra.%s", key);
    if (!im->defined[en]) {
        size_t i;
        json_t *f;
        if ((rc = pd_inv_fields_list(&im->q, en, &list)) || !(im->defined[en] = json_object())) {
            json_decref(list);
            return rc ? rc : PD_ERR_NOMEM;
        }
        json_array_foreach(list, i, f)
            if (json_object_set_new(im->defined[en], json_string_value(json_object_get(f, "key")), json_null()))
                rc = PD_ERR_NOMEM;
        json_decref(list);
        list = NULL;
        if (rc)
            return rc;
    }
    if (json_object_get(im->defined[en], key))
        return PD_OK;
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    const char *type = infer_type(v);
    json_decref(v);
    if (!type)
        return imp_fail(im, PD_ERR_INVAL, prefix, field,
                        "no extra field is defined for this key and the value fits no field type; define it first");
    json_t *body = json_pack("{s:s,s:s}", "name", key, "field_type", type);
    rc = body ? pd_inv_field_put(&im->q, en, key, body, &list, &ie) : PD_ERR_NOMEM;
    json_decref(body);
    json_decref(list);
    if (rc)
        return ie.code ? imp_fail(im, ie.code, prefix, field, ie.msg) : rc;
    return json_object_set_new(im->defined[en], key, json_null()) ? PD_ERR_NOMEM : PD_OK;
}

static pd_err import_extras(imp *im, pd_inv_entity en, json_t *row, const char *prefix, json_t *body)
{
    char head[KEY_MAX];
    size_t hl = (size_t)snprintf(head, sizeof head, "%sextra.", prefix);
    json_t *extra = NULL, *v;
    const char *k;
    pd_err rc = PD_OK;
    json_object_foreach(row, k, v) {
        if (strncmp(k, head, hl) || !given(v))
            continue;
        char *text = extra_text(v);
        rc = text ? define_extra(im, en, k + hl, text, prefix) : PD_ERR_NOMEM;
        if (!rc && !extra && (!(extra = json_object()) || json_object_set_new(body, "extra", extra)))
            rc = PD_ERR_NOMEM;
        if (!rc && json_object_set_new(extra, k + hl, json_string(text)))
            rc = PD_ERR_NOMEM;
        free(text);
        if (rc)
            break;
    }
    return rc;
}

static pd_err import_columns(imp *im, pd_inv_entity en, json_t *row, const char *prefix, json_t *body)
{
    const inv_table *t = &inv_tables[en];
    for (size_t i = 0; i < t->n; i++) {
        const inv_col *c = &t->cols[i];
        json_t *v = cell(row, prefix, c->name), *j;
        const char *why = NULL;
        if (!v || (c->flags & COL_RO) || c->type == COL_REF)
            continue;
        if (!(j = cell_json(c, v, &why)))
            return why ? imp_fail(im, PD_ERR_FIELD, prefix, c->name, why) : PD_ERR_NOMEM;
        if (json_object_set_new(body, c->name, j))
            return PD_ERR_NOMEM;
    }
    return PD_OK;
}

/* The column holding the id of what en embeds (filament.vendor_id, spool.filament_id). */
static const inv_col *ref_col(pd_inv_entity en)
{
    const inv_table *t = &inv_tables[en];
    for (size_t i = 0; i < t->n; i++)
        if (t->cols[i].type == COL_REF)
            return &t->cols[i];
    return NULL;
}

static bool any_given(json_t *row, const char *head)
{
    size_t hl = strlen(head);
    const char *k;
    json_t *v;
    json_object_foreach(row, k, v)
        if (!strncmp(k, head, hl) && given(v))
            return true;
    return false;
}

/* What the object refers to: the object its row embeds (imported first), else the id in its
 * reference column, which names an object of this import or, failing that, one already in the
 * inventory. */
static pd_err import_ref(imp *im, pd_inv_entity en, json_t *row, const char *prefix, json_t *body)
{
    const inv_col *c = ref_col(en);
    if (!c)
        return PD_OK;
    pd_inv_entity target = (pd_inv_entity)(en - 1);
    char sub[KEY_MAX], sql[64], msg[96];
    snprintf(sub, sizeof sub, "%s%s.", prefix, pd_inv_entity_name(target));
    json_t *v = cell(row, sub, "id");
    int64_t id;
    pd_err rc;
    if (given(v)) {
        if ((rc = import_object(im, target, row, sub, &id)))
            return rc;
    } else if (any_given(row, sub)) {
        return imp_fail(im, PD_ERR_FIELD, sub, "id", "Field required: an embedded object needs its id");
    } else if (!(v = cell(row, prefix, c->name))) {
        return PD_OK;
    } else if (json_is_null(v) || (json_is_string(v) && !json_string_length(v))) {
        return json_object_set_new(body, c->name, json_null()) ? PD_ERR_NOMEM : PD_OK;
    } else if (!int_of(v, &id)) {
        return imp_fail(im, PD_ERR_FIELD, prefix, c->name, "Input should be a valid integer");
    } else if (!idmap_get(&im->map[target], id, &id)) {
        pd_sqlv a = PD_SQL_I(id);
        snprintf(sql, sizeof sql, "SELECT id FROM %s WHERE id = ?", inv_tables[target].name);
        snprintf(msg, sizeof msg, "No %s with ID %lld found.", inv_tables[target].name, (long long)id);
        if ((rc = pd_db_scalar(im->q.db, sql, &a, 1, &id)))
            return rc == PD_ERR_NOTFOUND ? imp_fail(im, rc, prefix, c->name, msg) : rc;
    }
    return json_object_set_new(body, c->name, json_integer(id)) ? PD_ERR_NOMEM : PD_OK;
}

typedef enum ident { ID_FREE, ID_MATCH, ID_TAKEN } ident;

/* Whether the inventory already holds the object with source id src: ID_MATCH when the row
 * there has the same registered time and name (as far as the file gives them), as after an
 * earlier import of the same data; ID_TAKEN when that id belongs to something else. */
static pd_err identify(imp *im, pd_inv_entity en, json_t *row, const char *prefix, int64_t src, bool has_reg,
                       int64_t reg, ident *state)
{
    pd_sqlb *b = &im->sql;
    const char *name = inv_col_find(en, "name") ? json_string_value(cell(row, prefix, "name")) : NULL;
    int64_t same = 0;
    pd_sqlb_init(b);
    pd_sqlb_add(b, "SELECT CASE WHEN %d = 1", has_reg || name);
    if (has_reg) {
        pd_sqlb_add(b, " AND registered = ?");
        pd_sqlb_arg(b, PD_SQL_I(reg));
    }
    if (name) {
        pd_sqlb_add(b, " AND name = ?");
        pd_sqlb_arg(b, PD_SQL_S(name));
    }
    pd_sqlb_add(b, " THEN 1 ELSE 0 END FROM %s WHERE id = ?", inv_tables[en].name);
    pd_sqlb_arg(b, PD_SQL_I(src));
    pd_err rc = pd_sqlb_ok(b) ? pd_db_scalar(im->q.db, b->sql, b->args, b->nargs, &same) : PD_ERR_TOOBIG;
    pd_sqlb_free(b);
    *state = rc == PD_ERR_NOTFOUND ? ID_FREE : same ? ID_MATCH : ID_TAKEN;
    return rc == PD_ERR_NOTFOUND ? PD_OK : rc;
}

/* A row holding only what NOT NULL needs until pd_inv_update writes the body's values into it:
 * a placeholder per required column (the reference a real one, for its foreign key). keep_id
 * 0 lets the database choose the id. */
static pd_err insert_row(imp *im, pd_inv_entity en, json_t *body, int64_t keep_id, int64_t registered,
                         int64_t *id)
{
    const inv_table *t = &inv_tables[en];
    pd_sqlb *b = &im->sql;
    pd_err rc = keep_id ? PD_OK : seq_sync(im, en);
    if (rc)
        return rc;
    pd_sqlb_init(b);
    pd_sqlb_add(b, "INSERT INTO %s (registered", t->name);
    pd_sqlb_arg(b, PD_SQL_I(registered));
    if (keep_id) {
        pd_sqlb_add(b, ", id");
        pd_sqlb_arg(b, PD_SQL_I(keep_id));
    }
    for (size_t i = 0; i < t->n; i++) {
        const inv_col *c = &t->cols[i];
        if (!(c->flags & COL_REQ))
            continue;
        pd_sqlb_add(b, ", %s", c->name);
        pd_sqlb_arg(b, c->type == COL_REF ? PD_SQL_I(json_integer_value(json_object_get(body, c->name)))
                       : c->type == COL_TEXT ? PD_SQL_S("")
                                             : PD_SQL_D(1));
    }
    pd_sqlb_add(b, ") VALUES (?");
    for (size_t i = 1; i < b->nargs; i++)
        pd_sqlb_add(b, ", ?");
    pd_sqlb_add(b, ") RETURNING id");
    rc = pd_sqlb_ok(b) ? pd_db_insert(im->q.db, b->sql, b->args, b->nargs, id) : PD_ERR_TOOBIG;
    pd_sqlb_free(b);
    if (!rc && keep_id)
        im->seq_dirty[en] = true;
    return rc;
}

static pd_err import_body(imp *im, pd_inv_entity en, json_t *row, const char *prefix, json_t *body)
{
    pd_err rc = import_ref(im, en, row, prefix, body);
    if (!rc)
        rc = import_columns(im, en, row, prefix, body);
    if (!rc)
        rc = import_extras(im, en, row, prefix, body);
    for (size_t i = 0; i < inv_tables[en].n && !rc; i++) {
        const inv_col *c = &inv_tables[en].cols[i];
        if ((c->flags & COL_REQ) && !given(json_object_get(body, c->name)))
            rc = imp_fail(im, PD_ERR_FIELD, prefix, c->name, "Field required");
    }
    return rc;
}

/* Imports the object of entity en whose columns sit under prefix in row; *id gets its id here:
 * an earlier row's object with the same source id, a matching one already in the inventory,
 * or a new one (with the source id when the table was empty before the import). */
static pd_err import_object(imp *im, pd_inv_entity en, json_t *row, const char *prefix, int64_t *id)
{
    json_t *v = cell(row, prefix, "id"), *body = NULL;
    int64_t src = 0, reg = (int64_t)time(NULL);
    bool has_src = given(v), has_reg;
    ident state = ID_FREE;
    pd_inv_err ie = {0};
    pd_err rc;
    if (has_src && (!int_of(v, &src) || src <= 0))
        return imp_fail(im, PD_ERR_FIELD, prefix, "id", "Input should be a positive integer");
    if (has_src && idmap_get(&im->map[en], src, id))
        return PD_OK;
    v = cell(row, prefix, "registered");
    const char *why = "Input should be a valid string";
    if ((has_reg = given(v)) &&
        !(json_is_string(v) && pd_date_parse(json_string_value(v), PD_DATE_NAIVE_UTC, &reg, &why)))
        return imp_fail(im, PD_ERR_FIELD, prefix, "registered", why);
    if (has_src && (rc = identify(im, en, row, prefix, src, has_reg, reg, &state)))
        return rc;
    if (state == ID_MATCH) {
        *id = src;
        return idmap_put(&im->map[en], src, src);
    }
    if (!(body = json_object()))
        return PD_ERR_NOMEM;
    rc = import_body(im, en, row, prefix, body);
    if (!rc)
        rc = insert_row(im, en, body, im->keep_ids[en] && state == ID_FREE ? src : 0, reg, id);
    if (!rc && (rc = pd_inv_update(&im->q, en, *id, body, NULL, &ie)))
        imp_fail_from(im, &ie, prefix, "");
    json_decref(body);
    if (!rc && has_src)
        rc = idmap_put(&im->map[en], src, *id);
    if (!rc)
        im->counts.created[en]++;
    return rc;
}

/* --- import: files ---------------------------------------------------------------------------- */

/* One row of a file. Which export it comes from follows from the first row's keys (Spoolman's
 * rows all carry every column): spools embed "filament.", filaments have a density. */
static pd_err import_row(imp *im, json_t *row, size_t line)
{
    int64_t id;
    if (im->rows == PD_INV_IMPORT_MAX_ROWS)
        return pd_inv_fail(im->e, PD_ERR_TOOBIG, "body", NULL, "more than %d rows", PD_INV_IMPORT_MAX_ROWS);
    int n = snprintf(im->where, sizeof im->where, "row %zu", ++im->rows);
    if (line)
        snprintf(im->where + n, sizeof im->where - (size_t)n, " (line %zu)", line);
    if (!json_is_object(row))
        return imp_fail(im, PD_ERR_FIELD, "", "", "Input should be an object holding one row's columns");
    if (im->rows == 1)
        im->kind = json_object_get(row, "filament.id") || json_object_get(row, "filament.density") ? PD_INV_SPOOL
                   : json_object_get(row, "density")                                               ? PD_INV_FILAMENT
                                                                                                   : PD_INV_VENDOR;
    return import_object(im, im->kind, row, "", &id);
}

static pd_err import_json(imp *im, const char *data, size_t len)
{
    json_error_t jerr;
    json_t *all = json_loadb(data, len, 0, &jerr), *row;
    size_t i;
    pd_err rc = PD_OK;
    if (!all)
        return pd_inv_fail(im->e, PD_ERR_PARSE, "body", NULL, "not valid JSON: %s (line %d, column %d)", jerr.text,
                           jerr.line, jerr.column);
    if (!json_is_array(all))
        rc = pd_inv_fail(im->e, PD_ERR_PARSE, "body", NULL, "a JSON export is an array of objects, one per row");
    json_array_foreach(all, i, row) {
        if (rc)
            break;
        rc = import_row(im, row, 0);
    }
    json_decref(all);
    return rc;
}

typedef struct csv_in {
    const char *p, *end;
    size_t line;
    pd_buf cell;
} csv_in;

static bool csv_sep(const csv_in *c) { return c->p == c->end || *c->p == ',' || *c->p == '\r' || *c->p == '\n'; }

/* The cell just read: empty is null (as Spoolman writes None), the formula escape undone. */
static json_t *csv_cell(pd_buf *cell, const char **why)
{
    const char *s = pd_buf_ptr(cell);
    size_t n = pd_buf_len(cell);
    if (!n)
        return json_null();
    if (n >= 2 && s[0] == '\'' && memchr(formula_start, s[1], sizeof formula_start - 1)) {
        s++;
        n--;
    }
    return text_json(s, n, why);
}

/* The next record's cells into `cells` (RFC 4180; a bare LF also ends a record, and a quote
 * inside an unquoted field is taken as it is, as Python's reader does). */
static pd_err csv_record(csv_in *c, json_t *cells, const char **why)
{
    const char *start = c->p;
    pd_err rc = PD_OK;
    json_array_clear(cells);
    while (!rc) {
        pd_buf_reset(&c->cell);
        if (c->p < c->end && *c->p == '"') {
            for (c->p++;;) {
                const char *q = memchr(c->p, '"', (size_t)(c->end - c->p));
                if (!q) {
                    *why = "a quoted field is not closed";
                    rc = PD_ERR_PARSE;
                    break;
                }
                bool doubled = q + 1 < c->end && q[1] == '"';
                pd_buf_add(&c->cell, c->p, (size_t)(q - c->p) + doubled);  /* "" keeps one quote */
                c->p = q + 1 + doubled;
                if (!doubled)
                    break;
            }
            if (!rc && !csv_sep(c)) {
                *why = "text after a closing quote";
                rc = PD_ERR_PARSE;
            }
        } else {
            const char *s = c->p;
            while (!csv_sep(c))
                c->p++;
            pd_buf_add(&c->cell, s, (size_t)(c->p - s));
        }
        json_t *j = NULL;
        if (rc)
            break;
        if ((rc = pd_buf_err(&c->cell))) {
            if (rc == PD_ERR_TOOBIG)
                *why = CELL_TOO_BIG;
        } else if (json_array_size(cells) == MAX_COLUMNS) {
            *why = "more than " STR(MAX_COLUMNS) " fields";
            rc = PD_ERR_TOOBIG;
        } else if (!(j = csv_cell(&c->cell, why)))
            rc = PD_ERR_FIELD;
        else if (json_array_append_new(cells, j))
            rc = PD_ERR_NOMEM;
        if (rc || c->p == c->end)
            break;
        char sep = *c->p++;
        if (sep == ',')
            continue;
        if (sep == '\r' && c->p < c->end && *c->p == '\n')
            c->p++;
        break;
    }
    for (const char *nl = start; (nl = memchr(nl, '\n', (size_t)(c->p - nl))); nl++)
        c->line++;
    return rc;
}

static pd_err import_csv(imp *im, const char *data, size_t len)
{
    csv_in c = {data, data + len, 1, {0}};
    pd_buf_init(&c.cell, CELL_MAX + 1);  /* + the quote before formula-like text, dropped again */
    json_t *header = json_array(), *cells = json_array(), *row = NULL;
    const char *why = NULL;
    pd_err rc = header && cells ? PD_OK : PD_ERR_NOMEM;
    if (len >= 3 && !memcmp(data, "\xEF\xBB\xBF", 3))
        c.p += 3;  /* the byte order mark spreadsheets put first */
    if (!rc && c.p < c.end && (rc = csv_record(&c, header, &why)))
        rc = pd_inv_fail(im->e, rc == PD_ERR_NOMEM ? rc : PD_ERR_PARSE, "body", NULL, "header: %s",
                         why ? why : pd_strerror(rc));
    for (size_t i = 0; !rc && i < json_array_size(header); i++) {
        const char *name = json_string_value(json_array_get(header, i));
        for (size_t k = 0; name && k < i; k++)
            if (!strcmp(name, json_string_value(json_array_get(header, k))))
                name = NULL;
        if (!name || strlen(name) > HEADER_MAX)
            rc = pd_inv_fail(im->e, PD_ERR_PARSE, "body", NULL,
                             "header: column %zu has no name, a name used before or one over %d bytes", i + 1,
                             HEADER_MAX);
    }
    while (!rc && c.p < c.end) {
        size_t line = c.line;
        if ((rc = csv_record(&c, cells, &why))) {
            rc = pd_inv_fail(im->e, rc == PD_ERR_NOMEM ? rc : PD_ERR_PARSE, "body", NULL, "row %zu (line %zu): %s",
                        im->rows + 1, line, why ? why : pd_strerror(rc));
            break;
        }
        if (json_array_size(cells) == 1 && json_is_null(json_array_get(cells, 0)))
            continue;  /* a blank line */
        if (json_array_size(cells) != json_array_size(header)) {
            rc = pd_inv_fail(im->e, PD_ERR_PARSE, "body", NULL, "row %zu (line %zu): %zu fields where the header has %zu",
                             im->rows + 1, line, json_array_size(cells), json_array_size(header));
            break;
        }
        if (!(row = json_object()))
            rc = PD_ERR_NOMEM;
        for (size_t i = 0; !rc && i < json_array_size(cells); i++)
            if (json_object_set(row, json_string_value(json_array_get(header, i)), json_array_get(cells, i)))
                rc = PD_ERR_NOMEM;
        if (!rc)
            rc = import_row(im, row, line);
        json_decref(row);
    }
    pd_buf_free(&c.cell);
    json_decref(header);
    json_decref(cells);
    return rc;
}

pd_err pd_inv_import(pd_inv *inv, pd_inv_format fmt, const char *data, size_t len, pd_inv_import_counts *out,
                     pd_inv_err *e)
{
    imp *im;
    memset(out, 0, sizeof *out);
    memset(e, 0, sizeof *e);
    if (fmt == PD_INV_FMT_SPOOLMAN_DB)
        return pd_inv_fail(e, PD_ERR_INVAL, "query", "fmt", "a Spoolman database is imported from its file");
    pd_err rc = imp_begin(&im, inv, e);
    if (rc)
        return rc;
    rc = fmt == PD_INV_FMT_CSV ? import_csv(im, data, len) : import_json(im, data, len);
    return imp_end(im, rc, out);
}

/* --- import: a Spoolman database ------------------------------------------------------------- */

/* A Spoolman database is outside input like any file, but SQL: a view or a generated column in
 * it is a program (a view over an endless recursive CTE keeps the CPU and fills the disk), so
 * only its tables are read, from a read-only, immutable connection with the schema untrusted,
 * its sorts and temporary tables in memory under DB_HEAP_MAX, no value over DB_VALUE_MAX and
 * no more than DB_READ_MS spent in its statements. The time is what SQLite spends in the file,
 * not the wall clock: writing a large inventory may take long, while reading a real Spoolman
 * file (a few tables walked by their keys) never comes near the bound. */
#define DB_READ_MS 30000
#define DB_HEAP_MAX (256LL << 20)
#define DB_VALUE_MAX (4 * CELL_MAX)

typedef struct db_src {
    sqlite3 *db;
    int64_t spent_ms, step_at;  /* in its statements so far; when the current step began, or 0 */
} db_src;

static int db_progress(void *ud)
{
    const db_src *s = ud;
    return s->step_at && s->spent_ms + pd_clock_mono_ms() - s->step_at > DB_READ_MS;
}

static int db_step(db_src *s, sqlite3_stmt *st)
{
    s->step_at = pd_clock_mono_ms();
    int rc = sqlite3_step(st);
    s->spent_ms += pd_clock_mono_ms() - s->step_at;
    s->step_at = 0;
    return rc;
}

/* A step or a prepare on the file failed: what, in words, with the bound it hit. */
static pd_err db_read_fail(imp *im, const db_src *s, const char *what)
{
    switch (sqlite3_errcode(s->db)) {
    case SQLITE_INTERRUPT:
        return pd_inv_fail(im->e, PD_ERR_TOOBIG, NULL, NULL, "reading %s: stopped after %d s spent in the "
                           "file; a Spoolman database is read in well under a second", what, DB_READ_MS / 1000);
    case SQLITE_NOMEM:
    case SQLITE_TOOBIG:
        return pd_inv_fail(im->e, PD_ERR_TOOBIG, NULL, NULL, "reading %s: over the bound of %lld MiB of "
                           "memory, or of %d bytes in one value", what, DB_HEAP_MAX >> 20, DB_VALUE_MAX);
    default:
        return pd_inv_fail(im->e, PD_ERR_IO, NULL, NULL, "reading %s: %s", what, sqlite3_errmsg(s->db));
    }
}

/* Whether the file has a table `name` (*found). Anything else by that name is refused: reading
 * a view, a virtual table or a table's computed column runs SQL or code the file chose. */
static pd_err db_table_check(imp *im, db_src *s, const char *name, bool *found)
{
    sqlite3_stmt *st;
    pd_err rc = PD_OK;
    *found = false;
    if (sqlite3_prepare_v2(s->db, "SELECT CASE WHEN type <> 'table' THEN type "
                                  "WHEN sql LIKE 'create virtual%' THEN 'virtual table' "
                                  "WHEN (SELECT count(*) FROM pragma_table_xinfo(?1) WHERE hidden = 2) "
                                  "THEN 'table with computed columns' END "
                                  "FROM sqlite_master WHERE name = ?1 COLLATE NOCASE AND type IN ('table', 'view')",
                           -1, &st, NULL) != SQLITE_OK)
        return pd_inv_fail(im->e, PD_ERR_INVAL, NULL, NULL, "not a Spoolman database: %s", sqlite3_errmsg(s->db));
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int step = db_step(s, st);
    if (step == SQLITE_ROW) {
        const char *other = (const char *)sqlite3_column_text(st, 0);
        *found = !other;
        if (other)
            rc = pd_inv_fail(im->e, PD_ERR_INVAL, NULL, NULL, "not a Spoolman database: %s is a %s; only "
                             "tables are read", name, other);
    } else if (step != SQLITE_DONE) {
        rc = db_read_fail(im, s, "its schema");
    }
    sqlite3_finalize(st);
    return rc;
}

static json_t *db_value(sqlite3_stmt *st, int i, const char **why)
{
    double d;
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_NULL: return json_null();
    case SQLITE_INTEGER: return json_integer(sqlite3_column_int64(st, i));
    case SQLITE_FLOAT:
        if (isfinite(d = sqlite3_column_double(st, i)))
            return json_real(d);
        *why = "Input should be a finite number";
        return NULL;
    case SQLITE_TEXT:
        return text_json((const char *)sqlite3_column_text(st, i), (size_t)sqlite3_column_bytes(st, i), why);
    default: *why = "binary data where a value was expected"; return NULL;
    }
}

/* The definitions of one extra_fields_<entity> setting, merged one by one: a definition of the
 * same key already here must agree with it, as with POST /field. */
static pd_err db_fields(imp *im, pd_inv_entity en, const char *text)
{
    json_t *defs = json_loads(text, JSON_DECODE_ANY, NULL), *def, *list;
    size_t i;
    pd_err rc = json_is_array(defs) ? PD_OK : imp_fail(im, PD_ERR_INVAL, "", "value", "not a JSON array of extra fields");
    json_array_foreach(defs, i, def) {
        const char *key = json_string_value(json_object_get(def, "key"));
        pd_inv_err ie = {0};
        char field[KEY_MAX];
        if (rc)
            break;
        if (!key) {
            snprintf(field, sizeof field, "value[%zu]", i);
            rc = imp_fail(im, PD_ERR_INVAL, "", field, "an extra field without a key");
        } else if ((rc = pd_inv_field_put(&im->q, en, key, def, &list, &ie))) {
            snprintf(field, sizeof field, "value[%zu]%s%.64s", i, *ie.field ? "." : "", ie.field);
            imp_fail(im, ie.code ? ie.code : rc, "", field, ie.code ? ie.msg : pd_strerror(rc));
        } else {
            json_decref(list);
        }
    }
    json_decref(defs);
    if (!rc)
        im->counts.settings++;
    return rc;
}

/* Spoolman's settings go first, so that extra values meet their real definitions rather than
 * guessed ones. Settings printdeck keeps replace what is set; the rest are skipped. */
static pd_err db_settings(imp *im, db_src *src)
{
    static const char fields[] = "extra_fields_";
    sqlite3_stmt *st;
    bool found;
    pd_err rc = db_table_check(im, src, "setting", &found);
    int step;
    if (rc || !found)
        return rc;  /* Spoolman before 0.16 kept no settings */
    if (sqlite3_prepare_v2(src->db, "SELECT key, value FROM setting ORDER BY key", -1, &st, NULL) != SQLITE_OK)
        return db_read_fail(im, src, "settings");
    while (!rc && (step = db_step(src, st)) == SQLITE_ROW) {
        const char *key = (const char *)sqlite3_column_text(st, 0), *value = (const char *)sqlite3_column_text(st, 1);
        pd_inv_entity en;
        pd_inv_err ie = {0};
        json_t *body, *resp = NULL;
        if (!key || !value || !*value || !strcmp(value, "null"))
            continue;
        snprintf(im->where, sizeof im->where, "setting %.40s", key);
        if (!strncmp(key, fields, sizeof fields - 1) && pd_inv_entity_parse(key + sizeof fields - 1, &en)) {
            rc = db_fields(im, en, value);
        } else if (!pd_inv_setting_find(key)) {
            pd_warn("inventory", "import: Spoolman setting %s is not one printdeck keeps; skipped", key);
        } else if (!(body = json_string(value))) {
            rc = imp_fail(im, PD_ERR_INVAL, "", "value", "not UTF-8 text");
        } else {
            if ((rc = pd_inv_setting_set(&im->q, key, body, &resp, &ie)))
                imp_fail_from(im, &ie, "", "value");
            else
                im->counts.settings++;
            json_decref(body);
            json_decref(resp);
        }
    }
    if (!rc && step != SQLITE_DONE)
        rc = db_read_fail(im, src, "settings");
    sqlite3_finalize(st);
    return rc;
}

/* One source row as a file's row: its columns by name, its extra values as "extra.<key>". */
static pd_err db_row(imp *im, db_src *src, sqlite3_stmt *st, sqlite3_stmt *extra, int64_t id, json_t *row)
{
    const char *why = NULL;
    json_t *v;
    for (int i = 0; i < sqlite3_column_count(st); i++) {
        if (!(v = db_value(st, i, &why)))
            return why ? imp_fail(im, PD_ERR_FIELD, "", sqlite3_column_name(st, i), why) : PD_ERR_NOMEM;
        if (json_object_set_new(row, sqlite3_column_name(st, i), v))
            return PD_ERR_NOMEM;
    }
    if (!extra)
        return PD_OK;
    int step;
    pd_err rc = PD_OK;
    sqlite3_bind_int64(extra, 1, id);
    while (!rc && (step = db_step(src, extra)) == SQLITE_ROW) {
        char key[KEY_MAX];
        snprintf(key, sizeof key, "extra.%s", (const char *)sqlite3_column_text(extra, 0));
        if (!(v = db_value(extra, 1, &why)))
            rc = why ? imp_fail(im, PD_ERR_FIELD, "", key, why) : PD_ERR_NOMEM;
        else if (json_object_set_new(row, key, v))
            rc = PD_ERR_NOMEM;
    }
    if (!rc && step != SQLITE_DONE) {
        char what[sizeof im->where + 16];
        snprintf(what, sizeof what, "%s's extra fields", im->where);
        rc = db_read_fail(im, src, what);
    }
    sqlite3_reset(extra);
    return rc;
}

/* Every row of one Spoolman table, by id: vendors before the filaments that name them, those
 * before their spools, so each reference names an object already imported. */
static pd_err db_table(imp *im, db_src *src, pd_inv_entity en)
{
    const char *name = pd_inv_entity_name(en);
    char sql[128], fields[64];
    sqlite3_stmt *st = NULL, *extra = NULL;
    bool found, has_fields;
    pd_err rc = db_table_check(im, src, name, &found);
    int step;
    snprintf(fields, sizeof fields, "%s_field", name);
    if (!rc)
        rc = db_table_check(im, src, fields, &has_fields);  /* Spoolman before 0.16 had none */
    if (rc)
        return rc;
    if (!found)
        return pd_inv_fail(im->e, PD_ERR_INVAL, NULL, NULL, "not a Spoolman database: no table %s", name);
    snprintf(sql, sizeof sql, "SELECT * FROM %s ORDER BY id", name);
    if (sqlite3_prepare_v2(src->db, sql, -1, &st, NULL) != SQLITE_OK)
        return pd_inv_fail(im->e, PD_ERR_INVAL, NULL, NULL, "not a Spoolman database: %s", sqlite3_errmsg(src->db));
    snprintf(sql, sizeof sql, "SELECT key, value FROM %s WHERE %s_id = ? ORDER BY key", fields, name);
    if (has_fields && sqlite3_prepare_v2(src->db, sql, -1, &extra, NULL) != SQLITE_OK)
        extra = NULL;
    int idcol = 0;
    for (int i = 0; i < sqlite3_column_count(st); i++)
        if (!strcmp(sqlite3_column_name(st, i), "id"))
            idcol = i;
    while (!rc && (step = db_step(src, st)) == SQLITE_ROW) {
        json_t *row = json_object();
        int64_t src_id = sqlite3_column_int64(st, idcol), id;
        snprintf(im->where, sizeof im->where, "%s %lld", name, (long long)src_id);
        if (im->rows++ == PD_INV_IMPORT_MAX_ROWS)
            rc = pd_inv_fail(im->e, PD_ERR_TOOBIG, NULL, NULL, "more than %d rows", PD_INV_IMPORT_MAX_ROWS);
        else if (!row)
            rc = PD_ERR_NOMEM;
        else if (!(rc = db_row(im, src, st, extra, src_id, row)))
            rc = import_object(im, en, row, "", &id);
        json_decref(row);
    }
    if (!rc && step != SQLITE_DONE)
        rc = db_read_fail(im, src, name);
    sqlite3_finalize(extra);
    sqlite3_finalize(st);
    return rc;
}

/* "file:PATH?immutable=1": SQLite's URI, with the characters that would end its path escaped
 * (RFC 3986 §3.3). An absolute path gets an empty authority, so "//x" stays a path. */
static bool db_uri(const char *path, char *out, size_t n)
{
    size_t o = (size_t)snprintf(out, n, "file:%s", *path == '/' ? "//" : "");
    for (; *path && o + 4 < n; path++)
        o += strchr("%?#", *path) ? (size_t)snprintf(out + o, n - o, "%%%02X", (unsigned char)*path)
                                  : (size_t)snprintf(out + o, n - o, "%c", *path);
    return !*path && (size_t)snprintf(out + o, n - o, "?immutable=1") < n - o;
}

pd_err pd_inv_import_spoolman_db(pd_inv *inv, const char *path, pd_inv_import_counts *out, pd_inv_err *e)
{
    db_src src = {0};
    char uri[3 * 1024];
    imp *im;
    memset(out, 0, sizeof *out);
    memset(e, 0, sizeof *e);
    if (!db_uri(path, uri, sizeof uri))
        return pd_inv_fail(e, PD_ERR_TOOBIG, NULL, NULL, "the path is too long");
    /* immutable: no locks, no journal, nothing written beside the file; the file is a copy */
    if (sqlite3_open_v2(uri, &src.db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) != SQLITE_OK ||
        sqlite3_exec(src.db, "PRAGMA trusted_schema = OFF; PRAGMA temp_store = MEMORY", NULL, NULL, NULL)) {
        pd_inv_fail(e, PD_ERR_IO, NULL, NULL, "cannot open %s: %s", path, src.db ? sqlite3_errmsg(src.db) : "out of memory");
        sqlite3_close(src.db);
        return PD_ERR_IO;
    }
    sqlite3_limit(src.db, SQLITE_LIMIT_LENGTH, DB_VALUE_MAX);
    sqlite3_progress_handler(src.db, 10000, db_progress, &src);
    /* the heap limit is the process's: the CLI's import is all this process does meanwhile */
    sqlite3_int64 heap = sqlite3_hard_heap_limit64(-1);
    if (!heap || heap > DB_HEAP_MAX)
        sqlite3_hard_heap_limit64(DB_HEAP_MAX);
    pd_err rc = imp_begin(&im, inv, e);
    if (!rc) {
        rc = db_settings(im, &src);
        for (int en = 0; en < PD_INV__N && !rc; en++)
            rc = db_table(im, &src, (pd_inv_entity)en);
        rc = imp_end(im, rc, out);
    }
    sqlite3_close(src.db);
    sqlite3_hard_heap_limit64(heap);
    return rc;
}

/* --- import: a file ---------------------------------------------------------------------------- */

static bool format_of_name(const char *path, pd_inv_format *fmt)
{
    static const struct {
        const char *ext;
        pd_inv_format fmt;
    } exts[] = {{".json", PD_INV_FMT_JSON}, {".csv", PD_INV_FMT_CSV}, {".db", PD_INV_FMT_SPOOLMAN_DB},
                {".sqlite", PD_INV_FMT_SPOOLMAN_DB}, {".sqlite3", PD_INV_FMT_SPOOLMAN_DB}};
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < sizeof exts / sizeof exts[0]; i++)
        if (!strcasecmp(dot, exts[i].ext)) {
            *fmt = exts[i].fmt;
            return true;
        }
    return false;
}

pd_err pd_inv_import_file(pd_inv *inv, const char *path, const char *format, pd_inv_import_counts *out,
                          pd_inv_err *e)
{
    pd_inv_format fmt;
    struct stat sb;
    memset(out, 0, sizeof *out);
    memset(e, 0, sizeof *e);
    if (format ? !pd_inv_format_parse(format, &fmt) : !format_of_name(path, &fmt))
        return pd_inv_fail(e, PD_ERR_INVAL, NULL, "format", "%s: say --format json, csv or spoolman-db",
                           format ? "unknown format" : "the file name does not tell the format");
    if (fmt == PD_INV_FMT_SPOOLMAN_DB)
        return pd_inv_import_spoolman_db(inv, path, out, e);
    FILE *f = fopen(path, "rb");
    if (!f)
        return pd_inv_fail(e, PD_ERR_IO, NULL, NULL, "cannot open %s: %s", path, strerror(errno));
    char *data = NULL;
    pd_err rc = PD_OK;
    if (fstat(fileno(f), &sb) || !S_ISREG(sb.st_mode))
        rc = pd_inv_fail(e, PD_ERR_IO, NULL, NULL, "%s is not a regular file", path);
    else if (sb.st_size > FILE_MAX)
        rc = pd_inv_fail(e, PD_ERR_TOOBIG, NULL, NULL, "%s is over %ld bytes", path, FILE_MAX);
    else if (!(data = malloc((size_t)sb.st_size + 1)))
        rc = pd_inv_fail(e, PD_ERR_NOMEM, NULL, NULL, "out of memory");
    else if (fread(data, 1, (size_t)sb.st_size, f) != (size_t)sb.st_size)
        rc = pd_inv_fail(e, PD_ERR_IO, NULL, NULL, "cannot read %s", path);
    fclose(f);
    if (!rc)
        rc = pd_inv_import(inv, fmt, data, (size_t)sb.st_size, out, e);
    free(data);
    return rc;
}
