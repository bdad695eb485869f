/* H.264 to JPEG for the RTSPS cameras: FFmpeg's libavcodec decodes, libswscale scales,
 * libjpeg-turbo encodes; and a JPEG made smaller for viewers that ask for a smaller size.
 * The work of a worker thread (core/work.h), never of the loop: one decoder per camera, used
 * by one job at a time. */
#ifndef PD_CAMERA_DECODE_H
#define PD_CAMERA_DECODE_H

#include <stdbool.h>
#include <stddef.h>

#include "camera/frame.h"
#include "core/err.h"

#define PD_CAM_JPEG_QUALITY 80
/* a picture larger than this (4K; no Bambu camera sends more than 1920x1080) is refused
 * rather than decoded: it bounds what a camera's header can make a worker allocate and
 * spend */
#define PD_CAM_SCALE_MAX_PIXELS (3840 * 2160)

typedef struct pd_cam_dec pd_cam_dec;

/* A decoder whose pictures become JPEGs of at most width pixels across (0: as they come).
 * NOMEM, UNSUPPORTED (this FFmpeg has no H.264 decoder). */
pd_err pd_cam_dec_new(int width, pd_cam_dec **out);
void pd_cam_dec_free(pd_cam_dec **d);

/* Decodes n access units (Annex B), the i-th from ends[i-1] (0 for the first) to ends[i] in
 * data: every one, as each picture is built on those before. With jpeg, the last picture
 * becomes *out (one reference); *out stays NULL when no picture came out. PARSE (the decoder
 * refused the stream), NOMEM; why says it in words. */
pd_err pd_cam_dec_run(pd_cam_dec *d, const unsigned char *data, const size_t *ends, size_t n,
                      bool jpeg, pd_cam_frame **out, char *why, size_t whylen);

/* An RGB picture (3 bytes a pixel, rows of w*3 bytes) as a baseline JPEG frame; NULL when out
 * of memory. */
pd_cam_frame *pd_cam_jpeg_encode(const unsigned char *rgb, int w, int h, int quality);

/* A JPEG made width pixels across (height in proportion, even): libjpeg-turbo decodes it at
 * the smallest of its DCT scales (n/8) still at least that wide, libswscale takes it the rest
 * of the way, and it is encoded again. PD_OK with *out NULL: the picture is that narrow
 * already (send it as it is). PARSE: not a JPEG libjpeg can read, or one over
 * PD_CAM_SCALE_MAX_PIXELS; NOMEM. Pure and bounded; fuzzed (tests/fuzz/fuzz_camscale.c). */
pd_err pd_cam_jpeg_scale(const unsigned char *jpeg, size_t len, int width, pd_cam_frame **out,
                         char *why, size_t whylen);

#endif
