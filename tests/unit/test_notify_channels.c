/* The channel types' builders (docs/notify.md): what each sends for a message, escaping and
 * priorities, and the fields each refuses. Pure: no transfer is made. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "notify/types.h"

static void msg(pd_notify_msg *m, int priority)
{
    memset(m, 0, sizeof *m);
    snprintf(m->id, sizeof m->id, "18c-1");
    snprintf(m->event, sizeof m->event, "job_failed");
    m->printer_id = 2;
    snprintf(m->printer, sizeof m->printer, "Desk <P1S> & co");
    snprintf(m->title, sizeof m->title, "Desk <P1S> & co: print failed");
    snprintf(m->text, sizeof m->text, "\"Benchy\" failed: <b>bold</b> & more.");
    m->priority = priority;
    m->ts = 1700000000;
}

/* The request type name builds for m with cfg (JSON text); the body parsed when JSON. */
static json_t *build(const char *type, const char *cfg_text, const pd_notify_msg *m, pd_notify_req *r)
{
    const pd_notify_type *t = pd_notify_type_find(type);
    assert_non_null(t);
    json_t *cfg = json_loads(cfg_text, 0, NULL);
    const char *field = NULL;
    char why[256];
    assert_int_equal(t->validate(cfg, &field, why, sizeof why), PD_OK);
    memset(r, 0, sizeof *r);
    assert_int_equal(t->build(cfg, m, 1700000100, r), PD_OK);
    json_decref(cfg);
    return r->body ? json_loads(r->body, 0, NULL) : NULL;
}

static bool has_header(const pd_notify_req *r, const char *line)
{
    for (const struct curl_slist *l = r->headers; l; l = l->next)
        if (!strcmp(l->data, line))
            return true;
    return false;
}

/* The field a bad configuration is refused for. */
static const char *refused(const char *type, const char *cfg_text)
{
    static char field[64];
    const char *f = NULL;
    char why[256];
    json_t *cfg = json_loads(cfg_text, 0, NULL);
    assert_non_null(cfg);
    pd_err rc = pd_notify_type_find(type)->validate(cfg, &f, why, sizeof why);
    json_decref(cfg);
    snprintf(field, sizeof field, "%s", rc == PD_ERR_FIELD ? f : "");
    return field;
}

static void pushover_form_and_priorities(void **state)
{
    (void)state;
    assert_int_equal(pd_notify_pushover_priority(1), -2);
    assert_int_equal(pd_notify_pushover_priority(3), 0);
    assert_int_equal(pd_notify_pushover_priority(4), 1);
    assert_int_equal(pd_notify_pushover_priority(9), 2);
    pd_notify_msg m;
    pd_notify_req r;
    msg(&m, 5);
    build("pushover", "{\"token\":\"azGDORePK8gMaC0QOYAMyEEuzJnyUi\",\"user\":\"uQiRzpo4DXghDmr9QzzfQu27cmVRsG\","
          "\"sound\":\"siren\"}", &m, &r);
    assert_string_equal(r.url, "https://api.pushover.net/1/messages.json");
    assert_true(has_header(&r, "Content-Type: application/x-www-form-urlencoded"));
    assert_non_null(strstr(r.body, "token=azGDORePK8gMaC0QOYAMyEEuzJnyUi&user=uQiRzpo4DXghDmr9QzzfQu27cmVRsG&"));
    assert_non_null(strstr(r.body, "&title=Desk%20%3CP1S%3E%20%26%20co%3A%20print%20failed&"));
    /* an emergency repeats until acknowledged: the API requires retry and expire */
    assert_non_null(strstr(r.body, "&priority=2&retry=60&expire=3600&timestamp=1700000000"));
    assert_non_null(strstr(r.body, "&sound=siren"));
    pd_notify_req_clear(&r);
    msg(&m, 3);
    build("pushover", "{\"server\":\"http://127.0.0.1:9/\",\"token\":\"azGDORePK8gMaC0QOYAMyEEuzJnyUi\","
          "\"user\":\"uQiRzpo4DXghDmr9QzzfQu27cmVRsG\"}", &m, &r);
    assert_string_equal(r.url, "http://127.0.0.1:9/1/messages.json");
    assert_non_null(strstr(r.body, "&priority=0&timestamp="));
    pd_notify_req_clear(&r);
    assert_string_equal(refused("pushover", "{\"token\":\"short\",\"user\":\"uQiRzpo4DXghDmr9QzzfQu27cmVRsG\"}"),
                        "token");
    assert_string_equal(refused("pushover", "{\"token\":\"azGDORePK8gMaC0QOYAMyEEuzJnyUi\"}"), "user");
}

static void telegram_html_escaped_and_quiet(void **state)
{
    (void)state;
    pd_notify_msg m;
    pd_notify_req r;
    msg(&m, 2);
    json_t *b = build("telegram", "{\"token\":\"123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11\",\"chat_id\":-1001234}",
                      &m, &r);
    assert_string_equal(r.url, "https://api.telegram.org/bot123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11/sendMessage");
    assert_string_equal(json_string_value(json_object_get(b, "text")),
                        "<b>Desk &lt;P1S&gt; &amp; co: print failed</b>\n"
                        "&quot;Benchy&quot; failed: &lt;b&gt;bold&lt;/b&gt; &amp; more.");
    assert_string_equal(json_string_value(json_object_get(b, "parse_mode")), "HTML");
    assert_int_equal(json_integer_value(json_object_get(b, "chat_id")), -1001234);
    assert_true(json_is_true(json_object_get(b, "disable_notification")));
    json_decref(b);
    pd_notify_req_clear(&r);
    msg(&m, 4);
    b = build("telegram", "{\"token\":\"123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11\",\"chat_id\":\"@printfarm\"}", &m, &r);
    assert_true(json_is_false(json_object_get(b, "disable_notification")));
    assert_string_equal(json_string_value(json_object_get(b, "chat_id")), "@printfarm");
    json_decref(b);
    pd_notify_req_clear(&r);
    assert_string_equal(refused("telegram", "{\"token\":\"nope\",\"chat_id\":1}"), "token");
    assert_string_equal(refused("telegram", "{\"token\":\"123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11\","
                                            "\"chat_id\":\"bob\"}"), "chat_id");
    assert_string_equal(refused("telegram", "{\"token\":\"123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11\"}"),
                        "chat_id");
}

static void discord_embed_coloured(void **state)
{
    (void)state;
    assert_int_equal(pd_notify_discord_colour(5), 0xe74c3c);
    assert_int_equal(pd_notify_discord_colour(3), 0x2ecc71);
    assert_int_equal(pd_notify_discord_colour(0), 0x95a5a6);
    pd_notify_msg m;
    pd_notify_req r;
    msg(&m, 4);
    json_t *b = build("discord", "{\"url\":\"https://discord.com/api/webhooks/1/abc\"}", &m, &r);
    assert_string_equal(r.url, "https://discord.com/api/webhooks/1/abc");
    json_t *e = json_array_get(json_object_get(b, "embeds"), 0);
    assert_string_equal(json_string_value(json_object_get(e, "title")), m.title);
    assert_string_equal(json_string_value(json_object_get(e, "description")), m.text);
    assert_int_equal(json_integer_value(json_object_get(e, "color")), 0xe67e22);
    assert_string_equal(json_string_value(json_object_get(e, "timestamp")), "2023-11-14T22:13:20Z");
    assert_int_equal(json_array_size(json_object_get(json_object_get(b, "allowed_mentions"), "parse")), 0);
    json_decref(b);
    pd_notify_req_clear(&r);
    assert_string_equal(refused("discord", "{\"url\":\"discord.com/x\"}"), "url");
    assert_string_equal(refused("discord", "{\"url\":\"https://discord.com/api/webhooks/1/abc\",\"username\":\"print farm\"}"),
                        "");
    assert_string_equal(refused("discord", "{\"url\":\"https://discord.com/api/webhooks/1/abc\",\"username\":\""
                                           "a name longer than Discord takes, a name longer than Discord takes, and longer still\"}"),
                        "username");
    assert_true(pd_notify_type_secret(pd_notify_type_find("discord"), "url"));
}

static void slack_text_and_blocks(void **state)
{
    (void)state;
    pd_notify_msg m;
    pd_notify_req r;
    msg(&m, 4);
    json_t *b = build("slack", "{\"url\":\"https://hooks.slack.com/services/T0/B0/x\"}", &m, &r);
    assert_string_equal(json_string_value(json_object_get(b, "text")),
                        "Desk &lt;P1S&gt; &amp; co: print failed\n\"Benchy\" failed: &lt;b&gt;bold&lt;/b&gt; &amp; more.");
    json_t *blocks = json_object_get(b, "blocks");
    assert_string_equal(json_string_value(json_object_get(json_array_get(blocks, 0), "type")), "header");
    /* a header is plain text: not escaped */
    assert_string_equal(json_string_value(json_object_get(json_object_get(json_array_get(blocks, 0), "text"), "text")),
                        m.title);
    const char *ctx = json_string_value(json_object_get(
        json_array_get(json_object_get(json_array_get(blocks, 2), "elements"), 0), "text"));
    assert_non_null(strstr(ctx, "<!date^1700000000^"));
    json_decref(b);
    pd_notify_req_clear(&r);
}

static void homeassistant_service_call(void **state)
{
    (void)state;
    pd_notify_msg m;
    pd_notify_req r;
    msg(&m, 4);
    json_t *b = build("homeassistant", "{\"url\":\"http://ha.local:8123/\",\"token\":\"eyJhbGciOiJIUzI1NiJ9.abc.def\","
                      "\"service\":\"mobile_app_pixel_7\"}", &m, &r);
    assert_string_equal(r.url, "http://ha.local:8123/api/services/notify/mobile_app_pixel_7");
    assert_true(has_header(&r, "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.abc.def"));
    assert_string_equal(json_string_value(json_object_get(b, "message")), m.text);
    json_t *d = json_object_get(b, "data");
    assert_string_equal(json_string_value(json_object_get(d, "tag")), "printdeck-job_failed-2");
    assert_string_equal(json_string_value(json_object_get(d, "priority")), "high");
    json_decref(b);
    pd_notify_req_clear(&r);
    assert_string_equal(refused("homeassistant", "{\"url\":\"http://ha:8123\",\"token\":\"eyJhbGciOiJIUzI1NiJ9.abc\","
                                                 "\"service\":\"notify.phone\"}"), "service");
}

static void email_headers_and_parts(void **state)
{
    (void)state;
    char date[40];
    pd_notify_email_date(1700000000, date);
    assert_string_equal(date, "Tue, 14 Nov 2023 22:13:20 +0000");
    pd_buf b;
    pd_buf_init(&b, 4096);
    pd_notify_email_subject(&b, "plain: ok");
    assert_string_equal(pd_buf_ptr(&b), "plain: ok");
    pd_buf_reset(&b);
    /* "Drucker ä" in UTF-8, and a line break that must not make a header of its own */
    pd_notify_email_subject(&b, "Drucker \xc3\xa4\r\nBcc: x@y");
    assert_string_equal(pd_buf_ptr(&b), "=?UTF-8?B?RHJ1Y2tlciDDpA0KQmNjOiB4QHk=?=");
    pd_buf_reset(&b);
    char long_title[200];
    memset(long_title, 'a', sizeof long_title);
    memcpy(long_title + 44, "\xc3\xa4", 2); /* straddles the first word's end: kept whole */
    long_title[sizeof long_title - 1] = '\0';
    pd_notify_email_subject(&b, long_title);
    const char *s = pd_buf_ptr(&b);
    for (const char *w = s; w; w = strchr(w + 1, ' ')) {
        const char *end = strchr(w + 1, ' ');
        assert_true((end ? (size_t)(end - w) : strlen(w)) <= 76);
    }
    assert_non_null(strstr(s, "YWE=?= =?UTF-8?B?w6Rh"));
    pd_buf_free(&b);

    pd_notify_msg m;
    pd_notify_req r;
    msg(&m, 3);
    assert_null(build("email", "{\"host\":\"smtp.example.com\",\"from\":\"farm@example.com\","
                      "\"to\":[\"a@example.com\",\"b@example.org\"],\"username\":\"farm\",\"password\":\"pw\"}", &m, &r));
    assert_string_equal(r.url, "smtp://smtp.example.com:587");
    assert_true(has_header(&r, "Date: Tue, 14 Nov 2023 22:13:20 +0000"));
    assert_true(has_header(&r, "From: printdeck <farm@example.com>"));
    assert_true(has_header(&r, "To: a@example.com, b@example.org"));
    assert_true(has_header(&r, "Subject: Desk <P1S> & co: print failed"));
    assert_true(has_header(&r, "Message-ID: <18c-1@example.com>"));
    pd_notify_req_clear(&r);
    build("email", "{\"host\":\"::1\",\"security\":\"tls\",\"from\":\"f@x.org\",\"to\":[\"a@x.org\"]}", &m, &r);
    assert_string_equal(r.url, "smtps://[::1]:465");
    pd_notify_req_clear(&r);
    char *html = pd_notify_email_html(&m), *text = pd_notify_email_text(&m);
    assert_non_null(strstr(html, "<h2>Desk &lt;P1S&gt; &amp; co: print failed</h2>"));
    assert_non_null(strstr(html, "<p>&quot;Benchy&quot; failed: &lt;b&gt;bold&lt;/b&gt; &amp; more.</p>"));
    assert_non_null(strstr(text, "\"Benchy\" failed: <b>bold</b> & more."));
    free(html);
    free(text);
    assert_string_equal(refused("email", "{\"host\":\"mail.example.com\",\"security\":\"none\",\"from\":\"f@x.org\","
                                         "\"to\":[\"a@x.org\"]}"), "security");
    assert_string_equal(refused("email", "{\"host\":\"localhost\",\"from\":\"f@x.org\",\"to\":[]}"), "to");
    assert_string_equal(refused("email", "{\"host\":\"localhost\",\"from\":\"f@x.org\",\"to\":[\"a@x.org\"],"
                                         "\"port\":70000}"), "port");
    assert_string_equal(refused("email", "{\"host\":\"localhost\",\"from\":\"<f@x.org>\",\"to\":[\"a@x.org\"]}"),
                        "from");
    assert_string_equal(refused("email", "{\"host\":\"localhost\",\"from\":\"f@x.org\",\"to\":[\"a@x.org\"],"
                                         "\"username\":\"u\"}"), "password");
    assert_string_equal(refused("email", "{\"host\":\"localhost\",\"from\":\"f@x.org\",\"to\":[\"a@x.org\"],"
                                         "\"ca\":\"not pem\"}"), "ca");
}

static void refusals_in_few_words(void **state)
{
    (void)state;
    static const struct { const char *reply, *words; } cases[] = {
        {"{\"ok\":false,\"error_code\":400,\"description\":\"Bad Request: chat not found\"}",
         "Bad Request: chat not found"},
        {"{\"user\":\"invalid\",\"errors\":[\"user identifier is invalid\"],\"status\":0}",
         "user identifier is invalid"},
        {"{\"message\": \"Unknown Webhook\", \"code\": 10015}", "Unknown Webhook"},
        {"{\"code\":40101,\"http\":401,\"error\":\"unauthorized\"}", "unauthorized"},
        {"no_service", "no_service"},
        {"  401: Unauthorized\r\nmore", "401: Unauthorized"},
        {"<html><body>Bad gateway</body></html>", ""},
        {"{\"ok\":true}", ""},
        {"", ""},
        {"tab\there\x01", "tab here"},
    };
    char out[160];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        pd_notify_reply_words(cases[i].reply, strlen(cases[i].reply), out, sizeof out);
        assert_string_equal(out, cases[i].words);
    }
    /* cut to fit, never inside a UTF-8 sequence */
    pd_notify_reply_words("ab\xc3\xa4", 4, out, 4);
    assert_string_equal(out, "ab");
    pd_notify_reply_words("abc\xc3\xa4", 5, out, 4);
    assert_string_equal(out, "abc");
}

/* A message whose printer has a camera: the picture sent along by the types that attach one,
 * the signed URL carried by those whose receiver fetches it. */
static void snapshot_per_type(void **state)
{
    (void)state;
    pd_notify_msg m;
    pd_notify_req r;
    msg(&m, 3);
    snprintf(m.title, sizeof m.title, "Caf\xc3\xa9 P1S: print finished");
    snprintf(m.text, sizeof m.text, "Benchy\ntook 1h");
    snprintf(m.snapshot_url, sizeof m.snapshot_url, "https://deck.example/api/v1/printers/2/snapshot?exp=1&sig=x");
    m.snapshot = pd_cam_frame_new(4);
    assert_non_null(m.snapshot);
    memcpy(m.snapshot->data, "\xff\xd8\xff\xd9", 4);

    /* ntfy: the picture is the body; the rest in headers, RFC 2047 where not plain ASCII */
    assert_null(build("ntfy", "{\"server\":\"http://n.example/\",\"topic\":\"farm\",\"token\":\"tk\"}", &m, &r));
    assert_string_equal(r.url, "http://n.example/farm");
    assert_int_equal(r.body_len, 4);
    assert_memory_equal(r.body, "\xff\xd8\xff\xd9", 4);
    assert_true(has_header(&r, "Filename: snapshot.jpg"));
    assert_true(has_header(&r, "X-Title: =?UTF-8?B?Q2Fmw6kgUDFTOiBwcmludCBmaW5pc2hlZA==?="));
    assert_true(has_header(&r, "X-Message: =?UTF-8?B?QmVuY2h5CnRvb2sgMWg=?="));
    assert_true(has_header(&r, "Authorization: Bearer tk"));
    pd_notify_req_clear(&r);

    /* Telegram sendPhoto, Discord, Pushover: multipart with the file part */
    assert_null(build("telegram", "{\"token\":\"123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11\",\"chat_id\":5}", &m, &r));
    assert_string_equal(r.url, "https://api.telegram.org/bot123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11/sendPhoto");
    assert_non_null(r.mime);
    pd_notify_req_clear(&r);
    assert_null(build("discord", "{\"url\":\"https://discord.example/api/webhooks/1/t\"}", &m, &r));
    assert_non_null(r.mime);
    pd_notify_req_clear(&r);
    assert_null(build("pushover", "{\"token\":\"azGDORePK8gMaC0QOYAMyEEuzJnyUi\",\"user\":\"uQiRzpo4DXghDmr9QzzfQu27cmVRsG\"}",
                      &m, &r));
    assert_non_null(r.mime);
    pd_notify_req_clear(&r);

    /* the URL where the receiver fetches it */
    json_t *o = build("homeassistant", "{\"url\":\"http://ha.local:8123\",\"token\":\"eyJhbGciOiJIUzI1NiJ9.abc.def\","
                      "\"service\":\"mobile_app_x\"}", &m, &r);
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "data"), "image")), m.snapshot_url);
    json_decref(o);
    pd_notify_req_clear(&r);
    o = build("webhook", "{\"url\":\"http://h.example/\",\"secret\":\"0123456789abcdef\"}", &m, &r);
    assert_string_equal(json_string_value(json_object_get(o, "snapshot_url")), m.snapshot_url);
    json_decref(o);
    pd_notify_req_clear(&r);
    o = build("slack", "{\"url\":\"https://hooks.slack.example/services/T/B/x\"}", &m, &r);
    json_t *img = json_array_get(json_object_get(o, "blocks"), 2);
    assert_string_equal(json_string_value(json_object_get(img, "type")), "image");
    assert_string_equal(json_string_value(json_object_get(img, "image_url")), m.snapshot_url);
    json_decref(o);
    pd_notify_req_clear(&r);
    pd_notify_msg_clear(&m);
    assert_null(m.snapshot);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pushover_form_and_priorities), cmocka_unit_test(telegram_html_escaped_and_quiet),
        cmocka_unit_test(discord_embed_coloured),       cmocka_unit_test(slack_text_and_blocks),
        cmocka_unit_test(homeassistant_service_call),   cmocka_unit_test(email_headers_and_parts),
        cmocka_unit_test(refusals_in_few_words),        cmocka_unit_test(snapshot_per_type),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
