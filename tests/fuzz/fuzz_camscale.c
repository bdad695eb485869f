/* libFuzzer target for a camera's JPEG made smaller (src/camera/decode.c, pd_cam_jpeg_scale):
 * the bytes of a frame as a printer's port 6000 sends them, which printdeck checks only for
 * SOI and EOI before libjpeg-turbo decodes them for a viewer that asked for a smaller size.
 * The first byte picks the width; whatever comes out must be a JPEG, and libjpeg's errors
 * must come back as PARSE rather than exit(). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "camera/decode.h"
#include "camera/sizes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    pd_cam_frame *out = NULL;
    char why[200];
    pd_err rc = pd_cam_jpeg_scale(data + 1, size - 1, pd_cam_widths[data[0] % PD_CAM_NWIDTHS], &out,
                                  why, sizeof why);
    if (out && (rc || out->len < 4 || out->data[0] != 0xFF || out->data[1] != 0xD8))
        abort();
    pd_cam_frame_unref(&out);
    return 0;
}
