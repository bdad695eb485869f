/* Timelapses (camera/timelapse.h, camera/mp4.h): when a frame is due, which timelapses the
 * retention rules delete, frames assembled into an MP4 with missing and broken ones left out,
 * and the byte ranges their downloads take (http/range.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libavcodec/avcodec.h>

#include "camera/mp4.h"
#include "camera/timelapse.h"
#include "http/range.h"
#include "printer/record.h"

static pd_tl_opts opts(pd_tl_mode mode)
{
    return (pd_tl_opts){.enabled = true, .mode = mode, .interval_s = 30, .max_frames = 3, .stale_ms = 5000,
                        .fps = 30};
}

static void layer_schedule(void **st)
{
    (void)st;
    pd_tl_opts o = opts(PD_TL_LAYER);
    pd_tl_sched s = {0};
    assert_int_equal(pd_tl_due(&o, &s, -1, 10000, 9000), PD_TL_NOT_DUE);  /* a tick: not this mode's */
    assert_int_equal(pd_tl_due(&o, &s, 0, 10000, 9000), PD_TL_NOT_DUE);   /* layer 0: not started */
    assert_int_equal(pd_tl_due(&o, &s, 1, 10000, 9000), PD_TL_TAKE);
    s.taken++;
    assert_int_equal(pd_tl_due(&o, &s, 1, 11000, 10500), PD_TL_NOT_DUE); /* the same layer again */
    /* a camera that stalled: the layer passes without a frame, and is not due again */
    assert_int_equal(pd_tl_due(&o, &s, 2, 20000, 10500), PD_TL_STALE);
    assert_int_equal(pd_tl_due(&o, &s, 2, 20100, 20050), PD_TL_NOT_DUE);
    assert_int_equal(pd_tl_due(&o, &s, 3, 21000, 0), PD_TL_STALE);       /* no frame at all */
    assert_int_equal(pd_tl_due(&o, &s, 2, 22000, 21900), PD_TL_NOT_DUE); /* going back */
    assert_int_equal(pd_tl_due(&o, &s, 5, 23000, 22900), PD_TL_TAKE);    /* layers skipped: one frame */
    s.taken = 3;
    assert_int_equal(pd_tl_due(&o, &s, 6, 24000, 23900), PD_TL_FULL);
}

static void interval_schedule(void **st)
{
    (void)st;
    pd_tl_opts o = opts(PD_TL_INTERVAL);
    pd_tl_sched s = {0};
    assert_int_equal(pd_tl_due(&o, &s, 4, 10000, 9900), PD_TL_NOT_DUE);  /* layers: not this mode's */
    assert_int_equal(pd_tl_due(&o, &s, -1, 10000, 9900), PD_TL_TAKE);
    assert_int_equal(pd_tl_due(&o, &s, -1, 40000, 34000), PD_TL_STALE);
    assert_int_equal(pd_tl_due(&o, &s, -1, 40000, 35000), PD_TL_TAKE);   /* exactly stale_ms: still taken */
    assert_int_equal(pd_tl_due(&o, &s, -1, 40000, 41000), PD_TL_STALE);  /* a clock that went back */
}

static void mode_rule(void **st)
{
    (void)st;
    char why[64];
    assert_int_equal(pd_tl_mode_check("layer", why, sizeof why), PD_OK);
    assert_int_equal(pd_tl_mode_check("interval", why, sizeof why), PD_OK);
    assert_int_equal(pd_tl_mode_check("hourly", why, sizeof why), PD_ERR_INVAL);
    assert_int_equal(pd_tl_mode_of("interval"), PD_TL_INTERVAL);
    assert_int_equal(pd_tl_mode_of("layer"), PD_TL_LAYER);
}

/* A printer's own settings over [timelapse]'s, through the printer record's rules (the
 * configuration file's text forms): unset ones keep the global ones. */
static void printer_settings(void **st)
{
    (void)st;
    char err[256];
    pd_tl_opts g = opts(PD_TL_LAYER);
    g.interval_s = 30;
    g.fps = 30;
    pd_printer_rec r;
    pd_printer_rec_init(&r);
    pd_tl_opts o = pd_tl_printer_opts(&g, &r);
    assert_true(o.enabled);
    assert_int_equal(o.mode, PD_TL_LAYER);
    assert_int_equal(o.interval_s, 30);
    assert_int_equal(o.fps, 30);
    assert_int_equal(pd_printer_rec_set_text(&r, "timelapse_enabled", "no", err, sizeof err), PD_OK);
    assert_int_equal(pd_printer_rec_set_text(&r, "timelapse_mode", "interval", err, sizeof err), PD_OK);
    assert_int_equal(pd_printer_rec_set_text(&r, "timelapse_interval_s", "5", err, sizeof err), PD_OK);
    o = pd_tl_printer_opts(&g, &r);
    assert_false(o.enabled);
    assert_int_equal(o.mode, PD_TL_INTERVAL);
    assert_int_equal(o.interval_s, 5);
    assert_int_equal(o.fps, 30);
    /* and back to the global ones */
    assert_int_equal(pd_printer_rec_set_text(&r, "timelapse_enabled", "", err, sizeof err), PD_OK);
    assert_int_equal(pd_printer_rec_set_text(&r, "timelapse_mode", "", err, sizeof err), PD_OK);
    assert_int_equal(pd_printer_rec_set_text(&r, "timelapse_interval_s", "", err, sizeof err), PD_OK);
    o = pd_tl_printer_opts(&g, &r);
    assert_true(o.enabled);
    assert_int_equal(o.mode, PD_TL_LAYER);
    assert_int_equal(o.interval_s, 30);
}

#define DAY 86400
static const int64_t NOW = 100 * DAY;

static size_t retain(const pd_tl_opts *o, const pd_tl_item *it, size_t n, bool *drop)
{
    return pd_tl_retain(it, n, o, NOW, drop);
}

static void retention(void **st)
{
    (void)st;
    /* newest first: 10 MB each, a day apart */
    pd_tl_item it[5];
    bool drop[5];
    for (int i = 0; i < 5; i++)
        it[i] = (pd_tl_item){.id = 5 - i, .created_s = NOW - i * DAY, .size = 10 << 20};
    pd_tl_opts o = {0};
    assert_int_equal(retain(&o, it, 5, drop), 0);  /* no rule: all kept */

    o.keep_count = 3;
    assert_int_equal(retain(&o, it, 5, drop), 2);
    assert_false(drop[2]);
    assert_true(drop[3] && drop[4]);

    o = (pd_tl_opts){.keep_days = 2};  /* older than two days: the 3- and 4-day-old ones */
    assert_int_equal(retain(&o, it, 5, drop), 2);
    assert_false(drop[2]);
    assert_true(drop[3] && drop[4]);

    o = (pd_tl_opts){.keep_bytes = 25 << 20};  /* 25 MB: the two newest fit */
    assert_int_equal(retain(&o, it, 5, drop), 3);
    assert_true(!drop[0] && !drop[1] && drop[2] && drop[3] && drop[4]);

    /* a small old one still fits after a big one in the middle is dropped */
    it[2].size = 20 << 20;
    it[3].size = 1 << 20;
    assert_int_equal(retain(&o, it, 5, drop), 2);
    assert_true(!drop[0] && !drop[1] && drop[2] && !drop[3] && drop[4]);

    /* the newest is kept whatever its size, and whatever its age */
    it[0].size = 100 << 20;
    it[0].created_s = NOW - 50 * DAY;
    o = (pd_tl_opts){.keep_bytes = 1 << 20, .keep_days = 1};
    assert_int_equal(retain(&o, it, 5, drop), 4);
    assert_false(drop[0]);
}

/* A small grey JPEG of w x h, shaded by i, as a camera would send it (libavcodec's MJPEG). */
static size_t make_jpeg(int w, int h, int i, unsigned char *out, size_t max)
{
    const AVCodec *c = avcodec_find_encoder(AV_CODEC_ID_MJPEG);
    AVCodecContext *e = avcodec_alloc_context3(c);
    e->width = w;
    e->height = h;
    e->time_base = (AVRational){1, 1};
    e->pix_fmt = AV_PIX_FMT_YUVJ420P;
    assert_int_equal(avcodec_open2(e, c, NULL), 0);
    AVFrame *f = av_frame_alloc();
    f->format = e->pix_fmt;
    f->width = w;
    f->height = h;
    assert_int_equal(av_frame_get_buffer(f, 0), 0);
    for (int p = 0; p < 3; p++)
        memset(f->data[p], p ? 128 : 40 + 20 * i, (size_t)f->linesize[p] * (size_t)(p ? (h + 1) / 2 : h));
    AVPacket *pkt = av_packet_alloc();
    assert_int_equal(avcodec_send_frame(e, f), 0);
    assert_int_equal(avcodec_receive_packet(e, pkt), 0);
    size_t n = (size_t)pkt->size;
    assert_true(n <= max);
    memcpy(out, pkt->data, n);
    av_packet_free(&pkt);
    av_frame_free(&f);
    avcodec_free_context(&e);
    return n;
}

static void frame_path(const char *dir, int i, char *path, size_t len)
{
    snprintf(path, len, "%s/%06d.jpg", dir, i);
}

static void put(const char *dir, int i, const void *d, size_t n)
{
    char path[512];
    frame_path(dir, i, path, sizeof path);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(d, 1, n, f), n);
    fclose(f);
}

static void assemble(void **st)
{
    (void)st;
    char dir[] = "/tmp/pd-tl-XXXXXX", out[600], why[256];
    assert_non_null(mkdtemp(dir));
    snprintf(out, sizeof out, "%s/out.mp4", dir);
    static unsigned char jpg[1 << 16];
    /* 0, 1, 3 and 5 are pictures; 2 is missing, 4 is not a JPEG; a file not *.jpg is no frame */
    int pics[] = {0, 1, 3, 5};
    for (size_t k = 0; k < 4; k++)
        put(dir, pics[k], jpg, make_jpeg(161, 91, pics[k], jpg, sizeof jpg));
    put(dir, 4, "not a picture", 13);
    char other[600];
    snprintf(other, sizeof other, "%s/notes.txt", dir);
    FILE *f = fopen(other, "w");
    fputs("x", f);
    fclose(f);

    pd_mp4_info info;
    pd_mp4_opts o = {.fps = 10};
    assert_int_equal(pd_mp4_assemble(dir, 6, out, &o, &info, why, sizeof why), PD_OK);
    assert_int_equal(info.frames, 4);
    assert_int_equal(info.width, 160);   /* even, for 4:2:0 */
    assert_int_equal(info.height, 90);
    assert_true(info.duration_s > 0.39 && info.duration_s < 0.41);
    assert_true(!strcmp(info.codec, "h264") || !strcmp(info.codec, "mjpeg"));
    assert_true(info.size > 100);
    assert_int_equal(access(out, R_OK), 0);

    /* a width alone: the height follows the camera's aspect */
    o = (pd_mp4_opts){.fps = 30, .width = 80};
    assert_int_equal(pd_mp4_assemble(dir, 6, out, &o, &info, why, sizeof why), PD_OK);
    assert_int_equal(info.width, 80);
    assert_int_equal(info.height, 44);

    /* nothing readable: NOTFOUND, and no file left */
    /* at most 3 files, in name order: 0, 1 and 3 (the video itself is no frame) */
    assert_int_equal(pd_mp4_assemble(dir, 3, out, &o, &info, why, sizeof why), PD_OK);
    assert_int_equal(info.frames, 3);
    char empty[600];
    snprintf(empty, sizeof empty, "%s/none.mp4", dir);
    unlink(out);
    for (int i = 0; i < 6; i++) {
        char path[600];
        frame_path(dir, i, path, sizeof path);
        unlink(path);
    }
    put(dir, 0, "garbage", 7);
    assert_int_equal(pd_mp4_assemble(dir, 2, empty, &o, &info, why, sizeof why), PD_ERR_NOTFOUND);
    assert_non_null(strstr(why, "no frame"));
    assert_int_not_equal(access(empty, F_OK), 0);
    char path[600];
    snprintf(path, sizeof path, "%s/000000.jpg", dir);
    unlink(path);
    unlink(other);
    rmdir(dir);
}

static void ranges(void **st)
{
    (void)st;
    int64_t a, b;
    assert_int_equal(pd_http_range_parse("bytes=0-99", 1000, &a, &b), PD_RANGE_OK);
    assert_true(a == 0 && b == 99);
    assert_int_equal(pd_http_range_parse("bytes=900-", 1000, &a, &b), PD_RANGE_OK);
    assert_true(a == 900 && b == 999);
    assert_int_equal(pd_http_range_parse("bytes=900-5000", 1000, &a, &b), PD_RANGE_OK);  /* cut at the end */
    assert_true(a == 900 && b == 999);
    assert_int_equal(pd_http_range_parse("bytes=-100", 1000, &a, &b), PD_RANGE_OK);
    assert_true(a == 900 && b == 999);
    assert_int_equal(pd_http_range_parse("bytes=-5000", 1000, &a, &b), PD_RANGE_OK);    /* the whole */
    assert_true(a == 0 && b == 999);
    assert_int_equal(pd_http_range_parse("bytes=1000-", 1000, &a, &b), PD_RANGE_UNSATISFIABLE);
    assert_int_equal(pd_http_range_parse("bytes=-0", 1000, &a, &b), PD_RANGE_UNSATISFIABLE);
    assert_int_equal(pd_http_range_parse("bytes=-1", 0, &a, &b), PD_RANGE_UNSATISFIABLE);
    /* not one range we take: the whole file goes */
    static const char *const none[] = {"bytes=0-1,5-6", "items=0-1", "bytes=5-3", "bytes= 1-2", "bytes=+1-2",
                                       "bytes=1-2 ", "bytes=-", "bytes=", "bytes=a-b", "bytes=99999999999999999999-",
                                       "bytes=1"};
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++)
        assert_int_equal(pd_http_range_parse(none[i], 1000, &a, &b), PD_RANGE_NONE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(layer_schedule), cmocka_unit_test(interval_schedule), cmocka_unit_test(mode_rule),
        cmocka_unit_test(printer_settings),
        cmocka_unit_test(retention),      cmocka_unit_test(assemble),   cmocka_unit_test(ranges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
