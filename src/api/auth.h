/* API tokens: created by `printdeck token create NAME`, stored as SHA-256 only, checked in
 * constant time. PRINTDECK_TOKEN from the environment is an extra admin token. */
#ifndef PD_AUTH_H
#define PD_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "store/store.h"

typedef struct pd_auth {
    pd_db *db;
    char env_token[128];   /* "" = none */
} pd_auth;

pd_err pd_auth_init(pd_auth *a, pd_db *db, const char *env_token);
/* Makes a new token for NAME, stores its hash, writes the token (shown once) into out. */
pd_err pd_auth_token_create(pd_auth *a, const char *name, char *out, size_t outlen);
/* pd_token_check_fn for the HTTP server. */
bool pd_auth_check(const char *token, void *auth);

#endif
