/* libFuzzer target for the 3MF reader (src/files/threemf.c and the G-code reader behind it):
 * zip bytes as an upload or a printer's file would bring them. Small bounds, so a run explores
 * the bound checks too instead of spending its time inflating. */
#include <stdint.h>
#include <stdlib.h>

#include "files/files.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pd_files_limits l;
    pd_files_limits_default(&l);
    l.max_unzipped = 4u << 20;
    l.max_layers = 1000;
    pd_files_result *r = NULL;
    char err[256];
    /* the zip reader is chosen by the signature: make sure the input always reaches it */
    if (size < 4 || data[0] != 'P' || data[1] != 'K' || data[2] != 3 || data[3] != 4)
        return 0;
    if (!pd_files_analyze_mem(data, size, &l, &r, err, sizeof err)) {
        double g[PD_FILES_MAX_FILAMENTS];
        for (int i = 0; i < r->nplates; i++)
            pd_files_grams_upto_layer(r, r->plates[i].index, 1000, g, PD_FILES_MAX_FILAMENTS);
        pd_files_result_free(&r);
    }
    return 0;
}
