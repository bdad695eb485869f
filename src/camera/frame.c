#include "camera/frame.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

pd_cam_frame *pd_cam_frame_new(size_t len)
{
    pd_cam_frame *f = malloc(sizeof *f + len);
    if (!f)
        return NULL;
    f->refs = 1;
    f->seq = 0;
    f->at_ms = 0;
    f->len = len;
    return f;
}

pd_cam_frame *pd_cam_frame_ref(pd_cam_frame *f)
{
    f->refs++;
    return f;
}

void pd_cam_frame_unref(pd_cam_frame **f)
{
    if (*f && !--(*f)->refs)
        free(*f);
    *f = NULL;
}

static void put_le32(unsigned char *at, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        at[i] = (unsigned char)(v >> (8 * i));
}

/* Layout from Doridian/OpenBambuAPI video.md, as ha-bambulab and Bambuddy pack it:
 * struct.pack("<II8s32s32s", 0x40, 0x3000, zeros, user, code). */
pd_err pd_cam_auth_packet(unsigned char out[PD_CAM_AUTH_LEN], const char *access_code)
{
    size_t n = strlen(access_code);
    if (n > 32)
        return PD_ERR_INVAL;
    memset(out, 0, PD_CAM_AUTH_LEN);
    put_le32(out, 0x40);      /* the bytes after this header */
    put_le32(out + 4, 0x3000);
    memcpy(out + 16, "bblp", 4);
    memcpy(out + 48, access_code, n);
    return PD_OK;
}

void pd_cam_parser_init(pd_cam_parser *p, size_t max)
{
    memset(p, 0, sizeof *p);
    p->max = max;
}

void pd_cam_parser_reset(pd_cam_parser *p)
{
    pd_cam_frame_unref(&p->frame);
    p->hlen = p->got = 0;
}

pd_err pd_cam_parse(pd_cam_parser *p, const unsigned char *d, size_t n,
                    void (*fn)(pd_cam_frame *f, void *ud), void *ud, char *why, size_t whylen)
{
    while (n) {
        if (!p->frame) {
            size_t take = PD_CAM_HDR_LEN - p->hlen < n ? PD_CAM_HDR_LEN - p->hlen : n;
            memcpy(p->hdr + p->hlen, d, take);
            p->hlen += take;
            d += take;
            n -= take;
            if (p->hlen < PD_CAM_HDR_LEN)
                break;
            /* all four bytes of the size: ha-bambulab reads three, which caps a frame at 16 MB */
            uint32_t size = (uint32_t)p->hdr[0] | (uint32_t)p->hdr[1] << 8 |
                            (uint32_t)p->hdr[2] << 16 | (uint32_t)p->hdr[3] << 24;
            if (size < 4 || size > p->max) {
                snprintf(why, whylen, "the camera announced a frame of %u bytes (at most %zu)",
                         size, p->max);
                pd_cam_parser_reset(p);
                return PD_ERR_TOOBIG;
            }
            if (!(p->frame = pd_cam_frame_new(size))) {
                snprintf(why, whylen, "out of memory for a frame of %u bytes", size);
                pd_cam_parser_reset(p);
                return PD_ERR_NOMEM;
            }
            p->got = 0;
            continue;
        }
        size_t take = p->frame->len - p->got < n ? p->frame->len - p->got : n;
        memcpy(p->frame->data + p->got, d, take);
        p->got += take;
        d += take;
        n -= take;
        if (p->got < p->frame->len)
            break;
        pd_cam_frame *f = p->frame;
        p->frame = NULL;
        p->hlen = 0;
        if (f->data[0] != 0xFF || f->data[1] != 0xD8 || f->data[f->len - 2] != 0xFF ||
            f->data[f->len - 1] != 0xD9) {
            snprintf(why, whylen, "the camera sent a frame of %zu bytes that is not a JPEG picture",
                     f->len);
            pd_cam_frame_unref(&f);
            return PD_ERR_PARSE;
        }
        fn(f, ud);
    }
    return PD_OK;
}
