#include "camera/mp4.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>

/* A camera frame is at most PD_CAM_FRAME_MAX; a file in the spool larger than this is not one
 * of ours. */
#define FRAME_FILE_MAX (4 << 20)

typedef struct asm_ctx {
    AVCodecContext *dec, *enc;
    AVFormatContext *fmt;
    AVStream *st;
    struct SwsContext *sws;
    AVFrame *in, *out;
    AVPacket *pkt;
    unsigned char *file;
    struct dirent **names;   /* the frames' files, sorted */
    int nnames;
    int64_t pts;
    bool header;
} asm_ctx;

static pthread_once_t quiet_once = PTHREAD_ONCE_INIT;

/* libswscale warns on every context about the full-range JPEG formats the camera's pictures
 * decode to; the daemon's log keeps what matters. */
static void quiet(void) { av_log_set_level(AV_LOG_ERROR); }

static int fail(char *why, size_t whylen, int rc, const char *what, int averr)
{
    char e[AV_ERROR_MAX_STRING_SIZE] = "";
    if (averr)
        av_strerror(averr, e, sizeof e);
    snprintf(why, whylen, "%s%s%s", what, averr ? ": " : "", e);
    return rc;
}

/* A file of the frames' directory, read whole into x->file; its length, or -1 when it is not a
 * frame of ours. */
static long read_frame(asm_ctx *x, const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    size_t n = fread(x->file, 1, FRAME_FILE_MAX, f);
    bool more = fgetc(f) != EOF;
    fclose(f);
    return more || n < 4 ? -1 : (long)n;
}

static int is_jpg(const struct dirent *e)
{
    size_t n = strlen(e->d_name);
    return n > 4 && !strcmp(e->d_name + n - 4, ".jpg");
}

/* The first frame decides the video's size: even numbers, as 4:2:0 chroma needs. */
static void video_size(const pd_mp4_opts *o, int w, int h, int *ow, int *oh)
{
    *ow = o->width > 0 ? o->width : w;
    *oh = o->height > 0 ? o->height : o->width > 0 ? (int)((int64_t)h * o->width / (w ? w : 1)) : h;
    *ow &= ~1;
    *oh &= ~1;
    if (*ow < 2)
        *ow = 2;
    if (*oh < 2)
        *oh = 2;
}

/* libx264, else a native H.264 encoder, else MJPEG: the first that opens. */
static int open_encoder(asm_ctx *x, const pd_mp4_opts *o, int w, int h, char *codec, size_t codeclen)
{
    const AVCodec *cands[3] = {avcodec_find_encoder_by_name("libx264"), avcodec_find_encoder_by_name("h264"),
                               avcodec_find_encoder(AV_CODEC_ID_MJPEG)};
    for (size_t i = 0; i < 3; i++) {
        const AVCodec *c = cands[i];
        if (!c)
            continue;
        AVCodecContext *e = avcodec_alloc_context3(c);
        if (!e)
            return AVERROR(ENOMEM);
        bool mjpeg = c->id == AV_CODEC_ID_MJPEG;
        e->width = w;
        e->height = h;
        e->time_base = (AVRational){1, o->fps};
        e->framerate = (AVRational){o->fps, 1};
        e->pix_fmt = mjpeg ? AV_PIX_FMT_YUVJ420P : AV_PIX_FMT_YUV420P;
        e->gop_size = o->fps * 2;
        e->thread_count = 1;
        if (mjpeg) {
            e->flags |= AV_CODEC_FLAG_QSCALE;
            e->global_quality = FF_QP2LAMBDA * 4;
        } else {
            av_opt_set(e->priv_data, "preset", "veryfast", 0);
            av_opt_set(e->priv_data, "crf", "23", 0);
        }
        if (x->fmt->oformat->flags & AVFMT_GLOBALHEADER)
            e->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
        if (avcodec_open2(e, c, NULL) == 0) {
            x->enc = e;
            snprintf(codec, codeclen, "%s", avcodec_get_name(c->id));
            return 0;
        }
        avcodec_free_context(&e);
    }
    return AVERROR_ENCODER_NOT_FOUND;
}

static int write_packets(asm_ctx *x)
{
    int rc;
    while ((rc = avcodec_receive_packet(x->enc, x->pkt)) == 0) {
        /* each picture lasts one frame: without it the last one has no duration and players
         * (and ffprobe) cut it off at the end of the edit list */
        if (!x->pkt->duration)
            x->pkt->duration = 1;
        av_packet_rescale_ts(x->pkt, x->enc->time_base, x->st->time_base);
        x->pkt->stream_index = x->st->index;
        if ((rc = av_interleaved_write_frame(x->fmt, x->pkt)) < 0)
            return rc;
    }
    return rc == AVERROR(EAGAIN) || rc == AVERROR_EOF ? 0 : rc;
}

/* The output, once the first picture says how big: the encoder, the stream, the header. */
static int open_output(asm_ctx *x, const char *out, const pd_mp4_opts *o, pd_mp4_info *info, char *why,
                       size_t whylen)
{
    int rc = avformat_alloc_output_context2(&x->fmt, NULL, "mp4", out);
    if (rc < 0)
        return fail(why, whylen, rc, "cannot set up the MP4 writer", rc);
    video_size(o, x->in->width, x->in->height, &info->width, &info->height);
    if ((rc = open_encoder(x, o, info->width, info->height, info->codec, sizeof info->codec)) < 0)
        return fail(why, whylen, rc, "no H.264 or MJPEG encoder in this FFmpeg", 0);
    if (!(x->st = avformat_new_stream(x->fmt, NULL)))
        return fail(why, whylen, AVERROR(ENOMEM), "out of memory", 0);
    x->st->time_base = x->enc->time_base;
    if ((rc = avcodec_parameters_from_context(x->st->codecpar, x->enc)) < 0 ||
        (rc = avio_open(&x->fmt->pb, out, AVIO_FLAG_WRITE)) < 0)
        return fail(why, whylen, rc, "cannot write the video", rc);
    /* the index in front, so a browser plays it while it downloads */
    AVDictionary *mo = NULL;
    av_dict_set(&mo, "movflags", "+faststart", 0);
    rc = avformat_write_header(x->fmt, &mo);
    av_dict_free(&mo);
    if (rc < 0)
        return fail(why, whylen, rc, "cannot write the video", rc);
    x->header = true;
    if (!(x->out = av_frame_alloc()))
        return fail(why, whylen, AVERROR(ENOMEM), "out of memory", 0);
    x->out->format = x->enc->pix_fmt;
    x->out->width = info->width;
    x->out->height = info->height;
    if ((rc = av_frame_get_buffer(x->out, 0)) < 0)
        return fail(why, whylen, rc, "out of memory", rc);
    return 0;
}

/* One decoded picture scaled into the video's format and encoded. */
static int encode_picture(asm_ctx *x)
{
    x->sws = sws_getCachedContext(x->sws, x->in->width, x->in->height, x->in->format, x->out->width,
                                  x->out->height, x->out->format, SWS_BILINEAR, NULL, NULL, NULL);
    if (!x->sws)
        return AVERROR(EINVAL);
    int rc = av_frame_make_writable(x->out);
    if (rc < 0)
        return rc;
    sws_scale(x->sws, (const uint8_t *const *)x->in->data, x->in->linesize, 0, x->in->height, x->out->data,
              x->out->linesize);
    x->out->pts = x->pts++;
    return (rc = avcodec_send_frame(x->enc, x->out)) < 0 ? rc : write_packets(x);
}

/* A JPEG decoded into x->in: 0, or < 0 for a picture that cannot be read (left out). */
static int decode(asm_ctx *x, long len)
{
    x->pkt->data = x->file;
    x->pkt->size = (int)len;
    int rc = avcodec_send_packet(x->dec, x->pkt);
    av_packet_unref(x->pkt);
    if (rc < 0)
        return rc;
    rc = avcodec_receive_frame(x->dec, x->in);
    return rc < 0 || x->in->width < 2 || x->in->height < 2 ? AVERROR_INVALIDDATA : 0;
}

static int assemble(asm_ctx *x, const char *dir, int max, const char *out, const pd_mp4_opts *o,
                    pd_mp4_info *info, char *why, size_t whylen)
{
    const AVCodec *jd = avcodec_find_decoder(AV_CODEC_ID_MJPEG);
    if (!jd || !(x->dec = avcodec_alloc_context3(jd)))
        return fail(why, whylen, AVERROR_DECODER_NOT_FOUND, "no JPEG decoder in this FFmpeg", 0);
    x->dec->thread_count = 1;
    if (avcodec_open2(x->dec, jd, NULL) < 0)
        return fail(why, whylen, AVERROR_DECODER_NOT_FOUND, "no JPEG decoder in this FFmpeg", 0);
    if (!(x->in = av_frame_alloc()) || !(x->pkt = av_packet_alloc()) || !(x->file = av_malloc(FRAME_FILE_MAX)))
        return fail(why, whylen, AVERROR(ENOMEM), "out of memory", 0);
    int rc = 0, n = scandir(dir, &x->names, is_jpg, alphasort);
    if (n < 0)
        return fail(why, whylen, AVERROR(ENOENT), "no frame of the timelapse could be read", 0);
    x->nnames = n;
    for (int i = 0; i < n && i < max; i++) {
        long len = read_frame(x, dir, x->names[i]->d_name);
        if (len < 0 || decode(x, len) < 0)
            continue;
        if (!x->enc && (rc = open_output(x, out, o, info, why, whylen)) < 0)
            return rc;
        if ((rc = encode_picture(x)) < 0)
            return fail(why, whylen, rc, "cannot encode a frame", rc);
        av_frame_unref(x->in);
        info->frames++;
    }
    if (!x->enc)
        return fail(why, whylen, AVERROR(ENOENT), "no frame of the timelapse could be read", 0);
    if ((rc = avcodec_send_frame(x->enc, NULL)) < 0 || (rc = write_packets(x)) < 0 ||
        (rc = av_write_trailer(x->fmt)) < 0)
        return fail(why, whylen, rc, "cannot finish the video", rc);
    x->header = false;
    info->duration_s = (double)info->frames / o->fps;
    info->size = avio_size(x->fmt->pb);
    return 0;
}

pd_err pd_mp4_assemble(const char *dir, int max, const char *out, const pd_mp4_opts *o,
                       pd_mp4_info *info, char *why, size_t whylen)
{
    pthread_once(&quiet_once, quiet);
    memset(info, 0, sizeof *info);
    asm_ctx x = {0};
    int rc = o->fps > 0 ? assemble(&x, dir, max, out, o, info, why, whylen)
                        : fail(why, whylen, AVERROR(EINVAL), "fps must be positive", 0);
    if (x.header)
        av_write_trailer(x.fmt);
    if (x.fmt && x.fmt->pb)
        avio_closep(&x.fmt->pb);
    avformat_free_context(x.fmt);
    avcodec_free_context(&x.enc);
    avcodec_free_context(&x.dec);
    sws_freeContext(x.sws);
    av_frame_free(&x.in);
    av_frame_free(&x.out);
    av_packet_free(&x.pkt);
    av_free(x.file);
    for (int i = 0; i < x.nnames; i++)
        free(x.names[i]);
    free(x.names);
    if (rc >= 0)
        return PD_OK;
    unlink(out);
    return rc == AVERROR(ENOENT) ? PD_ERR_NOTFOUND : rc == AVERROR(ENOMEM) ? PD_ERR_NOMEM
         : rc == AVERROR_ENCODER_NOT_FOUND || rc == AVERROR_DECODER_NOT_FOUND ? PD_ERR_UNSUPPORTED : PD_ERR_IO;
}
