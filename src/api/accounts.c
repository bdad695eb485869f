/* Accounts (docs/accounts.md): first-start setup, sign-in and out, who am I, the user's own
 * password, users for admins, and API tokens for admins.
 *
 * Passwords are argon2id (libsodium's crypto_pwhash_str), which costs ~100 ms and 64 MiB by
 * design: every hash and verification runs in a worker pool of its own (app->pw_work,
 * auth.password_workers at once, auth.password_queue waiting, past that 503), never on the
 * loop nor in the pool of file analyses, which a burst of sign-ins would otherwise fill. The
 * pool's bound is also the bound on the memory argon2 takes. The rate limit is checked before
 * any of that work is queued. */
#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "api/auth.h"
#include "api/hub.h"
#include "api/limiter.h"
#include "core/date.h"
#include "core/jw.h"
#include "core/log.h"

#define NAME_MAX_LEN 64
#define PW_MIN 8
#define PW_MAX 256   /* bytes: a passphrase fits, and argon2 is never fed a megabyte */
#define PW_OPS crypto_pwhash_OPSLIMIT_INTERACTIVE
#define PW_MEM crypto_pwhash_MEMLIMIT_INTERACTIVE

static struct {
    pd_limiter by_addr, by_name;
} lim;

static pd_app *app_of(pd_req *r) { return pd_req_app(r); }

void pd_api_accounts_limits(int attempts, int window_s)
{
    pd_limiter_init(&lim.by_addr, attempts, (int64_t)window_s * 1000);
    pd_limiter_init(&lim.by_name, attempts, (int64_t)window_s * 1000);
}

/* --- input ------------------------------------------------------------------------------ */

/* A member that must be a string of [min, max] bytes of valid UTF-8 without control
 * characters; replies 422 naming it and returns NULL otherwise. */
static const char *str_field(pd_req *r, json_t *body, const char *key, size_t min, size_t max,
                             bool required)
{
    json_t *v = json_object_get(body, key);
    if (!v && !required)
        return NULL;
    const char *s = json_string_value(v);
    size_t n = s ? json_string_length(v) : 0;
    if (!s || n < min || n > max || strlen(s) != n) {
        pd_req_reply_field_error(r, "body", key, "a text of %zu to %zu bytes is expected", min, max);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
            pd_req_reply_field_error(r, "body", key, "control characters are not allowed");
            return NULL;
        }
    return s;
}

static const char *name_field(pd_req *r, json_t *body, bool required)
{
    const char *s = str_field(r, body, "name", 1, NAME_MAX_LEN, required);
    if (s && (isspace((unsigned char)s[0]) || isspace((unsigned char)s[strlen(s) - 1]))) {
        pd_req_reply_field_error(r, "body", "name", "no spaces at the start or end");
        return NULL;
    }
    return s;
}

static const char *password_field(pd_req *r, json_t *body, const char *key)
{
    json_t *v = json_object_get(body, key);
    const char *s = json_string_value(v);
    if (!s || json_string_length(v) < PW_MIN || json_string_length(v) > PW_MAX ||
        strlen(s) != json_string_length(v)) {
        pd_req_reply_field_error(r, "body", key, "a password of %d to %d characters is expected",
                                 PW_MIN, PW_MAX);
        return NULL;
    }
    return s;
}

static pd_role role_field(pd_req *r, json_t *body, bool required, pd_role dflt)
{
    json_t *v = json_object_get(body, "role");
    if (!v && !required)
        return dflt;
    pd_role role = pd_auth_role_parse(json_string_value(v));
    if (!role)
        pd_req_reply_field_error(r, "body", "role", "admin, operator or viewer expected");
    return role;
}

/* "printers": [ids of known printers] → "1,5,7" ("" for every printer). False after replying. */
static bool printers_field(pd_req *r, json_t *body, char *out, size_t outlen)
{
    json_t *v = json_object_get(body, "printers");
    size_t i, len = 0;
    json_t *e;
    out[0] = '\0';
    if (!v || json_is_null(v))
        return true;
    if (!json_is_array(v) || json_array_size(v) > PD_IDENT_MAX_PRINTERS) {
        pd_req_reply_field_error(r, "body", "printers", "a list of at most %d printer ids is "
                                 "expected ([] for every printer)", PD_IDENT_MAX_PRINTERS);
        return false;
    }
    json_array_foreach(v, i, e) {
        json_int_t id = json_is_integer(e) ? json_integer_value(e) : 0;
        if (id <= 0 || !pd_fleet_find_id(app_of(r)->fleet, id)) {
            pd_req_reply_field_error(r, "body", "printers", "item %zu is not the id of a printer", i);
            return false;
        }
        int n = snprintf(out + len, outlen - len, "%s%lld", len ? "," : "", (long long)id);
        if (n < 0 || (size_t)n >= outlen - len) {
            pd_req_reply_field_error(r, "body", "printers", "too many printers");
            return false;
        }
        len += (size_t)n;
    }
    return true;
}

/* Admins are never limited: an admin manages users and tokens, so a limit would only hold
 * until they lifted it. False after replying. */
static bool admin_unlimited(pd_req *r, pd_role role, const char *printers)
{
    if (role != PD_ROLE_ADMIN || !*printers)
        return true;
    pd_req_reply_field_error(r, "body", "printers", "an admin sees every printer: [] expected for an admin");
    return false;
}

static json_t *printers_json(const char *list)
{
    int64_t ids[PD_IDENT_MAX_PRINTERS];
    size_t n = 0;
    json_t *a = json_array();
    if (pd_auth_printers_parse(list, ids, PD_IDENT_MAX_PRINTERS, &n))
        for (size_t i = 0; i < n; i++)
            json_array_append_new(a, json_integer(ids[i]));
    return a;
}

static json_t *time_json(const pd_row *row, int col)
{
    char t[PD_DATE_LEN];
    if (pd_row_null(row, col))
        return json_null();
    pd_date_format(pd_row_int(row, col), t);
    return json_string(t);
}

static void reply_db_error(pd_req *r, pd_err rc, const char *what)
{
    if (rc == PD_ERR_DB_BUSY)
        pd_req_add_header(r, "Retry-After", "1");
    pd_req_reply_error(r, rc, "cannot %s: %s", what, pd_strerror(rc));
}

/* --- who am I --------------------------------------------------------------------------- */

static const char *const kind_names[] = {"none", "open", "trusted", "token", "session"};

static bool setup_required(pd_db *db)
{
    int64_t n = 0;
    return pd_db_scalar(db, "SELECT COUNT(*) FROM account", NULL, 0, &n) == PD_OK && n == 0;
}

static json_t *me_json(pd_req *r, const pd_ident *id)
{
    json_t *printers = json_array();
    for (size_t i = 0; i < id->nprinters; i++)
        json_array_append_new(printers, json_integer(id->printers[i]));
    json_t *o = json_pack("{s:s,s:s,s:s,s:o,s:o,s:o,s:b}", "kind", kind_names[id->kind],
                          "name", id->name, "role", pd_auth_role_name(id->role), "user_id",
                          id->user_id ? json_integer(id->user_id) : json_null(), "token_id",
                          id->token_id ? json_integer(id->token_id) : json_null(), "printers",
                          printers, "setup_required", setup_required(app_of(r)->db));
    if (o && id->kind == PD_IDENT_SESSION)
        json_object_set_new(o, "csrf", json_string(id->csrf));
    return o;
}

static void me_get(pd_req *r) { pd_req_reply_json(r, 200, me_json(r, pd_req_ident(r))); }

static void setup_get(pd_req *r)
{
    pd_req_reply_json(r, 200, json_pack("{s:b}", "required", setup_required(app_of(r)->db)));
}

/* Starts a session for who and replies `status` with me_json and the cookie. */
static void reply_session(pd_req *r, int status, pd_ident *who)
{
    pd_app *app = app_of(r);
    char cookie[PD_AUTH_SECRET_LEN], csrf[PD_AUTH_SECRET_LEN], hdr[256];
    pd_err rc = pd_auth_session_create(app->auth, who, cookie, csrf);
    if (rc) {
        reply_db_error(r, rc, "start a session");
        return;
    }
    who->kind = PD_IDENT_SESSION;
    snprintf(who->csrf, sizeof who->csrf, "%s", csrf);
    snprintf(hdr, sizeof hdr, PD_HTTP_SESSION_COOKIE "=%s; Path=/; Max-Age=%lld; HttpOnly; "
             "SameSite=Strict%s", cookie, (long long)app->auth->session_max_s,
             pd_req_secure(r) ? "; Secure" : "");
    pd_req_add_header(r, "Set-Cookie", hdr);
    pd_req_add_header(r, "Cache-Control", "no-store");
    sodium_memzero(cookie, sizeof cookie);
    pd_req_reply_json(r, status, me_json(r, who));
}

static void logout(pd_req *r)
{
    char cookie[PD_AUTH_SECRET_LEN + 1];
    const pd_ident *who = pd_req_ident(r);
    if (pd_req_cookie(r, PD_HTTP_SESSION_COOKIE, cookie, sizeof cookie))
        pd_auth_session_end(app_of(r)->auth, cookie);
    /* a stream opened with the session would otherwise outlive it */
    if (who->kind == PD_IDENT_SESSION)
        pd_hub_drop_session(who->session_id);
    pd_req_add_header(r, "Set-Cookie", PD_HTTP_SESSION_COOKIE "=; Path=/; Max-Age=0; HttpOnly; "
                      "SameSite=Strict");
    pd_req_reply_raw(r, 204, NULL, NULL, 0);
}

/* --- password work, off the loop --------------------------------------------------------- */

typedef struct pw_job pw_job;
struct pw_job {
    pd_req *r;                 /* NULL once the client has gone */
    void (*finish)(pw_job *j); /* on the loop, with r still there */
    int64_t user_id;
    pd_role role;
    bool dummy;                /* no such user: spend the same time, then fail */
    char stored[crypto_pwhash_STRBYTES];  /* verify against this first; "" = hash only */
    char password[PW_MAX + 1];
    char next[PW_MAX + 1];     /* after a verification: the new password to hash */
    bool ok;                   /* verified (or nothing to verify) */
    char hash[crypto_pwhash_STRBYTES];    /* the new hash, "" when none was made */
    char keys[2][PD_LIMITER_KEY];         /* sign-in: its limiter keys */
};

static bool pw_hash(const char *pw, char out[crypto_pwhash_STRBYTES])
{
    return crypto_pwhash_str_alg(out, pw, strlen(pw), PW_OPS, PW_MEM,
                                 crypto_pwhash_ALG_ARGON2ID13) == 0;
}

static void pw_run(void *ud)
{
    pw_job *j = ud;
    char scratch[crypto_pwhash_STRBYTES];
    if (j->dummy) {
        pw_hash(j->password, scratch);
        return;
    }
    const char *src = j->password;
    if (j->stored[0]) {
        j->ok = crypto_pwhash_str_verify(j->stored, j->password, strlen(j->password)) == 0;
        if (!j->ok)
            return;
        /* a hash made with weaker parameters than today's is made again at sign-in */
        src = j->next[0] ? j->next
              : crypto_pwhash_str_needs_rehash(j->stored, PW_OPS, PW_MEM) ? j->password : NULL;
    } else {
        j->ok = true;
    }
    if (src && !pw_hash(src, j->hash))
        j->hash[0] = '\0';
}

static void pw_free(pw_job *j)
{
    sodium_memzero(j, sizeof *j);
    free(j);
}

static void pw_abort(void *ud) { ((pw_job *)ud)->r = NULL; }

static void pw_done(void *ud, bool cancelled)
{
    pw_job *j = ud;
    if (j->r && cancelled)
        pd_req_reply_error(j->r, PD_ERR_OVERLOAD, "the server is stopping");
    else if (j->r)
        j->finish(j);
    pw_free(j);
}

static pw_job *pw_new(pd_req *r, void (*finish)(pw_job *j), const char *password)
{
    pw_job *j = calloc(1, sizeof *j);
    if (!j) {
        pd_req_reply_error(r, PD_ERR_NOMEM, NULL);
        return NULL;
    }
    j->r = r;
    j->finish = finish;
    snprintf(j->password, sizeof j->password, "%s", password);
    return j;
}

static void pw_submit(pw_job *j)
{
    pd_req *r = j->r;
    pd_err rc = pd_work_submit(app_of(r)->pw_work, pw_run, pw_done, j);
    if (rc) {
        pw_free(j);
        pd_req_add_header(r, "Retry-After", "1");
        pd_req_reply_error(r, PD_ERR_OVERLOAD, "too many passwords are being checked at once; "
                                               "try again in a moment");
        return;
    }
    pd_req_on_abort(r, pw_abort, j);
}

/* A made hash or, when hashing failed (out of memory for argon2), the reply saying so. */
static bool pw_made(pw_job *j)
{
    if (j->hash[0])
        return true;
    pd_req_reply_error(j->r, PD_ERR_NOMEM, "the password could not be hashed");
    return false;
}

/* --- setup ----------------------------------------------------------------------------- */

static pd_err user_insert(pd_db *db, const char *name, const char *hash, pd_role role,
                          const char *printers, int64_t *id)
{
    int64_t now = (int64_t)time(NULL);
    pd_sqlv v[] = {PD_SQL_S(name), PD_SQL_S(hash), PD_SQL_S(pd_auth_role_name(role)),
                   PD_SQL_S(printers), PD_SQL_I(now), PD_SQL_I(now)};
    return pd_db_insert(db, "INSERT INTO account (name, password, role, printers, created_at, "
                            "password_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id", v, 6, id);
}

static void setup_finish(pw_job *j)
{
    pd_req *r = j->r;
    pd_db *db = app_of(r)->db;
    if (!pw_made(j))
        return;
    const char *name = json_string_value(json_object_get(pd_req_json(r), "name"));
    int64_t id = 0;
    /* two first visitors may race: the count is checked again with the insert */
    pd_err rc = pd_db_begin(db);
    if (!rc && !setup_required(db))
        rc = PD_ERR_EXISTS;
    if (!rc)
        rc = user_insert(db, name, j->hash, PD_ROLE_ADMIN, "", &id);
    rc = pd_db_end(db, rc);
    if (rc == PD_ERR_EXISTS) {
        pd_req_reply_error(r, rc, "setup is done already: sign in");
        return;
    }
    if (rc) {
        reply_db_error(r, rc, "create the admin");
        return;
    }
    pd_info("accounts", "setup: admin '%s' created", name);
    pd_ident who = {.user_id = id, .role = PD_ROLE_ADMIN};
    snprintf(who.name, sizeof who.name, "%s", name);
    reply_session(r, 201, &who);
}

static void setup_post(pd_req *r)
{
    json_t *body = pd_req_json(r);
    if (!body)
        return;
    if (!setup_required(app_of(r)->db)) {
        pd_req_reply_error(r, PD_ERR_EXISTS, "setup is done already: sign in");
        return;
    }
    const char *name = name_field(r, body, true);
    const char *pw = name ? password_field(r, body, "password") : NULL;
    pw_job *j = pw ? pw_new(r, setup_finish, pw) : NULL;
    if (j)
        pw_submit(j);
}

/* --- sign-in ------------------------------------------------------------------------------ */

static void limit_keys(pd_req *r, const char *name, char keys[2][PD_LIMITER_KEY])
{
    char peer[64];
    snprintf(keys[0], PD_LIMITER_KEY, "a:%s", pd_req_peer(r, peer, sizeof peer));
    size_t i = 0;
    keys[1][i++] = 'u';
    keys[1][i++] = ':';
    for (; *name && i < PD_LIMITER_KEY - 1; name++)
        keys[1][i++] = (char)tolower((unsigned char)*name);
    keys[1][i] = '\0';
}

/* Whether the address or the name made too many attempts: then 429 is replied, with
 * Retry-After. */
static bool limited(pd_req *r, char keys[2][PD_LIMITER_KEY])
{
    int64_t now = (int64_t)uv_now(app_of(r)->loop);
    int64_t wait = pd_limiter_wait(&lim.by_addr, keys[0], now);
    int64_t wn = pd_limiter_wait(&lim.by_name, keys[1], now);
    if (wn > wait)
        wait = wn;
    if (!wait)
        return false;
    long long s = (long long)(wait + 999) / 1000;
    char ra[24];
    snprintf(ra, sizeof ra, "%lld", s);
    pd_req_add_header(r, "Retry-After", ra);
    pd_req_reply_error(r, PD_ERR_BUSY, "too many sign-in attempts: try again in %lld %s",
                       s > 90 ? (s + 59) / 60 : s, s > 90 ? "minutes" : "seconds");
    return true;
}

typedef struct user_auth {
    int64_t id;
    pd_role role;
    char hash[crypto_pwhash_STRBYTES];
    char name[NAME_MAX_LEN + 1];
    char printers[PD_IDENT_MAX_PRINTERS * 21];
} user_auth;

static pd_err user_auth_row(const pd_row *row, void *ud)
{
    user_auth *u = ud;
    u->id = pd_row_int(row, 0);
    snprintf(u->hash, sizeof u->hash, "%s", pd_row_text(row, 1));
    u->role = pd_auth_role_parse(pd_row_text(row, 2));
    snprintf(u->name, sizeof u->name, "%s", pd_row_text(row, 3));
    snprintf(u->printers, sizeof u->printers, "%s", pd_row_text(row, 4));
    return PD_OK;
}

static pd_err user_auth_get(pd_db *db, const char *where, pd_sqlv arg, user_auth *u)
{
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT id, password, role, name, printers FROM account WHERE %s",
             where);
    memset(u, 0, sizeof *u);
    pd_err rc = pd_db_query(db, sql, &arg, 1, user_auth_row, u);
    return rc ? rc : u->id ? PD_OK : PD_ERR_NOTFOUND;
}

static void login_finish(pw_job *j)
{
    pd_req *r = j->r;
    pd_app *app = app_of(r);
    if (!j->ok || j->dummy) {
        pd_req_reply_error(r, PD_ERR_AUTH, "wrong name or password");
        return;
    }
    pd_limiter_clear(&lim.by_addr, j->keys[0]);
    pd_limiter_clear(&lim.by_name, j->keys[1]);
    int64_t now = (int64_t)time(NULL);
    pd_sqlv v[] = {PD_SQL_I(now), PD_SQL_I(j->user_id)};
    pd_db_run(app->db, "UPDATE account SET last_login_at = ? WHERE id = ?", v, 2, NULL);
    if (j->hash[0]) {
        pd_sqlv h[] = {PD_SQL_S(j->hash), PD_SQL_I(j->user_id)};
        pd_db_run(app->db, "UPDATE account SET password = ? WHERE id = ?", h, 2, NULL);
    }
    user_auth u;
    if (user_auth_get(app->db, "id = ?", PD_SQL_I(j->user_id), &u)) {
        pd_req_reply_error(r, PD_ERR_AUTH, "the account was removed meanwhile");
        return;
    }
    pd_ident who = {.user_id = u.id, .role = u.role};
    snprintf(who.name, sizeof who.name, "%s", u.name);
    if (u.role != PD_ROLE_ADMIN)
        pd_auth_printers_parse(u.printers, who.printers, PD_IDENT_MAX_PRINTERS, &who.nprinters);
    reply_session(r, 200, &who);
}

/* {"token"}: a token exchanged for a session (a wall display opened with /?token=…). */
static void login_token(pd_req *r, const char *token, const char *key)
{
    pd_ident who;
    memset(&who, 0, sizeof who);
    if (pd_auth_ident(token, NULL, &who, app_of(r)->auth)) {
        pd_req_reply_error(r, PD_ERR_AUTH, "this token is not valid (revoked, or mistyped)");
        return;
    }
    pd_limiter_clear(&lim.by_addr, key);
    reply_session(r, 200, &who);
}

static void login(pd_req *r)
{
    pd_app *app = app_of(r);
    json_t *body = pd_req_json(r);
    if (!body)
        return;
    json_t *tok = json_object_get(body, "token");
    char keys[2][PD_LIMITER_KEY];
    if (tok) {
        const char *t = str_field(r, body, "token", 1, 256, true);
        limit_keys(r, "", keys);
        if (!t || limited(r, keys))
            return;
        /* a wrong token counts against the address, like a wrong password */
        pd_limiter_hit(&lim.by_addr, keys[0], (int64_t)uv_now(app->loop));
        login_token(r, t, keys[0]);
        return;
    }
    const char *name = str_field(r, body, "name", 1, NAME_MAX_LEN, true);
    const char *pw = name ? str_field(r, body, "password", 1, PW_MAX, true) : NULL;
    if (!pw)
        return;
    limit_keys(r, name, keys);
    if (limited(r, keys))
        return;
    user_auth u;
    pd_err rc = user_auth_get(app->db, "lower(name) = lower(?)", PD_SQL_S(name), &u);
    if (rc && rc != PD_ERR_NOTFOUND) {
        reply_db_error(r, rc, "read the account");
        return;
    }
    pw_job *j = pw_new(r, login_finish, pw);
    if (!j)
        return;
    j->user_id = u.id;
    j->dummy = rc == PD_ERR_NOTFOUND;
    memcpy(j->stored, u.hash, sizeof j->stored);
    memcpy(j->keys, keys, sizeof keys);
    int64_t now = (int64_t)uv_now(app->loop);
    /* counted now, cleared on success: attempts sent together are counted together */
    pd_limiter_hit(&lim.by_addr, keys[0], now);
    pd_limiter_hit(&lim.by_name, keys[1], now);
    sodium_memzero(&u, sizeof u);
    pw_submit(j);
}

/* --- the user's own password ------------------------------------------------------------- */

static void own_password_finish(pw_job *j)
{
    pd_req *r = j->r;
    pd_app *app = app_of(r);
    if (!j->ok) {
        pd_req_reply_field_error(r, "body", "current", "this is not your current password");
        return;
    }
    if (!pw_made(j))
        return;
    const pd_ident *me = pd_req_ident(r);
    pd_sqlv v[] = {PD_SQL_S(j->hash), PD_SQL_I((int64_t)time(NULL)), PD_SQL_I(me->user_id)};
    pd_err rc = pd_db_run(app->db, "UPDATE account SET password = ?, password_at = ? "
                                   "WHERE id = ?", v, 3, NULL);
    /* whoever else held a session with the old password is signed out, streams included */
    if (!rc)
        rc = pd_auth_sessions_end_user(app->auth, me->user_id, me->session_id);
    if (rc) {
        reply_db_error(r, rc, "change the password");
        return;
    }
    pd_hub_drop_user(me->user_id, me->session_id);
    pd_req_reply_raw(r, 204, NULL, NULL, 0);
}

static void own_password(pd_req *r)
{
    const pd_ident *me = pd_req_ident(r);
    json_t *body = pd_req_json(r);
    if (!body)
        return;
    if (!me->user_id) {
        pd_req_reply_error(r, PD_ERR_INVAL, "only a user signed in with a password has one to change");
        return;
    }
    const char *cur = str_field(r, body, "current", 1, PW_MAX, true);
    const char *pw = cur ? password_field(r, body, "password") : NULL;
    user_auth u;
    if (!pw)
        return;
    pd_err rc = user_auth_get(app_of(r)->db, "id = ?", PD_SQL_I(me->user_id), &u);
    if (rc) {
        reply_db_error(r, rc, "read the account");
        return;
    }
    pw_job *j = pw_new(r, own_password_finish, cur);
    if (!j)
        return;
    memcpy(j->stored, u.hash, sizeof j->stored);
    snprintf(j->next, sizeof j->next, "%s", pw);
    pw_submit(j);
}

/* --- users (admins) ---------------------------------------------------------------------- */

#define USER_COLS "id, name, role, printers, created_at, last_login_at, password_at"

static json_t *user_json(const pd_row *row)
{
    return json_pack("{s:I,s:s,s:s,s:o,s:o,s:o,s:o}", "id", (json_int_t)pd_row_int(row, 0),
                     "name", pd_row_text(row, 1), "role", pd_row_text(row, 2), "printers",
                     printers_json(pd_row_text(row, 3)), "created_at", time_json(row, 4),
                     "last_login_at", time_json(row, 5), "password_changed_at",
                     time_json(row, 6));
}

static pd_err user_row(const pd_row *row, void *ud)
{
    json_t *a = ud;
    return json_array_append_new(a, user_json(row)) ? PD_ERR_NOMEM : PD_OK;
}

static int64_t id_param(pd_req *r)
{
    const char *s = pd_req_param(r, "id");
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*end || v <= 0) {
        pd_req_reply_field_error(r, "path", "id", "a positive integer is expected");
        return 0;
    }
    return v;
}

static void reply_user(pd_req *r, int status, int64_t id)
{
    json_t *a = json_array();
    pd_sqlv v[] = {PD_SQL_I(id)};
    pd_err rc = pd_db_query(app_of(r)->db, "SELECT " USER_COLS " FROM account WHERE id = ?", v, 1,
                            user_row, a);
    if (!rc && !json_array_size(a))
        rc = PD_ERR_NOTFOUND;
    if (rc == PD_ERR_NOTFOUND)
        pd_req_reply_error(r, rc, "no user %lld", (long long)id);
    else if (rc)
        reply_db_error(r, rc, "read the user");
    else
        pd_req_reply_json(r, status, json_incref(json_array_get(a, 0)));
    json_decref(a);
}

static void users_list(pd_req *r)
{
    json_t *a = json_array();
    pd_err rc = pd_db_query(app_of(r)->db, "SELECT " USER_COLS " FROM account ORDER BY "
                            "lower(name)", NULL, 0, user_row, a);
    if (rc) {
        json_decref(a);
        reply_db_error(r, rc, "list the users");
        return;
    }
    pd_req_reply_json(r, 200, a);
}

static void users_get(pd_req *r)
{
    int64_t id = id_param(r);
    if (id)
        reply_user(r, 200, id);
}

static void user_create_finish(pw_job *j)
{
    pd_req *r = j->r;
    json_t *body = pd_req_json(r);
    char printers[PD_IDENT_MAX_PRINTERS * 21];
    if (!pw_made(j) || !printers_field(r, body, printers, sizeof printers) ||
        !admin_unlimited(r, j->role, printers))
        return;
    const char *name = json_string_value(json_object_get(body, "name"));
    int64_t id = 0;
    pd_err rc = user_insert(app_of(r)->db, name, j->hash, j->role, printers, &id);
    if (rc == PD_ERR_EXISTS)
        pd_req_reply_field_error(r, "body", "name", "a user with this name exists already");
    else if (rc)
        reply_db_error(r, rc, "create the user");
    else
        reply_user(r, 201, id);
}

static void users_create(pd_req *r)
{
    json_t *body = pd_req_json(r);
    char printers[PD_IDENT_MAX_PRINTERS * 21];
    if (!body)
        return;
    const char *name = name_field(r, body, true);
    const char *pw = name ? password_field(r, body, "password") : NULL;
    pd_role role = pw ? role_field(r, body, true, PD_ROLE_NONE) : PD_ROLE_NONE;
    /* checked before the hash is paid for, and again after (a printer may go meanwhile) */
    if (!role || !printers_field(r, body, printers, sizeof printers) || !admin_unlimited(r, role, printers))
        return;
    user_auth u;
    if (user_auth_get(app_of(r)->db, "lower(name) = lower(?)", PD_SQL_S(name), &u) == PD_OK) {
        pd_req_reply_field_error(r, "body", "name", "a user with this name exists already");
        return;
    }
    pw_job *j = pw_new(r, user_create_finish, pw);
    if (!j)
        return;
    j->role = role;
    pw_submit(j);
}

/* Whether removing admin rights from `id` (a role change or a deletion) would leave no
 * admin: an account that nobody can manage any more. Inside the caller's transaction. */
static bool last_admin(pd_db *db, int64_t id)
{
    int64_t others = 0;
    pd_sqlv v[] = {PD_SQL_I(id)};
    return pd_db_scalar(db, "SELECT COUNT(*) FROM account WHERE role = 'admin' AND id <> ?", v, 1,
                        &others) == PD_OK && others == 0;
}

static void users_update(pd_req *r)
{
    pd_app *app = app_of(r);
    int64_t id = id_param(r);
    json_t *body = id ? pd_req_json(r) : NULL;
    if (!body)
        return;
    user_auth u;
    pd_err rc = user_auth_get(app->db, "id = ?", PD_SQL_I(id), &u);
    if (rc) {
        pd_req_reply_error(r, rc, rc == PD_ERR_NOTFOUND ? "no such user" : "cannot read the user");
        return;
    }
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
        if (strcmp(key, "name") && strcmp(key, "role") && strcmp(key, "printers")) {
            pd_req_reply_field_error(r, "body", key, "not a field of a user (name, role, "
                                     "printers; the password has its own route)");
            return;
        }
    const char *name = json_object_get(body, "name") ? name_field(r, body, true) : u.name;
    pd_role role = name ? role_field(r, body, false, u.role) : PD_ROLE_NONE;
    char printers[sizeof u.printers];
    if (!role)
        return;
    if (json_object_get(body, "printers")) {
        if (!printers_field(r, body, printers, sizeof printers) || !admin_unlimited(r, role, printers))
            return;
    } else {
        /* made admin: the limit goes with the lower role */
        snprintf(printers, sizeof printers, "%s", role == PD_ROLE_ADMIN ? "" : u.printers);
    }
    pd_sqlv a[] = {PD_SQL_S(name), PD_SQL_S(pd_auth_role_name(role)), PD_SQL_S(printers),
                   PD_SQL_I(id)};
    rc = pd_db_begin(app->db);
    if (!rc && role != PD_ROLE_ADMIN && u.role == PD_ROLE_ADMIN && last_admin(app->db, id))
        rc = PD_ERR_INVAL;
    if (!rc)
        rc = pd_db_run(app->db, "UPDATE account SET name = ?, role = ?, printers = ? WHERE id = ?",
                       a, 4, NULL);
    rc = pd_db_end(app->db, rc);
    if (rc == PD_ERR_INVAL)
        pd_req_reply_field_error(r, "body", "role", "the last admin cannot give up the role: "
                                 "make another user admin first");
    else if (rc == PD_ERR_EXISTS)
        pd_req_reply_field_error(r, "body", "name", "a user with this name exists already");
    else if (rc)
        reply_db_error(r, rc, "update the user");
    else {
        /* the role and limits are read at each request; open event streams copied them */
        pd_hub_drop_user(id, 0);
        reply_user(r, 200, id);
    }
}

static void user_password_finish(pw_job *j)
{
    pd_req *r = j->r;
    pd_app *app = app_of(r);
    if (!pw_made(j))
        return;
    pd_sqlv v[] = {PD_SQL_S(j->hash), PD_SQL_I((int64_t)time(NULL)), PD_SQL_I(j->user_id)};
    int64_t n = 0;
    pd_err rc = pd_db_run(app->db, "UPDATE account SET password = ?, password_at = ? WHERE id = ?",
                          v, 3, &n);
    if (!rc && !n)
        rc = PD_ERR_NOTFOUND;
    /* a reset signs the user out everywhere, the admin's own session included if it is theirs */
    if (!rc)
        rc = pd_auth_sessions_end_user(app->auth, j->user_id, 0);
    if (rc == PD_ERR_NOTFOUND)
        pd_req_reply_error(r, rc, "no such user");
    else if (rc)
        reply_db_error(r, rc, "reset the password");
    else {
        pd_hub_drop_user(j->user_id, 0);
        pd_req_reply_raw(r, 204, NULL, NULL, 0);
    }
}

static void users_password(pd_req *r)
{
    int64_t id = id_param(r);
    json_t *body = id ? pd_req_json(r) : NULL;
    const char *pw = body ? password_field(r, body, "password") : NULL;
    pw_job *j = pw ? pw_new(r, user_password_finish, pw) : NULL;
    if (!j)
        return;
    j->user_id = id;
    pw_submit(j);
}

static void users_delete(pd_req *r)
{
    pd_app *app = app_of(r);
    int64_t id = id_param(r);
    if (!id)
        return;
    pd_sqlv v[] = {PD_SQL_I(id)};
    int64_t n = 0;
    user_auth u;
    pd_err rc = pd_db_begin(app->db);
    if (!rc)
        rc = user_auth_get(app->db, "id = ?", PD_SQL_I(id), &u);
    if (!rc && u.role == PD_ROLE_ADMIN && last_admin(app->db, id))
        rc = PD_ERR_INVAL;
    if (!rc)
        rc = pd_db_run(app->db, "DELETE FROM session WHERE user_id = ?", v, 1, NULL);
    if (!rc)
        rc = pd_db_run(app->db, "DELETE FROM account WHERE id = ?", v, 1, &n);
    rc = pd_db_end(app->db, rc);
    if (rc == PD_ERR_NOTFOUND)
        pd_req_reply_error(r, rc, "no user %lld", (long long)id);
    else if (rc == PD_ERR_INVAL)
        pd_req_reply_error(r, PD_ERR_EXISTS, "the last admin cannot be deleted: make another "
                                             "user admin first");
    else if (rc)
        reply_db_error(r, rc, "delete the user");
    else {
        pd_hub_drop_user(id, 0);
        pd_req_reply_raw(r, 204, NULL, NULL, 0);
    }
}

/* --- tokens (admins) ---------------------------------------------------------------------- */

static json_t *token_json(const pd_row *row)
{
    return json_pack("{s:I,s:s,s:s,s:s,s:o,s:o}", "id", (json_int_t)pd_row_int(row, 0), "name",
                     pd_row_text(row, 1), "role", pd_row_text(row, 2), "hint",
                     pd_row_text(row, 3), "created_at", time_json(row, 4), "last_used_at",
                     time_json(row, 5));
}

static pd_err token_row(const pd_row *row, void *ud)
{
    return json_array_append_new(ud, token_json(row)) ? PD_ERR_NOMEM : PD_OK;
}

#define TOKEN_SQL "SELECT id, name, role, hint, created_at, last_used_at FROM api_token"

static void tokens_list(pd_req *r)
{
    json_t *a = json_array();
    pd_err rc = pd_db_query(app_of(r)->db, TOKEN_SQL " ORDER BY id", NULL, 0, token_row, a);
    if (rc) {
        json_decref(a);
        reply_db_error(r, rc, "list the tokens");
        return;
    }
    pd_req_reply_json(r, 200, a);
}

static void tokens_create(pd_req *r)
{
    pd_app *app = app_of(r);
    json_t *body = pd_req_json(r);
    const char *name = body ? name_field(r, body, true) : NULL;
    pd_role role = name ? role_field(r, body, true, PD_ROLE_NONE) : PD_ROLE_NONE;
    if (!role)
        return;
    char tok[PD_AUTH_SECRET_LEN];
    int64_t id = 0;
    pd_err rc = pd_auth_token_create(app->auth, name, role, tok, sizeof tok, &id);
    if (rc) {
        reply_db_error(r, rc, "create the token");
        return;
    }
    json_t *a = json_array();
    pd_sqlv v[] = {PD_SQL_I(id)};
    rc = pd_db_query(app->db, TOKEN_SQL " WHERE id = ?", v, 1, token_row, a);
    json_t *o = rc ? NULL : json_incref(json_array_get(a, 0));
    json_decref(a);
    if (!o) {
        reply_db_error(r, rc ? rc : PD_ERR_NOTFOUND, "read the new token");
        return;
    }
    /* the only time the token is ever shown: only its hash is kept */
    json_object_set_new(o, "token", json_string(tok));
    sodium_memzero(tok, sizeof tok);
    pd_req_add_header(r, "Cache-Control", "no-store");
    pd_req_reply_json(r, 201, o);
}

static void tokens_delete(pd_req *r)
{
    int64_t id = id_param(r);
    if (!id)
        return;
    pd_err rc = pd_auth_token_revoke(app_of(r)->auth, id);
    if (rc == PD_ERR_NOTFOUND)
        pd_req_reply_error(r, rc, "no token %lld", (long long)id);
    else if (rc)
        reply_db_error(r, rc, "revoke the token");
    else {
        pd_hub_drop_token(id);
        pd_req_reply_raw(r, 204, NULL, NULL, 0);
    }
}

const pd_route pd_api_accounts_routes[] = {
    {"GET", "/api/v1/setup", setup_get, PD_ROUTE_OPEN},
    {"POST", "/api/v1/setup", setup_post, PD_ROUTE_OPEN},
    {"POST", "/api/v1/login", login, PD_ROUTE_OPEN},
    {"POST", "/api/v1/logout", logout, PD_ROUTE_OPEN},
    {"GET", "/api/v1/me", me_get, 0},
    {"POST", "/api/v1/me/password", own_password, PD_ROUTE_VIEWER},
    {"GET", "/api/v1/users", users_list, PD_ROUTE_ADMIN},
    {"POST", "/api/v1/users", users_create, PD_ROUTE_ADMIN},
    {"GET", "/api/v1/users/{id}", users_get, PD_ROUTE_ADMIN},
    {"PATCH", "/api/v1/users/{id}", users_update, PD_ROUTE_ADMIN},
    {"DELETE", "/api/v1/users/{id}", users_delete, PD_ROUTE_ADMIN},
    {"POST", "/api/v1/users/{id}/password", users_password, PD_ROUTE_ADMIN},
    {"GET", "/api/v1/tokens", tokens_list, PD_ROUTE_ADMIN},
    {"POST", "/api/v1/tokens", tokens_create, PD_ROUTE_ADMIN},
    {"DELETE", "/api/v1/tokens/{id}", tokens_delete, PD_ROUTE_ADMIN},
};
const size_t pd_api_accounts_nroutes = sizeof pd_api_accounts_routes / sizeof *pd_api_accounts_routes;
