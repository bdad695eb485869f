#include "api/auth.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#define TOKEN_PREFIX "pdk_"
#define TOKEN_BYTES 32

pd_err pd_auth_init(pd_auth *a, pd_db *db, const char *env_token)
{
    if (sodium_init() < 0)
        return PD_ERR_INTERNAL;
    a->db = db;
    a->env_token[0] = 0;
    if (env_token && *env_token) {
        if (strlen(env_token) >= sizeof a->env_token)
            return PD_ERR_TOOBIG;
        strcpy(a->env_token, env_token);
    }
    return PD_OK;
}

static void token_hash(const char *token, char hex[crypto_hash_sha256_BYTES * 2 + 1])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)token, strlen(token));
    sodium_bin2hex(hex, crypto_hash_sha256_BYTES * 2 + 1, h, sizeof h);
}

pd_err pd_auth_token_create(pd_auth *a, const char *name, char *out, size_t outlen)
{
    unsigned char raw[TOKEN_BYTES];
    char b64[sodium_base64_ENCODED_LEN(TOKEN_BYTES, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(b64, sizeof b64, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    if ((size_t)snprintf(out, outlen, TOKEN_PREFIX "%s", b64) >= outlen)
        return PD_ERR_TOOBIG;
    char hex[crypto_hash_sha256_BYTES * 2 + 1];
    token_hash(out, hex);
    return pd_db_token_insert(a->db, name, hex);
}

bool pd_auth_check(const char *token, void *ud)
{
    pd_auth *a = ud;
    size_t n = strlen(token);
    if (!n || n > 256)
        return false;
    size_t envn = strlen(a->env_token);
    if (envn && envn == n && sodium_memcmp(token, a->env_token, n) == 0)
        return true;
    /* the lookup is by hash, so timing says nothing about a stored token */
    char hex[crypto_hash_sha256_BYTES * 2 + 1], name[64];
    token_hash(token, hex);
    return pd_db_token_find(a->db, hex, name, sizeof name) == PD_OK;
}
