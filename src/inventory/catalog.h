/* The external filament catalogue (SpoolmanDB's filaments.json and materials.json, served at
 * /api/v1/external/…, docs/inventory.md): one catalogue's text, kept to be served as it is,
 * and a search index over its items. Pure: built on a worker thread from a download, used on
 * the loop. */
#ifndef PD_CATALOG_H
#define PD_CATALOG_H

#include <jansson.h>
#include <stddef.h>

#include "core/err.h"

#define PD_CATALOG_MAX_BYTES (64u << 20)  /* SpoolmanDB's filaments.json is a few MB */

typedef struct pd_catalog pd_catalog;

/* text (len bytes, copied) must be a JSON array of objects; each object's values of `words`
 * (NULL-terminated keys, e.g. manufacturer, name, material) are what a search looks in. INVAL
 * when it is no such array, TOOBIG past PD_CATALOG_MAX_BYTES. */
pd_err pd_catalog_load(const char *text, size_t len, const char *const *words, pd_catalog **out);
const char *pd_catalog_text(const pd_catalog *c, size_t *len);
size_t pd_catalog_items(const pd_catalog *c);
/* The items, in catalogue order, whose words joined by spaces contain every whitespace-separated
 * word of query (ASCII case ignored), at most limit, as objects without their null members;
 * an empty query finds none. New reference; NULL when out of memory. */
json_t *pd_catalog_search(const pd_catalog *c, const char *query, size_t limit);
void pd_catalog_free(pd_catalog **c);  /* NULLs *c; NULL is fine */

#endif
