/* What a service said when it refused a message, in a few words for the log and the test's
 * answer: read from the first bytes of its reply as the services document their errors, e.g.
 * Telegram {"ok":false,"description"}, Pushover {"errors":[…]}, Discord {"message","code"},
 * ntfy {"error"}, Home Assistant {"message"}; Slack answers a plain word ("invalid_token"),
 * so a reply that is no JSON gives its first line. An HTML page gives nothing. The reply is
 * outside input: tests/fuzz/fuzz_notify_reply.c. */
#include <jansson.h>
#include <string.h>

#include "notify/types.h"

/* s (n bytes) into out as one line: control characters as spaces, cut whole at a UTF-8
 * sequence's start */
static void line(const char *s, size_t n, char *out, size_t outlen)
{
    size_t k = 0, i = 0;
    for (; i < n && k + 1 < outlen; i++)
        out[k++] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? ' ' : s[i];
    if (i < n && ((unsigned char)s[i] & 0xc0) == 0x80) {
        while (k && ((unsigned char)out[k - 1] & 0xc0) == 0x80)
            k--;
        if (k)
            k--;  /* the sequence's lead byte */
    }
    while (k && out[k - 1] == ' ')
        k--;
    out[k] = '\0';
}

static const char *said(const json_t *o)
{
    static const char *const keys[] = {"description", "errors", "message", "error", "detail"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        const json_t *v = json_object_get(o, keys[i]);
        if (json_is_array(v))
            v = json_array_get(v, 0);
        if (json_is_object(v))
            v = json_object_get(v, "message");
        if (json_is_string(v) && json_string_length(v))
            return json_string_value(v);
    }
    return NULL;
}

void pd_notify_reply_words(const char *body, size_t len, char *out, size_t outlen)
{
    if (!outlen)
        return;
    out[0] = '\0';
    size_t at = 0;
    while (at < len && strchr(" \t\r\n", body[at]))
        at++;
    if (at == len || body[at] == '<')
        return;
    json_t *o = body[at] == '{' ? json_loadb(body + at, len - at, 0, NULL) : NULL;
    const char *s = said(o);
    if (s) {
        line(s, strlen(s), out, outlen);
    } else if (!o) {
        const char *end = memchr(body + at, '\n', len - at);
        line(body + at, end ? (size_t)(end - body - at) : len - at, out, outlen);
    }
    json_decref(o);
}
