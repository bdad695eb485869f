/* Build-time generator: turns the HMS text table (hms_en.json) and the wiki link table
 * (wiki_links.json) into sorted C arrays for src/printer/hms.c (see hms_table.h). Rows hold
 * offsets into one string pool, not pointers: 20,000 pointers would be 20,000 relocations
 * that the dynamic loader applies at every start, ~730 KB of resident memory for tables that
 * are read a few rows at a time.
 *
 *   pd-hmsgen hms_en.json wiki_links.json out.c
 *
 * Inputs map a hex code to {"<text or path>": [model keys…]} (empty list = all models).
 * Any malformed row fails the build: a silently shorter table would only show up as
 * missing alert texts on someone's printer. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct row {
    uint64_t key;
    const char *str;       /* borrowed from the loaded JSON */
    char *models;          /* owned, "A,B" */
    size_t str_at, models_at; /* offsets in the pool */
} row;

/* Every distinct string once, each followed by its NUL; offset 0 is "". */
typedef struct pool {
    json_t *at;            /* string -> offset */
    const char **v;        /* in pool order */
    size_t n, cap, len;
} pool;

typedef struct table {
    row *v;
    size_t n, cap;
} table;

static int fail(const char *what, const char *detail)
{
    fprintf(stderr, "pd-hmsgen: %s: %s\n", what, detail);
    return -1;
}

static int parse_key(const char *s, size_t digits, uint64_t *out)
{
    if (strlen(s) != digits)
        return fail("bad code (length)", s);
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 16);
    if (errno || *end || s[0] == '-' || s[0] == '+')
        return fail("bad code (not hex)", s);
    *out = v;
    return 0;
}

/* ["H2D","H2S"] -> "H2D,H2S" */
static char *join_models(const json_t *list, const char *code)
{
    size_t len = 1, i;
    const json_t *m;
    json_array_foreach(list, i, m) {
        if (!json_is_string(m) || strchr(json_string_value(m), ',')) {
            fail("model list entry is not a plain string", code);
            return NULL;
        }
        len += json_string_length(m) + 1;
    }
    char *out = malloc(len), *p = out;
    if (!out)
        return NULL;
    *p = '\0';
    json_array_foreach(list, i, m) {
        p += sprintf(p, "%s%s", i ? "," : "", json_string_value(m));
    }
    return out;
}

static int table_add(table *t, uint64_t key, const char *str, const json_t *models,
                     const char *code)
{
    if (!json_is_array(models))
        return fail("model list is not an array", code);
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 1024;
        row *v = realloc(t->v, cap * sizeof *v);
        if (!v)
            return fail("out of memory", code);
        t->v = v;
        t->cap = cap;
    }
    char *joined = join_models(models, code);
    if (!joined)
        return -1;
    t->v[t->n++] = (row){key, str, joined, 0, 0};
    return 0;
}

/* section: {"<hex code>": {"<str>": [models]}} */
static int table_load(table *t, const json_t *section, size_t digits, const char *name)
{
    if (!json_is_object(section))
        return fail("missing section", name);
    const char *code, *str;
    const json_t *variants, *models;
    json_object_foreach((json_t *)section, code, variants) {
        uint64_t key;
        if (parse_key(code, digits, &key))
            return -1;
        if (!json_is_object(variants))
            return fail("code does not map to an object", code);
        json_object_foreach((json_t *)variants, str, models)
            if (table_add(t, key, str, models, code))
                return -1;
    }
    return 0;
}

static int row_cmp(const void *a, const void *b)
{
    const row *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    int c = strcmp(x->models, y->models);
    return c ? c : strcmp(x->str, y->str);
}

/* A C string literal; octal escapes for everything outside printable ASCII, and `?` escaped
 * because -std=c11 still honours trigraphs. */
static void put_literal(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\' || *p == '?')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20 || *p >= 0x7f)
            fprintf(f, "\\%03o", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static int pool_add(pool *p, const char *s, size_t *at)
{
    json_t *known = json_object_get(p->at, s);
    if (known) {
        *at = (size_t)json_integer_value(known);
        return 0;
    }
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 4096;
        const char **v = realloc(p->v, cap * sizeof *v);
        if (!v)
            return fail("out of memory", s);
        p->v = v;
        p->cap = cap;
    }
    size_t n = strlen(s) + 1;
    if (p->len + n > UINT32_MAX) /* rows hold 32-bit offsets */
        return fail("string pool too large", s);
    if (json_object_set_new(p->at, s, json_integer((json_int_t)p->len)))
        return fail("cannot index string", s);
    p->v[p->n++] = s;
    *at = p->len;
    p->len += n;
    return 0;
}

static int table_pool(table *t, pool *p)
{
    qsort(t->v, t->n, sizeof *t->v, row_cmp);
    for (size_t i = 0; i < t->n; i++)
        if (pool_add(p, t->v[i].str, &t->v[i].str_at) ||
            pool_add(p, t->v[i].models, &t->v[i].models_at))
            return -1;
    return 0;
}

static void pool_emit(FILE *f, const pool *p)
{
    fputs("const char pd_hms_strings[] =\n", f);
    for (size_t i = 0; i < p->n; i++) {
        fputs("    ", f);
        put_literal(f, p->v[i]);
        fputs(" \"\\0\"\n", f);
    }
    fputs(";\n\n", f);
}

static void table_emit(FILE *f, const table *t, const char *name)
{
    fprintf(f, "const pd_hms_row %s[] = {\n", name);
    for (size_t i = 0; i < t->n; i++)
        fprintf(f, "    {0x%" PRIX64 "u, %zu, %zu},\n", t->v[i].key, t->v[i].str_at,
                t->v[i].models_at);
    fprintf(f, "};\nconst size_t %s_len = %zu;\n\n", name, t->n);
}

static void table_free(table *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->v[i].models);
    free(t->v);
}

static json_t *load(const char *path)
{
    json_error_t err;
    json_t *j = json_load_file(path, 0, &err);
    if (!j)
        fprintf(stderr, "pd-hmsgen: %s:%d: %s\n", path, err.line, err.text);
    return j;
}

int main(int argc, char **argv)
{
    int rc = 1;
    json_t *hms = NULL, *wiki = NULL;
    table text = {0}, errors = {0}, links = {0};
    pool strings = {0};
    size_t empty;
    FILE *f = NULL;

    if (argc != 4) {
        fprintf(stderr, "usage: pd-hmsgen hms_en.json wiki_links.json out.c\n");
        return 2;
    }
    if (!(hms = load(argv[1])) || !(wiki = load(argv[2])))
        goto out;
    if (table_load(&text, json_object_get(hms, "device_hms"), 16, "device_hms") ||
        table_load(&errors, json_object_get(hms, "device_error"), 8, "device_error") ||
        table_load(&links, wiki, 16, "wiki_links"))
        goto out;
    if (!(strings.at = json_object()) || pool_add(&strings, "", &empty) ||
        table_pool(&text, &strings) || table_pool(&errors, &strings) ||
        table_pool(&links, &strings))
        goto out;
    /* write next to the target and rename, so an interrupted build never leaves half a file */
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", argv[3]) >= (int)sizeof tmp) {
        fail("output path too long", argv[3]);
        goto out;
    }
    if (!(f = fopen(tmp, "w"))) {
        fail(tmp, strerror(errno));
        goto out;
    }
    fprintf(f, "/* generated by tools/hmsgen from assets/bambu/hms; do not edit */\n"
               "#include \"printer/hms_table.h\"\n\n");
    pool_emit(f, &strings);
    table_emit(f, &text, "pd_hms_rows");
    table_emit(f, &errors, "pd_hms_error_rows");
    table_emit(f, &links, "pd_hms_wiki_rows");
    if (fclose(f)) {
        f = NULL;
        fail(tmp, strerror(errno));
        goto out;
    }
    f = NULL;
    if (rename(tmp, argv[3])) {
        fail(argv[3], strerror(errno));
        goto out;
    }
    rc = 0;
out:
    if (f)
        fclose(f);
    table_free(&text);
    table_free(&errors);
    table_free(&links);
    json_decref(strings.at);
    free(strings.v);
    json_decref(hms);
    json_decref(wiki);
    return rc;
}
