/* The port-6000 camera protocol (camera/frame.h): the auth packet's bytes, and frames
 * reassembled whatever records and reads cut them into, or refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "camera/decode.h"
#include "camera/frame.h"
#include "camera/sizes.h"
#include "core/work.h"
#include "printer/model.h"

static void auth_packet(void **st)
{
    (void)st;
    unsigned char p[PD_CAM_AUTH_LEN];
    assert_int_equal(pd_cam_auth_packet(p, "12345678"), PD_OK);
    /* the hex of camera.md §1.2 (OpenBambuAPI video.md) */
    unsigned char want[PD_CAM_AUTH_LEN] = {0x40, 0, 0, 0, 0x00, 0x30, 0, 0};
    memcpy(want + 16, "bblp", 4);
    memcpy(want + 48, "12345678", 8);
    assert_memory_equal(p, want, sizeof want);
    /* a 32-byte code fills its field; a longer one cannot be sent */
    assert_int_equal(pd_cam_auth_packet(p, "0123456789abcdef0123456789abcdef"), PD_OK);
    assert_memory_equal(p + 48, "0123456789abcdef0123456789abcdef", 32);
    assert_int_equal(pd_cam_auth_packet(p, "0123456789abcdef0123456789abcdefX"), PD_ERR_INVAL);
}

typedef struct got {
    size_t n;
    size_t len[8];
    unsigned char first[8];
} got;

static void take(pd_cam_frame *f, void *ud)
{
    got *g = ud;
    if (g->n < 8) {
        g->len[g->n] = f->len;
        g->first[g->n] = f->data[2];
    }
    g->n++;
    pd_cam_frame_unref(&f);
}

/* header + a JPEG of len bytes (FF D8 tag … FF D9) at out; returns the bytes written */
static size_t put_frame(unsigned char *out, size_t len, unsigned char tag)
{
    memset(out, 0, 16);
    out[0] = (unsigned char)len;
    out[1] = (unsigned char)(len >> 8);
    out[2] = (unsigned char)(len >> 16);
    out[3] = (unsigned char)(len >> 24);
    out[8] = 1;
    unsigned char *j = out + 16;
    for (size_t i = 0; i < len; i++)
        j[i] = (unsigned char)(i * 7);
    j[0] = 0xFF;
    j[1] = 0xD8;
    j[2] = tag;
    j[len - 2] = 0xFF;
    j[len - 1] = 0xD9;
    return 16 + len;
}

static void split_everywhere(void **st)
{
    (void)st;
    unsigned char s[2 * 16 + 300 + 40];
    size_t n = put_frame(s, 300, 0xE0);
    n += put_frame(s + n, 40, 0xE1);
    char why[200];
    /* every single cut, and every pair of cuts around the frame boundary */
    for (size_t a = 0; a <= n; a++) {
        for (size_t b = a; b <= n; b += (a > 300 ? 1 : 37)) {
            pd_cam_parser p;
            got g = {0};
            pd_cam_parser_init(&p, 1000);
            assert_int_equal(pd_cam_parse(&p, s, a, take, &g, why, sizeof why), PD_OK);
            assert_int_equal(pd_cam_parse(&p, s + a, b - a, take, &g, why, sizeof why), PD_OK);
            assert_int_equal(pd_cam_parse(&p, s + b, n - b, take, &g, why, sizeof why), PD_OK);
            assert_int_equal(g.n, 2);
            assert_int_equal(g.len[0], 300);
            assert_int_equal(g.first[0], 0xE0);
            assert_int_equal(g.len[1], 40);
            assert_int_equal(g.first[1], 0xE1);
            assert_null(p.frame);
            pd_cam_parser_reset(&p);
        }
    }
    /* byte by byte, as the smallest reads would bring it */
    pd_cam_parser p;
    got g = {0};
    pd_cam_parser_init(&p, 1000);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(pd_cam_parse(&p, s + i, 1, take, &g, why, sizeof why), PD_OK);
    assert_int_equal(g.n, 2);
}

static void refused(void **st)
{
    (void)st;
    unsigned char s[16 + 64];
    char why[200];
    pd_cam_parser p;
    got g = {0};
    /* oversized: more than the bound announced; the header alone is enough to refuse it */
    pd_cam_parser_init(&p, 63);
    put_frame(s, 64, 0);
    assert_int_equal(pd_cam_parse(&p, s, 16, take, &g, why, sizeof why), PD_ERR_TOOBIG);
    assert_string_equal(why, "the camera announced a frame of 64 bytes (at most 63)");
    assert_null(p.frame);
    /* an empty frame */
    memset(s, 0, 16);
    pd_cam_parser_init(&p, 1000);
    assert_int_equal(pd_cam_parse(&p, s, 16, take, &g, why, sizeof why), PD_ERR_TOOBIG);
    /* not a JPEG: no SOI, then no EOI */
    put_frame(s, 64, 0);
    s[16] = 0;
    pd_cam_parser_init(&p, 1000);
    assert_int_equal(pd_cam_parse(&p, s, sizeof s, take, &g, why, sizeof why), PD_ERR_PARSE);
    assert_string_equal(why, "the camera sent a frame of 64 bytes that is not a JPEG picture");
    put_frame(s, 64, 0);
    s[sizeof s - 1] = 0;
    pd_cam_parser_init(&p, 1000);
    assert_int_equal(pd_cam_parse(&p, s, sizeof s, take, &g, why, sizeof why), PD_ERR_PARSE);
    assert_int_equal(g.n, 0);
    /* truncated: nothing comes out, and the half frame is freed by reset (ASan checks) */
    put_frame(s, 64, 0);
    pd_cam_parser_init(&p, 1000);
    assert_int_equal(pd_cam_parse(&p, s, sizeof s - 1, take, &g, why, sizeof why), PD_OK);
    assert_int_equal(g.n, 0);
    assert_non_null(p.frame);
    pd_cam_parser_reset(&p);
    assert_null(p.frame);
    /* a frame after a good one: the good one was handed over before the error */
    unsigned char two[2 * (16 + 64)];
    put_frame(two, 64, 1);
    put_frame(two + 80, 64, 2);
    two[80 + 16] = 0;
    pd_cam_parser_init(&p, 1000);
    assert_int_equal(pd_cam_parse(&p, two, sizeof two, take, &g, why, sizeof why), PD_ERR_PARSE);
    assert_int_equal(g.n, 1);
}

static void frame_refs(void **st)
{
    (void)st;
    pd_cam_frame *f = pd_cam_frame_new(10), *a = pd_cam_frame_ref(f);
    assert_ptr_equal(a, f);
    pd_cam_frame_unref(&f);
    assert_null(f);
    assert_int_equal(a->refs, 1);
    pd_cam_frame_unref(&a);
}

static void models(void **st)
{
    (void)st;
    int port;
    assert_string_equal(pd_model_camera(PD_MODEL_P1S, &port), "jpeg6000");
    assert_int_equal(port, 6000);
    assert_string_equal(pd_model_camera(PD_MODEL_A1MINI, &port), "jpeg6000");
    assert_string_equal(pd_model_camera(PD_MODEL_A2L, &port), "jpeg6000");
    assert_string_equal(pd_model_camera(PD_MODEL_X1C, &port), "rtsps");
    assert_int_equal(port, 322);
    assert_string_equal(pd_model_camera(PD_MODEL_H2D, &port), "rtsps");
    assert_null(pd_model_camera(PD_MODEL_UNKNOWN, &port));
}

/* The dimensions a JPEG's start of frame (SOF0-SOF2) says. */
static void sof_size(const pd_cam_frame *f, int *w, int *h)
{
    *w = *h = 0;
    for (size_t i = 2; i + 8 < f->len; i++)
        if (f->data[i] == 0xFF && f->data[i + 1] >= 0xC0 && f->data[i + 1] <= 0xC2) {
            *h = f->data[i + 5] << 8 | f->data[i + 6];
            *w = f->data[i + 7] << 8 | f->data[i + 8];
            return;
        }
}

static void smaller_sizes(void **st)
{
    (void)st;
    enum { W = 1280, H = 720 };
    unsigned char *rgb = malloc((size_t)W * H * 3);
    assert_non_null(rgb);
    for (size_t i = 0; i < (size_t)W * H * 3; i++)
        rgb[i] = (unsigned char)(i * 7 / 3);
    pd_cam_frame *src = pd_cam_jpeg_encode(rgb, W, H, 80), *out;
    free(rgb);
    assert_non_null(src);
    char why[200];
    int w, h;
    /* 640 is a DCT scale of its own (4/8); 800 needs libswscale after 6/8 */
    static const int want[][2] = {{640, 360}, {800, 450}, {320, 180}, {1000, 562}};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        assert_int_equal(pd_cam_jpeg_scale(src->data, src->len, want[i][0], &out, why, sizeof why), PD_OK);
        assert_non_null(out);
        sof_size(out, &w, &h);
        assert_int_equal(w, want[i][0]);
        assert_int_equal(h, want[i][1]);
        assert_true(out->data[0] == 0xFF && out->data[1] == 0xD8 && out->data[out->len - 1] == 0xD9);
        pd_cam_frame_unref(&out);
    }
    /* as wide already: sent as it is */
    assert_int_equal(pd_cam_jpeg_scale(src->data, src->len, 1280, &out, why, sizeof why), PD_OK);
    assert_null(out);
    /* not a JPEG, or cut short: said, never a crash nor an exit() inside libjpeg */
    static const unsigned char junk[] = {0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x03, 0x00, 0xFF, 0xD9};
    assert_int_equal(pd_cam_jpeg_scale(junk, sizeof junk, 640, &out, why, sizeof why), PD_ERR_PARSE);
    assert_null(out);
    assert_int_equal(pd_cam_jpeg_scale((const unsigned char *)"hello", 5, 640, &out, why, sizeof why),
                     PD_ERR_PARSE);
    pd_err rc = pd_cam_jpeg_scale(src->data, 600, 640, &out, why, sizeof why);
    assert_true(rc == PD_OK || rc == PD_ERR_PARSE);
    pd_cam_frame_unref(&out);
    pd_cam_frame_unref(&src);
}

typedef struct sized {
    int calls, width;
} sized;

static void on_sized(int width, void *ud)
{
    sized *z = ud;
    z->calls++;
    z->width = width;
}

/* A 1280x720 frame with seq and at_ms set, as the hub hands it over. */
static pd_cam_frame *hub_frame(uint64_t seq)
{
    unsigned char *rgb = calloc((size_t)1280 * 720, 3);
    assert_non_null(rgb);
    pd_cam_frame *f = pd_cam_jpeg_encode(rgb, 1280, 720, 80);
    free(rgb);
    assert_non_null(f);
    f->seq = seq;
    f->at_ms = 1000 + seq;
    return f;
}

/* One job per width in the pool, shared by its viewers; a newer frame waits while one runs;
 * the sizes freed while a job runs are freed when it ends. */
static void sizes_made_in_pool(void **st)
{
    (void)st;
    uv_loop_t loop;
    uv_loop_init(&loop);
    pd_work_pool *pool;
    assert_int_equal(pd_work_pool_new(&loop, 1, 4, &pool), PD_OK);
    uint64_t dropped = 0;
    sized z = {0};
    pd_cam_sizes *s;
    assert_int_equal(pd_cam_sizes_new(pool, &dropped, on_sized, &z, &s), PD_OK);
    pd_cam_sizes_want(s, 640);
    pd_cam_sizes_want(s, 640);
    pd_cam_frame *a = hub_frame(1), *b = hub_frame(2);
    pd_cam_sizes_frame(s, a);
    pd_cam_sizes_frame(s, b);  /* waits for the job of a */
    pd_cam_frame_unref(&a);
    pd_cam_frame_unref(&b);
    for (int i = 0; i < 1000 && z.calls < 2; i++)
        uv_run(&loop, UV_RUN_ONCE);
    assert_int_equal(z.calls, 2);
    assert_int_equal(z.width, 640);
    pd_cam_frame *f = pd_cam_sizes_latest(s, 640);
    assert_non_null(f);
    assert_int_equal(f->seq, 2);
    assert_int_equal(f->at_ms, 1002);
    int w, h;
    sof_size(f, &w, &h);
    assert_int_equal(w, 640);
    assert_int_equal(h, 360);
    assert_null(pd_cam_sizes_latest(s, 320));  /* nobody asked for it */
    assert_int_equal(dropped, 0);
    /* the last viewer of the width gone: its frame stays for the snapshots that find it
     * fresh, and the next viewer of the width does not start with it */
    pd_cam_sizes_unwant(s, 640);
    pd_cam_sizes_unwant(s, 640);
    assert_ptr_equal(pd_cam_sizes_latest(s, 640), f);
    pd_cam_sizes_want(s, 640);
    assert_null(pd_cam_sizes_latest(s, 640));
    pd_cam_sizes_unwant(s, 640);
    /* a snapshot's size made from the frame there is, not the next */
    pd_cam_frame *d = hub_frame(4);
    pd_cam_sizes_make(s, 480, d);  /* nobody wants it: nothing made */
    pd_cam_sizes_want(s, 480);
    pd_cam_sizes_make(s, 480, d);
    pd_cam_frame_unref(&d);
    for (int i = 0; i < 1000 && z.calls < 3; i++)
        uv_run(&loop, UV_RUN_ONCE);
    assert_int_equal(z.calls, 3);
    assert_int_equal(z.width, 480);
    assert_int_equal(pd_cam_sizes_latest(s, 480)->seq, 4);
    pd_cam_sizes_unwant(s, 480);
    /* freed with a job running: the job's end frees them */
    pd_cam_sizes_want(s, 320);
    pd_cam_frame *c = hub_frame(3);
    pd_cam_sizes_frame(s, c);
    pd_cam_frame_unref(&c);
    pd_cam_sizes_free(&s);
    assert_null(s);
    pd_work_pool_free(&pool);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(z.calls, 3);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void width_pick(void **st)
{
    (void)st;
    assert_int_equal(pd_cam_width_pick(640), 640);
    assert_int_equal(pd_cam_width_pick(700), 640);
    assert_int_equal(pd_cam_width_pick(320), 320);
    assert_int_equal(pd_cam_width_pick(319), 0);
    assert_int_equal(pd_cam_width_pick(-5), 0);
    assert_int_equal(pd_cam_width_pick(100000), 1280);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(auth_packet), cmocka_unit_test(split_everywhere), cmocka_unit_test(refused),
        cmocka_unit_test(frame_refs),  cmocka_unit_test(models),
        cmocka_unit_test(smaller_sizes), cmocka_unit_test(width_pick),
        cmocka_unit_test(sizes_made_in_pool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
