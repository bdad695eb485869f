/* HTTP server on the loop (libwebsockets with LWS_SERVER_OPTION_LIBUV + foreign loop).
 * Routes come from declarative tables (one per file in src/api); the server does matching, body capping,
 * auth, JSON replies, the error body shape, and streaming (SSE) connections. */
#ifndef PD_HTTP_H
#define PD_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "core/err.h"

typedef struct pd_http pd_http;
typedef struct pd_req pd_req;
typedef struct pd_stream pd_stream;

typedef void (*pd_handler)(pd_req *req);

enum {
    PD_ROUTE_OPEN = 1u << 0,   /* no token needed (/healthz, /metrics) */
};

typedef struct pd_route {
    const char *method;        /* "GET", "POST", "PATCH", "DELETE", "PUT" */
    const char *pattern;       /* "/api/v1/printers/{id}/raw": {name} matches one segment */
    pd_handler fn;
    unsigned flags;
} pd_route;

/* Decides whether a bearer/API-key token is valid (hook into the store); NULL = none valid. */
typedef bool (*pd_token_check_fn)(const char *token, void *ud);

typedef struct pd_http_opts {
    const char *listen;        /* "ADDR:PORT" */
    int max_body;
    int sse_backlog;
    int max_clients;
    bool auth_enabled;
    pd_token_check_fn token_check;
    void *token_ud;
    void *app;                 /* handed to handlers via pd_req_app() */
} pd_http_opts;

/* listen forms: "127.0.0.1:8080", "0.0.0.0:8080", "[::1]:8080", ":8080" (every address,
 * IPv4 and IPv6), "localhost:8080"; port 0 picks a free port (see pd_http_port). */
pd_err pd_http_start(uv_loop_t *loop, const pd_http_opts *opts, pd_http **out,
                     char *err, size_t errlen);
int pd_http_port(const pd_http *h);
/* Registers a route table (kept by reference; must be static). Max 128 routes. */
pd_err pd_http_add_routes(pd_http *h, const pd_route *routes, size_t n);
/* Closes listeners and connections (on_abort / on_close run for what was open); the loop must
 * then run until handles are closed: lws on a foreign libuv loop can only free its context
 * after the loop has closed its handles, which the server finishes by itself. */
void pd_http_stop(pd_http **h);

/* --- inside a handler ---------------------------------------------------------------- */
void *pd_req_app(pd_req *r);
const char *pd_req_method(pd_req *r);
const char *pd_req_path(pd_req *r);
const char *pd_req_param(pd_req *r, const char *name);  /* path {name}, NULL if none */
/* Query argument, URL-decoded into buf; NULL if absent or longer than buflen. Query and
 * header accessors read the parsed request headers: use them before replying or beginning
 * a stream. */
const char *pd_req_query(pd_req *r, const char *name, char *buf, size_t buflen);
const char *pd_req_header(pd_req *r, const char *name, char *buf, size_t buflen); /* any case */
/* Raw body (NUL-terminated, may be empty) and its parsed JSON. pd_req_json replies 400 with
 * a message naming the problem and returns NULL when the body is not a JSON object. */
const char *pd_req_body(pd_req *r, size_t *len);
json_t *pd_req_json(pd_req *r);  /* borrowed; freed with the request */

/* Exactly one reply per request. A handler may return without replying and reply later
 * (async, e.g. waiting for a printer ack); it must then register on_abort: if the client
 * goes away first, on_abort runs and the request must not be used after it. (Without
 * on_abort the request is kept until the late reply, which then just frees it.) */
void pd_req_reply_json(pd_req *r, int status, json_t *body /* stolen */);
void pd_req_reply_raw(pd_req *r, int status, const char *content_type, const char *body,
                      size_t len);
void pd_req_reply_error(pd_req *r, pd_err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void pd_req_on_abort(pd_req *r, void (*fn)(void *ud), void *ud);
/* Zero-copy reply: a body buffer of `len` bytes owned by the request (NULL when out of
 * memory; then reply an error instead). Fill it, then commit. */
char *pd_req_reply_alloc(pd_req *r, size_t len);
void pd_req_reply_commit(pd_req *r, int status, const char *content_type);

/* --- streams (Server-Sent Events) -------------------------------------------------------
 * Turns the request into a long-lived text/event-stream response. Writes are queued up to
 * the sse_backlog bound; past it the client is dropped (on_close runs). */
pd_stream *pd_req_stream_begin(pd_req *r, void (*on_close)(pd_stream *s, void *ud), void *ud);
/* Queues bytes; returns PD_ERR_TOOBIG (and schedules the drop) when over the backlog. */
pd_err pd_stream_write(pd_stream *s, const char *data, size_t len);
size_t pd_stream_queued(const pd_stream *s);
/* fn runs each time the queue has been handed to the socket in full, so a writer can send a
 * burst larger than the backlog (an initial snapshot) in bounded steps. ud is on_close's. */
void pd_stream_on_drain(pd_stream *s, void (*fn)(pd_stream *s, void *ud));
/* Ends the stream from the server side and closes its connection; on_close does not run and
 * `s` must not be used after this call. */
void pd_stream_close(pd_stream *s);

#endif
