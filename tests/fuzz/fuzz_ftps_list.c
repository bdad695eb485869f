/* libFuzzer target for the FTPS directory listing parser (src/files/ftps_list.c), which reads
 * what a printer, or anything answering on its FTPS port, sends for LIST or MLSD; and for the
 * fetch policy that turns the newest entry into a path. Every entry must keep the parser's
 * promises: a bounded name without '/', control characters, "." or "..". */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "files/fetchplan.h"
#include "files/ftps_list.h"

#define FUZZ_MAX_INPUT (64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_MAX_INPUT)
        return 0;
    pd_ftps_listing l;
    if (pd_ftps_list_parse((const char *)data, size, 1750000000, 100, &l))
        return 0;
    for (size_t i = 0; i < l.n; i++) {
        const char *n = l.v[i].name;
        size_t len = strlen(n);
        if (!len || len > PD_FTPS_NAME_MAX || strchr(n, '/') || !strcmp(n, ".") || !strcmp(n, ".."))
            abort();
        for (size_t k = 0; k < len; k++)
            if ((unsigned char)n[k] < 0x20)
                abort();
    }
    const pd_ftps_entry *newest = pd_fetchplan_newest_3mf(l.v, l.n);
    char paths[PD_FETCHPLAN_MAX][PD_FETCHPLAN_PATH_MAX];
    if (newest)
        pd_fetchplan_candidates(newest->name, newest->name, paths, PD_FETCHPLAN_MAX);
    pd_ftps_listing_free(&l);
    return 0;
}
