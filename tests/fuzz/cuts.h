/* The fuzz targets of stream parsers (fuzz_camera.c, fuzz_rtsp.c) cut their input into reads
 * at the lengths its first bytes choose, as TLS records and socket reads would cut it, and
 * compare with the same bytes fed at once. Header-only: each target is one file. */
#ifndef PD_FUZZ_CUTS_H
#define PD_FUZZ_CUTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* Feeds d to step in reads of cuts[i] + 1 bytes in turn (all at once when ncuts is 0), up to
 * the first error, which it returns. */
static inline pd_err fuzz_cuts_feed(const uint8_t *cuts, size_t ncuts, const uint8_t *d, size_t n,
                                    pd_err (*step)(const uint8_t *d, size_t n, void *ud), void *ud)
{
    pd_err rc = PD_OK;
    for (size_t i = 0; n && !rc; i++) {
        size_t len = ncuts ? (size_t)cuts[i % ncuts] + 1 : n;
        if (len > n)
            len = n;
        rc = step(d, len, ud);
        d += len;
        n -= len;
    }
    return rc;
}

typedef pd_err (*fuzz_feed_fn)(const uint8_t *cuts, size_t ncuts, const uint8_t *d, size_t n,
                               void *seen);

/* The input's first byte says how many cut lengths follow (0-7); the rest is the stream, fed
 * twice: cut (into a, *ra) and whole (into b, *rb). false when the input is too short. */
static inline bool fuzz_cuts_both(const uint8_t *data, size_t size, fuzz_feed_fn feed, void *a,
                                  void *b, pd_err *ra, pd_err *rb)
{
    if (size < 1 || size < 1 + (size_t)data[0] % 8)
        return false;
    size_t ncuts = data[0] % 8;
    const uint8_t *d = data + 1 + ncuts;
    *ra = feed(data + 1, ncuts, d, size - 1 - ncuts, a);
    *rb = feed(NULL, 0, d, size - 1 - ncuts, b);
    return true;
}

#endif
