#include "api/auth.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TOKEN_PREFIX "pdk_"
#define SECRET_BYTES 32
#define HASH_HEX (crypto_hash_sha256_BYTES * 2 + 1)

static const char *const role_names[] = {"", "viewer", "operator", "admin"};

const char *pd_auth_role_name(pd_role r)
{
    return r > PD_ROLE_NONE && r <= PD_ROLE_ADMIN ? role_names[r] : "none";
}

pd_role pd_auth_role_parse(const char *s)
{
    for (int r = PD_ROLE_VIEWER; s && r <= PD_ROLE_ADMIN; r++)
        if (!strcmp(s, role_names[r]))
            return (pd_role)r;
    return PD_ROLE_NONE;
}

pd_err pd_auth_init(pd_auth *a, pd_db *db, const char *env_token)
{
    if (sodium_init() < 0)
        return PD_ERR_INTERNAL;
    a->db = db;
    a->env_token[0] = 0;
    if (!a->session_max_s)
        a->session_max_s = 30 * 86400;
    if (!a->session_idle_s)
        a->session_idle_s = 7 * 86400;
    if (env_token && *env_token) {
        if (strlen(env_token) >= sizeof a->env_token)
            return PD_ERR_TOOBIG;
        strcpy(a->env_token, env_token);
    }
    return PD_OK;
}

static void secret_hash(const char *secret, char hex[HASH_HEX])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)secret, strlen(secret));
    sodium_bin2hex(hex, HASH_HEX, h, sizeof h);
}

/* prefix and 256 random bits in URL-safe base64 */
static void secret_new(const char *prefix, char out[PD_AUTH_SECRET_LEN])
{
    unsigned char raw[SECRET_BYTES];
    char b64[sodium_base64_ENCODED_LEN(SECRET_BYTES, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(b64, sizeof b64, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    snprintf(out, PD_AUTH_SECRET_LEN, "%s%s", prefix, b64);
    sodium_memzero(raw, sizeof raw);
}

pd_err pd_auth_token_create(pd_auth *a, const char *name, pd_role role, char *out, size_t outlen,
                            int64_t *id)
{
    if (outlen < PD_AUTH_SECRET_LEN || role == PD_ROLE_NONE)
        return PD_ERR_INVAL;
    secret_new(TOKEN_PREFIX, out);
    char hex[HASH_HEX], hint[12];
    secret_hash(out, hex);
    /* enough to tell tokens apart in a list, far too little to guess the rest from */
    snprintf(hint, sizeof hint, "%.8s", out);
    pd_sqlv v[] = {PD_SQL_S(name), PD_SQL_S(hex), PD_SQL_I((int64_t)time(NULL)),
                   PD_SQL_S(pd_auth_role_name(role)), PD_SQL_S(hint)};
    int64_t rid = 0;
    pd_err rc = pd_db_insert(a->db, "INSERT INTO api_token (name, hash, created_at, role, hint) "
                                    "VALUES (?, ?, ?, ?, ?) RETURNING id", v, 5, &rid);
    if (id)
        *id = rid;
    return rc;
}

pd_err pd_auth_token_revoke(pd_auth *a, int64_t id)
{
    pd_sqlv v[] = {PD_SQL_I(id)};
    int64_t n = 0;
    pd_err rc = pd_db_begin(a->db);
    if (!rc)
        rc = pd_db_run(a->db, "DELETE FROM session WHERE token_id = ?", v, 1, NULL);
    if (!rc)
        rc = pd_db_run(a->db, "DELETE FROM api_token WHERE id = ?", v, 1, &n);
    if (!rc && !n)
        rc = PD_ERR_NOTFOUND;
    return pd_db_end(a->db, rc);
}

bool pd_auth_printers_parse(const char *s, int64_t *out, size_t max, size_t *n)
{
    *n = 0;
    for (const char *p = s; *p;) {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || v <= 0 || *n >= max || (*end && *end != ','))
            return false;
        out[(*n)++] = v;
        p = *end ? end + 1 : end;
    }
    return true;
}

/* --- who is asking ---------------------------------------------------------------------- */

typedef struct ident_row {
    pd_ident *id;
    bool found, bad;
    int64_t seen, created, expires, last_used;
} ident_row;

/* id, name, role, last_used_at */
static pd_err token_row(const pd_row *row, void *ud)
{
    ident_row *o = ud;
    o->found = true;
    o->id->kind = PD_IDENT_TOKEN;
    o->id->token_id = pd_row_int(row, 0);
    snprintf(o->id->name, sizeof o->id->name, "%s", pd_row_text(row, 1));
    o->id->role = pd_auth_role_parse(pd_row_text(row, 2));
    o->last_used = pd_row_null(row, 3) ? 0 : pd_row_int(row, 3);
    return PD_OK;
}

/* s.id, s.user_id, s.token_id, s.csrf, s.seen_at, s.expires_at, name, role, printers */
static pd_err session_row(const pd_row *row, void *ud)
{
    ident_row *o = ud;
    pd_ident *id = o->id;
    o->found = true;
    id->kind = PD_IDENT_SESSION;
    id->session_id = pd_row_int(row, 0);
    id->user_id = pd_row_null(row, 1) ? 0 : pd_row_int(row, 1);
    id->token_id = pd_row_null(row, 2) ? 0 : pd_row_int(row, 2);
    snprintf(id->csrf, sizeof id->csrf, "%s", pd_row_text(row, 3));
    o->seen = pd_row_int(row, 4);
    o->expires = id->expires_at = pd_row_int(row, 5);
    snprintf(id->name, sizeof id->name, "%s", pd_row_text(row, 6));
    id->role = pd_auth_role_parse(pd_row_text(row, 7));
    /* a limit that cannot be read limits to nothing rather than to everything */
    o->bad = !pd_auth_printers_parse(pd_row_text(row, 8), id->printers, PD_IDENT_MAX_PRINTERS,
                                     &id->nprinters);
    /* an admin is never limited (docs/accounts.md): a limit kept from before does not hold */
    if (id->role == PD_ROLE_ADMIN)
        id->nprinters = 0;
    return PD_OK;
}

static pd_err ident_token(pd_auth *a, const char *token, pd_ident *out)
{
    size_t n = strlen(token);
    if (!n || n > 256)
        return PD_ERR_AUTH;
    size_t envn = strlen(a->env_token);
    if (envn && envn == n && sodium_memcmp(token, a->env_token, n) == 0) {
        out->kind = PD_IDENT_TOKEN;
        out->role = PD_ROLE_ADMIN;
        snprintf(out->name, sizeof out->name, "PRINTDECK_TOKEN");
        return PD_OK;
    }
    char hex[HASH_HEX];
    secret_hash(token, hex);
    ident_row o = {.id = out};
    pd_sqlv v[] = {PD_SQL_S(hex)};
    pd_err rc = pd_db_query(a->db, "SELECT id, name, role, last_used_at FROM api_token "
                                   "WHERE hash = ?", v, 1, token_row, &o);
    if (rc)
        return rc;
    if (!o.found || out->role == PD_ROLE_NONE)
        return PD_ERR_AUTH;
    int64_t now = (int64_t)time(NULL);
    if (now - o.last_used >= PD_AUTH_TOUCH_S) {
        pd_sqlv u[] = {PD_SQL_I(now), PD_SQL_I(out->token_id)};
        pd_db_run(a->db, "UPDATE api_token SET last_used_at = ? WHERE id = ?", u, 2, NULL);
    }
    return PD_OK;
}

static pd_err ident_session(pd_auth *a, const char *cookie, pd_ident *out)
{
    if (strlen(cookie) >= PD_AUTH_SECRET_LEN)
        return PD_ERR_AUTH;
    char hex[HASH_HEX];
    secret_hash(cookie, hex);
    ident_row o = {.id = out};
    pd_sqlv v[] = {PD_SQL_S(hex)};
    pd_err rc = pd_db_query(
        a->db,
        "SELECT s.id, s.user_id, s.token_id, s.csrf, s.seen_at, s.expires_at, "
        "COALESCE(u.name, t.name, 'PRINTDECK_TOKEN'), COALESCE(u.role, t.role, s.role), "
        "COALESCE(u.printers, '') "
        "FROM session s LEFT JOIN account u ON u.id = s.user_id "
        "LEFT JOIN api_token t ON t.id = s.token_id WHERE s.hash = ?", v, 1, session_row, &o);
    if (rc)
        return rc;
    if (!o.found)
        return PD_ERR_AUTH;
    int64_t now = (int64_t)time(NULL);
    pd_sqlv s[] = {PD_SQL_I(now), PD_SQL_I(out->session_id)};
    bool env_gone = !out->user_id && !out->token_id && !a->env_token[0];
    if (now >= o.expires || now - o.seen >= a->session_idle_s || out->role == PD_ROLE_NONE ||
        o.bad || env_gone) {
        pd_db_run(a->db, "DELETE FROM session WHERE id = ?", s + 1, 1, NULL);
        return PD_ERR_AUTH;
    }
    if (now - o.seen >= PD_AUTH_TOUCH_S)
        pd_db_run(a->db, "UPDATE session SET seen_at = ? WHERE id = ?", s, 2, NULL);
    return PD_OK;
}

pd_err pd_auth_ident(const char *token, const char *session, pd_ident *out, void *ud)
{
    pd_auth *a = ud;
    pd_err rc = token ? ident_token(a, token, out) : session ? ident_session(a, session, out)
                                                             : PD_ERR_AUTH;
    return rc == PD_OK ? PD_OK : PD_ERR_AUTH;
}

/* --- sessions ------------------------------------------------------------------------------ */

bool pd_auth_sees(const pd_ident *id, int64_t printer_id)
{
    if (!id->nprinters)
        return true;
    for (size_t i = 0; i < id->nprinters; i++)
        if (id->printers[i] == printer_id)
            return true;
    return false;
}

pd_err pd_auth_session_create(pd_auth *a, const pd_ident *who, char cookie[PD_AUTH_SECRET_LEN],
                              char csrf[PD_AUTH_SECRET_LEN])
{
    int64_t user_id = who->user_id, token_id = who->token_id;
    bool env = !user_id && !token_id;
    secret_new("", cookie);
    secret_new("", csrf);
    char hex[HASH_HEX];
    secret_hash(cookie, hex);
    int64_t now = (int64_t)time(NULL);
    pd_sqlv gone[] = {PD_SQL_I(now), PD_SQL_I(now - a->session_idle_s)};
    pd_sqlv v[] = {PD_SQL_S(hex), user_id ? PD_SQL_I(user_id) : PD_SQL_NUL,
                   token_id ? PD_SQL_I(token_id) : PD_SQL_NUL,
                   PD_SQL_S(env ? pd_auth_role_name(who->role) : ""), PD_SQL_S(csrf),
                   PD_SQL_I(now), PD_SQL_I(now), PD_SQL_I(now + a->session_max_s)};
    pd_sqlv keep[] = {PD_SQL_I(user_id), PD_SQL_I(user_id),
                      PD_SQL_I(PD_AUTH_SESSIONS_PER_USER)};
    pd_err rc = pd_db_begin(a->db);
    if (!rc)
        rc = pd_db_run(a->db, "DELETE FROM session WHERE expires_at <= ? OR seen_at <= ?", gone,
                       2, NULL);
    if (!rc)
        rc = pd_db_run(a->db, "INSERT INTO session (hash, user_id, token_id, role, csrf, "
                              "created_at, seen_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       v, 8, NULL);
    if (!rc && user_id)
        rc = pd_db_run(a->db, "DELETE FROM session WHERE user_id = ? AND id NOT IN (SELECT id "
                              "FROM session WHERE user_id = ? ORDER BY id DESC LIMIT ?)",
                       keep, 3, NULL);
    return pd_db_end(a->db, rc);
}

pd_err pd_auth_session_end(pd_auth *a, const char *cookie)
{
    if (strlen(cookie) >= PD_AUTH_SECRET_LEN)
        return PD_ERR_NOTFOUND;
    char hex[HASH_HEX];
    secret_hash(cookie, hex);
    pd_sqlv v[] = {PD_SQL_S(hex)};
    int64_t n = 0;
    pd_err rc = pd_db_run(a->db, "DELETE FROM session WHERE hash = ?", v, 1, &n);
    return rc ? rc : n ? PD_OK : PD_ERR_NOTFOUND;
}

pd_err pd_auth_session_touch(pd_auth *a, int64_t session_id)
{
    int64_t now = (int64_t)time(NULL), n = 0;
    pd_sqlv v[] = {PD_SQL_I(now), PD_SQL_I(session_id), PD_SQL_I(now)};
    pd_err rc = pd_db_run(a->db, "UPDATE session SET seen_at = ? WHERE id = ? AND expires_at > ?", v, 3, &n);
    return rc ? rc : n ? PD_OK : PD_ERR_NOTFOUND;
}

pd_err pd_auth_sessions_end_user(pd_auth *a, int64_t user_id, int64_t keep)
{
    pd_sqlv v[] = {PD_SQL_I(user_id), PD_SQL_I(keep)};
    return pd_db_run(a->db, "DELETE FROM session WHERE user_id = ? AND id <> ?", v, 2, NULL);
}
