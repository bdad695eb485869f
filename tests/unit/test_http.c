/* The HTTP server on a real loop, driven by a plain-socket client in the same thread: the
 * client never blocks, it runs the loop (UV_RUN_NOWAIT) while it waits, with a deadline on
 * every wait. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http/access.h"
#include "http/chunked.h"
#include "http/http.h"
#include "http/router.h"
#include "http/site.h"

#define TOKEN "s3cret"
#define MAX_BODY 4096
#define BACKLOG 65536
#define MAX_CLIENTS 16
#define BIG_LEN (500 * 1024)
#define WAIT_MS 5000

static uv_loop_t loop;
static pd_http *srv;
static int port;

/* server-side state the handlers share with the tests */
static uv_timer_t async_timer;
static pd_req *pending;
static int aborted;
static pd_stream *stream;
static int stream_closed;
static pd_stream *ws;       /* the last accepted websocket */
static int ws_closed;
static pd_http_access rules; /* what start_server applies */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs the loop without blocking, then waits briefly for the client socket. */
static void pump(int fd, short events)
{
    uv_run(&loop, UV_RUN_NOWAIT);
    struct pollfd p = {.fd = fd, .events = events};
    poll(&p, fd >= 0 ? 1 : 0, 1);
}

static void pump_ms(int ms)
{
    for (int64_t end = now_ms() + ms; now_ms() < end;)
        pump(-1, 0);
}

/* --- handlers ------------------------------------------------------------------------- */

static void h_hello(pd_req *r)
{
    pd_req_reply_raw(r, 200, "text/plain", "hello", 5);
}

static void h_item(pd_req *r)
{
    pd_req_reply_json(r, 200, json_pack("{s:s,s:s?}", "id", pd_req_param(r, "id"), "name",
                                        pd_req_param(r, "name")));
}

static void h_create(pd_req *r)
{
    json_t *body = pd_req_json(r);
    if (body)
        pd_req_reply_json(r, 201, json_pack("{s:O}", "got", body));
}

/* BIG_LEN bytes of a..z, or ?len= of them starting at ?from= */
static void h_big(pd_req *r)
{
    char buf[32];
    size_t len = BIG_LEN, from = 0;
    if (pd_req_query(r, "len", buf, sizeof buf))
        len = strtoul(buf, NULL, 10);
    if (pd_req_query(r, "from", buf, sizeof buf))
        from = strtoul(buf, NULL, 10);
    char *out = pd_req_reply_alloc(r, len);
    if (!out) {
        pd_req_reply_error(r, PD_ERR_NOMEM, NULL);
        return;
    }
    for (size_t i = 0; i < len; i++)
        out[i] = (char)('a' + (from + i) % 26);
    pd_req_reply_commit(r, 200, "text/plain");
}

static void h_echo(pd_req *r)
{
    char q[64], hv[64];
    pd_req_reply_json(r, 200, json_pack("{s:s?,s:s?}", "q", pd_req_query(r, "q", q, sizeof q),
                                        "h", pd_req_header(r, "X-Test", hv, sizeof hv)));
}

static void async_fire(uv_timer_t *t)
{
    (void)t;
    pd_req *r = pending;
    pending = NULL;
    if (r)
        pd_req_reply_json(r, 200, json_pack("{s:b}", "async", 1));
}

static void on_abort(void *ud)
{
    (void)ud;
    aborted++;
    pending = NULL;
    uv_timer_stop(&async_timer);
}

static void h_async(pd_req *r)
{
    pending = r;
    pd_req_on_abort(r, on_abort, NULL);
    uv_timer_start(&async_timer, async_fire, 50, 0);
}

static void h_hang(pd_req *r)
{
    pending = r;
    pd_req_on_abort(r, on_abort, NULL);
}

static void on_stream_close(pd_stream *s, void *ud)
{
    (void)s;
    (void)ud;
    stream_closed++;
    stream = NULL;
}

static void h_events(pd_req *r)
{
    stream = pd_req_stream_begin(r, on_stream_close, NULL);
    assert_non_null(stream);
    assert_int_equal(pd_stream_write(stream, ": hi\n\n", 6), PD_OK);
}

/* A burst bigger than the backlog, sent a slice per drain (what the event hub's snapshot
 * does). */
#define BURST_SLICES 12
static int slices_sent;

static void burst_drained(pd_stream *s, void *ud)
{
    (void)ud;
    if (slices_sent == BURST_SLICES)
        return;
    static char slice[BACKLOG / 2];
    memset(slice, 'a' + slices_sent, sizeof slice);
    slices_sent++;
    assert_int_equal(pd_stream_write(s, slice, sizeof slice), PD_OK);
}

static void h_burst(pd_req *r)
{
    stream = pd_req_stream_begin(r, on_stream_close, NULL);
    assert_non_null(stream);
    slices_sent = 0;
    pd_stream_on_drain(stream, burst_drained);
    burst_drained(stream, NULL);
}

/* Spoolman-shaped or printdeck-shaped errors, by ?kind= (the route decides the shape). */
static void h_fail(pd_req *r)
{
    char kind[16];
    if (!pd_req_query(r, "kind", kind, sizeof kind)) {
        pd_req_add_header(r, "X-Total-Count", "42");
        pd_req_add_header(r, "Bad Name", "x");    /* not a token: left out */
        pd_req_add_header(r, "X-Split", "a\r\nb"); /* a line break: left out */
        pd_req_reply_json(r, 200, json_pack("[]"));
    } else if (!strcmp(kind, "field")) {
        pd_req_reply_field_error(r, "query", "limit", "must be %d or more", 0);
    } else if (!strcmp(kind, "errfield")) {
        pd_req_reply_error(r, PD_ERR_FIELD, "bad body");
    } else {
        pd_req_reply_error(r, PD_ERR_NOTFOUND, "No spool with ID %d found.", 7);
    }
}

static void ws_on_close(pd_stream *s, void *ud)
{
    (void)s;
    (void)ud;
    ws_closed++;
    ws = NULL;
}

/* "close" closes from the server side; anything else is answered "echo:<len>:<start>". */
static void ws_on_message(pd_stream *s, const char *data, size_t len, void *ud)
{
    (void)ud;
    assert_int_equal(data[len], '\0');
    if (len == 5 && !memcmp(data, "close", 5)) {
        pd_stream_close(s);
        ws = NULL;
        return;
    }
    char out[80];
    int n = snprintf(out, sizeof out, "echo:%zu:%.20s", len, data);
    assert_int_equal(pd_stream_write(s, out, (size_t)n), PD_OK);
}

static void h_ws(pd_req *r)
{
    char q[16];
    assert_string_equal(pd_req_method(r), "WS");
    if (pd_req_query(r, "refuse", q, sizeof q)) {
        pd_req_reply_field_error(r, "path", "id", "no such item");
        return;
    }
    assert_null(pd_req_stream_begin(r, on_stream_close, NULL)); /* a handshake is no SSE */
    ws = pd_req_ws_accept(r, ws_on_close, NULL);
    assert_non_null(ws);
    pd_stream_on_message(ws, ws_on_message);
    /* queued before the 101 is out: sent right after it */
    assert_int_equal(pd_stream_write(ws, "welcome", 7), PD_OK);
}

/* A built-in site as tools/webgen lays it out: sorted paths, variants where they pay. */
static const unsigned char site_index[] = "<!doctype html><title>t</title>";
static const unsigned char site_js[] = "console.log(1)", site_js_gz[] = "GZ", site_js_br[] = "BR";
static const pd_http_file site_files[] = {
    {"/site/assets/app-1a2b.js", "text/javascript; charset=utf-8", "\"00000000000000aa\"", true,
     site_js, site_js_gz, site_js_br, sizeof site_js - 1, 2, 2},
    {"/site/index.html", "text/html; charset=utf-8", "\"00000000000000bb\"", false, site_index,
     NULL, NULL, sizeof site_index - 1, 0, 0},
};
static const pd_http_site site = {site_files, 2, "/site/index.html"};

static void h_site(pd_req *r)
{
    pd_req_reply_site(r, &site);
}

static const pd_route routes[] = {
    {"FILES", "/site/", h_site, PD_ROUTE_OPEN},
    {"GET", "/hello", h_hello, 0},
    {"GET", "/api/v1/items/{id}", h_item, 0},
    {"GET", "/api/v1/items/{id}/sub/{name}", h_item, 0},
    {"POST", "/api/v1/items", h_create, 0},
    {"PATCH", "/api/v1/items/{id}", h_create, 0},
    {"POST", "/api/v1/admin", h_create, PD_ROUTE_ADMIN},
    {"POST", "/api/v1/mine", h_create, PD_ROUTE_VIEWER},
    {"GET", "/api/v1/open", h_hello, PD_ROUTE_OPEN},
    {"GET", "/api/v1/big", h_big, 0},
    {"GET", "/api/v1/echo", h_echo, 0},
    {"GET", "/api/v1/async", h_async, 0},
    {"GET", "/api/v1/hang", h_hang, 0},
    {"GET", "/api/v1/events", h_events, 0},
    {"GET", "/api/v1/burst", h_burst, 0},
    {"GET", "/api/v1/fail", h_fail, 0},
    {"GET", "/api/v1/sm/fail", h_fail, PD_ROUTE_SPOOLMAN},
    {"WS", "/api/v1/ws", h_ws, 0},
    {"WS", "/api/v1/sm/ws/{id}", h_ws, PD_ROUTE_SPOOLMAN},
    {"WS", "/wsonly", h_ws, 0},
};

/* TOKEN is an admin, "viewer-token" a viewer; cookie "sess" is an operator's session whose
 * CSRF token is "c5rf" */
static pd_err ident_of(const char *tok, const char *sess, pd_ident *out, void *ud)
{
    (void)ud;
    if (tok && (!strcmp(tok, TOKEN) || !strcmp(tok, "viewer-token"))) {
        out->kind = PD_IDENT_TOKEN;
        out->role = strcmp(tok, TOKEN) ? PD_ROLE_VIEWER : PD_ROLE_ADMIN;
        return PD_OK;
    }
    if (!tok && sess && !strcmp(sess, "sess")) {
        out->kind = PD_IDENT_SESSION;
        out->role = PD_ROLE_OPERATOR;
        strcpy(out->name, "ada");
        strcpy(out->csrf, "c5rf");
        return PD_OK;
    }
    return PD_ERR_AUTH;
}

/* --- client ----------------------------------------------------------------------------- */

typedef struct resp {
    int status;
    char head[2048];
    char *body;
    size_t len;
} resp;

/* A connection from 127.0.0.<from> (the whole of 127/8 is loopback). */
static int client_connect_from(int to_port, int from)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in me = {.sin_family = AF_INET};
    me.sin_addr.s_addr = htonl(INADDR_LOOPBACK - 1 + (unsigned)from);
    assert_int_equal(bind(fd, (struct sockaddr *)&me, sizeof me), 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)to_port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* the kernel completes the handshake from the listen backlog; no server turn needed */
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

static int client_connect(int to_port) { return client_connect_from(to_port, 1); }

static bool client_send(int fd, const char *buf, size_t len)
{
    for (int64_t end = now_ms() + WAIT_MS; len && now_ms() < end;) {
        ssize_t n = send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
        } else if (n < 0 && errno != EAGAIN) {
            return false;
        } else {
            pump(fd, POLLOUT);
        }
    }
    return len == 0;
}

/* Appends what arrives to *buf until `done` says enough, EOF, error or the deadline.
 * Returns bytes held, -1 on EOF/error before done. */
static ssize_t client_read(int fd, char **buf, size_t *len, size_t *cap,
                           bool (*done)(const char *b, size_t n, void *arg), void *arg, int ms)
{
    for (int64_t end = now_ms() + ms; now_ms() < end;) {
        if (done && done(*buf ? *buf : "", *len, arg))
            return (ssize_t)*len;
        if (*cap - *len < 65536) {
            *cap = *cap ? *cap * 2 : 65536;
            *buf = realloc(*buf, *cap + 1);
            assert_non_null(*buf);
            (*buf)[*len] = '\0';
        }
        ssize_t n = recv(fd, *buf + *len, *cap - *len, MSG_DONTWAIT);
        if (n > 0) {
            *len += (size_t)n;
            (*buf)[*len] = '\0';
        } else if (n == 0 || errno != EAGAIN) {
            return done ? -1 : (ssize_t)*len;
        } else {
            pump(fd, POLLIN);
        }
    }
    return done ? -1 : (ssize_t)*len;
}

/* True when the server closes the connection within WAIT_MS (data before it is skipped). */
static bool client_eof(int fd)
{
    char tmp[4096];
    for (int64_t end = now_ms() + WAIT_MS; now_ms() < end;) {
        ssize_t n = recv(fd, tmp, sizeof tmp, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN))
            return true;
        if (n < 0)
            pump(fd, POLLIN);
    }
    return false;
}

static const char *find_header(const char *head, const char *name, char *out, size_t outlen)
{
    size_t n = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n"))
        if (!strncasecmp(p + 2, name, n) && p[2 + n] == ':') {
            const char *v = p + 3 + n, *e = strstr(v, "\r\n");
            while (*v == ' ')
                v++;
            snprintf(out, outlen, "%.*s", (int)(e - v), v);
            return out;
        }
    return NULL;
}

static bool have_head(const char *b, size_t n, void *arg)
{
    (void)n;
    (void)arg;
    return strstr(b, "\r\n\r\n") != NULL;
}

static bool have_bytes(const char *b, size_t n, void *arg)
{
    (void)b;
    return n >= *(size_t *)arg;
}

/* Reads one response; the body is delimited by Content-Length (or EOF without one). */
static void read_response(int fd, resp *r)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    memset(r, 0, sizeof *r);
    assert_true(client_read(fd, &buf, &len, &cap, have_head, NULL, WAIT_MS) > 0);
    char *eoh = strstr(buf, "\r\n\r\n");
    size_t hlen = (size_t)(eoh - buf) + 4;
    assert_true(hlen < sizeof r->head);
    memcpy(r->head, buf, hlen);
    assert_int_equal(sscanf(buf, "HTTP/1.1 %d", &r->status), 1);
    char cl[32];
    if (r->status == 204 || r->status == 304) {
        len = hlen;  /* neither has a body, nor here a length */
    } else if (find_header(r->head, "content-length", cl, sizeof cl)) {
        size_t want = hlen + strtoul(cl, NULL, 10);
        assert_true(client_read(fd, &buf, &len, &cap, have_bytes, &want, WAIT_MS) >= 0);
        assert_int_equal(len, want);
    } else {
        client_read(fd, &buf, &len, &cap, NULL, NULL, WAIT_MS);
    }
    r->len = len - hlen;
    r->body = malloc(r->len + 1);
    assert_non_null(r->body);
    memcpy(r->body, buf + hlen, r->len);
    r->body[r->len] = '\0';
    free(buf);
}

static void request(int fd, const char *method, const char *path, const char *extra,
                    const char *body, resp *r)
{
    char req[16384];
    int n = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: localhost\r\n%s", method, path,
                     extra ? extra : "");
    if (body)
        n += snprintf(req + n, sizeof req - (size_t)n, "Content-Length: %zu\r\n", strlen(body));
    n += snprintf(req + n, sizeof req - (size_t)n, "\r\n%s", body ? body : "");
    assert_true((size_t)n < sizeof req);
    assert_true(client_send(fd, req, (size_t)n));
    read_response(fd, r);
}

/* One request on a fresh connection. */
static void request1(const char *method, const char *path, const char *extra, const char *body,
                     resp *r)
{
    int fd = client_connect(port);
    request(fd, method, path, extra, body, r);
    close(fd);
}

static json_t *resp_json(const resp *r)
{
    json_t *j = json_loads(r->body, 0, NULL);
    assert_non_null(j);
    return j;
}

static void assert_error(const resp *r, int status, const char *code)
{
    assert_int_equal(r->status, status);
    json_t *j = resp_json(r);
    json_t *e = json_object_get(j, "error");
    assert_true(json_is_object(e));
    assert_string_equal(json_string_value(json_object_get(e, "code")), code);
    assert_true(json_is_string(json_object_get(e, "message")));
    assert_int_equal(json_object_size(j), 1);
    json_decref(j);
}

/* --- WebSocket client -------------------------------------------------------------------- */

typedef struct wsc {
    int fd;
    char *buf;   /* what arrived and is not taken yet */
    size_t len, cap;
} wsc;

#define WS_HANDSHAKE "Upgrade: websocket\r\nConnection: Upgrade\r\n" \
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"

/* Sends a handshake (Host is localhost unless extra has one). On 101 returns true with the
 * connection in w; otherwise the refusal is in r (its body free()d by the caller). */
static bool ws_open(wsc *w, const char *path, const char *extra, resp *r)
{
    char req[2048];
    memset(w, 0, sizeof *w);
    w->fd = client_connect(port);
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\n%s" WS_HANDSHAKE "%s\r\n", path,
                     extra && strcasestr(extra, "host:") ? "" : "Host: localhost\r\n",
                     extra ? extra : "");
    assert_true(client_send(w->fd, req, (size_t)n));
    assert_true(client_read(w->fd, &w->buf, &w->len, &w->cap, have_head, NULL, WAIT_MS) > 0);
    memset(r, 0, sizeof *r);
    /* lws answers a refused handshake as HTTP/1.0 (it has not taken the request's version) */
    assert_int_equal(sscanf(w->buf, "HTTP/1.%*d %d", &r->status), 1);
    size_t hlen = (size_t)(strstr(w->buf, "\r\n\r\n") - w->buf) + 4;
    assert_true(hlen < sizeof r->head);
    memcpy(r->head, w->buf, hlen);
    if (r->status == 101) {
        char v[64];
        /* base64(SHA-1(key + GUID)) for the sample key of RFC 6455 */
        assert_string_equal(find_header(r->head, "sec-websocket-accept", v, sizeof v),
                            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        memmove(w->buf, w->buf + hlen, w->len - hlen);
        w->len -= hlen;
        return true;
    }
    char cl[32];
    assert_non_null(find_header(r->head, "content-length", cl, sizeof cl));
    size_t want = hlen + strtoul(cl, NULL, 10);
    assert_true(client_read(w->fd, &w->buf, &w->len, &w->cap, have_bytes, &want, WAIT_MS) >= 0);
    r->len = want - hlen;
    r->body = strndup(w->buf + hlen, r->len);
    /* a refused handshake ends its connection */
    assert_true(client_eof(w->fd));
    close(w->fd);
    free(w->buf);
    return false;
}

static void ws_end(wsc *w)
{
    close(w->fd);
    free(w->buf);
}

/* A masked client frame (RFC 6455 5.3: clients must mask). */
static void ws_send(wsc *w, bool fin, int op, const char *data, size_t len)
{
    unsigned char hdr[8] = {(unsigned char)((fin ? 0x80 : 0) | op)};
    size_t h = 2;
    if (len < 126) {
        hdr[1] = (unsigned char)(0x80 | len);
    } else {
        assert_true(len <= 0xffff);
        hdr[1] = 0x80 | 126;
        hdr[2] = (unsigned char)(len >> 8);
        hdr[3] = (unsigned char)len;
        h = 4;
    }
    static const unsigned char mask[4] = {0x37, 0xfa, 0x21, 0x3d};
    memcpy(hdr + h, mask, 4);
    char *f = malloc(h + 4 + len);
    assert_non_null(f);
    memcpy(f, hdr, h + 4);
    for (size_t i = 0; i < len; i++)
        f[h + 4 + i] = (char)(data[i] ^ mask[i % 4]);
    assert_true(client_send(w->fd, f, h + 4 + len));
    free(f);
}

/* Whether the buffer holds a whole server frame (servers never mask). */
static bool have_frame(const char *b, size_t n, void *arg)
{
    (void)arg;
    const unsigned char *u = (const unsigned char *)b;
    if (n < 2)
        return false;
    size_t len = u[1] & 0x7f, off = 2;
    if (len == 126) {
        if (n < 4)
            return false;
        len = (size_t)u[2] << 8 | u[3];
        off = 4;
    }
    return n >= off + len;
}

/* Reads one frame: its opcode, payload in out (NUL-terminated). -1 at EOF or the deadline. */
static int ws_recv(wsc *w, char *out, size_t outlen)
{
    if (client_read(w->fd, &w->buf, &w->len, &w->cap, have_frame, NULL, WAIT_MS) < 0)
        return -1;
    const unsigned char *u = (const unsigned char *)w->buf;
    size_t len = u[1] & 0x7f, off = 2;
    if (len == 126) {
        len = (size_t)u[2] << 8 | u[3];
        off = 4;
    }
    assert_true(len < outlen);
    memcpy(out, w->buf + off, len);
    out[len] = '\0';
    int op = u[0] & 0x0f;
    memmove(w->buf, w->buf + off + len, w->len - off - len);
    w->len -= off + len;
    return op;
}

static void ws_expect_text(wsc *w, const char *text)
{
    char got[256];
    assert_int_equal(ws_recv(w, got, sizeof got), 1);
    assert_string_equal(got, text);
}

/* The close frame's status code. */
static int ws_expect_close(wsc *w)
{
    char got[256];
    assert_int_equal(ws_recv(w, got, sizeof got), 8);
    return (unsigned char)got[0] << 8 | (unsigned char)got[1];
}

/* --- fixture ------------------------------------------------------------------------------ */

static int start_server(const char *listen, bool auth)
{
    char err[256];
    pd_http_opts o = {.listen = listen, .max_body = MAX_BODY, .sse_backlog = BACKLOG,
                      .max_clients = MAX_CLIENTS, .auth_enabled = auth, .ident = ident_of,
                      .access = rules};
    if (pd_http_start(&loop, &o, &srv, err, sizeof err))
        return -1;
    port = pd_http_port(srv);
    return pd_http_add_routes(srv, routes, sizeof routes / sizeof *routes) ? -1 : 0;
}

static int setup(void **state)
{
    (void)state;
    pending = NULL;
    stream = ws = NULL;
    aborted = stream_closed = ws_closed = 0;
    rules = (pd_http_access){.cors_origins = "http://ui.lan:3000",
                              .allowed_hosts = "printdeck.example.com"};
    if (uv_loop_init(&loop))
        return -1;
    uv_timer_init(&loop, &async_timer);
    return start_server("127.0.0.1:0", true);
}

/* Stops the server and proves that everything it put on the loop goes away. */
static void stop_and_drain(void)
{
    pd_http_stop(&srv);
    assert_null(srv);
    uv_close((uv_handle_t *)&async_timer, NULL);
    for (int64_t end = now_ms() + WAIT_MS; uv_loop_alive(&loop) && now_ms() < end;)
        pump(-1, 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static int teardown(void **state)
{
    (void)state;
    stop_and_drain();
    return 0;
}

/* A fresh server on a fresh loop, with the current `rules`. */
static void restart(bool auth)
{
    stop_and_drain();
    assert_int_equal(uv_loop_init(&loop), 0);
    uv_timer_init(&loop, &async_timer);
    assert_int_equal(start_server("127.0.0.1:0", auth), 0);
}

/* --- tests ---------------------------------------------------------------------------------- */

static void test_routing_and_params(void **state)
{
    (void)state;
    resp r;
    request1("GET", "/hello", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "hello");
    char v[64];
    assert_string_equal(find_header(r.head, "content-type", v, sizeof v), "text/plain");
    free(r.body);

    request1("GET", "/api/v1/items/P1S-42/sub/left", "X-Api-Key: " TOKEN "\r\n", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"id\":\"P1S-42\",\"name\":\"left\"}");
    free(r.body);

    /* a trailing slash names the same resource */
    request1("GET", "/api/v1/items/7/", "X-Api-Key: " TOKEN "\r\n", NULL, &r);
    assert_string_equal(r.body, "{\"id\":\"7\",\"name\":null}");
    free(r.body);

    request1("GET", "/api/v1/echo?a=1&q=hello%20world", "X-Api-Key: " TOKEN "\r\nX-Test: yes\r\n",
             NULL, &r);
    assert_string_equal(r.body, "{\"q\":\"hello world\",\"h\":\"yes\"}");
    free(r.body);
}

static void test_not_found_and_method(void **state)
{
    (void)state;
    resp r;
    request1("GET", "/nope", NULL, NULL, &r);
    assert_error(&r, 404, "not_found");
    free(r.body);

    request1("GET", "/api/v1/items", "X-Api-Key: " TOKEN "\r\n", NULL, &r);
    assert_error(&r, 405, "method_not_allowed");
    char allow[64];
    assert_string_equal(find_header(r.head, "allow", allow, sizeof allow), "POST");
    free(r.body);

    request1("DELETE", "/api/v1/items/1", NULL, NULL, &r);
    assert_error(&r, 405, "method_not_allowed");
    assert_string_equal(find_header(r.head, "allow", allow, sizeof allow), "GET, PATCH");
    free(r.body);

    /* a path that echoes bytes that are not UTF-8, or a character cut by the bound, still gets
     * its 404 and message */
    request1("GET", "/%FF%C3", NULL, NULL, &r);
    assert_error(&r, 404, "not_found");
    free(r.body);
    char path[1024] = "/a";
    for (int i = 0; i < 150; i++)
        strcat(path, "%C3%A9");
    request1("GET", path, NULL, NULL, &r);
    assert_error(&r, 404, "not_found");
    free(r.body);

    /* an empty {param} segment does not match */
    request1("GET", "/api/v1/items//sub/x", NULL, NULL, &r);
    assert_int_equal(r.status, 404);
    free(r.body);
}

static void test_auth(void **state)
{
    (void)state;
    resp r;
    char v[64];
    request1("GET", "/api/v1/items/1", NULL, NULL, &r);
    assert_error(&r, 401, "unauthorized");
    assert_string_equal(find_header(r.head, "www-authenticate", v, sizeof v), "Bearer");
    free(r.body);

    request1("GET", "/api/v1/items/1", "Authorization: Bearer wrong\r\n", NULL, &r);
    assert_error(&r, 401, "unauthorized");
    free(r.body);

    request1("GET", "/api/v1/items/1", "Authorization: Bearer " TOKEN "\r\n", NULL, &r);
    assert_int_equal(r.status, 200);
    free(r.body);

    request1("GET", "/api/v1/items/1", "x-api-key: " TOKEN "\r\n", NULL, &r);
    assert_int_equal(r.status, 200);
    free(r.body);

    /* whitespace around a header value is not part of it (RFC 9110 5.5) */
    request1("GET", "/api/v1/items/1", "Authorization: Bearer \t" TOKEN " \t \r\n", NULL, &r);
    assert_int_equal(r.status, 200);
    free(r.body);
    request1("GET", "/api/v1/items/1", "x-api-key:  " TOKEN "\t\r\n", NULL, &r);
    assert_int_equal(r.status, 200);
    free(r.body);
    request1("GET", "/api/v1/items/1", "x-api-key: " TOKEN "x\r\n", NULL, &r);
    assert_error(&r, 401, "unauthorized");
    free(r.body);

    request1("GET", "/api/v1/open", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    free(r.body);

    /* roles: reads need a viewer, writes an operator, flagged routes say otherwise */
    const char *viewer = "Authorization: Bearer viewer-token\r\n";
    request1("GET", "/api/v1/items/1", viewer, NULL, &r);
    assert_int_equal(r.status, 200);
    free(r.body);
    request1("POST", "/api/v1/items", viewer, "{}", &r);
    assert_error(&r, 403, "forbidden");
    assert_non_null(strstr(r.body, "operator"));
    free(r.body);
    request1("POST", "/api/v1/mine", viewer, "{}", &r);
    assert_int_equal(r.status, 201);
    free(r.body);
    request1("POST", "/api/v1/admin", "Cookie: pd_session=sess\r\nX-CSRF-Token: c5rf\r\n", "{}", &r);
    assert_error(&r, 403, "forbidden");
    free(r.body);
    request1("POST", "/api/v1/admin", "Authorization: Bearer " TOKEN "\r\n", "{}", &r);
    assert_int_equal(r.status, 201);
    free(r.body);

    /* a session cookie reads; it writes only with the CSRF token, from this site's origin */
    request1("GET", "/api/v1/items/1", "Cookie: a=1; pd_session=sess\r\n", NULL, &r);
    assert_int_equal(r.status, 200);
    free(r.body);
    request1("GET", "/api/v1/items/1", "Cookie: pd_session=gone\r\n", NULL, &r);
    assert_error(&r, 401, "unauthorized");
    assert_non_null(strstr(r.body, "sign in again"));
    free(r.body);
    request1("POST", "/api/v1/items", "Cookie: pd_session=sess\r\n", "{}", &r);
    assert_error(&r, 403, "forbidden");
    free(r.body);
    request1("POST", "/api/v1/items", "Cookie: pd_session=sess\r\nX-CSRF-Token: nope\r\n", "{}", &r);
    assert_error(&r, 403, "forbidden");
    free(r.body);
    request1("POST", "/api/v1/items", "Cookie: pd_session=sess\r\nX-CSRF-Token: c5rf\r\n", "{}", &r);
    assert_int_equal(r.status, 201);
    free(r.body);
    request1("POST", "/api/v1/items", "Cookie: pd_session=sess\r\nX-CSRF-Token: c5rf\r\n"
             "Origin: http://localhost\r\n", "{}", &r);
    assert_int_equal(r.status, 201);
    free(r.body);

    /* auth is disabled server-wide */
    restart(false);
    request1("GET", "/api/v1/items/1", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    free(r.body);
}

static void test_bodies(void **state)
{
    (void)state;
    resp r;
    int fd = client_connect(port);
    /* keep-alive: several requests on one connection */
    request(fd, "POST", "/api/v1/items", "X-Api-Key: " TOKEN "\r\n", "{\"a\":[1,2]}", &r);
    assert_int_equal(r.status, 201);
    assert_string_equal(r.body, "{\"got\":{\"a\":[1,2]}}");
    free(r.body);

    request(fd, "POST", "/api/v1/items", "X-Api-Key: " TOKEN "\r\n", "{\"a\":", &r);
    assert_error(&r, 400, "parse_error");
    free(r.body);

    request(fd, "POST", "/api/v1/items", "X-Api-Key: " TOKEN "\r\n", "[1]", &r);
    assert_error(&r, 400, "invalid");
    free(r.body);

    request(fd, "POST", "/api/v1/items", "X-Api-Key: " TOKEN "\r\n", "", &r);
    assert_error(&r, 400, "parse_error");
    free(r.body);
    close(fd);

    /* declared too large: read and dropped, refused, and the connection is not reused */
    char big[MAX_BODY + 2];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    fd = client_connect(port);
    request(fd, "POST", "/api/v1/items", "X-Api-Key: " TOKEN "\r\n", big, &r);
    assert_error(&r, 413, "too_large");
    char v[32];
    assert_string_equal(find_header(r.head, "connection", v, sizeof v), "close");
    free(r.body);
    close(fd);

    /* no length given: no body (RFC 9112 6.3), and the connection is not reused (lws would
     * take what follows for a body) */
    fd = client_connect(port);
    char req[256 + 2 * sizeof big];
    const char *head = "PATCH /api/v1/items/1 HTTP/1.1\r\nHost: x\r\nX-Api-Key: " TOKEN "\r\n";
    int n = snprintf(req, sizeof req, "%s\r\n{}", head);
    assert_true(client_send(fd, req, (size_t)n));
    read_response(fd, &r);
    assert_error(&r, 400, "parse_error");
    assert_string_equal(find_header(r.head, "connection", v, sizeof v), "close");
    free(r.body);
    close(fd);

    /* chunked: decoded (extensions and trailers skipped), and cut off at max_body */
    fd = client_connect(port);
    n = snprintf(req, sizeof req, "%sTransfer-Encoding: chunked\r\n\r\n"
                 "3;ext=1\r\n{\"a\r\n5\r\n\":12}\r\n0\r\nX-Trailer: 1\r\n\r\n", head);
    assert_true(client_send(fd, req, (size_t)n));
    read_response(fd, &r);
    assert_int_equal(r.status, 201);
    assert_non_null(strstr(r.body, "\"a\":12"));
    free(r.body);
    close(fd);
    fd = client_connect(port);
    n = snprintf(req, sizeof req, "%sTransfer-Encoding: chunked\r\n\r\n%zx\r\n%s\r\n0\r\n\r\n",
                 head, strlen(big), big);
    assert_true(client_send(fd, req, (size_t)n));
    read_response(fd, &r);
    assert_error(&r, 413, "too_large");
    free(r.body);
    close(fd);

    /* framing that cannot be read: refused, and the connection closed */
    static const struct {
        const char *headers;
        int status;
        const char *code;
    } bad[] = {
        {"Content-Length: -1\r\n", 400, "invalid"},
        {"Content-Length: 2\r\nContent-Length: 3\r\n", 400, "invalid"},
        {"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n", 400, "invalid"},
        {"Transfer-Encoding: gzip\r\n", 501, "not_implemented"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        fd = client_connect(port);
        n = snprintf(req, sizeof req, "%s%s\r\n{}", head, bad[i].headers);
        assert_true(client_send(fd, req, (size_t)n));
        read_response(fd, &r);
        assert_error(&r, bad[i].status, bad[i].code);
        assert_string_equal(find_header(r.head, "connection", v, sizeof v), "close");
        free(r.body);
        close(fd);
    }

    /* a request refused before its body was read closes the connection */
    fd = client_connect(port);
    request(fd, "POST", "/api/v1/items", NULL, "{}", &r);
    assert_error(&r, 401, "unauthorized");
    assert_string_equal(find_header(r.head, "connection", v, sizeof v), "close");
    free(r.body);
    close(fd);
}

static void test_big_response(void **state)
{
    (void)state;
    resp r;
    int fd = client_connect(port);
    for (int round = 0; round < 2; round++) {
        request(fd, "GET", "/api/v1/big", "X-Api-Key: " TOKEN "\r\n", NULL, &r);
        assert_int_equal(r.status, 200);
        assert_int_equal(r.len, BIG_LEN);
        for (size_t i = 0; i < BIG_LEN; i++)
            if (r.body[i] != (char)('a' + i % 26))
                fail_msg("byte %zu differs", i);
        free(r.body);
    }
    /* big reply buffers are reused: a smaller reply in a bigger spare, then bigger again */
    static const char *const sizes[] = {"len=300000&from=3", "len=200000&from=7", "len=131072&from=1",
                                        "len=700000&from=5", "len=10&from=2"};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        char path[64];
        snprintf(path, sizeof path, "/api/v1/big?%s", sizes[k]);
        size_t len = strtoul(sizes[k] + 4, NULL, 10), from = strtoul(strstr(sizes[k], "from=") + 5, NULL, 10);
        request(fd, "GET", path, "X-Api-Key: " TOKEN "\r\n", NULL, &r);
        assert_int_equal(r.status, 200);
        assert_int_equal(r.len, len);
        for (size_t i = 0; i < len; i++)
            if (r.body[i] != (char)('a' + (from + i) % 26))
                fail_msg("%s: byte %zu differs", path, i);
        free(r.body);
    }
    close(fd);
}

static void test_async(void **state)
{
    (void)state;
    resp r;
    request1("GET", "/api/v1/async", "X-Api-Key: " TOKEN "\r\n", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"async\":true}");
    free(r.body);
    assert_int_equal(aborted, 0);

    /* the client leaves before the reply: on_abort runs, the request is gone */
    int fd = client_connect(port);
    const char *req = "GET /api/v1/hang HTTP/1.1\r\nHost: x\r\nX-Api-Key: " TOKEN "\r\n\r\n";
    assert_true(client_send(fd, req, strlen(req)));
    for (int64_t end = now_ms() + WAIT_MS; !pending && now_ms() < end;)
        pump(-1, 0);
    assert_non_null(pending);
    close(fd);
    for (int64_t end = now_ms() + WAIT_MS; !aborted && now_ms() < end;)
        pump(-1, 0);
    assert_int_equal(aborted, 1);
    assert_null(pending);
}

static bool have_text(const char *b, size_t n, void *arg)
{
    (void)n;
    return strstr(b, arg) != NULL;
}

static void test_stream(void **state)
{
    (void)state;
    int fd = client_connect(port);
    const char *req = "GET /api/v1/events HTTP/1.1\r\nHost: x\r\nX-Api-Key: " TOKEN "\r\n\r\n";
    assert_true(client_send(fd, req, strlen(req)));
    char *buf = NULL;
    size_t len = 0, cap = 0;
    assert_true(client_read(fd, &buf, &len, &cap, have_text, ": hi\n\n", WAIT_MS) > 0);
    assert_non_null(stream);
    assert_int_equal(strncmp(buf, "HTTP/1.1 200", 12), 0);
    assert_non_null(strcasestr(buf, "content-type: text/event-stream"));
    assert_non_null(strcasestr(buf, "cache-control: no-cache"));
    assert_null(strcasestr(buf, "content-length"));

    for (int i = 0; i < 3; i++) {
        char ev[64];
        int n = snprintf(ev, sizeof ev, "id: %d\nevent: test\ndata: {\"n\":%d}\n\n", i, i);
        assert_int_equal(pd_stream_write(stream, ev, (size_t)n), PD_OK);
    }
    assert_true(client_read(fd, &buf, &len, &cap, have_text, "data: {\"n\":2}\n\n", WAIT_MS) > 0);
    assert_non_null(strstr(buf, "id: 0\nevent: test\ndata: {\"n\":0}\n\nid: 1\n"));
    free(buf);

    /* the client hangs up: on_close runs */
    close(fd);
    for (int64_t end = now_ms() + WAIT_MS; !stream_closed && now_ms() < end;)
        pump(-1, 0);
    assert_int_equal(stream_closed, 1);
    assert_null(stream);
}

static void test_stream_drain_and_close(void **state)
{
    (void)state;
    int fd = client_connect(port);
    const char *req = "GET /api/v1/burst HTTP/1.1\r\nHost: x\r\nX-Api-Key: " TOKEN "\r\n\r\n";
    assert_true(client_send(fd, req, strlen(req)));
    char *buf = NULL;
    size_t len = 0, cap = 0;
    assert_true(client_read(fd, &buf, &len, &cap, have_head, NULL, WAIT_MS) > 0);
    size_t head = (size_t)(strstr(buf, "\r\n\r\n") - buf) + 4;
    size_t want = head + (size_t)BURST_SLICES * (BACKLOG / 2);
    assert_true(client_read(fd, &buf, &len, &cap, have_bytes, &want, WAIT_MS) >= 0);
    assert_int_equal(len, want);
    for (int i = 0; i < BURST_SLICES; i++)
        assert_int_equal(buf[head + (size_t)i * (BACKLOG / 2)], 'a' + i);

    /* closed by the server: the client sees the end, on_close does not run */
    pd_stream_close(stream);
    stream = NULL;
    assert_true(client_eof(fd));
    assert_int_equal(stream_closed, 0);
    free(buf);
    close(fd);
}

static void test_slow_stream_dropped(void **state)
{
    (void)state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    const char *req = "GET /api/v1/events HTTP/1.1\r\nHost: x\r\nX-Api-Key: " TOKEN "\r\n\r\n";
    assert_true(client_send(fd, req, strlen(req)));
    for (int64_t end = now_ms() + WAIT_MS; !stream && now_ms() < end;)
        pump(-1, 0);
    assert_non_null(stream);

    /* the client never reads: kernel buffers fill, then the queue, then it is dropped */
    char ev[1024];
    memset(ev, 'e', sizeof ev);
    pd_err rc = PD_OK;
    size_t max_queued = 0;
    for (int i = 0; i < 100000 && rc == PD_OK; i++) {
        rc = pd_stream_write(stream, ev, sizeof ev);
        if (rc == PD_OK && pd_stream_queued(stream) > max_queued)
            max_queued = pd_stream_queued(stream);
        if (i % 16 == 0)
            pump(-1, 0);
    }
    assert_int_equal(rc, PD_ERR_TOOBIG);
    assert_true(max_queued <= BACKLOG);
    for (int64_t end = now_ms() + WAIT_MS; !stream_closed && now_ms() < end;)
        pump(-1, 0);
    assert_int_equal(stream_closed, 1);

    /* and the server kept serving everyone else */
    resp r;
    request1("GET", "/hello", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    free(r.body);
    close(fd);
}

static void test_max_clients(void **state)
{
    (void)state;
    int fds[MAX_CLIENTS + 4];
    /* from several addresses: one may hold only half (test_max_clients_per_address) */
    for (size_t i = 0; i < sizeof fds / sizeof *fds; i++)
        fds[i] = client_connect_from(port, 1 + (int)i / (MAX_CLIENTS / 2));
    /* connections past the limit are hung up at once; the first ones are served */
    for (size_t i = MAX_CLIENTS; i < sizeof fds / sizeof *fds; i++)
        assert_true(client_eof(fds[i]));
    resp r;
    request(fds[0], "GET", "/hello", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    free(r.body);
    for (size_t i = 0; i < sizeof fds / sizeof *fds; i++)
        close(fds[i]);
}

/* One address holds at most half of max_clients, loopback included; another is still served. */
static void test_max_clients_per_address(void **state)
{
    (void)state;
    int fds[MAX_CLIENTS / 2 + 2];
    for (size_t i = 0; i < sizeof fds / sizeof *fds; i++)
        fds[i] = client_connect(port);
    for (size_t i = MAX_CLIENTS / 2; i < sizeof fds / sizeof *fds; i++)
        assert_true(client_eof(fds[i]));
    int other = client_connect_from(port, 2);
    resp r;
    request(other, "GET", "/hello", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    free(r.body);
    close(other);
    for (size_t i = 0; i < sizeof fds / sizeof *fds; i++)
        close(fds[i]);
}

/* Connections, streams and websockets still open at stop: on_abort / on_close run, nothing
 * leaks. */
static void test_stop_with_open_connections(void **state)
{
    (void)state;
    int idle = client_connect(port), ev = client_connect(port), hang = client_connect(port);
    resp r;
    request(idle, "GET", "/hello", NULL, NULL, &r);
    free(r.body);
    const char *req = "GET /api/v1/events HTTP/1.1\r\nHost: x\r\nX-Api-Key: " TOKEN "\r\n\r\n";
    assert_true(client_send(ev, req, strlen(req)));
    req = "GET /api/v1/hang HTTP/1.1\r\nHost: x\r\nX-Api-Key: " TOKEN "\r\n\r\n";
    assert_true(client_send(hang, req, strlen(req)));
    wsc w;
    assert_true(ws_open(&w, "/api/v1/ws", "X-Api-Key: " TOKEN "\r\n", &r));
    for (int64_t end = now_ms() + WAIT_MS; (!stream || !pending) && now_ms() < end;)
        pump(-1, 0);
    assert_non_null(stream);
    assert_non_null(pending);
    assert_non_null(ws);
    stop_and_drain();
    assert_int_equal(stream_closed, 1);
    assert_int_equal(aborted, 1);
    assert_int_equal(ws_closed, 1);
    ws_end(&w);
    close(idle);
    close(ev);
    close(hang);
    /* teardown expects a running server */
    assert_int_equal(uv_loop_init(&loop), 0);
    uv_timer_init(&loop, &async_timer);
    assert_int_equal(start_server("127.0.0.1:0", true), 0);
}

static void test_listen_forms(void **state)
{
    (void)state;
    char err[256];
    pd_http *h = NULL;
    pd_http_opts o = {.max_body = MAX_BODY, .sse_backlog = BACKLOG, .max_clients = MAX_CLIENTS};
    const char *bad[] = {"nope", "127.0.0.1", "::1:8080", "127.0.0.1:99999", "127.0.0.1:",
                         "example.com:80", "[::1]8080", "[nope]:80"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        o.listen = bad[i];
        assert_int_equal(pd_http_start(&loop, &o, &h, err, sizeof err), PD_ERR_INVAL);
        assert_null(h);
    }
    /* the port of the running server is taken */
    char taken[64];
    snprintf(taken, sizeof taken, "127.0.0.1:%d", port);
    o.listen = taken;
    assert_int_not_equal(pd_http_start(&loop, &o, &h, err, sizeof err), PD_OK);
    assert_null(h);

    /* IPv6 loopback, where the host has it */
    int s6 = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    bool have6 = s6 >= 0 && bind(s6, (struct sockaddr *)&a6, sizeof a6) == 0;
    if (s6 >= 0)
        close(s6);
    if (!have6)
        return;
    o.listen = "[::1]:0";
    assert_int_equal(pd_http_start(&loop, &o, &h, err, sizeof err), PD_OK);
    assert_true(pd_http_port(h) > 0);
    pd_http_stop(&h);
    pump_ms(50);
}

static void test_router_rules(void **state)
{
    (void)state;
    static const pd_route badpat[] = {{"GET", "noslash", h_hello, 0}};
    static const pd_route badname[] = {{"GET", "/a/{Bad}", h_hello, 0}};
    static const pd_route badmeth[] = {{"FETCH", "/a", h_hello, 0}};
    static const pd_route mixed[] = {{"GET", "/a/x{id}", h_hello, 0}};
    pd_router rt = {0};
    assert_int_equal(pd_router_add(&rt, badpat, 1), PD_ERR_INVAL);
    assert_int_equal(pd_router_add(&rt, badname, 1), PD_ERR_INVAL);
    assert_int_equal(pd_router_add(&rt, badmeth, 1), PD_ERR_INVAL);
    assert_int_equal(pd_router_add(&rt, mixed, 1), PD_ERR_INVAL);
    assert_int_equal(rt.n, 0);

    assert_int_equal(pd_router_add(&rt, routes, sizeof routes / sizeof *routes), PD_OK);
    pd_route_match m;
    assert_int_equal(pd_router_find(&rt, "GET", "/", 1, &m), PD_ERR_NOTFOUND);
    assert_int_equal(pd_router_find(&rt, "GET", "/hello/x", 8, &m), PD_ERR_NOTFOUND);
    assert_int_equal(pd_router_find(&rt, "GET", "/hellox", 7, &m), PD_ERR_NOTFOUND);
    const char *p = "/api/v1/items/12/sub/n";
    assert_int_equal(pd_router_find(&rt, "GET", p, strlen(p), &m), PD_OK);
    assert_int_equal(m.nparams, 2);
    assert_int_equal(m.params[0].off, 14);
    assert_int_equal(m.params[0].len, 2);
    assert_int_equal(m.params[1].name_len, 4);
    assert_int_equal(pd_router_find(&rt, "PUT", "/api/v1/items", 13, &m), PD_ERR_UNSUPPORTED);
    assert_string_equal(m.allow, "POST");
    /* handshakes and plain requests are routed apart */
    assert_int_equal(pd_router_find(&rt, "WS", "/api/v1/sm/ws/4", 15, &m), PD_OK);
    assert_true(m.route->fn == h_ws);
    assert_int_equal(pd_router_find(&rt, "GET", "/wsonly", 7, &m), PD_ERR_NOTFOUND);
    assert_int_equal(pd_router_find(&rt, "WS", "/hello", 6, &m), PD_ERR_NOTFOUND);
}

static void test_router_files(void **state)
{
    (void)state;
    static const pd_route noslash[] = {{"FILES", "/app", h_site, 0}};
    static const pd_route capture[] = {{"FILES", "/{x}/", h_site, 0}};
    static const pd_route two[] = {
        {"FILES", "/", h_site, 0}, {"FILES", "/docs/", h_hello, 0}, {"GET", "/hello", h_hello, 0},
        {"POST", "/form", h_hello, 0}};
    pd_router rt = {0};
    assert_int_equal(pd_router_add(&rt, noslash, 1), PD_ERR_INVAL);
    assert_int_equal(pd_router_add(&rt, capture, 1), PD_ERR_INVAL);
    assert_int_equal(pd_router_add(&rt, two, 4), PD_OK);
    pd_route_match m;
    assert_int_equal(pd_router_find(&rt, "GET", "/", 1, &m), PD_OK);
    assert_true(m.route == &two[0]);
    assert_int_equal(pd_router_find(&rt, "GET", "/printers/7", 11, &m), PD_OK);
    assert_true(m.route == &two[0]);
    /* the longest prefix; "/docs" is "/docs/" without its slash */
    assert_int_equal(pd_router_find(&rt, "GET", "/docs/a.html", 12, &m), PD_OK);
    assert_true(m.route == &two[1]);
    assert_int_equal(pd_router_find(&rt, "GET", "/docs", 5, &m), PD_OK);
    assert_true(m.route == &two[1]);
    /* another route's path, or another method, is never the site's */
    assert_int_equal(pd_router_find(&rt, "GET", "/hello", 6, &m), PD_OK);
    assert_true(m.route == &two[2]);
    assert_int_equal(pd_router_find(&rt, "GET", "/form", 5, &m), PD_ERR_UNSUPPORTED);
    assert_int_equal(pd_router_find(&rt, "POST", "/x", 2, &m), PD_ERR_NOTFOUND);
    assert_int_equal(pd_router_find(&rt, "WS", "/x", 2, &m), PD_ERR_NOTFOUND);
    /* nor is the API's namespace */
    assert_int_equal(pd_router_find(&rt, "GET", "/api", 4, &m), PD_ERR_NOTFOUND);
    assert_int_equal(pd_router_find(&rt, "GET", "/api/v1/nope", 12, &m), PD_ERR_NOTFOUND);
    assert_int_equal(pd_router_find(&rt, "GET", "/apiary", 7, &m), PD_OK);
}

static void test_site_pick(void **state)
{
    (void)state;
    pd_site_pick p;
    const char *js = "/site/assets/app-1a2b.js";
    assert_int_equal(pd_site_pick_file(&site, js, strlen(js), NULL, &p), PD_OK);
    assert_null(p.encoding);
    assert_int_equal(p.len, sizeof site_js - 1);
    assert_string_equal(p.etag, "\"00000000000000aa\"");
    assert_int_equal(pd_site_pick_file(&site, js, strlen(js), "gzip, deflate, br", &p), PD_OK);
    assert_string_equal(p.encoding, "br");
    assert_string_equal(p.etag, "\"00000000000000aa-br\"");
    assert_int_equal(pd_site_pick_file(&site, js, strlen(js), "br;q=0, gzip;q=0.5", &p), PD_OK);
    assert_string_equal(p.encoding, "gzip");
    assert_int_equal(pd_site_pick_file(&site, js, strlen(js), "*;q=0.000", &p), PD_OK);
    assert_null(p.encoding);
    /* client routes get the fallback, missing files do not */
    assert_int_equal(pd_site_pick_file(&site, "/site/printers/3", 16, "br", &p), PD_OK);
    assert_true(p.file == &site_files[1]);
    assert_null(p.encoding);  /* no variant: the body as built */
    assert_int_equal(pd_site_pick_file(&site, "/site/", 6, NULL, &p), PD_OK);
    assert_true(p.file == &site_files[1]);
    assert_int_equal(pd_site_pick_file(&site, "/site/assets/gone.js", 20, NULL, &p),
                     PD_ERR_NOTFOUND);

    assert_true(pd_site_accepts("GZIP", "gzip"));
    assert_true(pd_site_accepts("*", "br"));
    assert_false(pd_site_accepts("*, br;q=0", "br"));
    assert_true(pd_site_accepts("br;q=0.001", "br"));
    assert_true(pd_site_accepts("br ; q=1.0", "br"));
    assert_false(pd_site_accepts("br;q=0.", "br"));
    assert_false(pd_site_accepts("brotli, xgzip", "gzip"));
    assert_false(pd_site_accepts("", "gzip"));

    assert_true(pd_site_etag_match("\"a\", W/\"b\"", "\"b\""));
    assert_true(pd_site_etag_match("*", "\"b\""));
    assert_false(pd_site_etag_match("\"bb\"", "\"b\""));
    assert_false(pd_site_etag_match("", "\"b\""));
}

static void test_site_served(void **state)
{
    (void)state;
    resp r;
    char v[128];
    request1("GET", "/site/inventory", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, (const char *)site_index);
    assert_string_equal(find_header(r.head, "cache-control", v, sizeof v), "no-cache");
    assert_string_equal(find_header(r.head, "content-type", v, sizeof v),
                        "text/html; charset=utf-8");
    free(r.body);

    request1("GET", "/site/assets/app-1a2b.js", "Accept-Encoding: gzip\r\n", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "GZ");
    assert_string_equal(find_header(r.head, "content-encoding", v, sizeof v), "gzip");
    assert_string_equal(find_header(r.head, "vary", v, sizeof v), "Accept-Encoding");
    assert_string_equal(find_header(r.head, "cache-control", v, sizeof v),
                        "public, max-age=31536000, immutable");
    free(r.body);

    /* a revalidation: no body; the variant's own tag does not match another variant */
    request1("GET", "/site/assets/app-1a2b.js", "If-None-Match: \"00000000000000aa\"\r\n", NULL, &r);
    assert_int_equal(r.status, 304);
    assert_int_equal(r.len, 0);
    free(r.body);
    request1("GET", "/site/assets/app-1a2b.js",
             "Accept-Encoding: br\r\nIf-None-Match: \"00000000000000aa\"\r\n", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "BR");
    free(r.body);

    request1("GET", "/site/assets/gone.js", NULL, NULL, &r);
    assert_error(&r, 404, "not_found");
    free(r.body);
    request1("POST", "/site/index.html", NULL, "{}", &r);
    assert_int_equal(r.status, 404);
    free(r.body);
}

/* --- access rules (pure) ------------------------------------------------------------------- */

static bool in_nets(const pd_access_nets *n, const char *addr)
{
    pd_access_ip ip;
    assert_true(pd_access_ip_parse(addr, &ip));
    return pd_access_nets_match(n, &ip);
}

/* Decodes `in` fed in pieces of `step` bytes; the body (NUL-terminated) or NULL, and rc. */
static char *chunked_decode(const char *in, size_t step, size_t max, pd_err *rc)
{
    pd_chunked d = {0};
    pd_buf out;
    pd_buf_init(&out, max);
    size_t len = strlen(in);
    *rc = PD_OK;
    for (size_t off = 0; off < len && !*rc; off += step)
        *rc = pd_chunked_feed(&d, in + off, len - off < step ? len - off : step, &out);
    if (!*rc && !pd_chunked_done(&d))
        *rc = PD_ERR_INVAL;  /* not finished */
    char *body = NULL;
    if (!*rc && !pd_buf_addc(&out, '\0'))
        body = pd_buf_detach(&out, NULL);
    pd_buf_free(&out);
    return body;
}

static void test_chunked(void **state)
{
    (void)state;
    static const struct {
        const char *in, *body;
        pd_err rc;
    } cases[] = {
        {"0\r\n\r\n", "", PD_OK},
        {"3\r\nabc\r\n0\r\n\r\n", "abc", PD_OK},
        {"A;name=v\r\n0123456789\r\n1 \r\nx\r\n00\r\n\r\n", "0123456789x", PD_OK},
        {"2\r\nhi\r\n0\r\nX-Sum: 1\r\nY: 2\r\n\r\ntrailing junk", "hi", PD_OK},
        {"\r\n", NULL, PD_ERR_PARSE},                /* no size */
        {"g\r\n", NULL, PD_ERR_PARSE},
        {"3\r\nabcd\r\n", NULL, PD_ERR_PARSE},     /* data longer than its size */
        {"3\nabc\r\n", NULL, PD_ERR_PARSE},         /* bare LF */
        {"0\r\n\rx", NULL, PD_ERR_PARSE},
        {"fffffffffffffffffff\r\n", NULL, PD_ERR_PARSE},
        {"20\r\n0123456789abcdef0123456789abcdef\r\n0\r\n\r\n", NULL, PD_ERR_TOOBIG},
        {"3\r\nab", NULL, PD_ERR_INVAL},             /* unfinished */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        for (size_t step = 1; step <= 64; step *= 4) {
            pd_err rc;
            char *body = chunked_decode(cases[i].in, step, 16, &rc);
            assert_int_equal(rc, cases[i].rc);
            if (cases[i].body)
                assert_string_equal(body, cases[i].body);
            free(body);
        }
}

static void test_access_networks(void **state)
{
    (void)state;
    pd_access_nets n;
    char err[128];
    assert_int_equal(pd_access_nets_parse("127.0.0.0/8, ::1/128 10.1.2.3,192.168.1.77/24 "
                                          "fe80::/10", &n, err, sizeof err), PD_OK);
    assert_int_equal(n.n, 5);
    assert_true(in_nets(&n, "127.5.6.7"));
    assert_false(in_nets(&n, "128.0.0.1"));
    assert_true(in_nets(&n, "::1"));
    assert_false(in_nets(&n, "::2"));
    assert_true(in_nets(&n, "::ffff:127.0.0.1"));  /* a v4 peer on a dual-stack socket */
    assert_true(in_nets(&n, "10.1.2.3"));
    assert_false(in_nets(&n, "10.1.2.4"));         /* no /N: one host */
    assert_true(in_nets(&n, "192.168.1.5"));       /* host bits of the entry ignored */
    assert_false(in_nets(&n, "192.168.2.5"));
    assert_true(in_nets(&n, "febf::1"));
    assert_false(in_nets(&n, "fec0::1"));

    assert_int_equal(pd_access_nets_parse("0.0.0.0/0", &n, err, sizeof err), PD_OK);
    assert_true(in_nets(&n, "203.0.113.9"));
    assert_false(in_nets(&n, "2001:db8::1"));      /* every IPv4 address, no IPv6 one */
    assert_int_equal(pd_access_nets_parse(" , ", &n, err, sizeof err), PD_OK);
    assert_int_equal(n.n, 0);
    assert_false(in_nets(&n, "127.0.0.1"));

    const char *bad[] = {"10.0.0.0/33", "abc", "10.0.0.0/", "10.0.0.0/-1", "::1/129",
                         "1.2.3.4/8x", "fe80::1%eth0", "10.0.0.0/ 8"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char list[64];
        snprintf(list, sizeof list, "127.0.0.1, %s", bad[i]);
        n.n = 99;
        assert_int_equal(pd_access_nets_parse(list, &n, err, sizeof err), PD_ERR_INVAL);
        assert_int_equal(n.n, 99);  /* left as it was */
        char entry[32];
        snprintf(entry, sizeof entry, "'%.*s'", (int)strcspn(bad[i], " "), bad[i]);
        assert_non_null(strstr(err, entry));
    }
    char many[PD_ACCESS_MAX_NETS * 16 + 16] = "";
    for (int i = 0; i <= PD_ACCESS_MAX_NETS; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "10.0.0.%d ", i);
    assert_int_equal(pd_access_nets_parse(many, &n, err, sizeof err), PD_ERR_TOOBIG);

    /* peers as the socket gives them */
    assert_int_equal(pd_access_nets_parse("10.0.0.0/8", &n, err, sizeof err), PD_OK);
    pd_access_ip ip;
    struct sockaddr_in s4 = {.sin_family = AF_INET};
    inet_pton(AF_INET, "10.9.8.7", &s4.sin_addr);
    assert_true(pd_access_ip_from_sockaddr((struct sockaddr *)&s4, &ip));
    assert_true(pd_access_nets_match(&n, &ip));
    struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, "::ffff:10.9.8.7", &s6.sin6_addr);
    assert_true(pd_access_ip_from_sockaddr((struct sockaddr *)&s6, &ip));
    assert_true(pd_access_nets_match(&n, &ip));
    inet_pton(AF_INET6, "::1", &s6.sin6_addr);
    assert_true(pd_access_ip_from_sockaddr((struct sockaddr *)&s6, &ip));
    assert_false(pd_access_nets_match(&n, &ip));
    struct sockaddr un = {.sa_family = AF_UNIX};
    assert_false(pd_access_ip_from_sockaddr(&un, &ip));
}

static void test_access_hosts(void **state)
{
    (void)state;
    const char *ok[] = {"192.168.1.10:8080", "[::1]:7912", "[fe80::1]", "localhost",
                        "printer", "printdeck.local", "x.lan:80", "a.home.arpa", "nas.internal",
                        "foo.localdomain", "app.localhost", "printer.local.", "NAS.LAN", "::1"};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
        if (!pd_access_host_allowed(ok[i], "", NULL))
            fail_msg("host %s refused", ok[i]);
    assert_true(pd_access_host_allowed(NULL, NULL, NULL));
    const char *refused[] = {"example.com", "evil.example.com:80", "attacker.com.",
                             "local.evil.com", "[notip]:80", "host:99999", "host:", "",
                             "lan.example.com", "127.0.0.1.nip.io"};
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++)
        if (pd_access_host_allowed(refused[i], NULL, NULL))
            fail_msg("host '%s' allowed", refused[i]);

    const char *list = "printdeck.example.com:443, .farm.example.org";
    assert_true(pd_access_host_allowed("printdeck.example.com:8443", list, NULL));
    assert_true(pd_access_host_allowed("PRINTDECK.Example.com", list, NULL));
    assert_false(pd_access_host_allowed("x.printdeck.example.com", list, NULL));
    assert_true(pd_access_host_allowed("farm.example.org", list, NULL));
    assert_true(pd_access_host_allowed("a.b.farm.example.org:80", list, NULL));
    assert_false(pd_access_host_allowed("evilfarm.example.org", list, NULL));
    assert_true(pd_access_host_allowed("anything.example.net", "x.example.org *", NULL));
    /* Spoolman's spelling of a domain, and the hosts of the CORS origins */
    assert_true(pd_access_host_allowed("example.com", "*.example.com", NULL));
    assert_true(pd_access_host_allowed("a.example.com", "*.example.com", NULL));
    assert_false(pd_access_host_allowed("notexample.com", "*.example.com", NULL));
    assert_false(pd_access_host_allowed("evil-local.example", NULL, NULL));
    assert_true(pd_access_host_allowed("ui.example.com:9", NULL, "https://ui.example.com:8443"));
    assert_false(pd_access_host_allowed("x.ui.example.com", NULL, "https://ui.example.com"));
    assert_true(pd_access_host_allowed("any.example.net", NULL, "*"));
}

static void test_access_origins(void **state)
{
    (void)state;
    assert_true(pd_access_origin_listed("http://192.168.1.5:3000", "http://192.168.1.5:3000"));
    assert_true(pd_access_origin_listed("HTTP://Host.LAN", "https://a.lan, http://host.lan/"));
    assert_true(pd_access_origin_listed("https://x.lan", "https://x.lan:443"));
    assert_true(pd_access_origin_listed("http://x.lan:80", "http://x.lan"));
    assert_false(pd_access_origin_listed("http://x.lan:8080", "http://x.lan"));
    assert_false(pd_access_origin_listed("https://x.lan", "http://x.lan"));
    assert_false(pd_access_origin_listed("http://x.lan", ""));
    assert_false(pd_access_origin_listed("null", "http://a.lan"));
    assert_true(pd_access_origin_listed("null", "http://a.lan, *"));

    assert_true(pd_access_origin_same_host("http://192.168.1.5:7912", "192.168.1.5:7912"));
    assert_false(pd_access_origin_same_host("http://192.168.1.5:7913", "192.168.1.5:7912"));
    assert_true(pd_access_origin_same_host("http://printdeck.lan", "printdeck.lan"));
    assert_true(pd_access_origin_same_host("https://PrintDeck.lan", "printdeck.lan"));
    assert_true(pd_access_origin_same_host("http://printdeck.lan:80", "printdeck.lan:80"));
    assert_false(pd_access_origin_same_host("http://printdeck.lan:8080", "printdeck.lan"));
    assert_false(pd_access_origin_same_host("http://printdeck.lan", "printdeck.lan:8080"));
    assert_true(pd_access_origin_same_host("http://[::1]:7912", "[::1]:7912"));
    assert_false(pd_access_origin_same_host("http://evil.lan", "printdeck.lan"));
    assert_false(pd_access_origin_same_host("null", "printdeck.lan"));
    assert_false(pd_access_origin_same_host("http://printdeck.lan", NULL));
    assert_false(pd_access_origin_same_host("chrome-extension://abc", "abc"));
    assert_false(pd_access_origin_same_host("http://printdeck.lan/x", "printdeck.lan"));

    char err[128];
    assert_int_equal(pd_access_list_check(PD_ACCESS_ORIGINS, "http://a.lan:3000, *", err,
                                          sizeof err), PD_OK);
    assert_int_equal(pd_access_list_check(PD_ACCESS_ORIGINS, "http://a.lan a.lan", err,
                                          sizeof err), PD_ERR_INVAL);
    assert_non_null(strstr(err, "'a.lan'"));
    assert_int_equal(pd_access_list_check(PD_ACCESS_HOSTS, ".example.com, x.lan:80 *", err,
                                          sizeof err), PD_OK);
    assert_int_equal(pd_access_list_check(PD_ACCESS_HOSTS, "ok.lan [bad", err, sizeof err),
                     PD_ERR_INVAL);
    assert_non_null(strstr(err, "'[bad'"));

    /* cookies (RFC 6265 cookie-string) */
    char c[16];
    assert_string_equal(pd_access_cookie("a=1; pd_session=xyz", "pd_session", c, sizeof c), "xyz");
    assert_string_equal(pd_access_cookie("pd_session=\"q\" ;b=2", "pd_session", c, sizeof c), "q");
    assert_null(pd_access_cookie("xpd_session=1", "pd_session", c, sizeof c));
    assert_null(pd_access_cookie("pd_session=", "pd_session", c, sizeof c));
    assert_null(pd_access_cookie("pd_session=0123456789abcdef", "pd_session", c, sizeof c));
    assert_null(pd_access_cookie("", "pd_session", c, sizeof c));
}

/* --- access rules on the server ------------------------------------------------------------ */

static void test_error_shapes(void **state)
{
    (void)state;
    resp r;
    char v[64];
    request1("GET", "/api/v1/sm/fail?kind=notfound", "X-Api-Key: " TOKEN "\r\n", NULL, &r);
    assert_int_equal(r.status, 404);
    assert_string_equal(r.body, "{\"message\":\"No spool with ID 7 found.\"}");
    free(r.body);
    request1("GET", "/api/v1/sm/fail?kind=field", "X-Api-Key: " TOKEN "\r\n", NULL, &r);
    assert_int_equal(r.status, 422);
    assert_string_equal(r.body, "{\"detail\":[{\"type\":\"value_error\",\"loc\":[\"query\","
                                "\"limit\"],\"msg\":\"must be 0 or more\"}]}");
    free(r.body);
    request1("GET", "/api/v1/sm/fail?kind=errfield", "X-Api-Key: " TOKEN "\r\n", NULL, &r);
    assert_int_equal(r.status, 422);
    assert_string_equal(r.body, "{\"detail\":[{\"type\":\"value_error\",\"loc\":[\"body\"],"
                                "\"msg\":\"bad body\"}]}");
    free(r.body);
    request1("GET", "/api/v1/sm/fail", NULL, NULL, &r);  /* no token, no trusted network */
    assert_int_equal(r.status, 401);
    assert_non_null(strstr(r.body, "{\"message\":\"a valid token is required"));
    free(r.body);

    request1("GET", "/api/v1/fail?kind=field", "X-Api-Key: " TOKEN "\r\n", NULL, &r);
    assert_int_equal(r.status, 422);
    assert_string_equal(r.body, "{\"error\":{\"code\":\"invalid_field\",\"message\":\"limit: "
                                "must be 0 or more\",\"field\":\"limit\"}}");
    free(r.body);
    request1("GET", "/api/v1/fail?kind=notfound", "X-Api-Key: " TOKEN "\r\n", NULL, &r);
    assert_error(&r, 404, "not_found");
    free(r.body);

    /* added headers go out; malformed ones are left out */
    request1("GET", "/api/v1/fail", "X-Api-Key: " TOKEN "\r\n", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(find_header(r.head, "x-total-count", v, sizeof v), "42");
    assert_null(find_header(r.head, "x-split", v, sizeof v));
    assert_null(strcasestr(r.head, "bad name"));
    free(r.body);
}

static void test_origin_and_cors(void **state)
{
    (void)state;
    resp r;
    char v[128];
    /* a write from a foreign page is refused; reads are not (the browser hides them) */
    request1("POST", "/api/v1/items", "X-Api-Key: " TOKEN "\r\nOrigin: http://evil.example\r\n",
             "{}", &r);
    assert_error(&r, 403, "forbidden");
    assert_non_null(strstr(r.body, "origin http://evil.example is not allowed"));
    free(r.body);
    request1("GET", "/api/v1/items/1", "X-Api-Key: " TOKEN "\r\nOrigin: http://evil.example\r\n",
             NULL, &r);
    assert_int_equal(r.status, 200);
    assert_null(find_header(r.head, "access-control-allow-origin", v, sizeof v));
    free(r.body);
    /* no Origin: not a browser */
    request1("POST", "/api/v1/items", "X-Api-Key: " TOKEN "\r\n", "{}", &r);
    assert_int_equal(r.status, 201);
    free(r.body);
    /* the page this host serves itself (request() sends Host: localhost) */
    request1("DELETE", "/api/v1/items/1", "X-Api-Key: " TOKEN "\r\nOrigin: http://localhost\r\n",
             NULL, &r);
    assert_int_equal(r.status, 405);  /* past the guard */
    free(r.body);
    /* behind a proxy: the browser's host is in X-Forwarded-Host, believed from a trusted
     * proxy only (anyone else could name the origin it passes for) */
    request1("POST", "/api/v1/items", "X-Api-Key: " TOKEN "\r\n"
             "Origin: https://printdeck.example.com\r\n"
             "X-Forwarded-Host: printdeck.example.com, proxy.lan\r\n", "{}", &r);
    assert_error(&r, 403, "forbidden");
    free(r.body);
    rules.trusted_networks = "127.0.0.0/8";
    restart(true);
    request1("POST", "/api/v1/items", "X-Api-Key: " TOKEN "\r\n"
             "Origin: https://printdeck.example.com\r\n"
             "X-Forwarded-Host: printdeck.example.com, proxy.lan\r\n", "{}", &r);
    assert_int_equal(r.status, 201);
    free(r.body);

    /* a listed origin: CORS headers, and writes pass */
    request1("POST", "/api/v1/items", "X-Api-Key: " TOKEN "\r\nOrigin: http://ui.lan:3000\r\n",
             "{}", &r);
    assert_int_equal(r.status, 201);
    assert_string_equal(find_header(r.head, "access-control-allow-origin", v, sizeof v),
                        "http://ui.lan:3000");
    assert_string_equal(find_header(r.head, "access-control-expose-headers", v, sizeof v),
                        "X-Total-Count");
    assert_string_equal(find_header(r.head, "vary", v, sizeof v), "Origin");
    free(r.body);
    /* its preflight, without a token (browsers send none on it) */
    request1("OPTIONS", "/api/v1/items", "Origin: http://ui.lan:3000\r\n"
             "Access-Control-Request-Method: POST\r\n"
             "Access-Control-Request-Headers: authorization, content-type\r\n", NULL, &r);
    assert_int_equal(r.status, 204);
    assert_int_equal(r.len, 0);
    assert_string_equal(find_header(r.head, "access-control-allow-origin", v, sizeof v),
                        "http://ui.lan:3000");
    assert_non_null(strstr(find_header(r.head, "access-control-allow-methods", v, sizeof v),
                           "PATCH"));
    assert_string_equal(find_header(r.head, "access-control-allow-headers", v, sizeof v),
                        "authorization, content-type");
    free(r.body);
    /* an unlisted origin's preflight is an ordinary OPTIONS */
    request1("OPTIONS", "/api/v1/items", "Origin: http://evil.example\r\n"
             "Access-Control-Request-Method: POST\r\n", NULL, &r);
    assert_error(&r, 405, "method_not_allowed");
    free(r.body);
}

static void test_host_guard(void **state)
{
    (void)state;
    const char *ok[] = {"192.168.1.1", "nas.local:8080", "printdeck.example.com:8080", "[::1]"};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        char req[256];
        int fd = client_connect(port);
        int n = snprintf(req, sizeof req, "GET /hello HTTP/1.1\r\nHost: %s\r\n\r\n", ok[i]);
        assert_true(client_send(fd, req, (size_t)n));
        resp r;
        read_response(fd, &r);
        assert_int_equal(r.status, 200);
        free(r.body);
        close(fd);
    }
    /* DNS rebinding: a public name nobody configured, on any route */
    int fd = client_connect(port);
    const char *req = "GET /hello HTTP/1.1\r\nHost: evil.example.com\r\n\r\n";
    assert_true(client_send(fd, req, strlen(req)));
    resp r;
    read_response(fd, &r);
    assert_error(&r, 400, "invalid");
    assert_non_null(strstr(r.body, "host evil.example.com is not allowed"));
    free(r.body);
    close(fd);
    /* the host a proxy forwards (its first entry) must be allowed as well, whoever sent it */
    const char *fwd[][2] = {{"evil.example.com, nas.lan", "400"}, {" printdeck.example.com , evil.example", "200"},
                            {"", "200"}, {"nas.lan:80", "200"}};
    for (size_t i = 0; i < sizeof fwd / sizeof *fwd; i++) {
        char buf[256];
        fd = client_connect(port);
        int n = snprintf(buf, sizeof buf, "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-Host: %s\r\n\r\n",
                         fwd[i][0]);
        assert_true(client_send(fd, buf, (size_t)n));
        read_response(fd, &r);
        assert_int_equal(r.status, atoi(fwd[i][1]));
        free(r.body);
        close(fd);
    }
}

static void test_access_config(void **state)
{
    (void)state;
    char err[256];
    pd_http_access bad = {.trusted_networks = "10.0.0.0/8 10.0.0.0/33"};
    assert_int_equal(pd_http_set_access(srv, &bad, err, sizeof err), PD_ERR_INVAL);
    assert_non_null(strstr(err, "trusted_networks: '10.0.0.0/33'"));
    bad = (pd_http_access){.cors_origins = "ui.lan:3000"};
    assert_int_equal(pd_http_set_access(srv, &bad, err, sizeof err), PD_ERR_INVAL);
    assert_non_null(strstr(err, "cors_origins: 'ui.lan:3000'"));
    /* the rules in force stayed */
    resp r;
    request1("POST", "/api/v1/items", "X-Api-Key: " TOKEN "\r\nOrigin: http://ui.lan:3000\r\n",
             "{}", &r);
    assert_int_equal(r.status, 201);
    free(r.body);
    /* and a server does not start on a bad list */
    pd_http *h = NULL;
    pd_http_opts o = {.listen = "127.0.0.1:0", .max_body = MAX_BODY, .sse_backlog = BACKLOG,
                      .max_clients = MAX_CLIENTS, .access = {.allowed_hosts = "ok.lan, a b["}};
    assert_int_equal(pd_http_start(&loop, &o, &h, err, sizeof err), PD_ERR_INVAL);
    assert_null(h);
    assert_non_null(strstr(err, "allowed_hosts: 'b['"));
}

/* --- WebSockets ------------------------------------------------------------------------------ */

static void test_ws_messages(void **state)
{
    (void)state;
    wsc w;
    resp r;
    assert_true(ws_open(&w, "/api/v1/ws", "X-Api-Key: " TOKEN "\r\n", &r));
    ws_expect_text(&w, "welcome");
    assert_non_null(ws);
    assert_int_equal(pd_stream_write(ws, "one", 3), PD_OK);
    assert_int_equal(pd_stream_write(ws, "two", 3), PD_OK);
    ws_expect_text(&w, "one");
    ws_expect_text(&w, "two");

    ws_send(&w, true, 1, "hi", 2);
    ws_expect_text(&w, "echo:2:hi");
    /* lws answers pings by itself (Moonraker pings every 20 s) */
    char got[64];
    ws_send(&w, true, 9, "beat", 4);
    assert_int_equal(ws_recv(&w, got, sizeof got), 10);
    assert_string_equal(got, "beat");
    /* fragments are joined; a ping may come between them; binary messages are ignored */
    ws_send(&w, false, 1, "hel", 3);
    ws_send(&w, true, 9, "", 0);
    ws_send(&w, true, 0, "lo", 2);
    assert_int_equal(ws_recv(&w, got, sizeof got), 10);
    ws_expect_text(&w, "echo:5:hello");
    ws_send(&w, true, 2, "\x01\x02", 2);
    static char big[60000];
    memset(big, 'm', sizeof big);
    ws_send(&w, true, 1, big, sizeof big);  /* under the bound */
    ws_expect_text(&w, "echo:60000:mmmmmmmmmmmmmmmmmmmm");

    /* the client closes: on_close runs */
    ws_send(&w, true, 8, "\x03\xe8", 2);
    assert_int_equal(ws_expect_close(&w), 1000);
    for (int64_t end = now_ms() + WAIT_MS; !ws_closed && now_ms() < end;)
        pump(-1, 0);
    assert_int_equal(ws_closed, 1);
    assert_null(ws);
    ws_end(&w);

    /* a message over 64 KiB, in fragments: closed with 1009 */
    assert_true(ws_open(&w, "/api/v1/ws", "X-Api-Key: " TOKEN "\r\n", &r));
    ws_expect_text(&w, "welcome");
    ws_send(&w, false, 1, big, 40000);
    ws_send(&w, true, 0, big, 40000);
    assert_int_equal(ws_expect_close(&w), 1009);
    ws_send(&w, true, 8, "\x03\xf1", 2);
    assert_true(client_eof(w.fd));
    ws_end(&w);
    for (int64_t end = now_ms() + WAIT_MS; ws_closed < 2 && now_ms() < end;)
        pump(-1, 0);
    assert_int_equal(ws_closed, 2);

    /* closed by the server: close frame 1000, on_close does not run */
    assert_true(ws_open(&w, "/api/v1/ws/", "Authorization: Bearer " TOKEN "\r\n", &r));
    ws_expect_text(&w, "welcome");
    ws_send(&w, true, 1, "close", 5);
    assert_int_equal(ws_expect_close(&w), 1000);
    ws_send(&w, true, 8, "\x03\xe8", 2);
    assert_true(client_eof(w.fd));
    ws_end(&w);
    pump_ms(50);
    assert_int_equal(ws_closed, 2);
}

static void test_ws_refused(void **state)
{
    (void)state;
    wsc w;
    resp r;
    char v[64];
    assert_false(ws_open(&w, "/api/v1/ws", NULL, &r));
    assert_error(&r, 401, "unauthorized");
    assert_string_equal(find_header(r.head, "connection", v, sizeof v), "close");
    free(r.body);
    assert_false(ws_open(&w, "/api/v1/nows", "X-Api-Key: " TOKEN "\r\n", &r));
    assert_error(&r, 404, "not_found");
    free(r.body);
    /* HTTP routes and WS routes do not meet */
    assert_false(ws_open(&w, "/hello", NULL, &r));
    assert_error(&r, 404, "not_found");
    free(r.body);
    request1("GET", "/wsonly", NULL, NULL, &r);
    assert_error(&r, 404, "not_found");
    free(r.body);
    assert_true(ws_open(&w, "/wsonly", NULL, &r));  /* not under /api/v1: no token */
    ws_end(&w);
    /* the origin and host guards hold for handshakes (Spoolman shape on its routes) */
    assert_false(ws_open(&w, "/api/v1/sm/ws/3", "X-Api-Key: " TOKEN "\r\n"
                         "Origin: http://evil.example\r\n", &r));
    assert_int_equal(r.status, 403);
    assert_non_null(strstr(r.body, "{\"message\":\"Request refused: origin"));
    free(r.body);
    assert_true(ws_open(&w, "/api/v1/sm/ws/3", "X-Api-Key: " TOKEN "\r\n"
                        "Origin: http://ui.lan:3000\r\n", &r));
    ws_end(&w);
    /* Spoolman refuses a handshake to a foreign host, even one a proxy forwarded, with 403 */
    assert_false(ws_open(&w, "/api/v1/ws", "X-Api-Key: " TOKEN "\r\nHost: evil.example.com\r\n",
                         &r));
    assert_error(&r, 403, "forbidden");
    free(r.body);
    assert_false(ws_open(&w, "/api/v1/ws", "X-Api-Key: " TOKEN "\r\nX-Forwarded-Host: evil.example.com\r\n",
                         &r));
    assert_error(&r, 403, "forbidden");
    free(r.body);
    assert_false(ws_open(&w, "/api/v1/ws", "X-Api-Key: " TOKEN "\r\n"
                         "Sec-WebSocket-Protocol: chat\r\n", &r));
    assert_error(&r, 400, "unsupported");
    free(r.body);
    /* the handler refuses with a reply */
    assert_false(ws_open(&w, "/api/v1/sm/ws/3?refuse=1", "X-Api-Key: " TOKEN "\r\n", &r));
    assert_int_equal(r.status, 422);
    assert_string_equal(r.body, "{\"detail\":[{\"type\":\"value_error\",\"loc\":[\"path\","
                                "\"id\"],\"msg\":\"no such item\"}]}");
    free(r.body);
    pump_ms(20);
}

static void test_ws_trusted_networks(void **state)
{
    (void)state;
    wsc w;
    resp r;
    rules.trusted_networks = "127.0.0.0/8";
    restart(true);
    /* Spoolman routes from a trusted network need no token; the others still do */
    assert_true(ws_open(&w, "/api/v1/sm/ws/3", NULL, &r));
    ws_expect_text(&w, "welcome");
    ws_end(&w);
    request1("GET", "/api/v1/sm/fail", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    free(r.body);
    assert_false(ws_open(&w, "/api/v1/ws", NULL, &r));
    assert_int_equal(r.status, 401);
    free(r.body);

    rules.trusted_networks = "10.0.0.0/8, ::1";
    restart(true);
    assert_false(ws_open(&w, "/api/v1/sm/ws/3", NULL, &r));
    assert_int_equal(r.status, 401);
    assert_non_null(strstr(r.body, "{\"message\":"));
    free(r.body);
    assert_true(ws_open(&w, "/api/v1/sm/ws/3", "X-Api-Key: " TOKEN "\r\n", &r));
    ws_end(&w);
    pump_ms(20);
}

static void test_ws_slow_reader_dropped(void **state)
{
    (void)state;
    wsc w;
    resp r;
    assert_true(ws_open(&w, "/api/v1/ws", "X-Api-Key: " TOKEN "\r\n", &r));
    int small = 4096;
    setsockopt(w.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    for (int64_t end = now_ms() + WAIT_MS; !ws && now_ms() < end;)
        pump(-1, 0);
    assert_non_null(ws);
    char msg[1024];
    memset(msg, 'w', sizeof msg);
    pd_err rc = PD_OK;
    for (int i = 0; i < 100000 && rc == PD_OK; i++) {
        rc = pd_stream_write(ws, msg, sizeof msg);
        if (rc == PD_OK)
            assert_true(pd_stream_queued(ws) <= BACKLOG);
        if (i % 16 == 0)
            pump(-1, 0);
    }
    assert_int_equal(rc, PD_ERR_TOOBIG);
    for (int64_t end = now_ms() + WAIT_MS; !ws_closed && now_ms() < end;)
        pump(-1, 0);
    assert_int_equal(ws_closed, 1);
    ws_end(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_router_rules),
        cmocka_unit_test(test_router_files),
        cmocka_unit_test(test_site_pick),
        cmocka_unit_test_setup_teardown(test_site_served, setup, teardown),
        cmocka_unit_test_setup_teardown(test_routing_and_params, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_found_and_method, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bodies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_big_response, setup, teardown),
        cmocka_unit_test_setup_teardown(test_async, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_drain_and_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slow_stream_dropped, setup, teardown),
        cmocka_unit_test(test_chunked),
        cmocka_unit_test_setup_teardown(test_max_clients, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_clients_per_address, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_with_open_connections, setup, teardown),
        cmocka_unit_test_setup_teardown(test_listen_forms, setup, teardown),
        cmocka_unit_test(test_access_networks),
        cmocka_unit_test(test_access_hosts),
        cmocka_unit_test(test_access_origins),
        cmocka_unit_test_setup_teardown(test_error_shapes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_origin_and_cors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_host_guard, setup, teardown),
        cmocka_unit_test_setup_teardown(test_access_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ws_messages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ws_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ws_trusted_networks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ws_slow_reader_dropped, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
