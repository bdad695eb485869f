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

#include "http/http.h"
#include "http/router.h"

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

static void h_big(pd_req *r)
{
    char *out = pd_req_reply_alloc(r, BIG_LEN);
    if (!out) {
        pd_req_reply_error(r, PD_ERR_NOMEM, NULL);
        return;
    }
    for (size_t i = 0; i < BIG_LEN; i++)
        out[i] = (char)('a' + i % 26);
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

static const pd_route routes[] = {
    {"GET", "/hello", h_hello, 0},
    {"GET", "/api/v1/items/{id}", h_item, 0},
    {"GET", "/api/v1/items/{id}/sub/{name}", h_item, 0},
    {"POST", "/api/v1/items", h_create, 0},
    {"PATCH", "/api/v1/items/{id}", h_create, 0},
    {"GET", "/api/v1/open", h_hello, PD_ROUTE_OPEN},
    {"GET", "/api/v1/big", h_big, 0},
    {"GET", "/api/v1/echo", h_echo, 0},
    {"GET", "/api/v1/async", h_async, 0},
    {"GET", "/api/v1/hang", h_hang, 0},
    {"GET", "/api/v1/events", h_events, 0},
    {"GET", "/api/v1/burst", h_burst, 0},
};

static bool token_ok(const char *tok, void *ud)
{
    (void)ud;
    return !strcmp(tok, TOKEN);
}

/* --- client ----------------------------------------------------------------------------- */

typedef struct resp {
    int status;
    char head[2048];
    char *body;
    size_t len;
} resp;

static int client_connect(int to_port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)to_port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* the kernel completes the handshake from the listen backlog; no server turn needed */
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

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
    if (find_header(r->head, "content-length", cl, sizeof cl)) {
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

/* --- fixture ------------------------------------------------------------------------------ */

static int start_server(const char *listen, bool auth)
{
    char err[256];
    pd_http_opts o = {.listen = listen, .max_body = MAX_BODY, .sse_backlog = BACKLOG,
                      .max_clients = MAX_CLIENTS, .auth_enabled = auth, .token_check = token_ok};
    if (pd_http_start(&loop, &o, &srv, err, sizeof err))
        return -1;
    port = pd_http_port(srv);
    return pd_http_add_routes(srv, routes, sizeof routes / sizeof *routes) ? -1 : 0;
}

static int setup(void **state)
{
    (void)state;
    pending = NULL;
    stream = NULL;
    aborted = stream_closed = 0;
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

    request1("GET", "/api/v1/open", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    free(r.body);

    /* auth is disabled server-wide */
    stop_and_drain();
    assert_int_equal(uv_loop_init(&loop), 0);
    uv_timer_init(&loop, &async_timer);
    assert_int_equal(start_server("127.0.0.1:0", false), 0);
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

    /* declared too large: refused from the headers, and the connection is not reused */
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

    /* no length given (lws reads until the cap): cut off at max_body as it arrives */
    fd = client_connect(port);
    char req[256 + sizeof big];
    int n = snprintf(req, sizeof req,
                     "PATCH /api/v1/items/1 HTTP/1.1\r\nHost: x\r\nX-Api-Key: " TOKEN "\r\n\r\n%s",
                     big);
    assert_true(client_send(fd, req, (size_t)n));
    read_response(fd, &r);
    assert_error(&r, 413, "too_large");
    free(r.body);
    close(fd);

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
    for (size_t i = 0; i < sizeof fds / sizeof *fds; i++)
        fds[i] = client_connect(port);
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

/* Connections and streams still open at stop: on_abort / on_close run, nothing leaks. */
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
    for (int64_t end = now_ms() + WAIT_MS; (!stream || !pending) && now_ms() < end;)
        pump(-1, 0);
    assert_non_null(stream);
    assert_non_null(pending);
    stop_and_drain();
    assert_int_equal(stream_closed, 1);
    assert_int_equal(aborted, 1);
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
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_router_rules),
        cmocka_unit_test_setup_teardown(test_routing_and_params, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_found_and_method, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bodies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_big_response, setup, teardown),
        cmocka_unit_test_setup_teardown(test_async, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_drain_and_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slow_stream_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_clients, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_with_open_connections, setup, teardown),
        cmocka_unit_test_setup_teardown(test_listen_forms, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
