/* HTTP server on the loop (libwebsockets with LWS_SERVER_OPTION_LIBUV + foreign loop).
 * Routes come from declarative tables (one per file in src/api); the server does matching, body capping,
 * auth and the access rules, JSON replies, the error body shapes, and streaming connections
 * (SSE and WebSocket). */
#ifndef PD_HTTP_H
#define PD_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/err.h"

typedef struct pd_http pd_http;
typedef struct pd_req pd_req;
typedef struct pd_stream pd_stream;

typedef void (*pd_handler)(pd_req *req);

enum {
    PD_ROUTE_OPEN = 1u << 0,   /* no token needed (/healthz, /metrics) */
    /* Spoolman-compatible: errors in Spoolman's shapes ({"message"}, 422 {"detail"}), and no
     * token needed from a trusted network (Spoolman clients have no way to send one) */
    PD_ROUTE_SPOOLMAN = 1u << 1,
    /* an upload: the body goes to an unlinked temporary file in upload_dir, up to max_upload
     * bytes, instead of memory; the handler takes it with pd_req_body_file */
    PD_ROUTE_UPLOAD = 1u << 2,
    /* The least role a route needs, when it is not the method's: reads (GET, HEAD, WS,
     * FILES) need a viewer, writes an operator. VIEWER lets a viewer write (its own password,
     * an analysis that changes nothing); ADMIN reserves a route to admins (users, tokens,
     * settings, printers). */
    PD_ROUTE_VIEWER = 1u << 3,
    PD_ROUTE_ADMIN = 1u << 4,
};

/* Roles, least to most: each can do what the one before it can (docs/accounts.md). */
typedef enum pd_role { PD_ROLE_NONE = 0, PD_ROLE_VIEWER, PD_ROLE_OPERATOR, PD_ROLE_ADMIN } pd_role;

/* Who sent a request, as the ident hook and the access rules decided it. */
typedef enum pd_ident_kind {
    PD_IDENT_NONE = 0,  /* nobody (an open route without credentials) */
    PD_IDENT_OPEN,      /* auth.enabled = false: everyone is an admin */
    PD_IDENT_TRUSTED,   /* a trusted network on a Spoolman route, without credentials */
    PD_IDENT_TOKEN,     /* an API token (Authorization: Bearer, X-Api-Key) */
    PD_IDENT_SESSION,   /* a session cookie (a user's, or one a token was exchanged for) */
} pd_ident_kind;

/* The session cookie's name (HttpOnly, SameSite=Strict; Secure over TLS). */
#define PD_HTTP_SESSION_COOKIE "pd_session"

#define PD_IDENT_MAX_PRINTERS 256
typedef struct pd_ident {
    pd_ident_kind kind;
    pd_role role;
    int64_t user_id;      /* the user of a session; 0 for a token's */
    int64_t token_id;     /* the token (or the token a session came from); 0 = PRINTDECK_TOKEN */
    int64_t session_id;
    int64_t expires_at;   /* a session's end, Unix seconds (it may also end sooner: idle, ended) */
    char name[80];        /* the user's or the token's name (at most 64 bytes) */
    /* a session's CSRF token: a write with the cookie must carry it in X-CSRF-Token */
    char csrf[48];
    size_t nprinters;     /* the printers it may see and control; 0 = every printer */
    int64_t printers[PD_IDENT_MAX_PRINTERS];
} pd_ident;

/* A file of a site built into the binary (tools/webgen makes the table from the web build),
 * with its gzip and brotli variants made at build time (NULL where they would not be smaller). */
typedef struct pd_http_file {
    const char *path;          /* "/assets/index-3f2a1b9c.js"; a site's files sorted by strcmp */
    const char *ctype;
    const char *etag;          /* quoted: "\"9f86d081884c7d65\"" */
    bool immutable;            /* the name carries a content hash: cached for a year */
    const unsigned char *body, *gz, *br;
    size_t len, gz_len, br_len;
} pd_http_file;

typedef struct pd_http_site {
    const pd_http_file *files;
    size_t n;
    /* answers a client route (a path whose last segment has no '.', "/printers/7") so a
     * single-page app opens on any of its URLs: "/index.html" */
    const char *fallback;
} pd_http_site;

typedef struct pd_route {
    /* "GET", "POST", "PATCH", "DELETE", "PUT", or "WS": a WebSocket handshake (GET with
     * Upgrade: websocket) to the pattern; the handler accepts it with pd_req_ws_accept or
     * refuses it with a reply. "FILES": the route of a built-in site; it takes GET and HEAD
     * for every path under the pattern (a prefix ending in '/') that no other route has,
     * never one under /api, and its handler answers with pd_req_reply_site. */
    const char *method;
    const char *pattern;       /* "/api/v1/printers/{id}/raw": {name} matches one segment */
    pd_handler fn;
    unsigned flags;
} pd_route;

/* Who the credentials of a request are (hook into the store): token is the bearer or API-key
 * token, session the session cookie's value, either NULL when absent (a token wins over a
 * cookie). Fills out and returns OK, or AUTH when they are not valid (expired, revoked). */
typedef pd_err (*pd_ident_fn)(const char *token, const char *session, pd_ident *out, void *ud);

/* Who may do what beyond the token (docs/http.md, "Access rules"). The strings are lists
 * separated by commas and/or spaces; NULL or "" is an empty list. */
typedef struct pd_http_access {
    const char *trusted_networks; /* CIDRs: PD_ROUTE_SPOOLMAN routes without a token */
    const char *cors_origins;     /* origins given CORS headers and allowed to write; "*" any */
    const char *allowed_hosts;    /* Host names served besides IPs and private names */
} pd_http_access;

typedef struct pd_http_opts {
    const char *listen;        /* "ADDR:PORT" */
    int max_body;
    int64_t max_upload;        /* PD_ROUTE_UPLOAD bodies; 0 = max_body */
    /* PD_ROUTE_UPLOAD requests at once, counted from their head until they are freed (the
     * handler done with the file); past it 503 with Retry-After, before the body is read;
     * 0 = 4 */
    int max_uploads;
    const char *upload_dir;    /* where they are spooled; NULL = $TMPDIR or /tmp */
    int sse_backlog;           /* bytes queued per stream (SSE or WebSocket) */
    int max_clients;
    /* connections one client address may hold; 0, or more than half of max_clients, is
     * half of max_clients, so one address can never take them all */
    int max_clients_per_address;
    /* a WebSocket silent this long is pinged at half of it and closed when nothing has come
     * back by the end; 0 = 60 */
    int idle_timeout_s;
    /* how long an async handler may take to reply before the connection is closed (on_abort
     * runs), unless it sets its own with pd_req_wait; 0 = 120 */
    int handler_timeout_s;
    bool auth_enabled;
    bool allow_open_network;   /* without auth, a listen address other than loopback too */
    pd_ident_fn ident;
    void *ident_ud;
    void *app;                 /* handed to handlers via pd_req_app() */
    pd_http_access access;
} pd_http_opts;

/* listen forms: "127.0.0.1:8080", "0.0.0.0:8080", "[::1]:8080", ":8080" (every address,
 * IPv4 and IPv6), "localhost:8080"; port 0 picks a free port (see pd_http_port). Without
 * auth_enabled, an address that is not loopback is refused (INVAL, err says which key) unless
 * allow_open_network; either way a warning names the address. */
pd_err pd_http_start(uv_loop_t *loop, const pd_http_opts *opts, pd_http **out,
                     char *err, size_t errlen);
int pd_http_port(const pd_http *h);
/* The server's libwebsockets context, for a client on the same loop (ha/source.c): its
 * connections are closed when the server stops, so such a client stops first. */
struct lws_context *pd_http_lws(pd_http *h);
/* Replaces the access rules (start and SIGHUP). The lists are copied and parsed here, so a
 * request never parses them; INVAL/TOOBIG with err naming the key and entry leaves the
 * previous rules in force. */
pd_err pd_http_set_access(pd_http *h, const pd_http_access *a, char *err, size_t errlen);
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
 * header accessors read the parsed request headers: use them before replying, beginning a
 * stream or accepting a WebSocket. */
const char *pd_req_query(pd_req *r, const char *name, char *buf, size_t buflen);
/* Every query argument in order, URL-decoded: names[i] and values[i] point into buf ("" for
 * a bare name). Returns how many, at most max; arguments that do not fit in buf are left out. */
size_t pd_req_query_all(pd_req *r, char *buf, size_t buflen, const char **names,
                        const char **values, size_t max);
const char *pd_req_header(pd_req *r, const char *name, char *buf, size_t buflen); /* any case */
/* Who sent the request: set before the handler runs (kind NONE on an open route without
 * valid credentials). */
const pd_ident *pd_req_ident(pd_req *r);
/* Whether the request may read what Spoolman's routes show, on an open route that carries some
 * of it (Spoolman's gauges on /metrics): auth off, valid credentials, or a trusted network. */
bool pd_req_spoolman_reader(pd_req *r);
/* Whether the request reached us over TLS, or through a proxy in trusted_networks that says
 * so (X-Forwarded-Proto: https): a session cookie is then marked Secure. */
bool pd_req_secure(pd_req *r);
/* The client's address as text ("192.168.1.7", "2001:db8::1"); "" when unknown. Behind a
 * proxy it is the proxy's. */
const char *pd_req_peer(pd_req *r, char *buf, size_t buflen);
/* The value of one cookie of the request (RFC 6265 cookie-string), NULL when absent or longer
 * than buflen. */
const char *pd_req_cookie(pd_req *r, const char *name, char *buf, size_t buflen);
/* Raw body (NUL-terminated, may be empty) and its parsed JSON. pd_req_json replies 400 with
 * a message naming the problem and returns NULL when the body is not a JSON object. */
const char *pd_req_body(pd_req *r, size_t *len);
/* A PD_ROUTE_UPLOAD route's body: the temporary file's descriptor, handed over (the caller
 * closes it; the file has no name, so it is gone with the last descriptor), and its length.
 * -1 when the request has no body or was already taken. */
int pd_req_body_file(pd_req *r, uint64_t *len);
json_t *pd_req_json(pd_req *r);  /* borrowed; freed with the request */

/* The site's file for the request's path, or its fallback for a client route, or 404: the
 * body precompressed when Accept-Encoding allows (brotli, then gzip), an ETag and 304 when
 * If-None-Match has it, Cache-Control "public, max-age=31536000, immutable" for hashed
 * names and "no-cache" for the rest, which a browser then revalidates. */
void pd_req_reply_site(pd_req *r, const pd_http_site *site);

/* Exactly one reply per request. A handler may return without replying and reply later
 * (async, e.g. waiting for a printer ack); it must then register on_abort: if the client
 * goes away first, on_abort runs and the request must not be used after it. (Without
 * on_abort the request is kept until the late reply, which then just frees it.) */
void pd_req_reply_json(pd_req *r, int status, json_t *body /* stolen */);
void pd_req_reply_raw(pd_req *r, int status, const char *content_type, const char *body,
                      size_t len);
/* The status and body follow from e: {"error":{"code","message"}}, or on PD_ROUTE_SPOOLMAN
 * routes {"message"} (PD_ERR_FIELD there: a 422 {"detail":[…]} with loc ["body"]). */
void pd_req_reply_error(pd_req *r, pd_err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* 422 for one field of the body, query or path (loc "body", "query", "path"):
 * {"error":{"code":"invalid_field","message":"<field>: <msg>","field"}}, or on Spoolman
 * routes {"detail":[{"type":"value_error","loc":[loc,field],"msg"}]}. */
void pd_req_reply_field_error(pd_req *r, const char *loc, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Adds a response header to the reply (or to the refusal of a handshake). A few fit (their
 * names and values share 1 KiB); one that does not, or that has a name that is not a
 * token or a value with a line break, is left out with a warning. */
void pd_req_add_header(pd_req *r, const char *name, const char *value);
void pd_req_on_abort(pd_req *r, void (*fn)(void *ud), void *ud);
/* An async handler whose wait has a bound of its own replaces the server's cut-off
 * (handler_timeout_s from dispatch): the connection is closed `seconds` from now if no reply
 * has begun; 0 lifts the cut-off, for a wait that something else always ends (an FTPS
 * transfer's timeouts in a bounded queue). The client may still hang up (on_abort). */
void pd_req_wait(pd_req *r, int seconds);
/* Zero-copy reply: a body buffer of `len` bytes owned by the request (NULL when out of
 * memory or over 256 MiB; then reply an error instead). Fill it, then commit. */
char *pd_req_reply_alloc(pd_req *r, size_t len);
void pd_req_reply_commit(pd_req *r, int status, const char *content_type);

/* --- streams (Server-Sent Events and WebSockets) ----------------------------------------
 * pd_req_stream_begin turns a request into a long-lived text/event-stream response;
 * pd_req_ws_accept, called by a "WS" route's handler during the handshake, accepts the
 * WebSocket (the 101 goes out when the handler returns). Writes are queued up to the
 * sse_backlog bound; past it the client is dropped (on_close runs once it is gone). */
pd_stream *pd_req_stream_begin(pd_req *r, void (*on_close)(pd_stream *s, void *ud), void *ud);
pd_stream *pd_req_ws_accept(pd_req *r, void (*on_close)(pd_stream *s, void *ud), void *ud);
/* A long-lived stream of another content type (a camera's multipart/x-mixed-replace MJPEG),
 * held like an event stream (bounded backlog, no send timeout) but never gzipped: what it
 * carries is compressed already. */
pd_stream *pd_req_stream_begin_as(pd_req *r, const char *content_type,
                                  void (*on_close)(pd_stream *s, void *ud), void *ud);
/* SSE, streamed reply: queues bytes. WebSocket: queues one text message. An error means the client is being
 * dropped (on_close runs once it is gone): PD_ERR_TOOBIG over the backlog, PD_ERR_NOMEM. */
pd_err pd_stream_write(pd_stream *s, const char *data, size_t len);
/* A held stream queues what is written (gzipped without a flush) and sends it at the next
 * pd_stream_flush: many small writes, one socket write and one gzip flush. The backlog and
 * pd_stream_write's errors are as ever. */
void pd_stream_hold(pd_stream *s, bool hold);
pd_err pd_stream_flush(pd_stream *s);
size_t pd_stream_queued(const pd_stream *s);
/* fn runs each time the queue has been handed to the socket in full, so a writer can send a
 * burst larger than the backlog (an initial snapshot) in bounded steps. ud is on_close's. */
void pd_stream_on_drain(pd_stream *s, void (*fn)(pd_stream *s, void *ud));
/* WebSocket: fn gets each text message from the client, fragments joined (data is
 * NUL-terminated; binary messages are ignored). A message over 64 KiB closes the connection
 * with 1009. ud is on_close's. */
void pd_stream_on_message(pd_stream *s,
                          void (*fn)(pd_stream *s, const char *data, size_t len, void *ud));
/* --- streamed replies -------------------------------------------------------------------
 * A reply too big to build in memory (a list or export of 100,000 spools): status 200, the
 * headers added so far and content_type go out first, without a Content-Length, then produce
 * runs each time what it queued has gone to the socket, and queues the next piece with
 * pd_stream_write. Each call runs inside one loop turn, so it queues a bounded piece (a few
 * hundred rows); after the last one it calls pd_stream_end. HTTP/1.1 ends the body by closing
 * the connection, h2 by ending its stream; HEAD sends the headers only and never calls produce.
 * A client that takes no piece for 30 s is dropped. on_close runs once when the reply is over,
 * finished or cut off: the producer's state is freed there (or, when produce gives up with
 * pd_stream_close, by produce itself). NULL when PD_HTTP_REPLY_STREAMS replies are already
 * streaming (or the client is gone): the request is untouched, answer it with an error. */
#define PD_HTTP_REPLY_STREAMS 16
pd_stream *pd_req_reply_stream(pd_req *r, const char *content_type,
                               void (*produce)(pd_stream *s, void *ud),
                               void (*on_close)(pd_stream *s, void *ud), void *ud);
/* The body is complete once what is queued has been sent; produce is not called again. */
void pd_stream_end(pd_stream *s);

/* Ends the stream from the server side and closes its connection (a WebSocket with close
 * code 1000); what is still queued is dropped, on_close does not run and `s` must not be used
 * after this call. */
void pd_stream_close(pd_stream *s);

#endif
