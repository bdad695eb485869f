#include "printer/hms.h"

#include <stdio.h>
#include <string.h>

#include "printer/hms_table.h"

#define WIKI_HOST "https://wiki.bambulab.com"

void pd_hms_format(uint32_t attr, uint32_t code, char out[24])
{
    snprintf(out, 24, "HMS_%04X_%04X_%04X_%04X", (unsigned)(attr >> 16),
             (unsigned)(attr & 0xFFFF), (unsigned)(code >> 16), (unsigned)(code & 0xFFFF));
}

void pd_print_error_format(uint32_t err, char out[10])
{
    snprintf(out, 10, "%04X_%04X", (unsigned)(err >> 16), (unsigned)(err & 0xFFFF));
}

int pd_hms_severity(uint32_t code)
{
    uint32_t level = code >> 16;
    return level >= 1 && level <= 4 ? (int)level : 0;
}

/* "H2C,H2D" contains "H2D" but not "H2"; every token is compared whole. */
static bool models_have(const char *list, const char *key)
{
    size_t n = strlen(key);
    if (!n)
        return false;
    for (const char *p = list; *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == n && !memcmp(p, key, n))
            return true;
        if (!comma)
            break;
        p = comma + 1;
    }
    return false;
}

/* The model's own row for key, else the row for every model; rows with an empty string (the
 * vendor table has codes without public text) do not count. */
static const char *table_find(const pd_hms_row *rows, size_t n, uint64_t key, pd_model model)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (rows[mid].key < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    const char *mkey = pd_model_key(model), *generic = NULL;
    for (size_t i = lo; i < n && rows[i].key == key; i++) {
        const char *str = pd_hms_strings + rows[i].str;
        const char *models = pd_hms_strings + rows[i].models;
        if (!str[0])
            continue;
        if (!models[0])
            generic = str;
        else if (models_have(models, mkey))
            return str;
    }
    return generic;
}

static uint64_t hms_key(uint32_t attr, uint32_t code)
{
    return (uint64_t)attr << 32 | code;
}

const char *pd_hms_text(uint32_t attr, uint32_t code, pd_model model)
{
    return table_find(pd_hms_rows, pd_hms_rows_len, hms_key(attr, code), model);
}

const char *pd_print_error_text(uint32_t err, pd_model model)
{
    return table_find(pd_hms_error_rows, pd_hms_error_rows_len, err, model);
}

void pd_hms_url(uint32_t attr, uint32_t code, pd_model model, char *out, size_t n)
{
    if (!out || !n)
        return;
    const char *path = table_find(pd_hms_wiki_rows, pd_hms_wiki_rows_len, hms_key(attr, code),
                                  model);
    if (path) {
        snprintf(out, n, WIKI_HOST "%s", path);
        return;
    }
    char id[24];
    pd_hms_format(attr, code, id);
    /* the wiki's own page naming: the code without the "HMS_" prefix */
    snprintf(out, n, WIKI_HOST "/en/%s/troubleshooting/hmscode/%s", pd_model_wiki_family(model),
             id + 4);
}
