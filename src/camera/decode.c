#include "camera/decode.h"

#include <setjmp.h>
#include <stdio.h>  /* before jpeglib.h, which uses size_t and FILE without them */
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <libavcodec/avcodec.h>
#include <libavutil/imgutils.h>
#include <libavutil/mem.h>
#include <libswscale/swscale.h>

/* libswscale's SIMD reads and writes whole vectors, past a line's last pixel: within the
 * picture that is the next line, after the last line it is beyond the buffer (a camera's
 * 768x112 JPEG at 4/8 made it read 4 bytes past a 64,512-byte picture, and fault where that
 * was the end of a mapping). FFmpeg's own frames are padded for it (av_frame_get_buffer);
 * RGB pictures of ours given to sws_scale, as source or destination, are this size, a line
 * and 64 bytes to spare, from av_malloc (aligned). */
static size_t sws_picture_size(int w, int h) { return (size_t)w * 3 * ((size_t)h + 1) + 64; }

struct pd_cam_dec {
    int width;
    AVCodecContext *ctx;
    AVPacket *pkt;
    AVFrame *pic;             /* the picture being decoded into */
    AVFrame *last;            /* the last whole picture */
    bool have_last;
    struct SwsContext *sws;
    unsigned char *rgb;
    size_t rgb_cap;
};

pd_err pd_cam_dec_new(int width, pd_cam_dec **out)
{
    const AVCodec *codec = avcodec_find_decoder(AV_CODEC_ID_H264);
    if (!codec)
        return PD_ERR_UNSUPPORTED;
    pd_cam_dec *d = calloc(1, sizeof *d);
    if (!d)
        return PD_ERR_NOMEM;
    d->width = width;
    d->ctx = avcodec_alloc_context3(codec);
    d->pkt = av_packet_alloc();
    d->pic = av_frame_alloc();
    d->last = av_frame_alloc();
    /* a worker thread of the pool is the one thread it gets: FFmpeg's own threads would
     * escape the pool's bound */
    if (d->ctx)
        d->ctx->thread_count = 1;
    if (!d->ctx || !d->pkt || !d->pic || !d->last || avcodec_open2(d->ctx, codec, NULL) < 0) {
        pd_cam_dec_free(&d);
        return PD_ERR_NOMEM;
    }
    *out = d;
    return PD_OK;
}

void pd_cam_dec_free(pd_cam_dec **dp)
{
    pd_cam_dec *d = *dp;
    *dp = NULL;
    if (!d)
        return;
    avcodec_free_context(&d->ctx);
    av_packet_free(&d->pkt);
    av_frame_free(&d->pic);
    av_frame_free(&d->last);
    sws_freeContext(d->sws);
    av_free(d->rgb);
    free(d);
}

pd_cam_frame *pd_cam_jpeg_encode(const unsigned char *rgb, int w, int h, int quality)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    unsigned char *mem = NULL;
    unsigned long len = 0;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &mem, &len);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, quality, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)rgb + (size_t)c.next_scanline * (size_t)w * 3;
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    pd_cam_frame *f = mem && len ? pd_cam_frame_new(len) : NULL;
    if (f)
        memcpy(f->data, mem, len);
    free(mem);
    return f;
}

/* A picture (planes src of format fmt, sw x sh) scaled with libswscale to w x h in RGB and
 * encoded as JPEG. *sws and the RGB buffer (*rgb, *cap) are kept by the caller for the next
 * picture, or freed. */
static pd_err to_jpeg(struct SwsContext **sws, unsigned char **rgb, size_t *cap,
                      const uint8_t *const src[], const int stride[], int sw, int sh,
                      enum AVPixelFormat fmt, int w, int h, pd_cam_frame **out, char *why,
                      size_t whylen)
{
    *sws = sws_getCachedContext(*sws, sw, sh, fmt, w, h, AV_PIX_FMT_RGB24, SWS_BILINEAR, NULL,
                                NULL, NULL);
    size_t need = sws_picture_size(w, h);
    if (need > *cap) {
        av_free(*rgb);
        *cap = 0;
        if (!(*rgb = av_malloc(need)))
            goto nomem;
        *cap = need;
    }
    if (!*sws) {
        snprintf(why, whylen, "cannot scale the camera's %dx%d pictures", sw, sh);
        return PD_ERR_PARSE;
    }
    uint8_t *dst[4] = {*rgb};
    int dstride[4] = {w * 3};
    sws_scale(*sws, src, stride, 0, sh, dst, dstride);
    if (!(*out = pd_cam_jpeg_encode(*rgb, w, h, PD_CAM_JPEG_QUALITY)))
        goto nomem;
    return PD_OK;
nomem:
    snprintf(why, whylen, "out of memory");
    return PD_ERR_NOMEM;
}

/* The height of a sw x sh picture made width across: in proportion, even, at least 2. */
static int height_for(int sw, int sh, int width)
{
    int h = (int)((int64_t)sh * width / sw) & ~1;
    return h < 2 ? 2 : h;
}

/* The last picture, scaled to at most width across, as JPEG. */
static pd_err picture_jpeg(pd_cam_dec *d, pd_cam_frame **out, char *why, size_t whylen)
{
    AVFrame *p = d->last;
    int w = p->width, h = p->height;
    if (w < 2 || h < 2) {
        snprintf(why, whylen, "the camera's picture is %dx%d", p->width, p->height);
        return PD_ERR_PARSE;
    }
    if (d->width > 0 && w > d->width) {
        h = height_for(w, h, d->width);
        w = d->width;
    }
    return to_jpeg(&d->sws, &d->rgb, &d->rgb_cap, (const uint8_t *const *)p->data, p->linesize,
                   p->width, p->height, (enum AVPixelFormat)p->format, w, h, out, why, whylen);
}

/* libjpeg's errors end in exit() unless error_exit returns elsewhere: here, to setjmp. */
typedef struct jpeg_err {
    struct jpeg_error_mgr pub;
    jmp_buf back;
    char msg[JMSG_LENGTH_MAX];
} jpeg_err;

static void on_jpeg_error(j_common_ptr c)
{
    jpeg_err *e = (jpeg_err *)c->err;
    c->err->format_message(c, e->msg);
    longjmp(e->back, 1);
}

/* warnings (a truncated picture, filled with grey) are not worth a line on stderr each */
static void on_jpeg_message(j_common_ptr c, int level) { (void)c; (void)level; }

pd_err pd_cam_jpeg_scale(const unsigned char *jpeg, size_t len, int width, pd_cam_frame **out,
                         char *why, size_t whylen)
{
    *out = NULL;
    struct jpeg_decompress_struct d;
    jpeg_err e;
    /* set between setjmp and a longjmp back to it: volatile, or its value there is unknown */
    unsigned char *volatile rgb = NULL;
    d.err = jpeg_std_error(&e.pub);
    e.pub.error_exit = on_jpeg_error;
    e.pub.emit_message = on_jpeg_message;
    if (setjmp(e.back)) {
        jpeg_destroy_decompress(&d);
        av_free(rgb);
        snprintf(why, whylen, "cannot read the camera's JPEG: %s", e.msg);
        return PD_ERR_PARSE;
    }
    jpeg_create_decompress(&d);
    jpeg_mem_src(&d, jpeg, (unsigned long)len);
    jpeg_read_header(&d, TRUE);
    int sw = (int)d.image_width, sh = (int)d.image_height;
    if (sw <= width || (int64_t)sw * sh > PD_CAM_SCALE_MAX_PIXELS || sh < 2) {
        jpeg_destroy_decompress(&d);
        if (sw <= width && sh >= 2)
            return PD_OK;
        snprintf(why, whylen, "the camera's JPEG is %dx%d", sw, sh);
        return PD_ERR_PARSE;
    }
    /* libjpeg-turbo's DCT scaling does most of the way for almost nothing: the smallest of
     * 1/8, 2/8, 4/8 and 8/8 that stays at least width across. 1/8 keeps only each block's DC
     * value and 2/8, 4/8 and 8/8 have SIMD inverse DCTs; the other n/8 run in plain C, where
     * 3/8 costs as much as a whole 8/8 decode and 5/8 to 7/8 two to four times that
     * (bench/jpegscale.c). */
    d.scale_num = 1;
    while (d.scale_num < 8 && (int64_t)sw * d.scale_num < (int64_t)8 * width)
        d.scale_num *= 2;
    d.scale_denom = 8;
    d.out_color_space = JCS_RGB;
    jpeg_start_decompress(&d);
    int w = (int)d.output_width, h = (int)d.output_height;
    if (!(rgb = av_malloc(sws_picture_size(w, h)))) {
        jpeg_destroy_decompress(&d);
        snprintf(why, whylen, "out of memory");
        return PD_ERR_NOMEM;
    }
    while (d.output_scanline < d.output_height) {
        JSAMPROW row = rgb + (size_t)d.output_scanline * (size_t)w * 3;
        jpeg_read_scanlines(&d, &row, 1);
    }
    jpeg_finish_decompress(&d);
    jpeg_destroy_decompress(&d);
    struct SwsContext *sws = NULL;
    unsigned char *buf = NULL;
    size_t cap = 0;
    const uint8_t *src[4] = {rgb};
    int stride[4] = {w * 3};
    pd_err rc = to_jpeg(&sws, &buf, &cap, src, stride, w, h, AV_PIX_FMT_RGB24, width,
                        height_for(sw, sh, width), out, why, whylen);
    sws_freeContext(sws);
    av_free(buf);
    av_free(rgb);
    return rc;
}

pd_err pd_cam_dec_run(pd_cam_dec *d, const unsigned char *data, const size_t *ends, size_t n,
                      bool jpeg, pd_cam_frame **out, char *why, size_t whylen)
{
    *out = NULL;
    for (size_t i = 0; i < n; i++) {
        size_t from = i ? ends[i - 1] : 0;
        d->pkt->data = (uint8_t *)data + from;
        d->pkt->size = (int)(ends[i] - from);
        int rc = avcodec_send_packet(d->ctx, d->pkt);
        /* a damaged unit spoils a picture or two, not the stream: the next key frame mends it */
        if (rc < 0 && rc != AVERROR_INVALIDDATA && rc != AVERROR(EAGAIN)) {
            av_strerror(rc, why, whylen);
            return PD_ERR_PARSE;
        }
        while (avcodec_receive_frame(d->ctx, d->pic) >= 0) {
            av_frame_unref(d->last);
            av_frame_move_ref(d->last, d->pic);
            d->have_last = true;
        }
    }
    if (!jpeg || !d->have_last)
        return PD_OK;
    d->have_last = false;  /* the same picture twice would read as a live camera */
    return picture_jpeg(d, out, why, whylen);
}
