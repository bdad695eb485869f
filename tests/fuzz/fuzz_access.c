/* libFuzzer target for the access rules (src/http/access.c), which read Host, Origin and
 * X-Forwarded-Host and Cookie from any client and lists from the configuration. The input is
 * split at newlines into: a CIDR list, a header value, a list of hosts or origins, a Host value;
 * the header value is also read as a Cookie header, the Host value as a cookie name. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/access.h"

#define FUZZ_MAX_INPUT 4096 /* headers and lists are far shorter; longer inputs add nothing */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_MAX_INPUT)
        return 0;
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *part[4] = {"", "", "", ""};
    char *p = buf;
    for (size_t i = 0; i < 4 && p; i++) {
        part[i] = p;
        p = strchr(p, '\n');
        if (p)
            *p++ = '\0';
    }
    pd_access_nets nets = {.n = 0};
    pd_access_ip ip;
    char err[160];
    pd_access_nets_parse(part[0], &nets, err, sizeof err);
    if (pd_access_ip_parse(part[1], &ip))
        pd_access_nets_match(&nets, &ip);
    pd_access_host_allowed(part[1], part[2], part[3]);
    pd_access_origin_listed(part[1], part[2]);
    pd_access_origin_same_host(part[1], part[3]);
    pd_access_list_check(PD_ACCESS_ORIGINS, part[2], err, sizeof err);
    pd_access_list_check(PD_ACCESS_HOSTS, part[2], err, sizeof err);
    char cookie[64];
    const char *cv = pd_access_cookie(part[1], part[3], cookie, sizeof cookie);
    if (cv && strlen(cv) >= sizeof cookie)
        abort();
    free(buf);
    return 0;
}
