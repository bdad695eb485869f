/* GET /search: Spoolman's cross-entity search (0.26, its spoolman/database/search.py), the box
 * of its web UI. Every whitespace-separated term must occur, ignoring case and with %, _ and /
 * literal, in one of a row's searchable fields (docs/inventory.md, Search); the SQL only finds
 * the candidates (the newest 200 a category), which are then ranked here as Spoolman ranks
 * them: by how well the worst term hit, then by id. A query that names a colour also finds the
 * filaments of that colour, and one made of digits the spool with that id. */
#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/jw.h"
#include "inventory/entities.h"

#define TERMS_MAX 8
#define CANDIDATES 200

/* Field kinds' ranks: a hit at the start of the value ranks at the base, one inside it a
 * step worse; an id or colour hit ranks above all (-1). */
enum { RANK_OWN = 0, RANK_VENDOR = 2, RANK_EXTRA = 4 };

/* What a category searches: the columns in label order (their ranks), after the row's id. */
typedef struct category {
    pd_inv_entity en;
    const char *from;       /* " FROM … WHERE 1 = 1" */
    const char *cols[5], *labels[5];
    int base[5];
    size_t ncols;
} category;

static const category categories[PD_INV__N] = {
    [PD_INV_SPOOL] = {PD_INV_SPOOL, " FROM spool s WHERE 1 = 1", {"s.comment", "s.location", "s.lot_nr"},
                      {"comment", "location", "lot_nr"}, {RANK_OWN, RANK_OWN, RANK_OWN}, 3},
    [PD_INV_FILAMENT] = {PD_INV_FILAMENT, " FROM filament f LEFT JOIN vendor v ON v.id = f.vendor_id WHERE 1 = 1",
                         {"f.name", "f.material", "f.article_number", "f.comment", "v.name"},
                         {"name", "material", "article_number", "comment", "vendor.name"},
                         {RANK_OWN, RANK_OWN, RANK_OWN, RANK_OWN, RANK_VENDOR}, 5},
    [PD_INV_VENDOR] = {PD_INV_VENDOR, " FROM vendor v WHERE 1 = 1", {"v.name", "v.comment"}, {"name", "comment"},
                       {RANK_OWN, RANK_OWN}, 2},
};

typedef struct query {
    char text[1024];                /* q trimmed */
    char buf[1024], *terms[TERMS_MAX];
    size_t nterms;
    double threshold;
    int64_t limit, per_filament;
    bool allow_archived;
    char color[8];                  /* "RRGGBB" when the query names a colour */
} query;

/* A hit: its id, rank, and the field it is reported under. */
typedef struct hit {
    int64_t id;
    int rank;
    double closeness;              /* colour hits: ΔE, their order */
    char field[80];
} hit;

typedef struct hits {
    hit *v;
    size_t n;
} hits;

/* --- the query ---------------------------------------------------------------------------- */

static pd_err bad_param(pd_inv_err *e, const char *name, const char *msg)
{
    return pd_inv_fail(e, PD_ERR_FIELD, "query", name, "%s", msg);
}

/* An integer parameter within [lo, hi] (FastAPI's 422 otherwise), def when absent. */
static pd_err int_param(const pd_inv_param *p, size_t n, const char *name, int64_t lo, int64_t hi, int64_t def,
                        int64_t *out, pd_inv_err *e)
{
    const char *v = pd_inv_param_get(p, n, name);
    char *end, msg[96];
    *out = def;
    if (!v)
        return PD_OK;
    long long x = strtoll(v, &end, 10);
    if (!*v || *end || isspace((unsigned char)*v))
        return bad_param(e, name, "Input should be a valid integer, unable to parse string as an integer");
    if (x < lo || x > hi) {
        snprintf(msg, sizeof msg, "Input should be %s than or equal to %lld", x < lo ? "greater" : "less",
                 (long long)(x < lo ? lo : hi));
        return bad_param(e, name, msg);
    }
    *out = x;
    return PD_OK;
}

/* CSS Color Level 4's named colours, sorted for bsearch. */
static const struct named {
    const char *name, *hex;
} css_colors[] = {
    {"aliceblue", "F0F8FF"}, {"antiquewhite", "FAEBD7"}, {"aqua", "00FFFF"}, {"aquamarine", "7FFFD4"},
    {"azure", "F0FFFF"}, {"beige", "F5F5DC"}, {"bisque", "FFE4C4"}, {"black", "000000"},
    {"blanchedalmond", "FFEBCD"}, {"blue", "0000FF"}, {"blueviolet", "8A2BE2"}, {"brown", "A52A2A"},
    {"burlywood", "DEB887"}, {"cadetblue", "5F9EA0"}, {"chartreuse", "7FFF00"}, {"chocolate", "D2691E"},
    {"coral", "FF7F50"}, {"cornflowerblue", "6495ED"}, {"cornsilk", "FFF8DC"}, {"crimson", "DC143C"},
    {"cyan", "00FFFF"}, {"darkblue", "00008B"}, {"darkcyan", "008B8B"}, {"darkgoldenrod", "B8860B"},
    {"darkgray", "A9A9A9"}, {"darkgreen", "006400"}, {"darkgrey", "A9A9A9"}, {"darkkhaki", "BDB76B"},
    {"darkmagenta", "8B008B"}, {"darkolivegreen", "556B2F"}, {"darkorange", "FF8C00"}, {"darkorchid", "9932CC"},
    {"darkred", "8B0000"}, {"darksalmon", "E9967A"}, {"darkseagreen", "8FBC8F"}, {"darkslateblue", "483D8B"},
    {"darkslategray", "2F4F4F"}, {"darkslategrey", "2F4F4F"}, {"darkturquoise", "00CED1"},
    {"darkviolet", "9400D3"}, {"deeppink", "FF1493"}, {"deepskyblue", "00BFFF"}, {"dimgray", "696969"},
    {"dimgrey", "696969"}, {"dodgerblue", "1E90FF"}, {"firebrick", "B22222"}, {"floralwhite", "FFFAF0"},
    {"forestgreen", "228B22"}, {"fuchsia", "FF00FF"}, {"gainsboro", "DCDCDC"}, {"ghostwhite", "F8F8FF"},
    {"gold", "FFD700"}, {"goldenrod", "DAA520"}, {"gray", "808080"}, {"green", "008000"},
    {"greenyellow", "ADFF2F"}, {"grey", "808080"}, {"honeydew", "F0FFF0"}, {"hotpink", "FF69B4"},
    {"indianred", "CD5C5C"}, {"indigo", "4B0082"}, {"ivory", "FFFFF0"}, {"khaki", "F0E68C"},
    {"lavender", "E6E6FA"}, {"lavenderblush", "FFF0F5"}, {"lawngreen", "7CFC00"}, {"lemonchiffon", "FFFACD"},
    {"lightblue", "ADD8E6"}, {"lightcoral", "F08080"}, {"lightcyan", "E0FFFF"},
    {"lightgoldenrodyellow", "FAFAD2"}, {"lightgray", "D3D3D3"}, {"lightgreen", "90EE90"},
    {"lightgrey", "D3D3D3"}, {"lightpink", "FFB6C1"}, {"lightsalmon", "FFA07A"}, {"lightseagreen", "20B2AA"},
    {"lightskyblue", "87CEFA"}, {"lightslategray", "778899"}, {"lightslategrey", "778899"},
    {"lightsteelblue", "B0C4DE"}, {"lightyellow", "FFFFE0"}, {"lime", "00FF00"}, {"limegreen", "32CD32"},
    {"linen", "FAF0E6"}, {"magenta", "FF00FF"}, {"maroon", "800000"}, {"mediumaquamarine", "66CDAA"},
    {"mediumblue", "0000CD"}, {"mediumorchid", "BA55D3"}, {"mediumpurple", "9370DB"},
    {"mediumseagreen", "3CB371"}, {"mediumslateblue", "7B68EE"}, {"mediumspringgreen", "00FA9A"},
    {"mediumturquoise", "48D1CC"}, {"mediumvioletred", "C71585"}, {"midnightblue", "191970"},
    {"mintcream", "F5FFFA"}, {"mistyrose", "FFE4E1"}, {"moccasin", "FFE4B5"}, {"navajowhite", "FFDEAD"},
    {"navy", "000080"}, {"oldlace", "FDF5E6"}, {"olive", "808000"}, {"olivedrab", "6B8E23"},
    {"orange", "FFA500"}, {"orangered", "FF4500"}, {"orchid", "DA70D6"}, {"palegoldenrod", "EEE8AA"},
    {"palegreen", "98FB98"}, {"paleturquoise", "AFEEEE"}, {"palevioletred", "DB7093"}, {"papayawhip", "FFEFD5"},
    {"peachpuff", "FFDAB9"}, {"peru", "CD853F"}, {"pink", "FFC0CB"}, {"plum", "DDA0DD"},
    {"powderblue", "B0E0E6"}, {"purple", "800080"}, {"rebeccapurple", "663399"}, {"red", "FF0000"},
    {"rosybrown", "BC8F8F"}, {"royalblue", "4169E1"}, {"saddlebrown", "8B4513"}, {"salmon", "FA8072"},
    {"sandybrown", "F4A460"}, {"seagreen", "2E8B57"}, {"seashell", "FFF5EE"}, {"sienna", "A0522D"},
    {"silver", "C0C0C0"}, {"skyblue", "87CEEB"}, {"slateblue", "6A5ACD"}, {"slategray", "708090"},
    {"slategrey", "708090"}, {"snow", "FFFAFA"}, {"springgreen", "00FF7F"}, {"steelblue", "4682B4"},
    {"tan", "D2B48C"}, {"teal", "008080"}, {"thistle", "D8BFD8"}, {"tomato", "FF6347"},
    {"turquoise", "40E0D0"}, {"violet", "EE82EE"}, {"wheat", "F5DEB3"}, {"white", "FFFFFF"},
    {"whitesmoke", "F5F5F5"}, {"yellow", "FFFF00"}, {"yellowgreen", "9ACD32"},
};

static int named_cmp(const void *key, const void *el)
{
    return strcmp(key, ((const struct named *)el)->name);
}

/* The whole query, lower-cased and with every space removed, as a colour: 3 or 6 hex digits
 * with an optional '#', or a CSS name ("light blue" is one). */
static bool query_color(const char *text, char out[8])
{
    char c[64];
    size_t n = 0;
    for (const char *p = text; *p; p++)
        if (*p != ' ' && n < sizeof c - 1)
            c[n++] = (char)tolower((unsigned char)*p);
        else if (*p != ' ')
            return false;
    c[n] = '\0';
    const char *h = c + (c[0] == '#');
    size_t hl = strlen(h);
    if ((hl == 3 || hl == 6) && strspn(h, "0123456789abcdef") == hl) {
        for (size_t i = 0; i < 6; i++)
            out[i] = (char)toupper((unsigned char)h[hl == 3 ? i / 2 : i]);
        out[6] = '\0';
        return true;
    }
    const struct named *m = bsearch(c, css_colors, sizeof css_colors / sizeof css_colors[0], sizeof css_colors[0],
                                    named_cmp);
    if (m)
        snprintf(out, 8, "%s", m->hex);
    return m != NULL;
}

static pd_err parse_query(const pd_inv_param *p, size_t n, query *q, pd_inv_err *e)
{
    const char *v = pd_inv_param_get(p, n, "q"), *th = pd_inv_param_get(p, n, "color_similarity_threshold");
    if (!v)
        return bad_param(e, "q", "Field required");
    if (!*v)
        return bad_param(e, "q", "String should have at least 1 character");
    pd_err rc;
    if ((rc = int_param(p, n, "limit", 1, 100, 20, &q->limit, e)) ||
        (rc = int_param(p, n, "spools_per_filament", 0, 10, 0, &q->per_filament, e)))
        return rc;
    const char *aa = pd_inv_param_get(p, n, "allow_archived");
    q->allow_archived = false;
    if (aa && !pd_inv_bool_parse(aa, &q->allow_archived))
        return bad_param(e, "allow_archived", "Input should be a valid boolean, unable to interpret input");
    q->threshold = 20;
    if (th) {
        char *end;
        q->threshold = strtod(th, &end);
        if (!*th || *end || isnan(q->threshold))
            return bad_param(e, "color_similarity_threshold",
                             "Input should be a valid number, unable to parse string as a number");
        if (q->threshold < 0 || q->threshold > 100)
            return bad_param(e, "color_similarity_threshold", q->threshold < 0
                             ? "Input should be greater than or equal to 0" : "Input should be less than or equal to 100");
    }
    while (isspace((unsigned char)*v))
        v++;
    size_t len = strlen(v);
    while (len && isspace((unsigned char)v[len - 1]))
        len--;
    if (len >= sizeof q->text)
        return pd_inv_fail(e, PD_ERR_INVAL, "query", "q", "The search is too long.");
    snprintf(q->text, sizeof q->text, "%.*s", (int)len, v);
    for (size_t i = 0; i <= len; i++)
        q->buf[i] = (char)tolower((unsigned char)q->text[i]);
    q->nterms = 0;
    for (char *save, *t = strtok_r(q->buf, " \t\n\r\f\v", &save); t && q->nterms < TERMS_MAX;
         t = strtok_r(NULL, " \t\n\r\f\v", &save)) {
        bool dup = false;
        for (size_t i = 0; i < q->nterms && !dup; i++)
            dup = !strcmp(q->terms[i], t);
        if (!dup)
            q->terms[q->nterms++] = t;
    }
    if (!q->nterms || !query_color(q->text, q->color))
        q->color[0] = '\0';
    return PD_OK;
}

/* --- ranking ------------------------------------------------------------------------------ */

/* A row's searchable fields: label, value (may be NULL), base rank. */
typedef struct field {
    const char *label, *value;
    int base;
} field;

/* Spoolman's _classify_match: every term must hit a field. The row ranks as its worst term's
 * best hit, and is reported under the single best hit of all (the earlier field, then the
 * earlier term, on a tie). False when a term hits nothing. */
static bool classify(const query *q, const field *f, size_t nf, hit *h)
{
    int best = INT_MAX, worst = -1;
    const char *label = NULL;
    for (size_t t = 0; t < q->nterms; t++) {
        int tb = INT_MAX;
        const char *tl = NULL;
        for (size_t i = 0; i < nf; i++) {
            const char *at = f[i].value && *f[i].value ? strcasestr(f[i].value, q->terms[t]) : NULL;
            int r = at ? f[i].base + (at != f[i].value) : INT_MAX;
            if (r < tb) {
                tb = r;
                tl = f[i].label;
            }
        }
        if (!tl)
            return false;
        if (tb > worst)
            worst = tb;
        if (tb < best) {
            best = tb;
            label = tl;
        }
    }
    h->rank = worst;
    snprintf(h->field, sizeof h->field, "%s", label);
    return true;
}

static int hit_cmp(const void *pa, const void *pb)
{
    const hit *a = pa, *b = pb;
    if (a->rank != b->rank)
        return a->rank < b->rank ? -1 : 1;
    if (a->closeness != b->closeness)
        return a->closeness < b->closeness ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

static pd_err hits_add(hits *hs, const hit *h)
{
    hit *v = realloc(hs->v, (hs->n + 1) * sizeof *v);
    if (!v)
        return PD_ERR_NOMEM;
    hs->v = v;
    hs->v[hs->n++] = *h;
    return PD_OK;
}

/* Sorts hs (its first `keep` hits stay first, in their order) and cuts it to limit. */
static void rank_cut(hits *hs, size_t keep, int64_t limit)
{
    if (hs->n > keep)
        qsort(hs->v + keep, hs->n - keep, sizeof *hs->v, hit_cmp);
    if (hs->n > (size_t)limit)
        hs->n = (size_t)limit;
}

/* --- text hits ---------------------------------------------------------------------------- */

typedef struct candidates {
    const category *cat;
    json_t *rows;       /* [[id, value…]] newest first */
} candidates;

static pd_err collect_candidate(const pd_row *row, void *ud)
{
    candidates *c = ud;
    json_t *r = json_array();
    if (!r || json_array_append_new(c->rows, r))
        return PD_ERR_NOMEM;
    json_array_append_new(r, json_integer(pd_row_int(row, 0)));
    for (size_t i = 0; i < c->cat->ncols; i++)
        json_array_append_new(r, pd_row_null(row, 1 + (int)i) ? json_null() : json_string(pd_row_text(row, 1 + (int)i)));
    return json_array_size(r) == 1 + c->cat->ncols ? PD_OK : PD_ERR_NOMEM;
}

/* " AND key IN ('a', 'b')" over keys, which matched ^[a-z0-9_]+$ as definitions. */
static void keys_in(pd_sqlb *b, const json_t *keys)
{
    size_t i;
    json_t *k;
    pd_sqlb_add(b, " AND key IN (");
    json_array_foreach(keys, i, k)
        pd_sqlb_add(b, "%s'%s'", i ? ", " : "", json_string_value(k));
    pd_sqlb_add(b, ")");
}

/* The newest CANDIDATES rows that every term occurs in somewhere, ranked into hs. */
static pd_err text_hits(pd_inv *inv, const query *q, const category *cat, hits *hs)
{
    const char *alias = inv_tables[cat->en].alias, *ename = pd_inv_entity_name(cat->en);
    json_t *keys = NULL, *values = NULL;
    candidates c = {cat, json_array()};
    pd_sqlb *b = malloc(sizeof *b);
    pd_err rc = b && c.rows ? inv_extra_text_keys(inv, cat->en, &keys) : PD_ERR_NOMEM;
    if (rc)
        goto out;
    pd_sqlb_init(b);
    pd_sqlb_add(b, "SELECT %s.id", alias);
    for (size_t i = 0; i < cat->ncols; i++)
        pd_sqlb_add(b, ", %s", cat->cols[i]);
    pd_sqlb_add(b, "%s", cat->from);
    if (cat->en == PD_INV_SPOOL && !q->allow_archived)
        pd_sqlb_add(b, INV_LIVE_SQL);
    /* The index holds the spool's own columns: a word may also hit an extra value */
    if (cat->en == PD_INV_SPOOL && !json_array_size(keys))
        rc = pd_sqlb_spool_text(b, inv->db, q->terms, q->nterms);
    for (size_t t = 0; !rc && t < q->nterms; t++) {
        pd_sqlb_add(b, " AND (");
        for (size_t i = 0; i < cat->ncols; i++) {
            pd_sqlb_add(b, "%s", i ? " OR " : "");
            pd_sqlb_contains_literal(b, inv->db, cat->cols[i], q->terms[t]);
        }
        if (json_array_size(keys)) {
            pd_sqlb_add(b, " OR EXISTS (SELECT 1 FROM extra WHERE entity = '%s' AND entity_id = %s.id", ename, alias);
            keys_in(b, keys);
            pd_sqlb_add(b, " AND ");
            pd_sqlb_contains_literal(b, inv->db, "value", q->terms[t]);
            pd_sqlb_add(b, ")");
        }
        pd_sqlb_add(b, ")");
    }
    pd_sqlb_add(b, " ORDER BY %s.id DESC LIMIT %d", alias, CANDIDATES);
    if (!rc)
        rc = pd_sqlb_ok(b) ? pd_db_query(inv->db, b->sql, b->args, b->nargs, collect_candidate, &c) : PD_ERR_TOOBIG;
    pd_sqlb_free(b);
    if (rc || !json_array_size(c.rows))
        goto out;

    /* the candidates' searchable extra values */
    if (json_array_size(keys)) {
        pd_sqlb_init(b);
        pd_sqlb_add(b, "SELECT entity_id, key, value FROM extra WHERE entity = '%s' AND entity_id IN (", ename);
        size_t i;
        json_t *r;
        json_array_foreach(c.rows, i, r)
            pd_sqlb_add(b, "%s%lld", i ? ", " : "", (long long)json_integer_value(json_array_get(r, 0)));
        pd_sqlb_add(b, ")");
        keys_in(b, keys);
        values = json_object();
        rc = !values ? PD_ERR_NOMEM
             : pd_sqlb_ok(b) ? pd_db_query(inv->db, b->sql, b->args, b->nargs, inv_extra_collect, values) : PD_ERR_TOOBIG;
        pd_sqlb_free(b);
    }
    size_t nk = json_array_size(keys), i;
    field *f = rc ? NULL : malloc((cat->ncols + nk) * sizeof *f);
    char (*labels)[80] = f ? malloc((nk ? nk : 1) * sizeof *labels) : NULL;
    if (!rc && (!f || !labels))
        rc = PD_ERR_NOMEM;
    json_t *r;
    json_array_foreach(c.rows, i, r) {
        if (rc)
            break;
        hit h = {.id = json_integer_value(json_array_get(r, 0))};
        char id[24];
        snprintf(id, sizeof id, "%lld", (long long)h.id);
        json_t *own = json_object_get(values, id);
        size_t nf = 0;
        for (size_t k = 0; k < cat->ncols; k++)
            f[nf++] = (field){cat->labels[k], json_string_value(json_array_get(r, 1 + k)), cat->base[k]};
        for (size_t k = 0; k < nk; k++) {
            const char *key = json_string_value(json_array_get(keys, k));
            snprintf(labels[k], sizeof labels[k], "extra.%s", key);
            f[nf++] = (field){labels[k], json_string_value(json_object_get(own, key)), RANK_EXTRA};
        }
        if (classify(q, f, nf, &h))
            rc = hits_add(hs, &h);
    }
    free(f);
    free(labels);
out:
    free(b);
    json_decref(keys);
    json_decref(values);
    json_decref(c.rows);
    return rc;
}

/* --- colour hits -------------------------------------------------------------------------- */

typedef struct color_ctx {
    const query *q;
    hits *hs;
} color_ctx;

static pd_err color_row(const pd_row *row, void *ud)
{
    color_ctx *c = ud;
    double d = pd_inv_filament_color_distance(pd_row_null(row, 1) ? NULL : pd_row_text(row, 1),
                                              pd_row_null(row, 2) ? NULL : pd_row_text(row, 2), c->q->color);
    if (d < 0 || d > c->q->threshold)
        return PD_OK;
    hit h = {.id = pd_row_int(row, 0), .rank = -1, .closeness = d, .field = "color"};
    return hits_add(c->hs, &h);
}

/* The filaments within the threshold of the query's colour, nearest first, cut to limit. */
static pd_err color_hits(pd_inv *inv, const query *q, hits *hs)
{
    color_ctx c = {q, hs};
    pd_err rc = pd_db_query(inv->db, "SELECT id, color_hex, multi_color_hexes FROM filament "
                                     "WHERE color_hex IS NOT NULL OR multi_color_hexes IS NOT NULL",
                            NULL, 0, color_row, &c);
    rank_cut(hs, 0, q->limit);
    return rc;
}

/* --- the reply ---------------------------------------------------------------------------- */

/* The objects of the hits, in their order, as {"<name>": object, "match_field": field}. */
static pd_err render(pd_inv *inv, pd_inv_entity en, const hits *hs, json_t *out)
{
    if (!hs->n)
        return PD_OK;
    int64_t *ids = malloc(hs->n * sizeof *ids);
    pd_sqlb *b = malloc(sizeof *b);
    json_t *items = json_array(), *byid = json_object();
    pd_err rc = ids && b && items && byid ? PD_OK : PD_ERR_NOMEM;
    for (size_t i = 0; !rc && i < hs->n; i++)
        ids[i] = hs->v[i].id;
    if (!rc) {
        pd_sqlb_init(b);
        inv_select_ids(b, en, ids, hs->n, "");
        rc = inv_fetch(inv, en, b, items);
        pd_sqlb_free(b);
    }
    size_t i;
    json_t *it;
    char id[24];
    json_array_foreach(items, i, it) {
        snprintf(id, sizeof id, "%" JSON_INTEGER_FORMAT, json_integer_value(json_object_get(it, "id")));
        json_object_set(byid, id, it);
    }
    for (i = 0; !rc && i < hs->n; i++) {
        snprintf(id, sizeof id, "%lld", (long long)hs->v[i].id);
        json_t *obj = json_object_get(byid, id);  /* a row deleted meanwhile is left out */
        if (obj && json_array_append_new(out, json_pack("{sOss}", pd_inv_entity_name(en), obj, "match_field",
                                                        hs->v[i].field)))
            rc = PD_ERR_NOMEM;
    }
    free(ids);
    free(b);
    json_decref(items);
    json_decref(byid);
    return rc;
}

typedef struct compact_ctx {
    json_t *byid;     /* filament id → its hit object */
} compact_ctx;

static pd_err compact_row(const pd_row *row, void *ud)
{
    compact_ctx *c = ud;
    char id[24];
    snprintf(id, sizeof id, "%lld", (long long)pd_row_int(row, 0));
    json_t *h = json_object_get(c->byid, id);
    if (!h)
        return PD_OK;
    if (!pd_row_null(row, 7))
        json_object_set_new(h, "spool_count", json_integer(pd_row_int(row, 7)));
    if (pd_row_null(row, 1))
        return PD_OK;  /* the filament's count */
    json_t *s = json_pack("{sI}", "id", (json_int_t)pd_row_int(row, 1));
    double used = pd_row_real(row, 3);
    int full = !pd_row_null(row, 2) ? 2 : !pd_row_null(row, 6) ? 6 : 0;
    if (s && full)
        json_object_set_new(s, "remaining_weight", json_real(fmax(pd_row_real(row, full) - used, 0)));
    if (s && !pd_row_null(row, 4))
        json_object_set_new(s, "location", json_string(pd_row_text(row, 4)));
    if (s)
        json_object_set_new(s, "archived", json_boolean(!pd_row_null(row, 5) && pd_row_int(row, 5)));
    return s && !json_array_append_new(json_object_get(h, "spools"), s) ? PD_OK : PD_ERR_NOMEM;
}

/* Each filament hit's first spools by id and how many it has (archived ones only when the
 * search allows them), in one statement: per filament a row with its count, then a row per
 * first spool. Both are read from the (filament_id, archived, id) index alone, so a filament
 * with 50,000 spools is neither sorted nor numbered whole, and counted once rather than once
 * per spool shown. */
static pd_err attach_spools(pd_inv *inv, const query *q, json_t *filaments)
{
    compact_ctx c = {json_object()};
    pd_sqlb *b = malloc(sizeof *b);
    pd_err rc = c.byid && b ? PD_OK : PD_ERR_NOMEM;
    size_t i;
    json_t *h;
    if (!rc) {
        pd_sqlb_init(b);
        pd_sqlb_add(b, "WITH h AS (SELECT id, weight FROM filament WHERE id IN (0");
    }
    json_array_foreach(filaments, i, h) {
        char id[24];
        json_int_t fid = json_integer_value(json_object_get(json_object_get(h, "filament"), "id"));
        snprintf(id, sizeof id, "%" JSON_INTEGER_FORMAT, fid);
        if (!rc && (json_object_set_new(h, "spools", json_array()) || json_object_set_new(h, "spool_count", json_integer(0)) ||
                    json_object_set(c.byid, id, h)))
            rc = PD_ERR_NOMEM;
        if (!rc)
            pd_sqlb_add(b, ", %s", id);
    }
    if (!rc) {
        const char *live = q->allow_archived ? "" : " AND t.archived = 0";
        pd_sqlb_add(b, ")) SELECT h.id, NULL, NULL, NULL, NULL, NULL, NULL, "
                       "(SELECT count(*) FROM spool t WHERE t.filament_id = h.id%s) FROM h "
                       "UNION ALL SELECT h.id, s.id, s.initial_weight, s.used_weight, s.location, s.archived, h.weight, "
                       "NULL FROM h JOIN spool s ON s.id IN (SELECT t.id FROM spool t WHERE t.filament_id = h.id%s "
                       "ORDER BY t.id LIMIT %lld) ORDER BY 1, 2", live, live, (long long)q->per_filament);
        rc = pd_sqlb_ok(b) ? pd_db_query(inv->db, b->sql, b->args, b->nargs, compact_row, &c) : PD_ERR_TOOBIG;
        pd_sqlb_free(b);
    }
    free(b);
    json_decref(c.byid);
    return rc;
}

/* The numeric id shortcut: the visible spool with that id goes first, as "id". */
static pd_err id_hit(pd_inv *inv, const query *q, hits *hs)
{
    size_t len = strlen(q->text);
    if (!len || len > 18 || strspn(q->text, "0123456789") != len)
        return PD_OK;
    int64_t id = strtoll(q->text, NULL, 10), found = 0;
    pd_sqlv args[] = {PD_SQL_I(id)};
    pd_err rc = pd_db_scalar(inv->db, q->allow_archived ? "SELECT count(*) FROM spool WHERE id = ?"
                                                        : "SELECT count(*) FROM spool WHERE id = ? AND archived = 0",
                             args, 1, &found);
    if (rc || !found)
        return rc;
    size_t k = 0;
    for (size_t i = 0; i < hs->n; i++)
        if (hs->v[i].id != id)
            hs->v[k++] = hs->v[i];
    hs->n = k;
    hit h = {.id = id, .rank = -1, .field = "id"};
    if ((rc = hits_add(hs, &h)))
        return rc;
    memmove(hs->v + 1, hs->v, (hs->n - 1) * sizeof *hs->v);
    hs->v[0] = h;
    if (hs->n > (size_t)q->limit)
        hs->n = (size_t)q->limit;
    return PD_OK;
}

pd_err pd_inv_search(pd_inv *inv, const pd_inv_param *p, size_t n, json_t **out, pd_inv_err *e)
{
    query *q = malloc(sizeof *q);
    hits hs[PD_INV__N] = {{0}};
    json_t *res = json_pack("{s[]s[]s[]sb}", "spools", "filaments", "vendors", "is_color_query", 0);
    pd_err rc = q && res ? parse_query(p, n, q, e) : pd_inv_fail(e, PD_ERR_NOMEM, NULL, NULL, "out of memory");
    if (rc)
        goto out;
    json_object_set_new(res, "is_color_query", json_boolean(q->color[0]));
    if (!q->nterms)
        goto out;
    if (q->color[0])
        rc = color_hits(inv, q, &hs[PD_INV_FILAMENT]);
    size_t colors = hs[PD_INV_FILAMENT].n;
    for (int en = 0; en < PD_INV__N && !rc; en++) {
        size_t before = hs[en].n;
        rc = text_hits(inv, q, &categories[en], &hs[en]);
        /* a filament both of the colour and of the words is reported once, as "color" */
        size_t k = before;
        for (size_t i = before; i < hs[en].n; i++) {
            bool dup = false;
            for (size_t j = 0; j < colors && en == PD_INV_FILAMENT && !dup; j++)
                dup = hs[en].v[j].id == hs[en].v[i].id;
            if (!dup)
                hs[en].v[k++] = hs[en].v[i];
        }
        hs[en].n = k;
        rank_cut(&hs[en], en == PD_INV_FILAMENT ? colors : 0, q->limit);
    }
    if (!rc)
        rc = id_hit(inv, q, &hs[PD_INV_SPOOL]);
    static const char *const lists[PD_INV__N] = {"vendors", "filaments", "spools"};
    for (int en = PD_INV__N - 1; en >= 0 && !rc; en--)
        rc = render(inv, (pd_inv_entity)en, &hs[en], json_object_get(res, lists[en]));
    if (!rc && q->per_filament)
        rc = attach_spools(inv, q, json_object_get(res, "filaments"));
    if (rc)
        pd_inv_fail(e, rc, NULL, NULL, "%s", pd_strerror(rc));
out:
    for (int en = 0; en < PD_INV__N; en++)
        free(hs[en].v);
    free(q);
    if (rc)
        json_decref(res);
    else
        *out = res;
    return rc;
}
