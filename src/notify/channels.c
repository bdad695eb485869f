/* The channel types, one function table each: which fields a channel has, which are secrets,
 * and the HTTP request that delivers a message. */
#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "notify/notify.h"
#include "notify/webpush.h"
#include "notify/types.h"

void pd_notify_req_clear(pd_notify_req *r)
{
    curl_slist_free_all(r->headers);
    curl_slist_free_all(r->rcpt);
    curl_mime_free(r->mime);
    free(r->body);
    memset(r, 0, sizeof *r);
}

bool pd_notify_req_header(pd_notify_req *r, const char *name, const char *value)
{
    size_t n = strlen(name) + strlen(value) + 3;  /* ntfy's encoded message is longer than a line */
    char *line = malloc(n);
    if (line)
        snprintf(line, n, "%s: %s", name, value);
    struct curl_slist *l = line ? curl_slist_append(r->headers, line) : NULL;
    free(line);
    if (!l)
        return false;
    r->headers = l;
    return true;
}

static curl_mimepart *form_part(pd_notify_req *r, const char *name)
{
    if (!r->mime)
        r->mime = curl_mime_init(NULL);
    curl_mimepart *p = r->mime ? curl_mime_addpart(r->mime) : NULL;
    return p && !curl_mime_name(p, name) ? p : NULL;
}

bool pd_notify_form_field(pd_notify_req *r, const char *name, const char *value)
{
    curl_mimepart *p = value ? form_part(r, name) : NULL;
    return !value || (p && !curl_mime_data(p, value, CURL_ZERO_TERMINATED));
}

bool pd_notify_form_snapshot(pd_notify_req *r, const char *name, const pd_notify_msg *m)
{
    curl_mimepart *p = form_part(r, name);
    return p && !curl_mime_data(p, (const char *)m->snapshot->data, m->snapshot->len) &&
           !curl_mime_filename(p, PD_NOTIFY_SNAPSHOT_FILE) && !curl_mime_type(p, "image/jpeg");
}

/* --- field rules ---------------------------------------------------------------------------- */

/* An http or https URL with a host, as curl reads it. */
const char *pd_notify_check_url(const char *s)
{
    if (strlen(s) > PD_NOTIFY_URL_MAX)
        return "longer than 2048 bytes";
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return "has spaces or control characters";
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    const char *why = NULL;
    if (!u)
        return "out of memory";
    if (curl_url_set(u, CURLUPART_URL, s, 0) || curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) || !host[0])
        why = "not a URL (http://host/… or https://host/… expected)";
    else if (strcmp(scheme, "http") && strcmp(scheme, "https"))
        why = "only http and https URLs";
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return why;
}

const char *pd_notify_check_text(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > 256)
        return "1 to 256 characters expected";
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return "has control characters";
    return NULL;
}

static const char *check_secret(const char *s)
{
    return strlen(s) < 16 ? "16 to 256 characters expected" : pd_notify_check_text(s);
}

/* ntfy's topic names: letters, digits, '-' and '_', at most 64 */
static const char *check_topic(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > 64)
        return "1 to 64 characters expected";
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
            return "letters, digits, '-' and '_' only";
    return NULL;
}

const char *pd_notify_check_token(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > 256)
        return "1 to 256 characters expected";
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return "has spaces or control characters";
    return NULL;
}

pd_err pd_notify_fields_check(const pd_notify_field *rules, size_t n, const json_t *cfg, const char **field,
                             char *why, size_t whylen)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)cfg, key, v) {
        size_t i = 0;
        while (i < n && strcmp(rules[i].name, key))
            i++;
        *field = i < n ? rules[i].name : "body";
        if (i == n) {
            snprintf(why, whylen, "%.64s: not a field of this channel type", key);
            return PD_ERR_FIELD;
        }
        if ((json_is_null(v) && !rules[i].required) || !rules[i].check)
            continue;
        const char *bad = json_is_string(v) ? rules[i].check(json_string_value(v)) : "a string expected";
        if (bad) {
            snprintf(why, whylen, "%s", bad);
            return PD_ERR_FIELD;
        }
    }
    for (size_t i = 0; i < n; i++)
        if (rules[i].required && (rules[i].check ? !json_is_string(json_object_get(cfg, rules[i].name))
                                                 : !json_object_get(cfg, rules[i].name))) {
            *field = rules[i].name;
            snprintf(why, whylen, "required");
            return PD_ERR_FIELD;
        }
    return PD_OK;
}

/* --- webhook -------------------------------------------------------------------------------- */

static const pd_notify_field webhook_rules[] = {
    {"url", true, pd_notify_check_url},
    {"secret", true, check_secret},
};

static pd_err webhook_validate(const json_t *cfg, const char **field, char *why, size_t whylen)
{
    return pd_notify_fields_check(webhook_rules, 2, cfg, field, why, whylen);
}

pd_err pd_notify_sign(const char *secret, int64_t ts, const char *body, size_t body_len, char out[72])
{
    char prefix[32];
    int plen = snprintf(prefix, sizeof prefix, "%lld.", (long long)ts);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    EVP_MAC *alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = alg ? EVP_MAC_CTX_new(alg) : NULL;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", "SHA256", 0), OSSL_PARAM_construct_end()};
    size_t outl = 0;
    bool ok = ctx && EVP_MAC_init(ctx, (const unsigned char *)secret, strlen(secret), params) &&
              EVP_MAC_update(ctx, (const unsigned char *)prefix, (size_t)plen) &&
              EVP_MAC_update(ctx, (const unsigned char *)body, body_len) &&
              EVP_MAC_final(ctx, mac, &outl, sizeof mac);
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(alg);
    if (!ok || outl != 32)
        return PD_ERR_INTERNAL;
    maclen = (unsigned int)outl;
    memcpy(out, "sha256=", 7);
    for (unsigned int i = 0; i < maclen; i++)
        snprintf(out + 7 + 2 * i, 3, "%02x", mac[i]);
    return PD_OK;
}

char *pd_notify_webhook_body(const pd_notify_msg *m, size_t *len)
{
    json_t *o = json_pack("{s:i,s:s,s:s,s:I,s:{s:o,s:s},s:s,s:s,s:i,s:O}", "version", 1, "id", m->id, "event", m->event, "ts",
                          (json_int_t)m->ts, "printer", "id",
                          m->printer_id ? json_integer(m->printer_id) : json_null(), "name", m->printer,
                          "title", m->title, "message", m->text, "priority", m->priority, "data",
                          m->data ? m->data : json_null());
    if (o && m->snapshot_url[0])
        json_object_set_new(o, "snapshot_url", json_string(m->snapshot_url));
    char *s = o ? json_dumps(o, PD_JSON_FLAGS) : NULL;
    json_decref(o);
    if (s)
        *len = strlen(s);
    return s;
}

static pd_err webhook_build(const json_t *cfg, const pd_notify_msg *m, int64_t now_s, pd_notify_req *out)
{
    char sig[72], ts[24];
    snprintf(out->url, sizeof out->url, "%s", json_string_value(json_object_get(cfg, "url")));
    if (!(out->body = pd_notify_webhook_body(m, &out->body_len)))
        return PD_ERR_NOMEM;
    if (out->body_len > PD_NOTIFY_BODY_MAX)
        return PD_ERR_TOOBIG;
    snprintf(ts, sizeof ts, "%lld", (long long)now_s);
    if (pd_notify_sign(json_string_value(json_object_get(cfg, "secret")), now_s, out->body, out->body_len, sig))
        return PD_ERR_INTERNAL;
    bool ok = pd_notify_req_header(out, "Content-Type", "application/json") &&
              pd_notify_req_header(out, "X-Printdeck-Event", m->event) &&
              pd_notify_req_header(out, "X-Printdeck-Timestamp", ts) &&
              pd_notify_req_header(out, "X-Printdeck-Signature", sig);
    return ok ? PD_OK : PD_ERR_NOMEM;
}

static const char *const webhook_secrets[] = {"secret", NULL};

/* --- ntfy ------------------------------------------------------------------------------------
 * ntfy's "publish as JSON" (https://docs.ntfy.sh/publish/#publish-as-json): POST the server's
 * root with {topic, message, title, priority, tags, click}; JSON carries any text, where its
 * headers would need encoding. A token goes as "Authorization: Bearer".
 *
 * With a snapshot, ntfy's upload of a local file as an attachment
 * (https://docs.ntfy.sh/publish/#attach-local-file): the picture is the body of a POST to
 * <server>/<topic> with "Filename: snapshot.jpg", and the rest goes in headers, as RFC 2047
 * encoded-words where they are not plain ASCII (ntfy 2.4 and later decode them). */

static const pd_notify_field ntfy_rules[] = {
    {"server", false, pd_notify_check_url},
    {"topic", true, check_topic},
    {"token", false, pd_notify_check_token},
    {"click", false, pd_notify_check_url},
};

static pd_err ntfy_validate(const json_t *cfg, const char **field, char *why, size_t whylen)
{
    return pd_notify_fields_check(ntfy_rules, 4, cfg, field, why, whylen);
}

/* An X- header of ntfy's: as is, or RFC 2047 encoded-words as a mail's subject is. */
static bool ntfy_header(pd_notify_req *out, const char *name, const char *value)
{
    pd_buf b;
    pd_buf_init(&b, 4096);  /* a message's 1024 bytes, encoded */
    pd_notify_email_subject(&b, value);
    bool ok = !pd_buf_err(&b) && pd_notify_req_header(out, name, pd_buf_len(&b) ? pd_buf_ptr(&b) : "");
    pd_buf_free(&b);
    return ok;
}

static pd_err ntfy_picture(const json_t *cfg, const pd_notify_msg *m, pd_notify_req *out)
{
    const char *click = json_string_value(json_object_get(cfg, "click"));
    size_t len = strlen(out->url);
    snprintf(out->url + len, sizeof out->url - len, "%s", json_string_value(json_object_get(cfg, "topic")));
    if (!(out->body = malloc(m->snapshot->len)))
        return PD_ERR_NOMEM;
    memcpy(out->body, m->snapshot->data, m->snapshot->len);
    out->body_len = m->snapshot->len;
    char prio[8];
    snprintf(prio, sizeof prio, "%d", m->priority);
    bool ok = ntfy_header(out, "X-Title", m->title) && ntfy_header(out, "X-Message", m->text) &&
              pd_notify_req_header(out, "X-Priority", prio) && (!m->tags[0] || ntfy_header(out, "X-Tags", m->tags)) &&
              (!click || pd_notify_req_header(out, "X-Click", click)) &&
              pd_notify_req_header(out, "Filename", PD_NOTIFY_SNAPSHOT_FILE) &&
              pd_notify_req_header(out, "Content-Type", "image/jpeg");
    return ok ? PD_OK : PD_ERR_NOMEM;
}

static pd_err ntfy_build(const json_t *cfg, const pd_notify_msg *m, int64_t now_s, pd_notify_req *out)
{
    (void)now_s;
    const char *server = json_string_value(json_object_get(cfg, "server"));
    const char *token = json_string_value(json_object_get(cfg, "token"));
    const char *click = json_string_value(json_object_get(cfg, "click"));
    if (!server)
        server = "https://ntfy.sh";
    size_t n = strlen(server);
    snprintf(out->url, sizeof out->url, "%s%s", server, n && server[n - 1] == '/' ? "" : "/");
    char auth[300];
    snprintf(auth, sizeof auth, "Bearer %s", token ? token : "");
    if (token && !pd_notify_req_header(out, "Authorization", auth))
        return PD_ERR_NOMEM;
    if (m->snapshot)
        return ntfy_picture(cfg, m, out);
    json_t *tags = json_array();
    char t[sizeof m->tags];
    snprintf(t, sizeof t, "%s", m->tags);
    for (char *save = NULL, *tok = strtok_r(t, ",", &save); tok && tags; tok = strtok_r(NULL, ",", &save))
        json_array_append_new(tags, json_string(tok));
    json_t *o = json_pack("{s:s,s:s,s:s,s:i,s:o}", "topic", json_string_value(json_object_get(cfg, "topic")),
                          "title", m->title, "message", m->text, "priority", m->priority, "tags",
                          tags ? tags : json_array());
    if (o && click)
        json_object_set_new(o, "click", json_string(click));
    out->body = o ? json_dumps(o, PD_JSON_FLAGS) : NULL;
    json_decref(o);
    if (!out->body)
        return PD_ERR_NOMEM;
    out->body_len = strlen(out->body);
    return pd_notify_req_header(out, "Content-Type", "application/json") ? PD_OK : PD_ERR_NOMEM;
}

static const char *const ntfy_secrets[] = {"token", NULL};

static const char *const mqtt_secrets[] = {NULL};

/* --- the table ---------------------------------------------------------------------------- */

static const pd_notify_type webhook = {.name = "webhook", .picture = PD_NOTIFY_PICTURE_URL, .validate = webhook_validate,
                                       .build = webhook_build, .secrets = webhook_secrets};
static const pd_notify_type ntfy = {.name = "ntfy", .picture = PD_NOTIFY_PICTURE_FILE, .validate = ntfy_validate,
                                    .build = ntfy_build, .secrets = ntfy_secrets};
static const pd_notify_type mqtt = {.name = "mqtt", .picture = PD_NOTIFY_PICTURE_URL, .validate = pd_notify_mqtt_validate,
                                    .build = pd_notify_mqtt_build, .secrets = mqtt_secrets, .via_sender = true};
static const pd_notify_type webpush = {.name = "webpush", .validate = pd_wp_validate, .build = pd_wp_build,
                                       .secrets = pd_wp_secrets, .targets = pd_wp_targets, .answered = pd_wp_answered};

static const pd_notify_type *const types[] = {
    &webhook, &ntfy, &mqtt, &webpush, &pd_notify_pushover, &pd_notify_telegram, &pd_notify_discord, &pd_notify_slack,
    &pd_notify_homeassistant, &pd_notify_email,
};

const pd_notify_type *pd_notify_type_find(const char *name)
{
    for (size_t i = 0; name && i < sizeof types / sizeof *types; i++)
        if (!strcmp(types[i]->name, name))
            return types[i];
    return NULL;
}

bool pd_notify_type_secret(const pd_notify_type *t, const char *field)
{
    for (const char *const *s = t->secrets; *s; s++)
        if (!strcmp(*s, field))
            return true;
    return false;
}

/* --- what the types share (types.h) -------------------------------------------------------- */

const char *pd_notify_cfg_str(const json_t *cfg, const char *key, const char *deflt)
{
    const char *s = json_string_value(json_object_get(cfg, key));
    return s ? s : deflt;
}

void pd_notify_req_url(pd_notify_req *r, const char *base, const char *path)
{
    size_t n = strlen(base);
    if (n && base[n - 1] == '/')
        n--;
    snprintf(r->url, sizeof r->url, "%.*s%s", (int)n, base, path);
}

pd_err pd_notify_req_json(pd_notify_req *r, json_t *o)
{
    r->body = o ? json_dumps(o, PD_JSON_FLAGS) : NULL;
    json_decref(o);
    if (!r->body)
        return PD_ERR_NOMEM;
    r->body_len = strlen(r->body);
    if (r->body_len > PD_NOTIFY_BODY_MAX)
        return PD_ERR_TOOBIG;
    return pd_notify_req_header(r, "Content-Type", "application/json") ? PD_OK : PD_ERR_NOMEM;
}

void pd_notify_escape(pd_buf *b, const char *s, bool quotes)
{
    for (; *s; s++) {
        if (*s == '&')
            pd_buf_add_str(b, "&amp;");
        else if (*s == '<')
            pd_buf_add_str(b, "&lt;");
        else if (*s == '>')
            pd_buf_add_str(b, "&gt;");
        else if (*s == '"' && quotes)
            pd_buf_add_str(b, "&quot;");
        else
            pd_buf_addc(b, *s);
    }
}
