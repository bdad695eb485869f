/* libFuzzer target for the G-code reader (src/files/gcode.c) and the multipart scanner that
 * finds an upload's file part (src/http/multipart.c). The first byte picks where the text is
 * split in two feeds of the plain-file path (a file read in pieces). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "files/files.h"
#include "http/multipart.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int memfd = -1;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    pd_files_limits l;
    pd_files_limits_default(&l);
    l.max_layers = 5000;
    pd_files_result *r = NULL;
    char err[256];
    const uint8_t *text = data + 1;
    size_t len = size - 1;
    if (len && text[0] == 'P')   /* keep to the G-code reader; fuzz_3mf has the zips */
        return 0;
    if (!pd_files_analyze_mem(text, len, &l, &r, err, sizeof err)) {
        double g[PD_FILES_MAX_FILAMENTS];
        pd_files_grams_upto_layer(r, 1, (int)data[0] * 4, g, PD_FILES_MAX_FILAMENTS);
        pd_files_result_free(&r);
    }
    /* the same bytes through a file, as an upload is read, and as a multipart body */
    if (memfd < 0 && (memfd = memfd_create("fuzz", 0)) < 0)
        abort();
    if (ftruncate(memfd, 0) || pwrite(memfd, text, len, 0) != (ssize_t)len)
        abort();
    if (len && !pd_files_analyze_fd(memfd, 0, len, &l, &r, err, sizeof err))
        pd_files_result_free(&r);
    uint64_t off, plen;
    char name[64];
    if (!pd_multipart_find(memfd, len, "b", &off, &plen, name, sizeof name) && off + plen > len)
        abort();
    return 0;
}
