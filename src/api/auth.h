/* Credentials (docs/accounts.md): API tokens and sessions, both stored as the SHA-256 of a
 * 256-bit random secret and found by that hash, so neither the database nor the lookup's timing
 * gives one away. A token has a role; a session belongs to a user (the user's role and printer
 * limits, read at each request) or to the token it was exchanged for. PRINTDECK_TOKEN from
 * the environment is an extra admin token. */
#ifndef PD_AUTH_H
#define PD_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/http.h"
#include "store/store.h"

/* "pdk_" and 43 characters of URL-safe base64 */
#define PD_AUTH_SECRET_LEN 48
/* a session's seen_at is written at most this often: not one write per request */
#define PD_AUTH_TOUCH_S 60
/* sessions kept per user (the oldest go first) */
#define PD_AUTH_SESSIONS_PER_USER 32

typedef struct pd_auth {
    pd_db *db;
    char env_token[128];   /* "" = none */
    int64_t session_max_s;   /* a session ends this long after sign-in */
    int64_t session_idle_s;  /* ... or after this long unused */
} pd_auth;

pd_err pd_auth_init(pd_auth *a, pd_db *db, const char *env_token);

const char *pd_auth_role_name(pd_role r);
/* "admin" | "operator" | "viewer"; PD_ROLE_NONE for anything else */
pd_role pd_auth_role_parse(const char *s);

/* Makes a new token, stores its hash, writes the token (shown once) into out and its row id
 * into *id (may be NULL). */
pd_err pd_auth_token_create(pd_auth *a, const char *name, pd_role role, char *out, size_t outlen,
                            int64_t *id);
/* Revokes a token and every session exchanged for it. */
pd_err pd_auth_token_revoke(pd_auth *a, int64_t id);

/* pd_ident_fn for the HTTP server. */
pd_err pd_auth_ident(const char *token, const char *session, pd_ident *out, void *auth);

/* A new session for who signed in: a user (user_id), a token (token_id), or PRINTDECK_TOKEN
 * (neither; valid while the daemon runs with it): the cookie value and the CSRF token are
 * written into cookie and csrf (PD_AUTH_SECRET_LEN each). Ends the user's oldest sessions
 * past PD_AUTH_SESSIONS_PER_USER and every expired one. */
pd_err pd_auth_session_create(pd_auth *a, const pd_ident *who, char cookie[PD_AUTH_SECRET_LEN],
                              char csrf[PD_AUTH_SECRET_LEN]);
/* Whether id may see and control printer printer_id (its printer limit). */
bool pd_auth_sees(const pd_ident *id, int64_t printer_id);
/* Ends the session of a cookie value (NOTFOUND when there is none). */
pd_err pd_auth_session_end(pd_auth *a, const char *cookie);
/* An open event stream is use of its session: its seen_at is now, so it does not end idle while
 * a dashboard watches. NOTFOUND when the session has ended (expired, signed out, revoked, its
 * password changed, pruned): the stream must end with it. */
pd_err pd_auth_session_touch(pd_auth *a, int64_t session_id);
/* Ends a user's sessions, except `keep` (0: all): a reset or changed password, a role or
 * printer change, a deleted user. */
pd_err pd_auth_sessions_end_user(pd_auth *a, int64_t user_id, int64_t keep);

/* "1,5,7" (the stored form of a printer limit) into out; false when malformed or too many. */
bool pd_auth_printers_parse(const char *s, int64_t *out, size_t max, size_t *n);

#endif
