/* The port-6000 camera protocol of the A1, A1 mini, P1P, P1S and A2L (docs/camera.md): the
 * 80-byte auth packet a client sends first, and the stream of frames the printer answers with
 * (a 16-byte header, then one JPEG). Pure and bounded: no I/O, fuzzed (tests/fuzz/fuzz_camera.c).
 *
 * A frame is one buffer, counted by reference: the hub keeps the latest one and every viewer
 * sending it holds a reference, so twenty viewers share one copy of each picture. */
#ifndef PD_CAMERA_FRAME_H
#define PD_CAMERA_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define PD_CAM_AUTH_LEN 80
#define PD_CAM_HDR_LEN 16
/* A 1280x720 picture is 60-250 KB; Bambuddy gives up past 10 MB. 4 MiB leaves room for any
 * picture this stream carries and bounds what a broken or hostile peer makes us allocate. */
#define PD_CAM_FRAME_MAX (4u << 20)

typedef struct pd_cam_frame {
    unsigned refs;
    uint64_t seq;        /* the hub's count of frames from its upstream, from 1 */
    uint64_t at_ms;      /* when it arrived (monotonic, uv_now) */
    size_t len;
    unsigned char data[];
} pd_cam_frame;

/* A frame of len bytes (uninitialised), one reference; NULL when out of memory. */
pd_cam_frame *pd_cam_frame_new(size_t len);
pd_cam_frame *pd_cam_frame_ref(pd_cam_frame *f);
/* Drops one reference (the last frees it) and NULLs *f. */
void pd_cam_frame_unref(pd_cam_frame **f);

/* The auth packet for user "bblp" and the access code: INVAL when the code does not fit its
 * 32 bytes (it would be cut, and refused by the printer in a way that reads as a wrong code). */
pd_err pd_cam_auth_packet(unsigned char out[PD_CAM_AUTH_LEN], const char *access_code);

/* Reassembles frames from the bytes as they come, whatever the records and reads cut them
 * into. One frame at most is held, of at most `max` bytes. */
typedef struct pd_cam_parser {
    unsigned char hdr[PD_CAM_HDR_LEN];
    size_t hlen;           /* header bytes held */
    pd_cam_frame *frame;   /* the frame being filled, NULL between frames */
    size_t got;            /* ... its bytes so far */
    size_t max;
} pd_cam_parser;

void pd_cam_parser_init(pd_cam_parser *p, size_t max);
/* Frees a frame left half-filled; the parser starts again at a header. */
void pd_cam_parser_reset(pd_cam_parser *p);
/* Feeds n bytes; fn gets each whole JPEG frame (its reference is handed over). PD_OK, or the
 * stream is broken and must be closed: TOOBIG (a header announcing 0 bytes or more than
 * max), PARSE (a payload that is not a JPEG: no FF D8 at the start or FF D9 at the end); why
 * says it in words. Frames completed before the error have been handed over. */
pd_err pd_cam_parse(pd_cam_parser *p, const unsigned char *d, size_t n,
                    void (*fn)(pd_cam_frame *f, void *ud), void *ud, char *why, size_t whylen);

#endif
