/* Web Push as a channel type (docs/notify.md, "Web Push"): a "webpush" channel's targets are
 * the browsers' subscriptions (table webpush_sub), each a delivery of its own with its own
 * encryption (RFC 8291) and the daemon's VAPID signature (RFC 8292); a subscription reaches
 * its owner only with events of the printers they may see (docs/accounts.md). A push service
 * that answers 404 or 410 has dropped the subscription (RFC 8030 §7.3): so does printdeck. */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/log.h"
#include "notify/types.h"
#include "notify/webpush.h"

#define KEY_SETTING "webpush.vapid"
/* a JWT valid for 12 hours: RFC 8292 §2 caps it at 24; a clock a little off still passes */
#define VAPID_TTL_S (12 * 3600)
/* how long a push service keeps a message for a device that is offline (RFC 8030 §5.2) */
#define PUSH_TTL_S "86400"
#define DEFAULT_SUBJECT "mailto:printdeck@localhost"

/* --- subscriptions ------------------------------------------------------------------------- */

static bool loopback_host(const char *h)
{
    return !strcmp(h, "localhost") || !strncmp(h, "127.", 4) || !strcmp(h, "[::1]");
}

/* The endpoint's origin (scheme://host[:port]) into aud: the JWT's audience (RFC 8292 §2). NULL
 * when it is a URL as pushed to, else why not. */
/* The endpoint's origin (scheme://host[:port]) into aud: the JWT's audience (RFC 8292 §2). NULL
 * when it is a URL to push to, else why not. */
static const char *endpoint_origin(const char *s, char *aud, size_t audlen)
{
    const char *why = pd_notify_check_url(s);
    if (why)
        return why;
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL;
    if (!u || curl_url_set(u, CURLUPART_URL, s, 0) || curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) ||
        curl_url_get(u, CURLUPART_HOST, &host, 0))
        why = "out of memory";
    else if (strcmp(scheme, "https") && !loopback_host(host))
        why = "an https URL expected (http only to a push service on this machine)";
    else
        curl_url_get(u, CURLUPART_PORT, &port, 0);
    if (!why && (size_t)snprintf(aud, audlen, "%s://%s%s%s", scheme, host, port ? ":" : "", port ? port : "") >= audlen)
        why = "too long";
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return why;
}

static pd_err bad(const char **field, const char *name, char *why, size_t whylen, const char *what)
{
    *field = name;
    snprintf(why, whylen, "%s", what);
    return PD_ERR_FIELD;
}

pd_err pd_wp_sub_parse(const json_t *body, pd_wp_sub *out, const char **field, char *why, size_t whylen)
{
    const char *endpoint = json_string_value(json_object_get(body, "endpoint"));
    json_t *keys = json_object_get(body, "keys");
    const char *p256dh = json_string_value(json_object_get(keys, "p256dh"));
    const char *auth = json_string_value(json_object_get(keys, "auth"));
    uint8_t pub[PD_WP_PUB_LEN], secret[PD_WP_AUTH_LEN];
    char aud[PD_NOTIFY_URL_MAX + 16];
    const char *no;
    if (!json_is_object(body))
        return bad(field, "body", why, whylen, "a PushSubscription object expected");
    if (!endpoint)
        return bad(field, "endpoint", why, whylen, "required");
    if ((no = endpoint_origin(endpoint, aud, sizeof aud)))
        return bad(field, "endpoint", why, whylen, no);
    if (!p256dh || strlen(p256dh) >= sizeof out->p256dh || !pd_b64url_dec_exact(p256dh, pub, sizeof pub) ||
        !pd_wp_pub_valid(pub))
        return bad(field, "keys.p256dh", why, whylen, "a P-256 public key (65 bytes, base64url) expected");
    if (!auth || strlen(auth) >= sizeof out->auth || !pd_b64url_dec_exact(auth, secret, sizeof secret))
        return bad(field, "keys.auth", why, whylen, "a 16-byte secret (base64url) expected");
    snprintf(out->endpoint, sizeof out->endpoint, "%s", endpoint);
    /* stored in one form: unpadded */
    pd_b64url_enc(pub, sizeof pub, out->p256dh, sizeof out->p256dh);
    pd_b64url_enc(secret, sizeof secret, out->auth, sizeof out->auth);
    return PD_OK;
}

/* --- the VAPID key ------------------------------------------------------------------------- */

static pd_err key_row(const pd_row *row, void *ud)
{
    json_t *v = json_loads(pd_row_text(row, 0), 0, NULL);
    uint8_t *k = ud;
    bool ok = pd_b64url_dec_exact(json_string_value(json_object_get(v, "private")), k, PD_WP_PRIV_LEN) &&
              pd_b64url_dec_exact(json_string_value(json_object_get(v, "public")), k + PD_WP_PRIV_LEN, PD_WP_PUB_LEN);
    json_decref(v);
    return ok ? PD_OK : PD_ERR_DB;
}

pd_err pd_wp_key(pd_db *db, uint8_t priv[PD_WP_PRIV_LEN], uint8_t pub[PD_WP_PUB_LEN])
{
    uint8_t k[PD_WP_PRIV_LEN + PD_WP_PUB_LEN] = {0};
    pd_sqlv name = PD_SQL_S(KEY_SETTING);
    pd_err rc = pd_db_query(db, "SELECT value FROM setting WHERE key = ?", &name, 1, key_row, k);
    if (!rc && !k[PD_WP_PRIV_LEN]) {
        /* none yet (the first start): one for the life of the database, since every browser's
         * subscription is bound to it (PushManager.subscribe's applicationServerKey) */
        char d[64], p[100], text[200];
        rc = pd_wp_keygen(k, k + PD_WP_PRIV_LEN);
        pd_b64url_enc(k, PD_WP_PRIV_LEN, d, sizeof d);
        pd_b64url_enc(k + PD_WP_PRIV_LEN, PD_WP_PUB_LEN, p, sizeof p);
        snprintf(text, sizeof text, "{\"private\":\"%s\",\"public\":\"%s\"}", d, p);
        pd_sqlv v[] = {name, PD_SQL_S(text)};
        if (!rc)
            rc = pd_db_run(db, "INSERT INTO setting (key, value) VALUES (?, ?)", v, 2, NULL);
        if (!rc)
            pd_info("notify", "made the Web Push (VAPID) key");
        OPENSSL_cleanse(d, sizeof d);
        OPENSSL_cleanse(text, sizeof text);
    }
    if (!rc && priv)
        memcpy(priv, k, PD_WP_PRIV_LEN);
    if (!rc && pub)
        memcpy(pub, k + PD_WP_PRIV_LEN, PD_WP_PUB_LEN);
    OPENSSL_cleanse(k, sizeof k);
    return rc;
}

/* --- the channel type ---------------------------------------------------------------------- */

/* RFC 8292 §2.1: a contact, mailto: or https: */
static const char *check_subject(const char *s)
{
    size_t n = strlen(s);
    if (n > 256)
        return "at most 256 characters";
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '"' || *p == '\\')
            return "has spaces, quotes or control characters";
    if (!strncmp(s, "mailto:", 7) ? s[7] == '\0' || s[7] == '@' || !strchr(s + 7, '@') : strncmp(s, "https://", 8) || n < 9)
        return "mailto:someone@example.org or an https:// URL expected";
    return NULL;
}

pd_err pd_wp_validate(const json_t *cfg, const char **field, char *why, size_t whylen)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)cfg, key, v) {
        const char *no = strcmp(key, "subject") ? "not a field of this channel type"
                         : json_is_string(v)    ? check_subject(json_string_value(v))
                                                : "a string expected";
        if (no) {
            *field = strcmp(key, "subject") ? "body" : "subject";
            snprintf(why, whylen, "%.64s: %s", key, no);
            return PD_ERR_FIELD;
        }
    }
    return PD_OK;
}

/* RFC 8030 §5.3: what a device may hold back on battery */
static const char *urgency(int priority)
{
    return priority <= 1 ? "very-low" : priority == 2 ? "low" : priority == 3 ? "normal" : "high";
}

/* What the service worker shows (web/public/sw.js): title, body, a tag per printer and kind
 * (a newer message of the same replaces the older on the device) and the page a tap opens. */
static char *payload(const pd_notify_msg *m, size_t *len)
{
    char tag[96], url[64];
    snprintf(tag, sizeof tag, "printdeck-%lld-%s", (long long)m->printer_id, m->event);
    if (!strcmp(m->event, "slot_prompt"))
        snprintf(url, sizeof url, "/prompts");
    else if (m->printer_id)
        snprintf(url, sizeof url, "/printers/%lld", (long long)m->printer_id);
    else
        snprintf(url, sizeof url, "/");
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:o,s:I}", "id", m->id, "title", m->title, "body", m->text,
                          "tag", tag, "url", url, "ts", (json_int_t)m->ts, "printer_id",
                          m->printer_id ? json_integer(m->printer_id) : json_null(), "priority",
                          (json_int_t)m->priority);
    if (o)
        json_object_set_new(o, "event", json_string(m->event));
    char *s = o ? json_dumps(o, PD_JSON_FLAGS) : NULL;
    json_decref(o);
    if (s)
        *len = strlen(s);
    return s;
}

static bool add_header(pd_notify_req *r, const char *line)
{
    struct curl_slist *l = curl_slist_append(r->headers, line);
    if (l)
        r->headers = l;
    return l != NULL;
}

pd_err pd_wp_build(const json_t *cfg, const pd_notify_msg *m, int64_t now_s, pd_notify_req *out)
{
    const char *endpoint = json_string_value(json_object_get(cfg, "endpoint"));
    const char *subject = json_string_value(json_object_get(cfg, "subject"));
    uint8_t ua[PD_WP_PUB_LEN], auth[PD_WP_AUTH_LEN], d[PD_WP_PRIV_LEN], k[PD_WP_PUB_LEN];
    char aud[PD_NOTIFY_URL_MAX + 16], vapid[1024], line[1100];
    if (!endpoint || endpoint_origin(endpoint, aud, sizeof aud) ||
        !pd_b64url_dec_exact(json_string_value(json_object_get(cfg, "p256dh")), ua, sizeof ua) ||
        !pd_b64url_dec_exact(json_string_value(json_object_get(cfg, "auth")), auth, sizeof auth) ||
        !pd_b64url_dec_exact(json_string_value(json_object_get(cfg, "vapid_private")), d, sizeof d) ||
        !pd_b64url_dec_exact(json_string_value(json_object_get(cfg, "vapid_public")), k, sizeof k))
        return PD_ERR_INVAL;
    pd_err rc = pd_wp_vapid(d, k, aud, now_s + VAPID_TTL_S, subject ? subject : DEFAULT_SUBJECT, vapid, sizeof vapid);
    OPENSSL_cleanse(d, sizeof d);
    size_t plen = 0;
    char *plain = rc ? NULL : payload(m, &plen);
    out->body = plain ? malloc(PD_WP_BODY_MAX) : NULL;
    if (!rc && !out->body)
        rc = PD_ERR_NOMEM;
    if (!rc)
        rc = pd_wp_encrypt(ua, auth, (const uint8_t *)plain, plen, NULL, NULL, NULL, (uint8_t *)out->body,
                           PD_WP_BODY_MAX, &out->body_len);
    free(plain);
    if (rc)
        return rc;
    snprintf(out->url, sizeof out->url, "%s", endpoint);
    snprintf(line, sizeof line, "Authorization: %s", vapid);
    bool ok = add_header(out, line) && add_header(out, "Content-Type: application/octet-stream") &&
              add_header(out, "Content-Encoding: aes128gcm") && add_header(out, "TTL: " PUSH_TTL_S);
    snprintf(line, sizeof line, "Urgency: %s", urgency(m->priority));
    ok = ok && add_header(out, line);
    if (m->printer_id) {
        /* a newer message of this kind and printer replaces one still waiting (RFC 8030 §5.4):
         * at most 32 characters of the URL-safe base64 alphabet */
        snprintf(line, sizeof line, "Topic: p%lld-%.20s", (long long)m->printer_id, m->event);
        ok = ok && add_header(out, line);
    }
    return ok ? PD_OK : PD_ERR_NOMEM;
}

typedef struct collect {
    json_t *list;
    const json_t *cfg;
    char d[64], k[100];
} collect;

static pd_err sub_row(const pd_row *row, void *ud)
{
    collect *c = ud;
    const char *subject = json_string_value(json_object_get(c->cfg, "subject"));
    json_t *t = json_pack("{s:I,s:s,s:s,s:s,s:s,s:s,s:s}", "sub_id", (json_int_t)pd_row_int(row, 0), "endpoint",
                          pd_row_text(row, 1), "p256dh", pd_row_text(row, 2), "auth", pd_row_text(row, 3),
                          "vapid_private", c->d, "vapid_public", c->k, "subject", subject ? subject : DEFAULT_SUBJECT);
    return json_array_append_new(c->list, t) ? PD_ERR_NOMEM : PD_OK;
}

/* The targets of cfg's channel among the subscriptions `where` selects (its one argument v). */
static pd_err collect_subs(pd_db *db, const json_t *cfg, const char *where, pd_sqlv v, json_t **out)
{
    uint8_t d[PD_WP_PRIV_LEN], k[PD_WP_PUB_LEN];
    collect c = {.list = json_array(), .cfg = cfg};
    pd_err rc = c.list ? pd_wp_key(db, d, k) : PD_ERR_NOMEM;
    if (!rc) {
        pd_b64url_enc(d, sizeof d, c.d, sizeof c.d);
        pd_b64url_enc(k, sizeof k, c.k, sizeof c.k);
        char sql[512];
        snprintf(sql, sizeof sql, "SELECT s.id, s.endpoint, s.p256dh, s.auth FROM webpush_sub s "
                 "LEFT JOIN account a ON a.id = s.user_id WHERE %s ORDER BY s.id", where);
        rc = pd_db_query(db, sql, &v, 1, sub_row, &c);
    }
    OPENSSL_cleanse(d, sizeof d);
    OPENSSL_cleanse(c.d, sizeof c.d);
    if (rc)
        json_decref(c.list);
    *out = rc ? NULL : c.list;
    return rc;
}

/* Those who may see the printer (docs/accounts.md): a token's subscriptions (tokens have no
 * printer limit), an admin's, an unlimited user's, a user whose list ("1,5,7") has it. An event
 * of no printer reaches only the unlimited ones, as such alerts do on the API. */
pd_err pd_wp_targets(pd_db *db, const json_t *cfg, const pd_notify_msg *m, json_t **out)
{
    char like[32] = "";
    if (m->printer_id)
        snprintf(like, sizeof like, "%%,%lld,%%", (long long)m->printer_id);
    return collect_subs(db, cfg, "s.user_id IS NULL OR a.role = 'admin' OR a.printers = '' OR "
                        "(',' || a.printers || ',') LIKE ?", PD_SQL_S(like), out);
}

pd_err pd_wp_target(pd_db *db, const json_t *cfg, int64_t sub_id, json_t **out)
{
    pd_err rc = collect_subs(db, cfg, "s.id = ?", PD_SQL_I(sub_id), out);
    if (!rc && !json_array_size(*out)) {
        json_decref(*out);
        *out = NULL;
        return PD_ERR_NOTFOUND;
    }
    if (!rc) {
        json_t *one = json_incref(json_array_get(*out, 0));
        json_decref(*out);
        *out = one;
    }
    return rc;
}

void pd_wp_answered(pd_db *db, const json_t *cfg, long status)
{
    if (status != 404 && status != 410)
        return;
    pd_sqlv v = PD_SQL_I(json_integer_value(json_object_get(cfg, "sub_id")));
    int64_t n = 0;
    if (!pd_db_run(db, "DELETE FROM webpush_sub WHERE id = ?", &v, 1, &n) && n)
        pd_info("notify", "Web Push subscription %lld removed: its push service answered %ld", (long long)v.i, status);
}

const char *const pd_wp_secrets[] = {NULL};
