/* libFuzzer target for the external filament catalogue (inventory/catalog.c), which printdeck
 * downloads from the internet: the input's first line is a search query, the rest the
 * catalogue's text. Whatever the input, a catalogue is refused or kept whole (its text served
 * byte for byte), and a search answers an array of at most the limit. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "inventory/catalog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const words[] = {"manufacturer", "name", "material", NULL};
    const uint8_t *nl = memchr(data, '\n', size);
    size_t qlen = nl ? (size_t)(nl - data) : 0, off = nl ? qlen + 1 : 0;
    char *query = malloc(qlen + 1);
    if (!query)
        return 0;
    memcpy(query, data, qlen);
    query[qlen] = '\0';
    pd_catalog *c = NULL;
    if (!pd_catalog_load((const char *)data + off, size - off, words, &c)) {
        size_t len;
        const char *text = pd_catalog_text(c, &len);
        if (len != size - off || memcmp(text, data + off, len))
            abort();
        json_t *hits = pd_catalog_search(c, query, 3);
        if (hits && (!json_is_array(hits) || json_array_size(hits) > 3))
            abort();
        json_decref(hits);
        pd_catalog_free(&c);
    }
    free(query);
    return 0;
}
