/* libFuzzer target for what a notification service answers when it refuses a message
 * (src/notify/reply.c): any bytes a receiver sends back. The words must be one line: bounded,
 * NUL-terminated, without control characters. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "notify/types.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > PD_NOTIFY_REPLY_MAX)
        return 0;
    char out[160];
    memset(out, 'x', sizeof out);
    pd_notify_reply_words((const char *)data, size, out, sizeof out);
    size_t n = strnlen(out, sizeof out);
    if (n == sizeof out)
        abort();
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
            abort();
    return 0;
}
