/* libFuzzer target for the Range header parser (src/http/range.c), which reads what any client
 * sends to a video download. The first 8 bytes are the representation's size, the rest the
 * header's value; a range accepted must lie within the representation. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/range.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8 || size > 4096)
        return 0;
    uint64_t raw;
    memcpy(&raw, data, 8);
    int64_t len = (int64_t)(raw >> 2);  /* any size a file may have, 0 included */
    char h[4096];
    memcpy(h, data + 8, size - 8);
    h[size - 8] = '\0';
    int64_t from = -1, to = -1;
    if (pd_http_range_parse(h, len, &from, &to) == PD_RANGE_OK && !(from >= 0 && from <= to && to < len))
        abort();
    return 0;
}
