#include "camera/decode.h"

#include <stdio.h>  /* before jpeglib.h, which uses size_t and FILE without them */
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <libavcodec/avcodec.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>

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
    free(d->rgb);
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

/* The last picture, scaled to at most width across (height in proportion, even), as JPEG. */
static pd_err picture_jpeg(pd_cam_dec *d, pd_cam_frame **out, char *why, size_t whylen)
{
    AVFrame *p = d->last;
    int w = p->width, h = p->height;
    if (d->width > 0 && w > d->width) {
        h = (int)((int64_t)h * d->width / w) & ~1;
        w = d->width;
    }
    if (w < 2 || h < 2) {
        snprintf(why, whylen, "the camera's picture is %dx%d", p->width, p->height);
        return PD_ERR_PARSE;
    }
    d->sws = sws_getCachedContext(d->sws, p->width, p->height, (enum AVPixelFormat)p->format, w, h,
                                  AV_PIX_FMT_RGB24, SWS_BILINEAR, NULL, NULL, NULL);
    size_t need = (size_t)w * (size_t)h * 3;
    if (need > d->rgb_cap) {
        free(d->rgb);
        d->rgb_cap = 0;
        if (!(d->rgb = malloc(need)))
            goto nomem;
        d->rgb_cap = need;
    }
    if (!d->sws) {
        snprintf(why, whylen, "cannot scale the camera's %dx%d pictures", p->width, p->height);
        return PD_ERR_PARSE;
    }
    uint8_t *dst[4] = {d->rgb};
    int stride[4] = {w * 3};
    sws_scale(d->sws, (const uint8_t *const *)p->data, p->linesize, 0, p->height, dst, stride);
    if (!(*out = pd_cam_jpeg_encode(d->rgb, w, h, PD_CAM_JPEG_QUALITY)))
        goto nomem;
    return PD_OK;
nomem:
    snprintf(why, whylen, "out of memory");
    return PD_ERR_NOMEM;
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
