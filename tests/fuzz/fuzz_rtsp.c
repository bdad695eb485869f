/* libFuzzer target for what an RTSPS camera sends (src/camera/rtsp.c), which reads whatever
 * answers on a printer's port 322, or a relay the user named: the stream of RTSP responses
 * and interleaved packets, each response's headers, auth challenge and SDP, and the H.264
 * access units taken out of the video packets. The input is cut into reads at the lengths its
 * first bytes choose, as TLS records and socket reads would cut it; the same bytes fed at once
 * must give the same messages, packets and units, each unit within its bound. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "camera/rtsp.h"
#include "cuts.h"

#define FUZZ_MAX_UNIT 8192

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct seen {
    size_t msgs, pkts, units, bytes;
    pd_rtsp_h264 h264;
} seen;

static void on_unit(const unsigned char *au, size_t n, bool key, void *ud)
{
    seen *s = ud;
    if (n < 5 || n > FUZZ_MAX_UNIT || memcmp(au, "\0\0\0\1", 4))
        abort();
    s->units++;
    s->bytes += n;
}

static bool on_msg(const pd_rtsp_msg *m, void *ud)
{
    seen *s = ud;
    char v[600];
    pd_rtsp_auth a;
    for (size_t pos = 0; pd_rtsp_header(m, "WWW-Authenticate", &pos, v, sizeof v);) {
        if (!pd_rtsp_auth_parse(&a, v)) {
            char h[1024];
            pd_rtsp_auth_header(&a, "bblp", "12345678", "DESCRIBE", "rtsps://h:322/streaming/live/1",
                                "c0ffee", h, sizeof h);
        }
    }
    pd_rtsp_track t;
    if (!pd_rtsp_sdp_video((const char *)m->body, m->body_len, &t)) {
        unsigned char ps[256];
        char url[600];
        if (pd_rtsp_sprop(t.sprop, ps, sizeof ps) > sizeof ps)
            abort();
        pd_rtsp_url_join("rtsps://h:322/streaming/live/1/", t.control, url, sizeof url);
    }
    s->msgs++;
    s->bytes += m->body_len;
    return true;
}

static bool on_packet(unsigned ch, const unsigned char *d, size_t n, void *ud)
{
    seen *s = ud;
    char why[160];
    s->pkts++;
    if (ch == 0)
        pd_rtsp_h264_rtp(&s->h264, d, n, on_unit, s, why, sizeof why);
    return true;
}

static pd_rtsp_reader reader;

static pd_err step(const uint8_t *d, size_t n, void *ud)
{
    static const pd_rtsp_sink sink = {on_msg, on_packet};
    char why[200];
    return pd_rtsp_feed(&reader, d, n, &sink, ud, why, sizeof why);
}

static pd_err feed(const uint8_t *cuts, size_t ncuts, const uint8_t *d, size_t n, void *ud)
{
    seen *s = ud;
    reader.len = 0;
    pd_rtsp_h264_init(&s->h264, 96, FUZZ_MAX_UNIT);
    pd_err rc = fuzz_cuts_feed(cuts, ncuts, d, n, step, s);
    pd_rtsp_h264_reset(&s->h264);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    seen a = {0}, b = {0};
    pd_err ra, rb;
    if (fuzz_cuts_both(data, size, feed, &a, &b, &ra, &rb) &&
        (ra != rb || a.msgs != b.msgs || a.pkts != b.pkts || a.units != b.units || a.bytes != b.bytes))
        abort();
    return 0;
}
