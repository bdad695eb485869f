/* libFuzzer target for the built-in site's request rules (src/http/site.c), which read the
 * path, Accept-Encoding and If-None-Match of any client. The input is split at newlines into
 * a path, an Accept-Encoding value and an If-None-Match value. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/site.h"

#define INPUT_MAX 8192 /* lws bounds each header; longer inputs add nothing */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const unsigned char body[] = "body", gz[] = "g", br[] = "b";
static const pd_http_file files[] = {
    {"/", "text/html", "\"1\"", false, body, NULL, NULL, 4, 0, 0},
    {"/assets/a-1.js", "text/javascript", "\"2\"", true, body, gz, br, 4, 1, 1},
    {"/index.html", "text/html", "\"3\"", false, body, gz, NULL, 4, 1, 0},
};
static const pd_http_site site = {files, 3, "/index.html"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > INPUT_MAX)
        return 0;
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *part[3] = {"", "", ""};
    size_t path_len = size;
    char *p = buf;
    for (size_t i = 0; i < 3 && p; i++) {
        part[i] = p;
        p = strchr(p, '\n');
        if (p) {
            if (i == 0)
                path_len = (size_t)(p - buf);
            *p++ = '\0';
        }
    }
    pd_site_pick pick;
    if (!pd_site_pick_file(&site, part[0], path_len, part[1], &pick) &&
        (pick.len > pick.file->len || !pick.etag[0]))
        abort();
    pd_site_accepts(part[1], "gzip");
    pd_site_etag_match(part[2], "\"2\"");
    free(buf);
    return 0;
}
