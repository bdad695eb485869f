/* The RTSPS camera's protocol pieces (camera/rtsp.h): responses and interleaved packets read
 * whatever the reads cut them into, Digest responses against the RFCs' own examples, the SDP's
 * video track, and H.264 access units out of RTP (single NAL units, STAP-A, FU-A across
 * packets, a lost fragment). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "camera/rtsp.h"

typedef struct got {
    int msgs, pkts;
    int status[4];
    size_t body[4];
    unsigned ch[4];
    size_t plen[4];
} got;

static bool on_msg(const pd_rtsp_msg *m, void *ud)
{
    got *g = ud;
    if (g->msgs < 4) {
        g->status[g->msgs] = m->status;
        g->body[g->msgs] = m->body_len;
    }
    g->msgs++;
    return true;
}

static bool on_pkt(unsigned ch, const unsigned char *d, size_t n, void *ud)
{
    got *g = ud;
    if (g->pkts < 4) {
        g->ch[g->pkts] = ch;
        g->plen[g->pkts] = n;
    }
    g->pkts++;
    return true;
}

static const char STREAM[] =
    "RTSP/1.0 401 Unauthorized\r\nCSeq: 2\r\nWWW-Authenticate: Basic realm=\"x\"\r\n"
    "WWW-Authenticate: Digest realm=\"LIVE555 Streaming Media\", nonce=\"abc\"\r\n\r\n"
    "RTSP/1.0 200 OK\r\nCSeq: 3\r\nContent-Length: 5\r\n\r\nv=0\r\n"
    "$\x00\x00\x03xyz"
    "$\x01\x00\x00";

static void reader_split_everywhere(void **st)
{
    (void)st;
    size_t n = sizeof STREAM - 1;
    pd_rtsp_reader *r = malloc(sizeof *r);
    static const pd_rtsp_sink sink = {on_msg, on_pkt};
    char why[160];
    for (size_t cut = 0; cut <= n; cut++) {
        got g = {0};
        r->len = 0;
        assert_int_equal(pd_rtsp_feed(r, (const unsigned char *)STREAM, cut, &sink, &g, why, sizeof why), PD_OK);
        assert_int_equal(pd_rtsp_feed(r, (const unsigned char *)STREAM + cut, n - cut, &sink, &g, why, sizeof why), PD_OK);
        assert_int_equal(g.msgs, 2);
        assert_int_equal(g.status[0], 401);
        assert_int_equal(g.status[1], 200);
        assert_int_equal(g.body[1], 5);
        assert_int_equal(g.pkts, 2);
        assert_int_equal(g.ch[0], 0);
        assert_int_equal(g.plen[0], 3);
        assert_int_equal(g.ch[1], 1);
        assert_int_equal(g.plen[1], 0);
    }
    /* byte by byte */
    got g = {0};
    r->len = 0;
    for (size_t i = 0; i < n; i++)
        assert_int_equal(pd_rtsp_feed(r, (const unsigned char *)STREAM + i, 1, &sink, &g, why, sizeof why), PD_OK);
    assert_int_equal(g.msgs, 2);
    assert_int_equal(g.pkts, 2);
    /* not RTSP; a body over the bound */
    r->len = 0;
    assert_int_equal(pd_rtsp_feed(r, (const unsigned char *)"HTTP/1.1 200 OK\r\n\r\n", 19, &sink, &g, why, sizeof why), PD_ERR_PARSE);
    r->len = 0;
    const char *big = "RTSP/1.0 200 OK\r\nContent-Length: 999999\r\n\r\n";
    assert_int_equal(pd_rtsp_feed(r, (const unsigned char *)big, strlen(big), &sink, &g, why, sizeof why), PD_ERR_TOOBIG);
    free(r);
}

static void headers(void **st)
{
    (void)st;
    const char *head = "CSeq: 2\r\nWWW-Authenticate: Basic realm=\"x\"\r\nwww-authenticate:  Digest nonce=\"n\" \r\n";
    pd_rtsp_msg m = {.head = head, .head_len = strlen(head)};
    char v[64];
    size_t pos = 0;
    assert_true(pd_rtsp_header(&m, "WWW-Authenticate", &pos, v, sizeof v));
    assert_string_equal(v, "Basic realm=\"x\"");
    assert_true(pd_rtsp_header(&m, "WWW-Authenticate", &pos, v, sizeof v));
    assert_string_equal(v, "Digest nonce=\"n\"");
    assert_false(pd_rtsp_header(&m, "WWW-Authenticate", &pos, v, sizeof v));
    pos = 0;
    assert_false(pd_rtsp_header(&m, "CSe", &pos, v, sizeof v));
}

static void digest_rfc_examples(void **st)
{
    (void)st;
    char out[65];
    /* RFC 2617 §3.5 */
    pd_rtsp_digest(false, "Mufasa", "testrealm@host.com", "Circle Of Life", "GET", "/dir/index.html",
                   "dcd98b7102dd2f0e8b11d0f600bfb0c093", "00000001", "0a4f113b", "auth", out);
    assert_string_equal(out, "6629fae49393a05397450978507c4ef1");
    /* RFC 7616 §3.9.1, MD5 and SHA-256 */
    const char *nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
               *cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
    pd_rtsp_digest(false, "Mufasa", "http-auth@example.org", "Circle of Life", "GET", "/dir/index.html",
                   nonce, "00000001", cnonce, "auth", out);
    assert_string_equal(out, "8ca523f5e9506fed4657c9700eebdbec");
    pd_rtsp_digest(true, "Mufasa", "http-auth@example.org", "Circle of Life", "GET", "/dir/index.html",
                   nonce, "00000001", cnonce, "auth", out);
    assert_string_equal(out, "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1");
}

static void auth_challenges(void **st)
{
    (void)st;
    pd_rtsp_auth a;
    assert_int_equal(pd_rtsp_auth_parse(&a, "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", "
                                            "algorithm=SHA-256, nonce=\"7ypf\", opaque=\"FQhe\""), PD_OK);
    assert_int_equal(a.scheme, PD_RTSP_DIGEST);
    assert_true(a.sha256);
    assert_true(a.qop_auth);
    assert_string_equal(a.realm, "http-auth@example.org");
    assert_string_equal(a.nonce, "7ypf");
    assert_string_equal(a.opaque, "FQhe");
    char h[512];
    assert_int_equal(pd_rtsp_auth_header(&a, "bblp", "12345678", "DESCRIBE", "rtsps://h:322/streaming/live/1",
                                         "c0ffee", h, sizeof h), PD_OK);
    assert_non_null(strstr(h, "nc=00000001"));
    assert_non_null(strstr(h, "algorithm=SHA-256"));
    char v[80], want[65];
    assert_true(pd_rtsp_param(h, "response", v, sizeof v));
    pd_rtsp_digest(true, "bblp", "http-auth@example.org", "12345678", "DESCRIBE",
                   "rtsps://h:322/streaming/live/1", "7ypf", "00000001", "c0ffee", "auth", want);
    assert_string_equal(v, want);
    /* without qop: RFC 2069's form, as LIVE555 servers ask */
    assert_int_equal(pd_rtsp_auth_parse(&a, "Digest realm=\"LIVE555 Streaming Media\", nonce=\"n1\""), PD_OK);
    assert_false(a.qop_auth);
    assert_int_equal(pd_rtsp_auth_header(&a, "bblp", "c", "PLAY", "u", "x", h, sizeof h), PD_OK);
    assert_null(strstr(h, "nc="));
    assert_int_equal(pd_rtsp_auth_parse(&a, "Basic realm=\"cam\""), PD_OK);
    assert_int_equal(pd_rtsp_auth_header(&a, "bblp", "12345678", "PLAY", "u", "x", h, sizeof h), PD_OK);
    assert_string_equal(h, "Basic YmJscDoxMjM0NTY3OA==");
    assert_int_equal(pd_rtsp_auth_parse(&a, "Digest realm=\"x\", nonce=\"n\", algorithm=SHA-512-256"), PD_ERR_UNSUPPORTED);
    assert_int_equal(pd_rtsp_auth_parse(&a, "Digest realm=\"x\""), PD_ERR_PARSE);
    assert_int_equal(pd_rtsp_auth_parse(&a, "Bearer x"), PD_ERR_UNSUPPORTED);
}

static void sdp_and_urls(void **st)
{
    (void)st;
    const char *sdp = "v=0\r\ns=x\r\na=control:*\r\nm=audio 0 RTP/AVP 97\r\na=control:track0\r\n"
                      "m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
                      "a=fmtp:96 packetization-mode=1;sprop-parameter-sets=Z0IAKeKQFAe2AtwEBAaQeJEV,aM48gA==;profile-level-id=420029\r\n"
                      "a=control:track1\r\n";
    pd_rtsp_track t;
    assert_int_equal(pd_rtsp_sdp_video(sdp, strlen(sdp), &t), PD_OK);
    assert_int_equal(t.pt, 96);
    assert_string_equal(t.codec, "H264");
    assert_string_equal(t.control, "track1");
    assert_string_equal(t.sprop, "Z0IAKeKQFAe2AtwEBAaQeJEV,aM48gA==");
    unsigned char ps[128];
    size_t n = pd_rtsp_sprop(t.sprop, ps, sizeof ps);
    assert_int_equal(n, 4 + 18 + 4 + 4);
    assert_memory_equal(ps, "\0\0\0\1\x67", 5);
    assert_memory_equal(ps + 22, "\0\0\0\1\x68\xce\x3c\x80", 8);
    assert_int_equal(pd_rtsp_sdp_video("v=0\r\nm=audio 0 RTP/AVP 0\r\n", 26, &t), PD_ERR_NOTFOUND);
    char u[128];
    assert_int_equal(pd_rtsp_url_join("rtsps://h:322/streaming/live/1/", "track1", u, sizeof u), PD_OK);
    assert_string_equal(u, "rtsps://h:322/streaming/live/1/track1");
    assert_int_equal(pd_rtsp_url_join("rtsps://h:322/streaming/live/1", "track1", u, sizeof u), PD_OK);
    assert_string_equal(u, "rtsps://h:322/streaming/live/1/track1");
    assert_int_equal(pd_rtsp_url_join("rtsps://h/a", "rtsp://other/t", u, sizeof u), PD_OK);
    assert_string_equal(u, "rtsp://other/t");
    assert_int_equal(pd_rtsp_url_join("rtsps://h/a", "*", u, sizeof u), PD_OK);
    assert_string_equal(u, "rtsps://h/a");
    assert_int_equal(pd_rtsp_url_join("rtsps://h/a", "track1", u, 8), PD_ERR_TOOBIG);
}

/* --- H.264 over RTP ------------------------------------------------------------------------ */

typedef struct units {
    int n, keys;
    unsigned char last[4096];
    size_t last_len;
} units;

static void on_au(const unsigned char *au, size_t n, bool key, void *ud)
{
    units *u = ud;
    u->n++;
    u->keys += key;
    u->last_len = n < sizeof u->last ? n : sizeof u->last;
    memcpy(u->last, au, u->last_len);
}

static size_t rtp(unsigned char *out, uint16_t seq, uint32_t ts, bool marker, const unsigned char *d, size_t n)
{
    out[0] = 0x80;
    out[1] = (unsigned char)(96 | (marker ? 0x80 : 0));
    out[2] = (unsigned char)(seq >> 8);
    out[3] = (unsigned char)seq;
    for (int i = 0; i < 4; i++)
        out[4 + i] = (unsigned char)(ts >> (24 - 8 * i));
    memset(out + 8, 0x11, 4);
    memcpy(out + 12, d, n);
    return 12 + n;
}

static void h264_units(void **st)
{
    (void)st;
    pd_rtsp_h264 h;
    pd_rtsp_h264_init(&h, 96, 1 << 20);
    units u = {0};
    char why[128];
    unsigned char p[2048];
    /* a STAP-A with SPS and PPS, then an IDR of 3000 bytes cut into FU-A pieces of every size */
    unsigned char idr[3000];
    idr[0] = 0x65;
    for (size_t i = 1; i < sizeof idr; i++)
        idr[i] = (unsigned char)(i * 7);
    static const unsigned char stap[] = {24, 0, 3, 0x67, 0x42, 0x00, 0, 2, 0x68, 0xce};
    for (size_t piece = 1; piece <= 1500; piece += 149) {
        uint16_t seq = (uint16_t)(piece * 100);
        uint32_t ts = (uint32_t)piece * 3000;
        assert_int_equal(pd_rtsp_h264_rtp(&h, p, rtp(p, seq++, ts, false, stap, sizeof stap), on_au, &u, why, sizeof why), PD_OK);
        for (size_t at = 1; at < sizeof idr;) {
            size_t k = sizeof idr - at < piece ? sizeof idr - at : piece;
            unsigned char fu[1600] = {(unsigned char)((idr[0] & 0xe0) | 28), (unsigned char)(idr[0] & 0x1f)};
            if (at == 1)
                fu[1] |= 0x80;
            if (at + k == sizeof idr)
                fu[1] |= 0x40;
            memcpy(fu + 2, idr + at, k);
            assert_int_equal(pd_rtsp_h264_rtp(&h, p, rtp(p, seq++, ts, at + k == sizeof idr, fu, k + 2), on_au, &u, why, sizeof why), PD_OK);
            at += k;
        }
        /* SPS, PPS and the IDR, each after a start code */
        assert_int_equal(u.last_len, 4 + 3 + 4 + 2 + 4 + sizeof idr);
        assert_memory_equal(u.last, "\0\0\0\1\x67\x42\x00\0\0\0\1\x68\xce\0\0\0\1", 17);
        assert_memory_equal(u.last + 17, idr, sizeof idr);
    }
    int before = u.n;
    assert_int_equal(u.keys, before);
    /* a single NAL unit (a P slice) with the marker */
    static const unsigned char slice[] = {0x41, 1, 2, 3};
    assert_int_equal(pd_rtsp_h264_rtp(&h, p, rtp(p, 1, 99, true, slice, sizeof slice), on_au, &u, why, sizeof why), PD_OK);
    assert_int_equal(u.n, before + 1);
    assert_int_equal(u.keys, before);
    assert_memory_equal(u.last, "\0\0\0\1\x41\1\2\3", 8);
    /* an FU-A whose middle piece is lost: the unit is dropped whole */
    unsigned char a[] = {0x7c, 0x85, 1, 2}, b[] = {0x7c, 0x05, 3, 4}, c[] = {0x7c, 0x45, 5, 6};
    pd_rtsp_h264_rtp(&h, p, rtp(p, 10, 200, false, a, 4), on_au, &u, why, sizeof why);
    pd_rtsp_h264_rtp(&h, p, rtp(p, 12, 200, true, c, 4), on_au, &u, why, sizeof why);
    assert_int_equal(u.n, before + 1);
    /* ... and the next whole one comes through */
    pd_rtsp_h264_rtp(&h, p, rtp(p, 13, 300, false, a, 4), on_au, &u, why, sizeof why);
    pd_rtsp_h264_rtp(&h, p, rtp(p, 14, 300, false, b, 4), on_au, &u, why, sizeof why);
    pd_rtsp_h264_rtp(&h, p, rtp(p, 15, 300, true, c, 4), on_au, &u, why, sizeof why);
    assert_int_equal(u.n, before + 2);
    assert_memory_equal(u.last, "\0\0\0\1\x65\1\2\3\4\5\6", 11);
    /* another payload type is skipped; not RTP is refused */
    p[1] = 97;
    assert_int_equal(pd_rtsp_h264_rtp(&h, p, 16, on_au, &u, why, sizeof why), PD_OK);
    assert_int_equal(pd_rtsp_h264_rtp(&h, (const unsigned char *)"garbage garbage", 15, on_au, &u, why, sizeof why), PD_ERR_PARSE);
    pd_rtsp_h264_reset(&h);
}

static void h264_bound(void **st)
{
    (void)st;
    pd_rtsp_h264 h;
    pd_rtsp_h264_init(&h, 96, 64);
    units u = {0};
    char why[128];
    unsigned char p[256], big[100] = {0x65};
    assert_int_equal(pd_rtsp_h264_rtp(&h, p, rtp(p, 1, 1, true, big, sizeof big), on_au, &u, why, sizeof why), PD_OK);
    assert_int_equal(u.n, 0);
    assert_int_equal(h.dropped, 1);
    pd_rtsp_h264_reset(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reader_split_everywhere), cmocka_unit_test(headers),
        cmocka_unit_test(digest_rfc_examples),     cmocka_unit_test(auth_challenges),
        cmocka_unit_test(sdp_and_urls),            cmocka_unit_test(h264_units),
        cmocka_unit_test(h264_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
