/* libFuzzer target for inventory request bodies and list queries (a spool list with group_by is
 * GET /spool/group's): the first byte picks the
 * entity and whether the rest is a create, an update, a use or a measure (the body as a client
 * would send it), a list (a query string, `name=value&…`, as the router hands it over), a
 * date (core/date.c, the parser of every date the inventory reads; the entity picks its
 * flags) or a search (GET /search's query string). One SQLite database (in a temporary
 * directory) with a vendor, a filament and a spool in it, and an extra field of every type,
 * so updates, references and typed filters hit real rows, made anew every RESET_EVERY inputs: every
 * create adds rows, and a database that only grows slowed a long run from 4,000 inputs a
 * second to under 300. Whatever the
 * input, the call must answer OK or an error with a message, and never leave a transaction
 * open. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "inventory/inventory.h"

#define FUZZ_MAX_INPUT (64 * 1024)
#define RESET_EVERY 5000

static pd_db *db;
static pd_inv inv;
static char dir[32];

static void seed(const char *en_name, const char *body)
{
    pd_inv_entity en;
    pd_inv_err e;
    json_t *b = json_loads(body, 0, NULL), *out = NULL;
    if (pd_inv_entity_parse(en_name, &en) && b)
        pd_inv_create(&inv, en, b, &out, &e);
    json_decref(out);
    json_decref(b);
}

/* Closes the database there is (its directory removed) and opens a new one with the seeds. */
static void fresh_db(void)
{
    static const char *const files[] = {"printdeck.db", "printdeck.db-wal", "printdeck.db-shm"};
    char err[256] = "", path[64];
    if (db) {
        pd_db_close(&db);
        for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
            snprintf(path, sizeof path, "%s/%s", dir, files[i]);
            unlink(path);
        }
        rmdir(dir);
    }
    snprintf(dir, sizeof dir, "/tmp/pd-fuzz-inv-XXXXXX");
    if (!mkdtemp(dir) || pd_db_open(&db, "", dir, err, sizeof err)) {
        fprintf(stderr, "fuzz_inventory: cannot open a database: %s\n", err);
        abort();
    }
    inv = (pd_inv){.db = db};
    seed("vendor", "{\"name\":\"V\",\"empty_spool_weight\":200}");
    seed("filament", "{\"vendor_id\":1,\"density\":1.24,\"diameter\":1.75,\"weight\":1000}");
    static const struct {
        pd_inv_entity en;
        const char *key, *def;
    } fields[] = {
        {PD_INV_SPOOL, "text", "{\"name\":\"t\",\"field_type\":\"text\"}"},
        {PD_INV_SPOOL, "int", "{\"name\":\"i\",\"field_type\":\"integer\"}"},
        {PD_INV_SPOOL, "float", "{\"name\":\"f\",\"field_type\":\"float\"}"},
        {PD_INV_SPOOL, "irange", "{\"name\":\"r\",\"field_type\":\"integer_range\"}"},
        {PD_INV_SPOOL, "frange", "{\"name\":\"r\",\"field_type\":\"float_range\"}"},
        {PD_INV_SPOOL, "when", "{\"name\":\"w\",\"field_type\":\"datetime\"}"},
        {PD_INV_SPOOL, "ok", "{\"name\":\"b\",\"field_type\":\"boolean\"}"},
        {PD_INV_SPOOL, "tags", "{\"name\":\"c\",\"field_type\":\"choice\",\"multi_choice\":true,"
                               "\"choices\":[\"Red\",\"50%\"]}"},
        {PD_INV_FILAMENT, "grade", "{\"name\":\"g\",\"field_type\":\"choice\",\"multi_choice\":false,"
                                   "\"choices\":[\"Premium\"]}"},
        {PD_INV_VENDOR, "region", "{\"name\":\"r\",\"field_type\":\"text\"}"},
    };
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
        pd_inv_err e;
        json_t *b = json_loads(fields[i].def, 0, NULL), *out = NULL;
        if (!b || pd_inv_field_put(&inv, fields[i].en, fields[i].key, b, &out, &e))
            abort();
        json_decref(out);
        json_decref(b);
    }
    seed("spool", "{\"filament_id\":1,\"remaining_weight\":500}");
    seed("spool", "{\"filament_id\":1,\"location\":\"Shelf A\",\"extra\":{\"text\":\"\\\"a_b\\\"\","
                  "\"int\":\"5\",\"irange\":\"[1,null]\",\"tags\":\"[\\\"Red\\\"]\"}}");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fresh_db();
    return 0;
}

#define MAX_PARAMS 32

/* `name=value&…` split in place into params; returns how many. */
static size_t query_params(char *q, pd_inv_param *p)
{
    size_t n = 0;
    for (char *tok = q; tok && n < MAX_PARAMS;) {
        char *amp = strchr(tok, '&'), *eq;
        if (amp)
            *amp = '\0';
        if ((eq = strchr(tok, '='))) {
            *eq = '\0';
            p[n++] = (pd_inv_param){tok, eq + 1};
        }
        tok = amp ? amp + 1 : NULL;
    }
    return n;
}

/* A list of en, or with search a search, from the query string in data. */
static pd_err list(pd_inv_entity en, bool search, const uint8_t *data, size_t size, pd_inv_err *e)
{
    char *q = malloc(size + 1);
    if (!q)
        return PD_ERR_NOMEM;
    memcpy(q, data, size);
    q[size] = '\0';
    pd_inv_param p[MAX_PARAMS];
    pd_inv_list out = {0};
    json_t *found = NULL;
    size_t n = query_params(q, p);
    pd_err rc;
    if (search) {
        rc = pd_inv_search(&inv, p, n, &found, e);
        if (!rc && !json_is_array(json_object_get(found, "spools")))
            abort();
    } else if (en == PD_INV_SPOOL && pd_inv_param_get(p, n, "group_by")) {
        /* GET /spool/group: the same filters, grouped */
        pd_inv_groups *g = NULL;
        rc = pd_inv_groups_open(&inv, p, n, &g, e);
        if (!rc && !(rc = pd_inv_groups_read(g, db)))
            rc = pd_inv_groups_render(g, &out.items, &out.total);
        if (rc && !e->msg[0])
            pd_inv_fail(e, rc, NULL, NULL, "%s", pd_strerror(rc));  /* the API's words for these */
        pd_inv_groups_free(&g);
    } else {
        rc = pd_inv_list_get(&inv, en, p, n, &out, e);
    }
    if (!rc && !search && (!out.items || out.total < 0))
        abort();
    json_decref(out.items);
    json_decref(found);
    free(q);
    return rc;
}

/* An accepted date is a moment the format writes and the parser reads back unchanged. */
static int date(pd_inv_entity en, const uint8_t *data, size_t size)
{
    static const int flags[PD_INV__N] = {0, PD_DATE_NAIVE_UTC, PD_DATE_DAY};
    char *s = malloc(size + 1), text[PD_DATE_LEN];
    const char *why = NULL;
    int64_t t, back;
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    if (pd_date_parse(s, flags[en], &t, &why)) {
        pd_date_format(t, text);
        if (!pd_date_parse(text, 0, &back, NULL) || back != t)
            abort();
    } else if (!why || !*why) {
        abort();  /* every refusal says why */
    }
    free(s);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned long inputs;
    if (size < 1 || size > FUZZ_MAX_INPUT)
        return 0;
    if (++inputs % RESET_EVERY == 0)
        fresh_db();
    pd_inv_entity en = (pd_inv_entity)(data[0] % PD_INV__N);
    int op = (data[0] / PD_INV__N) % 7;
    pd_inv_err e = {0};
    pd_err rc;
    json_t *body = NULL, *out = NULL;
    if (op == 5)
        return date(en, data + 1, size - 1);
    if (op == 4 || op == 6) {
        rc = list(en, op == 6, data + 1, size - 1, &e);
    } else {
        body = json_loadb((const char *)data + 1, size - 1, JSON_DECODE_ANY, NULL);
        if (!body)
            return 0;
        switch (op) {
        case 0: rc = pd_inv_create(&inv, en, body, &out, &e); break;
        case 1: rc = pd_inv_update(&inv, en, 1, body, &out, &e); break;
        case 2: rc = pd_inv_spool_use(&inv, 1, body, &out, &e); break;
        default: rc = pd_inv_spool_measure(&inv, 1, body, &out, &e); break;
        }
    }
    if (rc && !e.msg[0])
        abort();  /* every refusal says why */
    if (pd_db_in_tx(db))
        abort();  /* every path ends its transaction */
    json_decref(out);
    json_decref(body);
    return 0;
}
