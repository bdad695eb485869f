/* libFuzzer target for the port-6000 camera stream parser (src/camera/frame.c), which reads
 * whatever answers on a printer's camera port, or a relay the user named. The input is cut
 * into reads at the lengths its first bytes choose, as TLS records and socket reads would
 * cut it; every frame handed over must be a whole JPEG within the bound, and the same bytes
 * fed at once must give the same frames. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "camera/frame.h"

#define FUZZ_MAX_FRAME 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct seen {
    size_t n, bytes;
} seen;

static void take(pd_cam_frame *f, void *ud)
{
    seen *s = ud;
    if (f->len < 4 || f->len > FUZZ_MAX_FRAME || f->data[0] != 0xFF || f->data[1] != 0xD8 ||
        f->data[f->len - 2] != 0xFF || f->data[f->len - 1] != 0xD9)
        abort();
    s->n++;
    s->bytes += f->len;
    pd_cam_frame_unref(&f);
}

static pd_err feed(const uint8_t *cuts, size_t ncuts, const uint8_t *d, size_t n, seen *s)
{
    pd_cam_parser p;
    char why[200];
    pd_err rc = PD_OK;
    pd_cam_parser_init(&p, FUZZ_MAX_FRAME);
    for (size_t i = 0; n && !rc; i++) {
        size_t step = ncuts ? (size_t)cuts[i % ncuts] + 1 : n;
        if (step > n)
            step = n;
        rc = pd_cam_parse(&p, d, step, take, s, why, sizeof why);
        d += step;
        n -= step;
    }
    pd_cam_parser_reset(&p);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t ncuts = data[0] % 8;
    if (size < 1 + ncuts)
        return 0;
    const uint8_t *cuts = data + 1, *d = data + 1 + ncuts;
    size_t n = size - 1 - ncuts;
    seen a = {0}, b = {0};
    pd_err ra = feed(cuts, ncuts, d, n, &a), rb = feed(NULL, 0, d, n, &b);
    if (ra != rb || a.n != b.n || a.bytes != b.bytes)
        abort();
    return 0;
}
