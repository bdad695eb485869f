/* libFuzzer target for the browsers' Web Push subscriptions (src/notify/webpush.c), the JSON any
 * signed-in viewer posts to /api/v1/notifications/push/subscriptions, and the base64url its
 * keys are read with (src/notify/ece.c). Promises kept: a subscription accepted is accepted
 * again as it was stored, and its key takes an encrypted message (a point on the curve). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "notify/webpush.h"

#define FUZZ_MAX_INPUT (16 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_MAX_INPUT)
        return 0;
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    uint8_t raw[PD_WP_PUB_LEN];
    pd_b64url_dec_exact(text, raw, sizeof raw);
    json_t *j = json_loadb(text, size, 0, NULL);
    pd_wp_sub s, again;
    const char *field;
    char why[256];
    if (j && !pd_wp_sub_parse(j, &s, &field, why, sizeof why)) {
        json_t *stored = json_pack("{s:s,s:{s:s,s:s}}", "endpoint", s.endpoint, "keys", "p256dh", s.p256dh, "auth", s.auth);
        if (!stored || pd_wp_sub_parse(stored, &again, &field, why, sizeof why) || strcmp(s.endpoint, again.endpoint) ||
            strcmp(s.p256dh, again.p256dh) || strcmp(s.auth, again.auth))
            abort();
        uint8_t ua[PD_WP_PUB_LEN], auth[PD_WP_AUTH_LEN], out[PD_WP_HEADER_LEN + 32];
        size_t n;
        if (!pd_b64url_dec_exact(s.p256dh, ua, sizeof ua) || !pd_b64url_dec_exact(s.auth, auth, sizeof auth) ||
            pd_wp_encrypt(ua, auth, (const uint8_t *)"x", 1, NULL, NULL, NULL, out, sizeof out, &n))
            abort();
        json_decref(stored);
    }
    json_decref(j);
    free(text);
    return 0;
}
