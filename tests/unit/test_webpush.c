/* Web Push's cryptography and subscriptions, the pure parts: RFC 8291's worked example
 * (Appendix A: its keys, salt and plaintext give its exact body), a VAPID JWT that verifies
 * with the public key it names (RFC 8292), and what a browser's subscription must be. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "notify/webpush.h"

#define RFC_PLAIN "When I grow up, I want to be a watermelon"
#define RFC_AS_PRIVATE "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"
#define RFC_AS_PUBLIC "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8"
#define RFC_UA_PUBLIC "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
#define RFC_SALT "DGv6ra1nlYgDCS1FRnbzlw"
#define RFC_AUTH "BTBZMqHH6r4Tts7J_aSIgg"
#define RFC_BODY "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"

static void rfc8291_appendix_a(void **state)
{
    (void)state;
    uint8_t as_d[32], as_k[65], ua[65], salt[16], auth[16], out[256];
    assert_true(pd_b64url_dec_exact(RFC_AS_PRIVATE, as_d, 32));
    assert_true(pd_b64url_dec_exact(RFC_AS_PUBLIC, as_k, 65));
    assert_true(pd_b64url_dec_exact(RFC_UA_PUBLIC, ua, 65));
    assert_true(pd_b64url_dec_exact(RFC_SALT, salt, 16));
    assert_true(pd_b64url_dec_exact(RFC_AUTH, auth, 16));
    assert_true(pd_wp_pub_valid(ua));
    size_t n = 0;
    assert_int_equal(pd_wp_encrypt(ua, auth, (const uint8_t *)RFC_PLAIN, strlen(RFC_PLAIN), as_d, as_k, salt, out,
                                   sizeof out, &n), PD_OK);
    char text[400];
    assert_true(pd_b64url_enc(out, n, text, sizeof text));
    assert_string_equal(text, RFC_BODY);
    /* fresh keys and salt: another body of the same length */
    assert_int_equal(pd_wp_encrypt(ua, auth, (const uint8_t *)RFC_PLAIN, strlen(RFC_PLAIN), NULL, NULL, NULL, out,
                                   sizeof out, &n), PD_OK);
    assert_int_equal(n, PD_WP_HEADER_LEN + strlen(RFC_PLAIN) + 17);
    assert_true(pd_b64url_enc(out, n, text, sizeof text));
    assert_string_not_equal(text, RFC_BODY);
    /* one record of 4096 at most */
    static uint8_t big[PD_WP_PLAIN_MAX + 1], bigout[PD_WP_RECORD + 64];
    assert_int_equal(pd_wp_encrypt(ua, auth, big, sizeof big, NULL, NULL, NULL, bigout, sizeof bigout, &n),
                     PD_ERR_TOOBIG);
    assert_int_equal(pd_wp_encrypt(ua, auth, big, PD_WP_PLAIN_MAX, NULL, NULL, NULL, bigout, sizeof bigout, &n),
                     PD_OK);
    assert_int_equal(n, PD_WP_RECORD);
}

static void vapid_jwt_verifies_with_its_key(void **state)
{
    (void)state;
    uint8_t d[32], k[65];
    assert_int_equal(pd_wp_keygen(d, k), PD_OK);
    char h[1024];
    assert_int_equal(pd_wp_vapid(d, k, "https://push.example.net", 1700000000, "mailto:ops@example.org", h, sizeof h),
                     PD_OK);
    assert_memory_equal(h, "vapid t=", 8);
    char *t = h + 8, *comma = strstr(t, ", k=");
    assert_non_null(comma);
    char kt[100];
    assert_true(pd_b64url_enc(k, 65, kt, sizeof kt));
    assert_string_equal(comma + 4, kt);
    *comma = '\0';
    char *dot1 = strchr(t, '.'), *dot2 = strrchr(t, '.');
    assert_true(dot1 && dot2 > dot1);
    /* the header and claims as RFC 8292 §2 has them */
    uint8_t json[256] = {0};
    size_t cl = (size_t)(dot2 - dot1 - 1);
    char claims[256];
    memcpy(claims, dot1 + 1, cl);
    claims[cl] = '\0';
    size_t want = cl * 3 / 4;
    assert_true(pd_b64url_dec_exact(claims, json, want));
    assert_string_equal((char *)json, "{\"aud\":\"https://push.example.net\",\"exp\":1700000000,\"sub\":\"mailto:ops@example.org\"}");
    /* the signature: r and s over "<header>.<claims>" with the public key */
    uint8_t raw[64];
    assert_true(pd_b64url_dec_exact(dot2 + 1, raw, 64));
    ECDSA_SIG *sig = ECDSA_SIG_new();
    ECDSA_SIG_set0(sig, BN_bin2bn(raw, 32, NULL), BN_bin2bn(raw + 32, 32, NULL));
    unsigned char *der = NULL;
    int derlen = i2d_ECDSA_SIG(sig, &der);
    assert_true(derlen > 0);
    /* the public key alone, as a receiver has it: a SubjectPublicKeyInfo prefix for P-256 */
    static const uint8_t spki[] = {0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
                                   0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00};
    uint8_t buf[sizeof spki + 65];
    memcpy(buf, spki, sizeof spki);
    memcpy(buf + sizeof spki, k, 65);
    const uint8_t *p = buf;
    EVP_PKEY *pk = d2i_PUBKEY(NULL, &p, sizeof buf);
    assert_non_null(pk);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pk), 1);
    assert_int_equal(EVP_DigestVerify(md, der, (size_t)derlen, (const uint8_t *)t, (size_t)(dot2 - t)), 1);
    /* and not over anything else */
    t[0] ^= 1;
    assert_int_not_equal(EVP_DigestVerify(md, der, (size_t)derlen, (const uint8_t *)t, (size_t)(dot2 - t)), 1);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pk);
    OPENSSL_free(der);
    ECDSA_SIG_free(sig);
}

static pd_err parse(const char *text, pd_wp_sub *s, const char **field)
{
    json_t *j = json_loads(text, 0, NULL);
    char why[256];
    *field = NULL;
    pd_err rc = pd_wp_sub_parse(j, s, field, why, sizeof why);
    json_decref(j);
    return rc;
}

static void subscriptions_are_checked(void **state)
{
    (void)state;
    pd_wp_sub s;
    const char *f;
    assert_int_equal(parse("{\"endpoint\":\"https://fcm.googleapis.com/fcm/send/abc\",\"expirationTime\":null,"
                           "\"keys\":{\"p256dh\":\"" RFC_UA_PUBLIC "\",\"auth\":\"" RFC_AUTH "==\"}}", &s, &f), PD_OK);
    assert_string_equal(s.auth, RFC_AUTH);
    assert_string_equal(s.p256dh, RFC_UA_PUBLIC);
    /* a push service on this machine (tests, a self-hosted one) may be plain http */
    assert_int_equal(parse("{\"endpoint\":\"http://127.0.0.1:8999/push/1\",\"keys\":{\"p256dh\":\"" RFC_UA_PUBLIC
                           "\",\"auth\":\"" RFC_AUTH "\"}}", &s, &f), PD_OK);
    static const struct { const char *json, *field; } bad[] = {
        {"{\"keys\":{\"p256dh\":\"" RFC_UA_PUBLIC "\",\"auth\":\"" RFC_AUTH "\"}}", "endpoint"},
        {"{\"endpoint\":\"http://push.example.net/x\",\"keys\":{\"p256dh\":\"" RFC_UA_PUBLIC "\",\"auth\":\"" RFC_AUTH "\"}}", "endpoint"},
        {"{\"endpoint\":\"ftp://push.example.net/x\",\"keys\":{\"p256dh\":\"" RFC_UA_PUBLIC "\",\"auth\":\"" RFC_AUTH "\"}}", "endpoint"},
        {"{\"endpoint\":\"https://push.example.net/x y\",\"keys\":{\"p256dh\":\"" RFC_UA_PUBLIC "\",\"auth\":\"" RFC_AUTH "\"}}", "endpoint"},
        {"{\"endpoint\":\"https://p.example/x\",\"keys\":{\"p256dh\":\"" RFC_SALT "\",\"auth\":\"" RFC_AUTH "\"}}", "keys.p256dh"},
        /* 65 bytes, but not a point on the curve */
        {"{\"endpoint\":\"https://p.example/x\",\"keys\":{\"p256dh\":\"BAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\",\"auth\":\"" RFC_AUTH "\"}}", "keys.p256dh"},
        {"{\"endpoint\":\"https://p.example/x\",\"keys\":{\"p256dh\":\"" RFC_UA_PUBLIC "\",\"auth\":\"" RFC_AS_PRIVATE "\"}}", "keys.auth"},
        {"{\"endpoint\":\"https://p.example/x\",\"keys\":{\"p256dh\":\"" RFC_UA_PUBLIC "\",\"auth\":\"a+b/\"}}", "keys.auth"},
        {"{\"endpoint\":\"https://p.example/x\"}", "keys.p256dh"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(parse(bad[i].json, &s, &f), PD_ERR_FIELD);
        assert_string_equal(f, bad[i].field);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc8291_appendix_a),
        cmocka_unit_test(vapid_jwt_verifies_with_its_key),
        cmocka_unit_test(subscriptions_are_checked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
