/* A catalogue is kept twice, compactly: its text, served byte for byte (SpoolmanDB's file,
 * nulls included, as Spoolman serves it), and per item the lower-cased words a search looks
 * in with the item's JSON without nulls (what a search answers). The parsed tree is dropped
 * once they are made: a tree of SpoolmanDB's thousands of items would cost ten times the
 * text. */
#include "inventory/catalog.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"

typedef struct item {
    char *words;   /* "<manufacturer> <name> <material>", lower case */
    char *json;    /* the object without null members */
} item;

struct pd_catalog {
    char *text;
    size_t len, n;
    item *v;
};

void pd_catalog_free(pd_catalog **cp)
{
    pd_catalog *c = *cp;
    if (!c)
        return;
    *cp = NULL;
    for (size_t i = 0; i < c->n; i++) {
        free(c->v[i].words);
        free(c->v[i].json);
    }
    free(c->v);
    free(c->text);
    free(c);
}

static char *item_words(const json_t *o, const char *const *words)
{
    size_t len = 0;
    for (const char *const *w = words; *w; w++) {
        const char *s = json_string_value(json_object_get(o, *w));
        len += (s ? strlen(s) : 0) + 1;
    }
    char *out = malloc(len + 1), *p = out;
    for (const char *const *w = words; out && *w; w++) {
        const char *s = json_string_value(json_object_get(o, *w));
        if (w != words)
            *p++ = ' ';
        for (; s && *s; s++)
            *p++ = (char)tolower((unsigned char)*s);
    }
    if (out)
        *p = '\0';
    return out;
}

static char *item_json(json_t *o)
{
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(o, tmp, k, v)
        if (json_is_null(v))
            json_object_del(o, k);
    return json_dumps(o, PD_JSON_FLAGS);
}

pd_err pd_catalog_load(const char *text, size_t len, const char *const *words, pd_catalog **out)
{
    *out = NULL;
    if (len > PD_CATALOG_MAX_BYTES)
        return PD_ERR_TOOBIG;
    json_t *arr = json_loadb(text, len, 0, NULL);
    if (!json_is_array(arr)) {
        json_decref(arr);
        return PD_ERR_INVAL;
    }
    size_t n = json_array_size(arr), i;
    pd_catalog *c = calloc(1, sizeof *c);
    pd_err rc = c && (c->v = calloc(n ? n : 1, sizeof *c->v)) && (c->text = malloc(len + 1)) ? PD_OK : PD_ERR_NOMEM;
    json_t *o;
    json_array_foreach(arr, i, o) {
        if (rc)
            break;
        if (!json_is_object(o)) {
            rc = PD_ERR_INVAL;
            break;
        }
        item *it = &c->v[c->n++];
        if (!(it->words = item_words(o, words)) || !(it->json = item_json(o)))
            rc = PD_ERR_NOMEM;
    }
    json_decref(arr);
    if (!rc) {
        memcpy(c->text, text, len);
        c->text[len] = '\0';
        c->len = len;
        *out = c;
    } else if (c) {
        pd_catalog_free(&c);
    }
    return rc;
}

const char *pd_catalog_text(const pd_catalog *c, size_t *len)
{
    *len = c->len;
    return c->text;
}

size_t pd_catalog_items(const pd_catalog *c) { return c->n; }

#define QUERY_WORDS 32

json_t *pd_catalog_search(const pd_catalog *c, const char *query, size_t limit)
{
    json_t *out = json_array();
    char q[512], *w[QUERY_WORDS], *save = NULL;
    size_t nw = 0, i;
    for (i = 0; query[i] && i + 1 < sizeof q; i++)
        q[i] = (char)tolower((unsigned char)query[i]);
    q[i] = '\0';
    for (char *t = strtok_r(q, " \t\r\n\f\v", &save); t && nw < QUERY_WORDS; t = strtok_r(NULL, " \t\r\n\f\v", &save))
        w[nw++] = t;
    for (i = 0; out && nw && i < c->n && json_array_size(out) < limit; i++) {
        size_t k = 0;
        while (k < nw && strstr(c->v[i].words, w[k]))
            k++;
        if (k == nw && json_array_append_new(out, json_loads(c->v[i].json, 0, NULL))) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}
