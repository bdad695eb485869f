/* Web Push's cryptography with OpenSSL 3, pure: P-256 keys as raw bytes (the form every key
 * takes on the wire), the message encryption of RFC 8291 in RFC 8188's aes128gcm coding, and
 * the VAPID JWT of RFC 8292. */
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notify/webpush.h"

bool pd_b64url_enc(const uint8_t *in, size_t n, char *out, size_t outlen)
{
    if (outlen < sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING))
        return false;
    sodium_bin2base64(out, outlen, in, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return true;
}

bool pd_b64url_dec_exact(const char *s, uint8_t *out, size_t want)
{
    size_t len = strlen(s), got = 0;
    const char *end = NULL;
    /* browsers send no padding; some libraries' copies of a subscription add it */
    for (int i = 0; i < 2 && len && s[len - 1] == '='; i++)
        len--;
    return !sodium_base642bin(out, want, s, len, NULL, &got, &end, sodium_base64_VARIANT_URLSAFE_NO_PADDING) &&
           end == s + len && got == want;
}

/* The key of pub (and priv when given) on P-256; NULL when they are no such key. */
static EVP_PKEY *key_of(const uint8_t *priv, const uint8_t pub[PD_WP_PUB_LEN])
{
    OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
    BIGNUM *d = priv ? BN_bin2bn(priv, PD_WP_PRIV_LEN, NULL) : NULL;
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    OSSL_PARAM *p = NULL;
    EVP_PKEY *k = NULL;
    if (b && c && (!priv || d) && OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) &&
        OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, pub, PD_WP_PUB_LEN) &&
        (!priv || OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_PRIV_KEY, d)) && (p = OSSL_PARAM_BLD_to_param(b)) &&
        EVP_PKEY_fromdata_init(c) > 0)
        EVP_PKEY_fromdata(c, &k, priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, p);
    OSSL_PARAM_free(p);
    EVP_PKEY_CTX_free(c);
    BN_clear_free(d);
    OSSL_PARAM_BLD_free(b);
    return k;
}

static bool raw_of(EVP_PKEY *k, uint8_t priv[PD_WP_PRIV_LEN], uint8_t pub[PD_WP_PUB_LEN])
{
    BIGNUM *d = NULL;
    size_t n = 0;
    bool ok = EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_PRIV_KEY, &d) && BN_bn2binpad(d, priv, PD_WP_PRIV_LEN) == PD_WP_PRIV_LEN &&
              EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pub, PD_WP_PUB_LEN, &n) &&
              n == PD_WP_PUB_LEN && pub[0] == 0x04;
    BN_clear_free(d);
    return ok;
}

pd_err pd_wp_keygen(uint8_t priv[PD_WP_PRIV_LEN], uint8_t pub[PD_WP_PUB_LEN])
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    bool ok = k && raw_of(k, priv, pub);
    EVP_PKEY_free(k);
    return ok ? PD_OK : PD_ERR_INTERNAL;
}

bool pd_wp_pub_valid(const uint8_t pub[PD_WP_PUB_LEN])
{
    if (pub[0] != 0x04)
        return false;
    EVP_PKEY *k = key_of(NULL, pub);
    EVP_PKEY_CTX *c = k ? EVP_PKEY_CTX_new(k, NULL) : NULL;
    bool ok = c && EVP_PKEY_public_check(c) == 1;
    EVP_PKEY_CTX_free(c);
    EVP_PKEY_free(k);
    return ok;
}

/* HKDF-SHA256 (RFC 5869), extract and expand. */
static bool hkdf(const uint8_t *salt, size_t saltn, const uint8_t *ikm, size_t ikmn, const void *info, size_t infon,
                 uint8_t *out, size_t n)
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *c = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    OSSL_PARAM p[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA256", 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, saltn),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikmn),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, infon),
        OSSL_PARAM_construct_end(),
    };
    bool ok = c && EVP_KDF_derive(c, out, n, p) > 0;
    EVP_KDF_CTX_free(c);
    EVP_KDF_free(kdf);
    return ok;
}

/* The content key and nonce of RFC 8291 §3.4 and RFC 8188 §2.2-2.3. */
static bool derive(EVP_PKEY *as, const uint8_t as_pub[PD_WP_PUB_LEN], const uint8_t ua_pub[PD_WP_PUB_LEN],
                   const uint8_t auth[PD_WP_AUTH_LEN], const uint8_t salt[PD_WP_SALT_LEN], uint8_t cek[16],
                   uint8_t nonce[12])
{
    EVP_PKEY *ua = key_of(NULL, ua_pub);
    EVP_PKEY_CTX *x = EVP_PKEY_CTX_new(as, NULL);
    uint8_t secret[32], ikm[32], info[14 + 2 * PD_WP_PUB_LEN];
    size_t n = sizeof secret;
    bool ok = ua && x && EVP_PKEY_derive_init(x) > 0 && EVP_PKEY_derive_set_peer(x, ua) > 0 &&
              EVP_PKEY_derive(x, secret, &n) > 0 && n == sizeof secret;
    /* key_info = "WebPush: info" 0x00 ua_public as_public */
    memcpy(info, "WebPush: info", 14);
    memcpy(info + 14, ua_pub, PD_WP_PUB_LEN);
    memcpy(info + 14 + PD_WP_PUB_LEN, as_pub, PD_WP_PUB_LEN);
    ok = ok && hkdf(auth, PD_WP_AUTH_LEN, secret, sizeof secret, info, sizeof info, ikm, sizeof ikm) &&
         hkdf(salt, PD_WP_SALT_LEN, ikm, sizeof ikm, "Content-Encoding: aes128gcm", 28, cek, 16) &&
         hkdf(salt, PD_WP_SALT_LEN, ikm, sizeof ikm, "Content-Encoding: nonce", 24, nonce, 12);
    OPENSSL_cleanse(secret, sizeof secret);
    OPENSSL_cleanse(ikm, sizeof ikm);
    EVP_PKEY_CTX_free(x);
    EVP_PKEY_free(ua);
    return ok;
}

pd_err pd_wp_encrypt(const uint8_t ua_pub[PD_WP_PUB_LEN], const uint8_t auth[PD_WP_AUTH_LEN], const uint8_t *plain,
                     size_t len, const uint8_t *as_priv, const uint8_t *as_pub, const uint8_t *salt, uint8_t *out,
                     size_t outlen, size_t *outn)
{
    if (len > PD_WP_PLAIN_MAX || outlen < PD_WP_HEADER_LEN + len + 17)
        return PD_ERR_TOOBIG;
    uint8_t priv[PD_WP_PRIV_LEN], pub[PD_WP_PUB_LEN], cek[16], nonce[12];
    if (as_priv) {
        memcpy(priv, as_priv, sizeof priv);
        memcpy(pub, as_pub, sizeof pub);
    } else if (pd_wp_keygen(priv, pub)) {
        return PD_ERR_INTERNAL;
    }
    if (salt)
        memcpy(out, salt, PD_WP_SALT_LEN);
    else if (RAND_bytes(out, PD_WP_SALT_LEN) != 1)
        return PD_ERR_INTERNAL;
    /* the header: salt, record size (big-endian), the key id (the sender's public key) */
    out[16] = 0;
    out[17] = 0;
    out[18] = PD_WP_RECORD >> 8;
    out[19] = PD_WP_RECORD & 0xff;
    out[20] = PD_WP_PUB_LEN;
    memcpy(out + 21, pub, PD_WP_PUB_LEN);
    EVP_PKEY *as = key_of(priv, pub);
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    uint8_t *rec = out + PD_WP_HEADER_LEN, delim = 0x02;  /* the last (and only) record's padding */
    int l1 = 0, l2 = 0, l3 = 0;
    bool ok = as && c && derive(as, pub, ua_pub, auth, out, cek, nonce) &&
              EVP_EncryptInit_ex(c, EVP_aes_128_gcm(), NULL, cek, nonce) &&
              EVP_EncryptUpdate(c, rec, &l1, plain, (int)len) && EVP_EncryptUpdate(c, rec + l1, &l2, &delim, 1) &&
              EVP_EncryptFinal_ex(c, rec + l1 + l2, &l3) &&
              EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, rec + l1 + l2 + l3);
    *outn = ok ? PD_WP_HEADER_LEN + (size_t)(l1 + l2 + l3) + 16 : 0;
    OPENSSL_cleanse(priv, sizeof priv);
    OPENSSL_cleanse(cek, sizeof cek);
    EVP_CIPHER_CTX_free(c);
    EVP_PKEY_free(as);
    return ok ? PD_OK : PD_ERR_INTERNAL;
}

pd_err pd_wp_vapid(const uint8_t priv[PD_WP_PRIV_LEN], const uint8_t pub[PD_WP_PUB_LEN], const char *aud, int64_t exp,
                   const char *sub, char *out, size_t outlen)
{
    static const char head[] = "{\"typ\":\"JWT\",\"alg\":\"ES256\"}";
    json_t *claims = json_pack("{s:s,s:I,s:s}", "aud", aud, "exp", (json_int_t)exp, "sub", sub);
    char *cj = claims ? json_dumps(claims, JSON_COMPACT) : NULL;
    json_decref(claims);
    char input[1024], k[100];
    size_t cl = cj ? strlen(cj) : 0;
    bool ok = cj && cl < 600 && pd_b64url_enc((const uint8_t *)head, sizeof head - 1, input, sizeof input);
    size_t hl = ok ? strlen(input) : 0;
    if (ok)
        input[hl++] = '.';
    ok = ok && pd_b64url_enc((const uint8_t *)cj, cl, input + hl, sizeof input - hl) &&
         pd_b64url_enc(pub, PD_WP_PUB_LEN, k, sizeof k);
    free(cj);
    EVP_PKEY *key = ok ? key_of(priv, pub) : NULL;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    uint8_t der[80], raw[64];
    size_t derlen = sizeof der;
    ok = key && md && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) > 0 &&
         EVP_DigestSign(md, der, &derlen, (const uint8_t *)input, strlen(input)) > 0;
    /* JWS wants the signature as r and s, 32 bytes each (RFC 7518 §3.4), not DER */
    const uint8_t *p = der;
    ECDSA_SIG *sig = ok ? d2i_ECDSA_SIG(NULL, &p, (long)derlen) : NULL;
    ok = sig && BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw, 32) == 32 && BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw + 32, 32) == 32;
    char s64[100];
    ok = ok && pd_b64url_enc(raw, sizeof raw, s64, sizeof s64);
    ok = ok && (size_t)snprintf(out, outlen, "vapid t=%s.%s, k=%s", input, s64, k) < outlen;
    ECDSA_SIG_free(sig);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(key);
    return ok ? PD_OK : PD_ERR_INTERNAL;
}
