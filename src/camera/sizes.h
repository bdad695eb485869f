/* The smaller sizes of one camera's frames, for viewers that ask for one (`?width=`,
 * docs/camera.md): per width, the latest frame made from the hub's latest. Each width has at
 * most one job in the cameras' worker pool (decode.c's pd_cam_jpeg_scale) and one source frame
 * waiting for it (a newer one replaces it), and its frame is shared by every viewer of that
 * width. The widths are a fixed set, so a camera makes at most PD_CAM_NWIDTHS of them. Owned
 * by the loop thread. */
#ifndef PD_CAMERA_SIZES_H
#define PD_CAMERA_SIZES_H

#include <stdint.h>

#include "camera/frame.h"
#include "core/err.h"
#include "core/work.h"

#define PD_CAM_NWIDTHS 6
/* 320, 480, 640, 800, 960, 1280 */
extern const int pd_cam_widths[PD_CAM_NWIDTHS];

/* The width a viewer that asks for `asked` pixels gets: the largest of the set not above it;
 * 0 when asked is below the smallest. */
int pd_cam_width_pick(long asked);

typedef struct pd_cam_sizes pd_cam_sizes;

/* ready(width, ud): a frame of that width was made (pd_cam_sizes_latest has it). dropped
 * counts jobs the pool had no room for and frames that could not be read. */
pd_err pd_cam_sizes_new(pd_work_pool *pool, uint64_t *dropped,
                        void (*ready)(int width, void *ud), void *ud, pd_cam_sizes **out);
/* Jobs running finish and their frames are thrown away; NULLs *s. */
void pd_cam_sizes_free(pd_cam_sizes **s);

/* A viewer or a waiting snapshot of that width (one of pd_cam_widths) came or went: sizes
 * nobody wants are not made. The last one made stays when its last viewer goes, for the
 * snapshots that find it fresh (twenty thumbnails of one frame cost one scale); the first
 * viewer of a width nobody wanted does not get that old frame. */
void pd_cam_sizes_want(pd_cam_sizes *s, int width);
void pd_cam_sizes_unwant(pd_cam_sizes *s, int width);
/* A snapshot of that width wants src (borrowed) rather than the next frame: made, unless a
 * frame of that width is being made already. */
void pd_cam_sizes_make(pd_cam_sizes *s, int width, pd_cam_frame *src);
/* The hub's new frame (borrowed): each wanted width is made from it. */
void pd_cam_sizes_frame(pd_cam_sizes *s, pd_cam_frame *src);
/* The latest frame of that width (borrowed; it has its source's seq and at_ms), or NULL. */
pd_cam_frame *pd_cam_sizes_latest(pd_cam_sizes *s, int width);
/* The upstream closed: the frames made from it go. */
void pd_cam_sizes_clear(pd_cam_sizes *s);

#endif
