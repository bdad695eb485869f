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

/* Frames dir/000000.jpg … dir/<n-1>.jpg (pd_mp4_frame_name) into the MP4 at out. NOTFOUND
 * when no frame could be read, else IO, NOMEM, UNSUPPORTED (no encoder), with why in words;
 * out is removed on failure. */
pd_err pd_mp4_assemble(const char *dir, int n, const char *out, const pd_mp4_opts *o,
                       pd_mp4_info *info, char *why, size_t whylen);
/* The name of frame i in a spool directory: "000042.jpg". */
void pd_mp4_frame_name(int i, char out[16]);

#endif
