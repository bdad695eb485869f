/* E-mail over SMTP through libcurl (RFC 5321 envelope, RFC 5322 headers, RFC 2045/2046 MIME;
 * curl's smtp-mime example): STARTTLS that must succeed (CURLOPT_USE_SSL = CURLUSESSL_ALL) on
 * port 587, or implicit TLS (smtps://) on 465; plain SMTP only to a relay on this machine.
 * The body is multipart/alternative, plain text and HTML, inside a multipart/mixed root where
 * a snapshot goes as a second, inline image part. Headers: Date, From, To, Subject (RFC 2047
 * encoded when it is not plain ASCII), Message-ID from the delivery's id, so a retry is the
 * same message to the receiving side. */
#include <ctype.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/tls.h"
#include "notify/types.h"

#define SMTP_TO_MAX 10
#define SMTP_TO_LEN 900     /* the To header fits one line of pd_notify_req_header */

static const char *check_host(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > 253)
        return "a host name or address expected";
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr(".-:", *p))
            return "a host name or address expected (letters, digits, '.', '-', ':')";
    return NULL;
}

static const char *check_security(const char *s)
{
    return !strcmp(s, "starttls") || !strcmp(s, "tls") || !strcmp(s, "none") ? NULL
                                                                              : "starttls, tls or none expected";
}

/* an address as it goes into the envelope and a header: local@domain, nothing to quote */
static const char *check_address(const char *s)
{
    const char *at = strchr(s, '@');
    size_t n = strlen(s);
    if (n < 3 || n > 254 || !at || at == s || !at[1] || strchr(at + 1, '@'))
        return "an address name@domain expected";
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f || strchr("<>()[],;:\\\"", *p))
            return "an address name@domain expected, without spaces or <>()[],;:\\\"";
    return NULL;
}

static const char *check_ca(const char *s)
{
    if (strlen(s) > PD_TLS_CA_FILE_MAX)
        return "at most 1 MiB of PEM";
    X509_STORE *st = pd_tls_pem_store(s, -1);
    X509_STORE_free(st);
    return st ? NULL : "no PEM certificate in it";
}

static const pd_notify_field rules[] = {
    {"host", true, check_host},
    {"port", false, NULL},
    {"security", false, check_security},
    {"username", false, pd_notify_check_text},
    {"password", false, pd_notify_check_text},
    {"from", true, check_address},
    {"to", true, NULL},
    {"ca", false, check_ca},
};

static bool loopback(const char *host)
{
    return !strcmp(host, "localhost") || !strncmp(host, "127.", 4) || !strcmp(host, "::1");
}

static pd_err validate(const json_t *cfg, const char **field, char *why, size_t whylen)
{
    pd_err rc = pd_notify_fields_check(rules, sizeof rules / sizeof *rules, cfg, field, why, whylen);
    if (rc)
        return rc;
    const char *bad = NULL;
    json_t *port = json_object_get(cfg, "port"), *to = json_object_get(cfg, "to"), *a;
    size_t i, len = 0;
    *field = "port";
    if (port && !json_is_null(port) &&
        (!json_is_integer(port) || json_integer_value(port) < 1 || json_integer_value(port) > 65535))
        bad = "a port number from 1 to 65535 expected";
    if (!bad) {
        *field = "to";
        if (!json_is_array(to) || !json_array_size(to) || json_array_size(to) > SMTP_TO_MAX)
            bad = "a list of 1 to 10 addresses expected";
        json_array_foreach(to, i, a) {
            if (bad)
                break;
            if (!json_is_string(a) || (bad = check_address(json_string_value(a))))
                bad = "each an address name@domain expected";
            else if ((len += strlen(json_string_value(a)) + 2) > SMTP_TO_LEN)
                bad = "at most 900 characters of addresses";
        }
    }
    if (!bad && !strcmp(pd_notify_cfg_str(cfg, "security", "starttls"), "none") &&
        !loopback(pd_notify_cfg_str(cfg, "host", ""))) {
        *field = "security";
        bad = "none only to a host on this machine (localhost, 127.x, ::1): use starttls or tls";
    }
    bool user = json_is_string(json_object_get(cfg, "username"));
    if (!bad && user != json_is_string(json_object_get(cfg, "password"))) {
        *field = user ? "password" : "username";
        bad = "a user name and a password go together";
    }
    if (bad)
        snprintf(why, whylen, "%s", bad);
    return bad ? PD_ERR_FIELD : PD_OK;
}

void pd_notify_email_date(int64_t t, char out[40])
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    snprintf(out, 40, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday % 7], tm.tm_mday,
             months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

void pd_notify_email_subject(pd_buf *b, const char *s)
{
    const char *p = s;
    while (*p && (unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f)
        p++;
    if (!*p) {
        pd_buf_add_str(b, s);
        return;
    }
    /* encoded-words of at most 75 characters (RFC 2047 §2): 45 bytes each, whole UTF-8
     * sequences, separated by a space that readers drop between two of them */
    size_t n = strlen(s);
    for (size_t at = 0; at < n;) {
        size_t take = n - at < 45 ? n - at : 45;
        while (take < n - at && take && ((unsigned char)s[at + take] & 0xc0) == 0x80)
            take--;
        unsigned char enc[64];
        int len = EVP_EncodeBlock(enc, (const unsigned char *)s + at, (int)take);
        pd_buf_add_str(b, at ? " =?UTF-8?B?" : "=?UTF-8?B?");
        pd_buf_add(b, enc, (size_t)len);
        pd_buf_add_str(b, "?=");
        at += take;
    }
}

static pd_err build(const json_t *cfg, const pd_notify_msg *m, int64_t now_s, pd_notify_req *out)
{
    const char *security = pd_notify_cfg_str(cfg, "security", "starttls"), *host = pd_notify_cfg_str(cfg, "host", "");
    const char *from = pd_notify_cfg_str(cfg, "from", "");
    json_t *port = json_object_get(cfg, "port"), *a;
    bool tls = !strcmp(security, "tls"), v6 = strchr(host, ':') != NULL;
    long long p = json_is_integer(port) ? (long long)json_integer_value(port)
                  : tls ? 465 : !strcmp(security, "none") ? 25 : 587;
    snprintf(out->url, sizeof out->url, "%s://%s%s%s:%lld", tls ? "smtps" : "smtp", v6 ? "[" : "", host, v6 ? "]" : "", p);
    char date[40], line[1024];
    pd_notify_email_date(m->ts ? m->ts : now_s, date);
    pd_buf to, subject;
    pd_buf_init(&to, SMTP_TO_LEN);
    pd_buf_init(&subject, 900);
    size_t i;
    json_array_foreach(json_object_get(cfg, "to"), i, a) {
        pd_buf_add_str(&to, i ? ", " : "");
        pd_buf_add_str(&to, json_string_value(a));
    }
    pd_notify_email_subject(&subject, m->title);
    bool ok = !pd_buf_err(&to) && !pd_buf_err(&subject) && pd_buf_len(&to) && pd_buf_len(&subject);
    ok = ok && pd_notify_req_header(out, "Date", date);
    snprintf(line, sizeof line, "printdeck <%s>", from);
    ok = ok && pd_notify_req_header(out, "From", line) && pd_notify_req_header(out, "To", pd_buf_ptr(&to)) &&
         pd_notify_req_header(out, "Subject", pd_buf_ptr(&subject));
    const char *domain = strchr(from, '@');
    snprintf(line, sizeof line, "<%s@%s>", m->id[0] ? m->id : "test", domain ? domain + 1 : "printdeck");
    ok = ok && pd_notify_req_header(out, "Message-ID", line);
    pd_buf_free(&to);
    pd_buf_free(&subject);
    return ok ? PD_OK : PD_ERR_NOMEM;
}

char *pd_notify_email_text(const pd_notify_msg *m)
{
    pd_buf b;
    size_t len;
    pd_buf_init(&b, 8192);
    pd_buf_add_str(&b, m->title);
    pd_buf_add_str(&b, "\r\n\r\n");
    pd_buf_add_str(&b, m->text);
    pd_buf_add_str(&b, "\r\n\r\n-- \r\nprintdeck\r\n");
    return pd_buf_detach(&b, &len);
}

char *pd_notify_email_html(const pd_notify_msg *m)
{
    pd_buf b;
    size_t len;
    pd_buf_init(&b, 16384);
    pd_buf_add_str(&b, "<!DOCTYPE html>\r\n<html><head><meta charset=\"utf-8\"><title>");
    pd_notify_escape(&b, m->title, true);
    pd_buf_add_str(&b, "</title></head>\r\n<body style=\"font-family:sans-serif\">\r\n<h2>");
    pd_notify_escape(&b, m->title, true);
    pd_buf_add_str(&b, "</h2>\r\n<p>");
    pd_notify_escape(&b, m->text, true);
    pd_buf_add_str(&b, "</p>\r\n<p style=\"color:#666;font-size:small\">printdeck</p>\r\n</body></html>\r\n");
    return pd_buf_detach(&b, &len);
}

/* A text part of type; false when out of memory. */
static bool part(curl_mime *mime, const char *type, char *text)
{
    curl_mimepart *p = text ? curl_mime_addpart(mime) : NULL;
    bool ok = p && !curl_mime_data(p, text, CURL_ZERO_TERMINATED) && !curl_mime_type(p, type) &&
              !curl_mime_encoder(p, "quoted-printable");
    free(text);
    return ok;
}

/* The snapshot after the text, shown in the mail rather than listed as an attachment. */
static bool snapshot_part(curl_mime *mime, const pd_notify_msg *m)
{
    curl_mimepart *p = curl_mime_addpart(mime);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Disposition: inline; filename=\"" PD_NOTIFY_SNAPSHOT_FILE "\"");
    struct curl_slist *h2 = h ? curl_slist_append(h, "Content-ID: <snapshot@printdeck>") : NULL;
    bool ok = p && h2 && !curl_mime_data(p, (const char *)m->snapshot->data, m->snapshot->len) &&
              !curl_mime_type(p, "image/jpeg") && !curl_mime_encoder(p, "base64") && !curl_mime_headers(p, h2, 1);
    if (!ok)
        curl_slist_free_all(h);
    return ok;
}

static pd_err transfer(const json_t *cfg, const pd_notify_msg *m, pd_notify_req *r, CURL *e)
{
    const char *security = pd_notify_cfg_str(cfg, "security", "starttls"), *ca = pd_notify_cfg_str(cfg, "ca", NULL);
    const char *user = pd_notify_cfg_str(cfg, "username", NULL);
    char addr[300];
    json_t *a;
    size_t i;
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(e, CURLOPT_USE_SSL, (long)(strcmp(security, "none") ? CURLUSESSL_ALL : CURLUSESSL_NONE));
    snprintf(addr, sizeof addr, "<%s>", pd_notify_cfg_str(cfg, "from", ""));
    curl_easy_setopt(e, CURLOPT_MAIL_FROM, addr);
    json_array_foreach(json_object_get(cfg, "to"), i, a) {
        snprintf(addr, sizeof addr, "<%s>", json_string_value(a));
        struct curl_slist *l = curl_slist_append(r->rcpt, addr);
        if (!l)
            return PD_ERR_NOMEM;
        r->rcpt = l;
    }
    curl_easy_setopt(e, CURLOPT_MAIL_RCPT, r->rcpt);
    if (user) {
        curl_easy_setopt(e, CURLOPT_USERNAME, user);
        curl_easy_setopt(e, CURLOPT_PASSWORD, pd_notify_cfg_str(cfg, "password", ""));
    }
    if (ca) {
        struct curl_blob blob = {(void *)ca, strlen(ca), CURL_BLOB_COPY};
        curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &blob);
    }
    curl_mime *alt = curl_mime_init(e);
    curl_mimepart *p = NULL;
    r->mime = curl_mime_init(e);
    bool ok = r->mime && alt && part(alt, "text/plain; charset=utf-8", pd_notify_email_text(m)) &&
              part(alt, "text/html; charset=utf-8", pd_notify_email_html(m)) && (p = curl_mime_addpart(r->mime));
    if (!ok || curl_mime_subparts(p, alt)) {  /* once attached, alt is p's */
        curl_mime_free(alt);
        return PD_ERR_NOMEM;
    }
    curl_mime_type(p, "multipart/alternative");
    if (m->snapshot && !snapshot_part(r->mime, m))
        return PD_ERR_NOMEM;
    curl_easy_setopt(e, CURLOPT_MIMEPOST, r->mime);
    return PD_OK;
}

static const char *const secrets[] = {"password", NULL};

const pd_notify_type pd_notify_email = {
    .name = "email", .picture = PD_NOTIFY_PICTURE_FILE, .validate = validate, .build = build, .secrets = secrets, .transfer = transfer};
