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
#include "cuts.h"

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

typedef struct run {
    pd_cam_parser p;
    seen *s;
} run;

static pd_err step(const uint8_t *d, size_t n, void *ud)
{
    run *r = ud;
    char why[200];
    return pd_cam_parse(&r->p, d, n, take, r->s, why, sizeof why);
}

static pd_err feed(const uint8_t *cuts, size_t ncuts, const uint8_t *d, size_t n, void *ud)
{
    seen *s = ud;
    run r = {.s = s};
    pd_cam_parser_init(&r.p, FUZZ_MAX_FRAME);
    pd_err rc = fuzz_cuts_feed(cuts, ncuts, d, n, step, &r);
    pd_cam_parser_reset(&r.p);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    seen a = {0}, b = {0};
    pd_err ra, rb;
    if (fuzz_cuts_both(data, size, feed, &a, &b, &ra, &rb) &&
        (ra != rb || a.n != b.n || a.bytes != b.bytes))
        abort();
    return 0;
}
