/* libFuzzer target for the chunked request body decoder (src/http/chunked.c), which reads what
 * any client sends. The first byte picks where the rest is split in two feeds: whatever the
 * split, the decoder must come to the same result and body as in one feed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/chunked.h"

#define MAX_BODY 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static pd_err decode(const char *in, size_t len, size_t split, pd_buf *out, bool *done)
{
    pd_chunked d = {0};
    pd_err rc = pd_chunked_feed(&d, in, split, out);
    if (!rc)
        rc = pd_chunked_feed(&d, in + split, len - split, out);
    *done = pd_chunked_done(&d);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!size)
        return 0;
    const char *in = (const char *)data + 1;
    size_t len = size - 1, split = len ? data[0] % (len + 1) : 0;
    pd_buf whole, parts;
    pd_buf_init(&whole, MAX_BODY);
    pd_buf_init(&parts, MAX_BODY);
    bool done1, done2;
    pd_err rc1 = decode(in, len, 0, &whole, &done1);
    pd_err rc2 = decode(in, len, split, &parts, &done2);
    if (rc1 != rc2 || done1 != done2 ||
        (!rc1 && (pd_buf_len(&whole) != pd_buf_len(&parts) ||
                  (pd_buf_len(&whole) &&
                   memcmp(pd_buf_ptr(&whole), pd_buf_ptr(&parts), pd_buf_len(&whole))))))
        abort();
    pd_buf_free(&whole);
    pd_buf_free(&parts);
    return 0;
}
