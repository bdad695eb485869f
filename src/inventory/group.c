/* Spool groups (GET /spool/group, Spoolman 0.26; docs/inventory.md, Grouping): the spools the
 * list's own filters find, counted per filament, vendor, material, location or spool extra
 * value in one aggregate statement. The groups are folded, sorted and paged here rather than in
 * SQL: an extra value is grouped by its decoded string (stored texts may differ in escapes), a
 * blank and a missing value are one group, NULLs sort last in both directions, and titles
 * compare by code point on SQLite and PostgreSQL alike. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inventory/entities.h"

#define GROUPS_MAX 1000000   /* at most one per spool; refused past it rather than grown */
#define SORT_KEYS 8

typedef enum gby { G_FILAMENT, G_VENDOR, G_MATERIAL, G_LOCATION, G_EXTRA } gby;

/* inner: what the spools are counted by, in one pass that a covering index can feed in order;
 * key, title: each group's from the inner row (g.k) and the filament and vendor joined to it
 * only then, once a filament rather than once a spool. A filament's vendor or material comes out
 * once per filament and is added up by fold(). */
static const struct {
    const char *name, *inner, *key, *title;
    bool filament;
} gbys[] = {
    [G_FILAMENT] = {"filament", "s.filament_id", "g.k", "f.name", true},
    [G_VENDOR] = {"vendor", "s.filament_id", "f.vendor_id", "v.name", true},
    [G_MATERIAL] = {"material", "s.filament_id", "NULLIF(f.material, '')", "NULL", true},
    [G_LOCATION] = {"location", "s.location", "NULLIF(g.k, '')", "NULL", false},
    [G_EXTRA] = {NULL, NULL, "g.k", "NULL", false},
};

typedef enum gsort { S_TITLE, S_REMAINING, S_LAST_USED, S_COUNT, S_IN_USE } gsort;
static const char *const gsort_names[] = {
    [S_TITLE] = "group.title", [S_REMAINING] = "group.total_remaining", [S_LAST_USED] = "group.last_used",
    [S_COUNT] = "group.spool_count", [S_IN_USE] = "group.in_use_count",
};

typedef struct group_sort {
    gsort field;
    bool desc;
} group_sort;

typedef struct group {
    char *key;             /* NULL: the unset group */
    char *title;           /* NULL sorts last */
    int64_t id;            /* filament or vendor groups: the key's id */
    int64_t count, in_use, last_used;
    bool used;             /* last_used is set */
    double remaining;
} group;

struct pd_inv_groups {
    pd_inv *inv;
    gby by;
    char by_name[96];      /* the echo of group_by */
    pd_sqlb *query;
    group_sort sort[SORT_KEYS];
    size_t nsort;
    int64_t limit, offset;
    group *v;
    size_t n, cap;
    pd_err rc;             /* of a row callback */
};

void pd_inv_groups_free(pd_inv_groups **gp)
{
    pd_inv_groups *g = *gp;
    if (!g)
        return;
    *gp = NULL;
    for (size_t i = 0; i < g->n; i++) {
        free(g->v[i].key);
        free(g->v[i].title);
    }
    free(g->v);
    if (g->query)
        pd_sqlb_free(g->query);
    free(g->query);
    free(g);
}

static pd_err parse_group_by(pd_inv_groups *g, const char *v, char *key_sql, size_t len, pd_inv_err *e)
{
    if (!v)
        return pd_inv_fail(e, PD_ERR_FIELD, "query", "group_by", "Field required");
    snprintf(g->by_name, sizeof g->by_name, "%s", v);
    if (!strncmp(v, "extra.", 6)) {
        g->by = G_EXTRA;
        return inv_extra_plain(g->inv, v + 6, key_sql, len, e);
    }
    for (size_t i = 0; i < G_EXTRA; i++)
        if (!strcmp(v, gbys[i].name)) {
            g->by = (gby)i;
            snprintf(key_sql, len, "%s", gbys[i].inner);
            return PD_OK;
        }
    return pd_inv_fail(e, PD_ERR_INVAL, "query", "group_by", "Invalid group_by field '%.64s'. Must be one of "
                       "['filament', 'location', 'material', 'vendor'] or 'extra.<spool extra field key>'.", v);
}

/* Unknown fields are ignored here, as in Spoolman (its lists refuse them). */
static pd_err parse_sort(pd_inv_groups *g, const char *sort, pd_inv_err *e)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", sort ? sort : "");
    for (char *item = buf, *next; item; item = next) {
        next = strchr(item, ',');
        if (next)
            *next++ = '\0';
        char *field;
        bool desc;
        pd_err rc = inv_sort_item(item, &field, &desc, e);
        if (rc)
            return rc;
        for (size_t i = 0; field && g->nsort < SORT_KEYS && i < sizeof gsort_names / sizeof *gsort_names; i++)
            if (!strcmp(field, gsort_names[i]))
                g->sort[g->nsort++] = (group_sort){(gsort)i, desc};
    }
    if (!g->nsort)
        g->sort[g->nsort++] = (group_sort){S_TITLE, false};
    return PD_OK;
}

pd_err pd_inv_groups_open(pd_inv *inv, const pd_inv_param *p, size_t n, pd_inv_groups **out,
                          pd_inv_err *e)
{
    memset(e, 0, sizeof *e);
    *out = NULL;
    pd_inv_groups *g = calloc(1, sizeof *g);
    pd_sqlb *b = malloc(sizeof *b);
    if (!g || !b || !(g->query = malloc(sizeof *g->query))) {
        free(g);
        free(b);
        return pd_inv_fail(e, PD_ERR_NOMEM, NULL, NULL, "out of memory");
    }
    g->inv = inv;
    pd_sqlb_init(b);
    pd_sqlb_init(g->query);
    char key_sql[1024];
    pd_err rc = parse_group_by(g, pd_inv_param_get(p, n, "group_by"), key_sql, sizeof key_sql, e);
    if (!rc)
        rc = parse_sort(g, pd_inv_param_get(p, n, "sort"), e);
    if (!rc)
        rc = pd_inv_paging(p, n, &g->limit, &g->offset, e);
    if (!rc)
        rc = inv_where(inv, PD_INV_SPOOL, p, n, false, b, e);
    if (!rc) {
        /* Two parts: every spool counted by the key, with the remaining weight of those that
         * have their own; then one row per spool without its own weight (the partial index
         * spool_unweighed finds them), fold() adding its remaining weight from the filament's
         * to its group. Filters too long to be written twice (the lists take up to
         * PD_SQLB_MAX_ARGS terms, and so must groups) make one part of the first, with the
         * filament's weight in each row's expression: the same groups, slower on PostgreSQL. */
        bool split = 2 * b->nargs <= PD_SQLB_MAX_ARGS && 3 * b->len < PD_SQLB_MAX_SQL;
        /* Filtered by nothing but the archived flag, the groups of a spool column add up the
         * cells of spool_sum (its triggers keep them true) rather than every spool. */
        bool sum = g->by != G_EXTRA && !b->nargs && (!b->len || !strcmp(b->sql, INV_LIVE_SQL));
        char cols[2048], own[2048];
        snprintf(cols, sizeof cols, sum ? "%s AS k, sum(s.spools) AS c, sum(s.in_use) AS u, "
                 "sum(s.own_ug) / 1000000.0 AS r, max(s.last_used) AS l" : "%s AS k, count(*) AS c, "
                 "count(CASE WHEN s.used_weight > 0 THEN 1 END) AS u, sum(%s) AS r, max(s.last_used) AS l",
                 key_sql, split ? INV_REMAINING_OWN_SQL : INV_REMAINING_SQL);
        snprintf(own, sizeof own, "%s, 0, 0, %s, NULL", key_sql, INV_REMAINING_SQL);
        pd_sqlb *q = g->query;
        pd_sqlb_add(q, "SELECT %s, %s, g.c, g.u, g.r, g.l FROM (", gbys[g->by].key, gbys[g->by].title);
        /* Joined only when read: 100,000 spools grouped by location must not look up each
         * one's filament. The filament's and vendor's extra filters read f.id and v.id inside
         * their subqueries, which the joins' own check does not look into. */
        const char *need = strstr(b->sql, "entity_id = v.id") ? " v." : strstr(b->sql, "entity_id = f.id") ? " f." : "";
        char uses[sizeof cols + 8];
        snprintf(uses, sizeof uses, "%s%s", cols, need);
        if (sum)
            pd_sqlb_add(q, "SELECT %s FROM spool_sum s WHERE 1 = 1", cols);
        else
            inv_select_cols_from(q, PD_INV_SPOOL, cols, uses);
        /* b holds the filters' " AND …". By the column itself, not NULLIF(location, ''): an index
         * on it then hands the spools over in group order, with no sort */
        pd_sqlb_add(q, "%s GROUP BY 1", b->sql);
        if (split) {
            pd_sqlb_add(q, " UNION ALL ");
            snprintf(uses, sizeof uses, "%s%s", own, need);
            inv_select_cols_from(q, PD_INV_SPOOL, own, uses);
            pd_sqlb_add(q, "%s AND s.initial_weight IS NULL", b->sql);
        }
        pd_sqlb_add(q, ") g");
        if (gbys[g->by].filament)
            pd_sqlb_add(q, " LEFT JOIN filament f ON f.id = g.k%s",
                        g->by == G_VENDOR ? " LEFT JOIN vendor v ON v.id = f.vendor_id" : "");
        for (int part = 0; part < 1 + split; part++)
            for (size_t i = 0; i < b->nargs; i++)
                pd_sqlb_arg(q, b->args[i]);
        if (!pd_sqlb_ok(b) || !pd_sqlb_ok(q))
            rc = pd_inv_fail(e, PD_ERR_TOOBIG, NULL, NULL, "Too many filter terms.");
    }
    pd_sqlb_free(b);
    free(b);
    if (rc)
        pd_inv_groups_free(&g);
    *out = g;
    return rc;
}

static pd_err group_row(const pd_row *row, void *ud)
{
    pd_inv_groups *g = ud;
    if (g->n == g->cap) {
        size_t cap = g->cap ? 2 * g->cap : 64;
        group *v = cap > GROUPS_MAX ? NULL : realloc(g->v, cap * sizeof *v);
        if (!v)
            return cap > GROUPS_MAX ? PD_ERR_TOOBIG : PD_ERR_NOMEM;
        g->v = v;
        g->cap = cap;
    }
    group *gr = &g->v[g->n];
    *gr = (group){.count = pd_row_int(row, 2), .in_use = pd_row_int(row, 3),
                  .remaining = pd_row_null(row, 4) ? 0 : pd_row_real(row, 4),
                  .used = !pd_row_null(row, 5), .last_used = pd_row_int(row, 5)};
    bool null = pd_row_null(row, 0);
    if (g->by == G_EXTRA) {
        gr->key = null ? NULL : inv_extra_decode(pd_row_text(row, 0));
    } else if (!null) {
        gr->key = strdup(pd_row_text(row, 0));
        gr->id = pd_row_int(row, 0);
        if (!gr->key)
            return PD_ERR_NOMEM;
    }
    if (g->by == G_FILAMENT || g->by == G_VENDOR) {
        if (!pd_row_null(row, 1) && !(gr->title = strdup(pd_row_text(row, 1)))) {
            free(gr->key);
            return PD_ERR_NOMEM;
        }
    } else if (gr->key && !(gr->title = strdup(gr->key))) {
        free(gr->key);
        return PD_ERR_NOMEM;
    }
    g->n++;
    return PD_OK;
}

/* NULL first, then by code point: equal keys end up side by side. */
static int key_cmp(const char *a, const char *b)
{
    return !a || !b ? (a != NULL) - (b != NULL) : strcmp(a, b);
}

static int by_key(const void *pa, const void *pb)
{
    return key_cmp(((const group *)pa)->key, ((const group *)pb)->key);
}

/* Stored extra texts with one decoded value ("A", "\u0041"), the unset spellings (no row,
 * null, ""), and the filaments of one vendor or material come from SQL as several groups: made
 * one here. */
static void fold(pd_inv_groups *g)
{
    qsort(g->v, g->n, sizeof *g->v, by_key);
    size_t w = 0;
    for (size_t i = 0; i < g->n; i++) {
        group *d = &g->v[w - (w > 0)], *s = &g->v[i];
        if (w && !key_cmp(d->key, s->key)) {
            d->count += s->count;
            d->in_use += s->in_use;
            d->remaining += s->remaining;
            if (s->used && (!d->used || s->last_used > d->last_used))
                d->last_used = s->last_used;
            d->used |= s->used;
            free(s->key);
            free(s->title);
        } else {
            g->v[w++] = *s;
        }
    }
    g->n = w;
}

/* qsort has no user pointer, and groups are sorted on a reader thread */
static _Thread_local const pd_inv_groups *tl_sorting;

static int cmp_num(double a, double b) { return (a > b) - (a < b); }

static int by_sort(const void *pa, const void *pb)
{
    const group *a = pa, *b = pb;
    const pd_inv_groups *g = tl_sorting;
    for (size_t i = 0; i < g->nsort; i++) {
        int c = 0, nulls = 0;
        switch (g->sort[i].field) {
        case S_TITLE:
            nulls = (a->title == NULL) - (b->title == NULL);
            c = a->title && b->title ? strcmp(a->title, b->title) : 0;
            break;
        case S_LAST_USED:
            nulls = !a->used - !b->used;
            c = nulls ? 0 : cmp_num((double)a->last_used, (double)b->last_used);
            break;
        case S_REMAINING: c = cmp_num(a->remaining, b->remaining); break;
        case S_COUNT: c = cmp_num((double)a->count, (double)b->count); break;
        case S_IN_USE: c = cmp_num((double)a->in_use, (double)b->in_use); break;
        }
        if (nulls)
            return nulls;  /* last in both directions */
        if (c)
            return g->sort[i].desc ? -c : c;
    }
    return key_cmp(a->key, b->key);  /* a stable order for paging */
}

pd_err pd_inv_groups_read(pd_inv_groups *g, pd_db *db)
{
    if (!g->query)
        return PD_OK;
    pd_sqlb *q = g->query;
    pd_err rc = pd_db_query(db, q->sql, q->args, q->nargs, group_row, g);
    pd_sqlb_free(q);
    free(q);
    g->query = NULL;
    if (rc)
        return rc;
    if (!g->n)
        return PD_OK;  /* qsort wants an array, even of none */
    fold(g);
    tl_sorting = g;
    qsort(g->v, g->n, sizeof *g->v, by_sort);
    tl_sorting = NULL;
    return PD_OK;
}

/* The filament or vendor objects of the page's groups, in one statement: object "id" → it. */
static pd_err embedded(pd_inv_groups *g, size_t from, size_t to, json_t **out)
{
    pd_inv_entity en = g->by == G_FILAMENT ? PD_INV_FILAMENT : PD_INV_VENDOR;
    int64_t *ids = malloc((to - from + 1) * sizeof *ids);
    size_t n = 0;
    for (size_t i = from; ids && i < to; i++)
        if (g->v[i].key)
            ids[n++] = g->v[i].id;
    json_t *items = json_array(), *map = json_object();
    pd_sqlb *b = malloc(sizeof *b);
    pd_err rc = ids && items && map && b ? PD_OK : PD_ERR_NOMEM;
    if (!rc && n) {
        pd_sqlb_init(b);
        inv_select_ids(b, en, ids, n, "");
        rc = inv_fetch(g->inv, en, b, items);
        pd_sqlb_free(b);
    }
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it) {
        char id[24];
        snprintf(id, sizeof id, "%lld", (long long)json_integer_value(json_object_get(it, "id")));
        if (!rc && json_object_set(map, id, it))
            rc = PD_ERR_NOMEM;
    }
    free(ids);
    free(b);
    json_decref(items);
    if (rc)
        json_decref(map);
    *out = rc ? NULL : map;
    return rc;
}

pd_err pd_inv_groups_render(pd_inv_groups *g, json_t **out, int64_t *total)
{
    *out = NULL;
    *total = (int64_t)g->n;
    size_t from = (size_t)(g->offset < (int64_t)g->n ? g->offset : (int64_t)g->n), to = g->n;
    if (g->limit >= 0 && (int64_t)(to - from) > g->limit)
        to = from + (size_t)g->limit;
    json_t *objs = NULL, *arr = json_array();
    pd_err rc = arr ? PD_OK : PD_ERR_NOMEM;
    if (!rc && (g->by == G_FILAMENT || g->by == G_VENDOR))
        rc = embedded(g, from, to, &objs);
    for (size_t i = from; !rc && i < to; i++) {
        const group *gr = &g->v[i];
        json_t *o = json_pack("{s:s}", "group_by", g->by_name);
        if (o && gr->key)
            json_object_set_new(o, "key", json_string(gr->key));
        if (o) {
            json_object_set_new(o, "spool_count", json_integer(gr->count));
            json_object_set_new(o, "in_use_count", json_integer(gr->in_use));
            json_object_set_new(o, "total_remaining_weight", json_real(gr->remaining));
        }
        if (o && gr->used)
            json_object_set_new(o, "last_used", pd_inv_time_json(gr->last_used));
        json_t *emb = gr->key ? json_object_get(objs, gr->key) : NULL;
        if (o && emb)
            json_object_set(o, g->by == G_FILAMENT ? "filament" : "vendor", emb);
        if (!o || json_array_append_new(arr, o))
            rc = PD_ERR_NOMEM;
    }
    json_decref(objs);
    if (rc)
        json_decref(arr);
    else
        *out = arr;
    return rc;
}
