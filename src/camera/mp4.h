/* A timelapse's frames (JPEG files) made into one MP4 with FFmpeg's libraries: H.264 with the
 * encoder Debian's FFmpeg has (libx264), else the native "h264" if the build has one, else
 * MJPEG in MP4 (docs/camera.md, Timelapses). Blocking: run it in the worker pool, never on the
 * loop. One encoder thread, so an assembly on a small machine leaves the other cores alone. */
#ifndef PD_CAMERA_MP4_H
#define PD_CAMERA_MP4_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

typedef struct pd_mp4_opts {
    int fps;                 /* frames per second of the video */
    int width, height;       /* of the video; 0: the first frame's (height 0 with a width:
                              * the first frame's aspect); rounded down to even numbers */
} pd_mp4_opts;

typedef struct pd_mp4_info {
    int frames;              /* frames in the video (a file that is missing or no JPEG is
                              * left out) */
    int width, height;
    double duration_s;
    int64_t size;            /* bytes of the file */
    char codec[16];          /* "h264", "mjpeg" */
} pd_mp4_info;

/* The frames of dir (its *.jpg files, in the order of their names, at most max) into the MP4
 * at out. NOTFOUND when no frame could be read, else IO, NOMEM, UNSUPPORTED (no encoder), with
 * why in words; out is removed on failure. */
pd_err pd_mp4_assemble(const char *dir, int max, const char *out, const pd_mp4_opts *o,
                       pd_mp4_info *info, char *why, size_t whylen);

#endif
