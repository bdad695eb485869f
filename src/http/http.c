/* The HTTP server: libwebsockets 4.1 driven by the daemon's libuv loop (docs/http.md).
 *
 * lws parses HTTP/1.1 (and h2c) and WebSocket frames, owns the sockets and calls http_cb.
 * Everything above the wire is here: one pd_req per request (routing, access rules, auth,
 * body capping, JSON replies), written back in HTTP_CHUNK pieces, one per WRITEABLE (the
 * first at once when the handler answered inside the request's callback), so a slow reader
 * never makes lws buffer a whole large response; and streams (SSE, WebSocket) with a bounded
 * queue per client. A WebSocket handshake is a pd_req too, routed by method "WS", so it goes
 * through the same rules before its handler accepts or refuses it. */
#include "http/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libwebsockets.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/jw.h"
#include "core/log.h"
#include "http/access.h"
#include "http/chunked.h"
#include "http/router.h"
#include "http/site.h"

#define HTTP_PROTOCOL "pd-http"
/* One lws_write per WRITEABLE, large enough that a typical reply leaves in one write: each
 * extra piece costs a loop turn. 100 printers (90 KB) ran at 0.29× nginx in 32 KB pieces and
 * ~1.2× in 128 KB ones; 1,000 spools (490 KB) at 0.31× in 128 KB pieces and 1.27× in 1 MB.
 * What the kernel does not take lws keeps: at most one piece per slow reader, no more than
 * the reply the request holds anyway. */
#define HTTP_CHUNK (1 << 20)
#define HTTP_HDR_MAX 2048
#define HTTP_XHDR_MAX 1024   /* pd_req_add_header: names and values */
#define HTTP_ARG_MAX 1024
#define HTTP_TOKEN_MAX 512
#define HTTP_NAME_MAX 256    /* Host, Origin: a DNS name is at most 253 bytes */
#define HTTP_LIST_MAX 512    /* cors_origins, allowed_hosts */
/* A WebSocket message from a client is reassembled up to this (clients send only tiny health
 * checks); past it the connection is closed with 1009. */
#define HTTP_WS_MSG_MAX 65536
/* How long a WebSocket closed by the server may take to become writable for its close frame
 * (lws then bounds the wait for the client's answer). */
#define HTTP_WS_CLOSE_S 5

/* The request head: lws 4.1 keeps it in a buffer of HTTP_HEAD_BUF per connection and hangs up,
 * without a status, on a head that does not fit. Below that the target and each header are
 * held to the bounds nginx uses (large_client_header_buffers, 8 KB), answered 414 and 431. */
#define HTTP_HEAD_BUF 16384
#define HTTP_TARGET_MAX 8192
#define HTTP_FIELD_MAX 8192
/* A body must keep up HTTP_BODY_RATE bytes/s on average after HTTP_BODY_GRACE_S (1 MiB: 74 s):
 * lws restarts its own timeout at every piece, so a body trickled a byte at a time would hold
 * its connection and its buffer for ever. Checked every HTTP_BODY_TICK_MS. */
#define HTTP_BODY_GRACE_S 10
#define HTTP_BODY_RATE (16 * 1024)
#define HTTP_BODY_TICK_MS 1000
/* A declared body is allocated up to this at once, the rest as it arrives: a client that
 * declares a large body and sends nothing pins no more. */
#define HTTP_BODY_PREALLOC (64 * 1024)
#define HTTP_IDLE_DEFAULT_S 60

/* How long a client may take to accept the next chunk of a reply before it is dropped. */
#define HTTP_SEND_TIMEOUT_S 30
/* An oversized body up to this size is read and dropped before the 413 goes out: closing on
 * a client still sending makes the kernel reset the connection, and the client then sees a
 * reset instead of the answer (nginx's lingering close, for the same reason). */
#define HTTP_DISCARD_MAX (16 << 20)
/* Upper bound on a handler that neither replies nor gets aborted, unless opts.handler_timeout_s
 * or the handler (pd_req_wait) says otherwise: the connection is closed (on_abort runs).
 * Printer commands time out long before this. */
#define HTTP_HANDLER_TIMEOUT_S 120
/* uploads at once when opts.max_uploads is 0 */
#define HTTP_UPLOADS_DEFAULT 4
/* pd_http_stop waits this long for lws to release the loop before giving up on freeing it. */
#define HTTP_REAP_LIMIT_MS 10000
#define HTTP_MAX_LWS_HANDLES 8
/* Buffers of big replies are kept for the next big reply instead of freed (spare_put): a
 * 580 KB list served from the cache then costs a copy, not a fresh mapping faulted in page by
 * page (9,400 req/s instead of 2,700). At most HTTP_SPARES of them, none over
 * HTTP_SPARE_MAX, all freed after HTTP_SPARE_IDLE_MS without a big reply. */
#define HTTP_SPARE_MIN (128 * 1024)   /* main.c's mmap threshold: smaller ones come from the heap */
#define HTTP_SPARE_MAX (4u << 20)
#define HTTP_SPARES 4
#define HTTP_SPARE_IDLE_MS 5000
/* A reply past this is refused (pd_req_reply_alloc fails), so a runaway handler cannot take
 * all memory. The largest reply, an inventory export, is bounded alike: an import reads no
 * file over 256 MiB. */
#define HTTP_REPLY_MAX (256u << 20)
/* What a streamed reply may have queued: its producer adds a batch of rows per drain, so this
 * only stops one that forgets to wait for the drain. */
#define HTTP_REPLY_QUEUE_MAX (8u << 20)
/* What the producers of streamed replies and event snapshots may spend in one loop turn. One
 * batch of rows is a few milliseconds; sixteen exports whose sockets all drained in the same
 * turn would hold the loop for sixteen batches, so past this the rest produce next turn. */
#define HTTP_PRODUCE_BUDGET_NS (10u * 1000 * 1000)
/* Replies and streams of text are gzipped for clients that accept it: a farm's live printer
 * events are ~0.5 MB/s of JSON at 200 printers, and a phone on a slow network cannot keep up
 * with that uncompressed. Replies under GZ_MIN are sent as they are. A stream's compressor
 * keeps a 4 KiB window and small tables (GZ_WINDOW_BITS, GZ_MEM_LEVEL: 32 KiB a client by
 * zlib.h's deflateInit2 formula). Measured on 10 s of a 200-printer event stream, each event
 * flushed: level 6 makes it 6.5 times smaller at 60 MB/s of one core, level 1 4.2 times at
 * 78 MB/s. A larger window gains little: 8.0 times at 128 KiB a client. */
#define GZ_MIN 1024
#define GZ_LEVEL 6
#define GZ_WINDOW_BITS 12
#define GZ_MEM_LEVEL 5
#define GZ_PIECE 16384

typedef struct conn conn;


typedef enum req_state {
    REQ_BODY,      /* reading the request body */
    REQ_HANDLING,  /* the handler has it; an async handler replies later */
    REQ_REPLYING,  /* reply queued, written one chunk per WRITEABLE */
    REQ_STREAM,    /* long-lived event stream or WebSocket */
} req_state;

/* A WebSocket queue holds one record per message: its length, LWS_PRE bytes where lws writes
 * the frame header, then the payload, so each message is written in place. */
#define WS_REC_HDR (sizeof(size_t) + LWS_PRE)

struct pd_stream {
    void (*on_close)(pd_stream *s, void *ud);
    void (*on_drain)(pd_stream *s, void *ud);
    void (*on_message)(pd_stream *s, const char *data, size_t len, void *ud);
    void *ud;
    pd_buf q;          /* LWS_PRE headroom, qoff bytes already sent, then the queue (qlen) */
    size_t qoff, qlen;
    bool dropped;      /* over the backlog or closed by the server: the connection is going */
    bool ws;           /* a WebSocket handshake or connection; the queue holds messages */
    bool open;         /* WebSocket: the handshake is done, so writes may be asked for */
    bool closing;      /* WebSocket closed by the server: the close starts at WRITEABLE */
    bool close_sent;   /* ... and lws has taken it over */
    bool rx_active;    /* WebSocket: inside a message from the client */
    bool rx_skip;      /* ... a binary one, or one nobody listens to */
    bool reply;        /* a streamed reply: on_drain produces the body, pd_stream_end ends it */
    bool ended;        /* ... its producer has queued the last piece */
    bool finished;     /* ... the body is complete on the wire: HTTP/1.1 closes next */
    pd_buf rx;         /* the text message being reassembled */
    z_stream *gz;      /* the body gzipped as it is queued (event streams, streamed replies) */
    bool held;         /* pd_stream_hold: queued, written at the next pd_stream_flush */
    bool unflushed;    /* ... and gzip holds some of it back until then */
};

struct pd_req {
    pd_http *h;
    conn *c;                /* NULL once the client has gone */
    req_state state;
    const char *method;
    const char *path;
    pd_route_match match;
    const char *params[PD_ROUTER_MAX_PARAMS];
    pd_buf body;
    uint64_t body_max;         /* max_body, or max_upload on a PD_ROUTE_UPLOAD route */
    int body_fd;               /* an upload's temporary file, -1 otherwise */
    bool upload_slot;          /* counted in h->nuploads until freed */
    uint64_t body_len;         /* ... bytes written to it */
    json_t *json;
    void (*on_abort)(void *ud);
    void *abort_ud;
    /* reply: LWS_PRE headroom then the body, so each chunk can be written in place (h2 puts
     * its frame header in the bytes before the chunk, which are already sent) */
    pd_buf out;
    size_t out_off;
    int status;
    char ctype[64];
    bool close_after;       /* the request body was not read: the connection cannot be reused */
    bool discard;           /* an oversized body being read and dropped before the 413 */
    bool headers_sent;
    uint64_t body_deadline_ms; /* while the body is read: when it must be complete */
    bool chunked;              /* the body comes in chunks, decoded by chunk */
    pd_chunked chunk;
    char xhdr[HTTP_XHDR_MAX]; /* pd_req_add_header: "name:\0value\0" pairs, names lower case */
    size_t xhdr_len;
    pd_stream stream;
    pd_ident ident;         /* who sent it: req_authorized */
    char strings[];         /* the path, then the parameter values */
};

/* The lws user data of one connection (externally allocated, so lws keeps it across the
 * protocol re-binds it does around every transaction). */
struct conn {
    pd_http *h;
    struct lws *wsi;
    pd_req *req;            /* the request in progress; HTTP/1.1 has one at a time */
    conn *prev, *next;      /* pd_http's list: per-address counts, body deadlines */
    pd_access_ip addr;      /* the peer, when the wsi has a socket of its own */
    bool has_addr;
    bool deferred;          /* its stream's producer waits for the next turn's budget */
    conn *defer_next;       /* ... in the order they were deferred (pd_http's defer queue) */
};

struct pd_http {
    uv_loop_t *loop;
    struct lws_context *ctx;
    pd_http_opts opts;
    char listen[128];
    int port;
    pd_router router;
    /* access rules, parsed by pd_http_set_access */
    pd_access_nets trusted;
    char cors_origins[HTTP_LIST_MAX];
    char allowed_hosts[HTTP_LIST_MAX];
    size_t nconns;
    conn *conns;
    int per_address;        /* connections one address may hold */
    pd_access_ip accept_addr; /* the connection just let in, until lws creates its wsi */
    bool accepting;
    lws_retry_bo_t idle;    /* WebSocket ping and hang-up times; lws keeps a pointer */
    uv_timer_t body_timer;  /* runs while a request body is being read */
    size_t nreply_streams;      /* streamed replies in progress: PD_HTTP_REPLY_STREAMS at most */
    size_t nuploads;            /* PD_ROUTE_UPLOAD requests from head to free: max_uploads */
    uint64_t produce_ns;        /* producers' time since the loop last waited for I/O */
    uv_prepare_t turn;          /* zeroes produce_ns just before each wait: one turn, one budget */
    size_t ndeferred;           /* conns whose producer waits; resume runs while there are */
    conn *defer_head, **defer_tail; /* those conns, first deferred first: none waits forever */
    uv_idle_t resume;
    /* lws's own timers/idlers on our loop: the context may be freed once they are gone */
    uv_handle_t *lws_handles[HTTP_MAX_LWS_HANDLES];
    size_t n_lws_handles;
    uv_prepare_t reaper;
    uint64_t stop_ms;
    pd_buf spare[HTTP_SPARES];  /* reply buffers kept for the next big reply; empty or reset */
    uint64_t spare_used_ms;
    uv_timer_t spare_timer;
    bool stopping;
};

static void spares_free(pd_http *h)
{
    for (int i = 0; i < HTTP_SPARES; i++)
        pd_buf_free(&h->spare[i]);
}

static void spares_idle(uv_timer_t *t)
{
    pd_http *h = t->data;
    uint64_t idle = uv_now(h->loop) - h->spare_used_ms;
    if (idle >= HTTP_SPARE_IDLE_MS)
        spares_free(h);
    else
        uv_timer_start(t, spares_idle, HTTP_SPARE_IDLE_MS - idle, 0);
}

/* Keeps a reply buffer for the next big reply, or frees it. */
static void spare_put(pd_http *h, pd_buf b)
{
    pd_buf_reset(&b);
    size_t cap = pd_buf_room(&b);
    int slot = -1;
    if (cap >= HTTP_SPARE_MIN && cap <= HTTP_SPARE_MAX && !h->stopping)
        for (int i = 0; i < HTTP_SPARES && slot < 0; i++)
            if (!pd_buf_ptr(&h->spare[i]))
                slot = i;
    if (slot < 0) {
        pd_buf_free(&b);
        return;
    }
    h->spare[slot] = b;
    h->spare_used_ms = uv_now(h->loop);
    if (!uv_is_active((uv_handle_t *)&h->spare_timer))
        uv_timer_start(&h->spare_timer, spares_idle, HTTP_SPARE_IDLE_MS, 0);
}

/* Swaps the smallest spare that holds `need` bytes into *out, whose buffer goes back to the
 * pool; leaves *out alone if none does. */
static void spare_take(pd_http *h, size_t need, pd_buf *out)
{
    int best = -1;
    for (int i = 0; i < HTTP_SPARES; i++)
        if (pd_buf_ptr(&h->spare[i]) && pd_buf_room(&h->spare[i]) >= need &&
            (best < 0 || pd_buf_room(&h->spare[i]) < pd_buf_room(&h->spare[best])))
            best = i;
    if (best < 0)
        return;
    pd_buf old = *out;
    *out = h->spare[best];
    pd_buf_init(&h->spare[best], 0);
    h->spare_used_ms = uv_now(h->loop);
    spare_put(h, old);
}

/* --- gzip ---------------------------------------------------------------------------------- */

/* Whether the client takes gzip for this request's body (never for HEAD: its Content-Length
 * would have to be the compressed one). */
static bool gz_wanted(pd_req *r)
{
    char ae[HTTP_TOKEN_MAX];
    return strcmp(r->method, "HEAD") && pd_site_accepts(pd_req_header(r, "accept-encoding", ae, sizeof ae), "gzip");
}

static z_stream *gz_new(int window_bits, int mem_level)
{
    z_stream *z = calloc(1, sizeof *z);
    if (z && deflateInit2(z, GZ_LEVEL, Z_DEFLATED, 16 + window_bits, mem_level, Z_DEFAULT_STRATEGY) != Z_OK) {
        free(z);
        z = NULL;
    }
    return z;
}

static void gz_free(z_stream **z)
{
    if (*z) {
        deflateEnd(*z);
        free(*z);
        *z = NULL;
    }
}

static void req_free(pd_req *r)
{
    if (r->stream.reply)
        r->h->nreply_streams--;
    json_decref(r->json);
    pd_buf_free(&r->body);
    if (r->body_fd >= 0)
        close(r->body_fd);
    if (r->upload_slot)
        r->h->nuploads--;
    spare_put(r->h, r->out);
    pd_buf_free(&r->stream.q);
    pd_buf_free(&r->stream.rx);
    gz_free(&r->stream.gz);
    free(r);
}

/* The reply body's length: the buffer holds LWS_PRE bytes of headroom before it. */
static size_t reply_len(const pd_req *r)
{
    return pd_buf_len(&r->out) ? pd_buf_len(&r->out) - LWS_PRE : 0;
}

/* --- replies -------------------------------------------------------------------------- */

static bool req_can_reply(pd_req *r)
{
    if (r->state == REQ_BODY || r->state == REQ_HANDLING)
        return true;
    pd_warn("http", "%s %s: second reply ignored", r->method, r->path);
    return false;
}

static bool has_header(const pd_req *r, const char *lower_name)
{
    for (const char *x = r->xhdr; x < r->xhdr + r->xhdr_len;) {
        const char *v = x + strlen(x) + 1;
        if (!strncmp(x, lower_name, strlen(lower_name)) && x[strlen(lower_name)] == ':')
            return true;
        x = v + strlen(v) + 1;
    }
    return false;
}

/* A whole reply of JSON or text, gzipped in one go when that is worth it; as it was built
 * when anything fails (the reply is correct either way). */
static void reply_gzip(pd_req *r)
{
    size_t len = reply_len(r);
    if (len < GZ_MIN || r->status != 200 || has_header(r, "content-encoding") ||
        (strncmp(r->ctype, "application/json", 16) && strncmp(r->ctype, "text/", 5)) || !gz_wanted(r))
        return;
    z_stream *z = gz_new(15, 8);  /* freed below: the full window costs nothing that stays */
    pd_buf out;
    pd_buf_init(&out, HTTP_REPLY_MAX);
    char *at = z ? pd_buf_extend(&out, LWS_PRE + deflateBound(z, len)) : NULL;
    if (at) {
        z->next_in = (Bytef *)pd_buf_ptr(&r->out) + LWS_PRE;
        z->avail_in = (uInt)len;
        z->next_out = (Bytef *)at + LWS_PRE;
        z->avail_out = (uInt)(pd_buf_len(&out) - LWS_PRE);
    }
    if (at && len <= UINT_MAX && deflate(z, Z_FINISH) == Z_STREAM_END) {
        pd_buf_cut(&out, LWS_PRE + z->total_out, pd_buf_len(&out) - LWS_PRE - z->total_out);
        spare_put(r->h, r->out);
        r->out = out;
        pd_req_add_header(r, "Content-Encoding", "gzip");
        pd_req_add_header(r, "Vary", "Accept-Encoding");
    } else {
        pd_buf_free(&out);
    }
    gz_free(&z);
}

static void req_queue(pd_req *r, int status, const char *ctype)
{
    r->status = status;
    snprintf(r->ctype, sizeof r->ctype, "%s", ctype ? ctype : "");
    if (r->c)
        reply_gzip(r);
    r->state = REQ_REPLYING;
    if (!r->c) {
        req_free(r);  /* late reply to a client that went away */
        return;
    }
    lws_callback_on_writable(r->c->wsi);
}

char *pd_req_reply_alloc(pd_req *r, size_t len)
{
    size_t need = LWS_PRE + len;
    pd_buf_reset(&r->out);
    if (need < len)
        return NULL;
    if (need >= HTTP_SPARE_MIN && need > pd_buf_room(&r->out))
        spare_take(r->h, need, &r->out);
    char *p = pd_buf_extend(&r->out, need);
    return p ? p + LWS_PRE : NULL;
}

void pd_req_reply_commit(pd_req *r, int status, const char *content_type)
{
    if (req_can_reply(r))
        req_queue(r, status, content_type);
}

void pd_req_reply_raw(pd_req *r, int status, const char *content_type, const char *body,
                      size_t len)
{
    if (!req_can_reply(r))
        return;
    char *out = pd_req_reply_alloc(r, len);
    if (!out) {
        req_queue(r, pd_err_http_status(PD_ERR_NOMEM), NULL);
        return;
    }
    if (len)
        memcpy(out, body, len);
    req_queue(r, status, content_type);
}

void pd_req_reply_site(pd_req *r, const pd_http_site *site)
{
    char ae[HTTP_TOKEN_MAX], inm[HTTP_TOKEN_MAX];
    pd_site_pick p;
    if (pd_site_pick_file(site, r->path, strlen(r->path),
                          pd_req_header(r, "accept-encoding", ae, sizeof ae), &p)) {
        pd_req_reply_error(r, PD_ERR_NOTFOUND, "no such file: %.*s", pd_jw_utf8_cut(r->path, 200),
                           r->path);
        return;
    }
    pd_req_add_header(r, "Cache-Control",
                      p.file->immutable ? "public, max-age=31536000, immutable" : "no-cache");
    pd_req_add_header(r, "ETag", p.etag);
    if (p.file->gz || p.file->br)
        pd_req_add_header(r, "Vary", "Accept-Encoding");
    if (pd_req_header(r, "if-none-match", inm, sizeof inm) && pd_site_etag_match(inm, p.etag)) {
        pd_req_reply_raw(r, 304, NULL, NULL, 0);
        return;
    }
    if (p.encoding)
        pd_req_add_header(r, "Content-Encoding", p.encoding);
    pd_req_reply_raw(r, 200, p.file->ctype, (const char *)p.body, p.len);
}

void pd_req_reply_json(pd_req *r, int status, json_t *body)
{
    if (!req_can_reply(r)) {
        json_decref(body);
        return;
    }
    size_t len = body ? json_dumpb(body, NULL, 0, PD_JSON_FLAGS) : 0;
    char *out = len ? pd_req_reply_alloc(r, len) : NULL;
    if (!out) {
        json_decref(body);
        pd_buf_reset(&r->out);
        req_queue(r, pd_err_http_status(PD_ERR_NOMEM), NULL);
        return;
    }
    json_dumpb(body, out, len, PD_JSON_FLAGS);
    json_decref(body);
    req_queue(r, status, "application/json");
}

/* The one place an error becomes a response body: printdeck's shape, or Spoolman's on its
 * routes (what its clients parse: Moonraker shows "message", FastAPI's 422 is "detail"). */
static void reply_error(pd_req *r, pd_err e, const char *loc, const char *field_in, char *msg)
{
    bool spoolman = r->match.route && (r->match.route->flags & PD_ROUTE_SPOOLMAN);
    json_t *body;
    /* both may echo input cut anywhere; jansson refuses text that is not UTF-8, and the client
     * would get an empty 503 instead of its 4xx */
    char fbuf[256], *field = NULL;
    if (field_in) {
        snprintf(fbuf, sizeof fbuf, "%s", field_in);
        pd_jw_utf8_repair(field = fbuf);
    }
    pd_jw_utf8_repair(msg);
    if (spoolman && e == PD_ERR_FIELD) {
        /* Spoolman's loc is a path: "extra.tag" is ["body","extra","tag"] */
        json_t *where = json_pack("[s]", loc);
        for (const char *p = field; where && p && *p;) {
            size_t n = strcspn(p, ".");
            json_array_append_new(where, json_stringn(p, n));
            p += n + (p[n] == '.');
        }
        body = json_pack("{s:[{s:s,s:o,s:s}]}", "detail", "type", "value_error", "loc", where,
                         "msg", msg);
    } else if (spoolman) {
        body = json_pack("{s:s}", "message", msg);
    } else {
        body = json_pack("{s:{s:s,s:s}}", "error", "code", pd_err_code(e), "message", msg);
        if (body && field)
            json_object_set_new(json_object_get(body, "error"), "field", json_string(field));
    }
    pd_req_reply_json(r, pd_err_http_status(e), body);
}

void pd_req_reply_error(pd_req *r, pd_err e, const char *fmt, ...)
{
    char msg[512];
    if (fmt && *fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
    } else {
        snprintf(msg, sizeof msg, "%s", pd_strerror(e));
    }
    reply_error(r, e, "body", NULL, msg);
}

void pd_req_reply_field_error(pd_req *r, const char *loc, const char *field, const char *fmt, ...)
{
    char msg[512];
    int n = 0;
    if (field && (!r->match.route || !(r->match.route->flags & PD_ROUTE_SPOOLMAN)))
        n = snprintf(msg, sizeof msg, "%s: ", field);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
    va_end(ap);
    reply_error(r, PD_ERR_FIELD, loc, field, msg);
}

/* RFC 9110 token characters: what a header name may hold. */
static bool header_name_valid(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              strchr("!#$%&'*+-.^_`|~", *s)))
            return false;
    return true;
}

void pd_req_add_header(pd_req *r, const char *name, const char *value)
{
    size_t nlen = strlen(name), vlen = strlen(value);
    if (r->headers_sent || !header_name_valid(name) || strpbrk(value, "\r\n") ||
        nlen + vlen + 3 > sizeof r->xhdr - r->xhdr_len) {
        pd_warn("http", "%s %s: response header '%.64s' left out", r->method, r->path, name);
        return;
    }
    /* lws wants "name:"; lower case is what h2 requires and h1 does not mind */
    char *p = r->xhdr + r->xhdr_len;
    for (size_t i = 0; i < nlen; i++)
        p[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
    p[nlen] = ':';
    p[nlen + 1] = '\0';
    memcpy(p + nlen + 2, value, vlen + 1);
    r->xhdr_len += nlen + vlen + 3;
}

void pd_req_on_abort(pd_req *r, void (*fn)(void *ud), void *ud)
{
    r->on_abort = fn;
    r->abort_ud = ud;
}

void pd_req_wait(pd_req *r, int seconds)
{
    if (r->c && r->state == REQ_HANDLING)
        lws_set_timeout(r->c->wsi, PENDING_TIMEOUT_HTTP_CONTENT, seconds);
}

/* --- request accessors ------------------------------------------------------------------ */

void *pd_req_app(pd_req *r) { return r->h->opts.app; }
const char *pd_req_method(pd_req *r) { return r->method; }
const char *pd_req_path(pd_req *r) { return r->path; }

const char *pd_req_param(pd_req *r, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < r->match.nparams; i++)
        if (r->match.params[i].name_len == n && !memcmp(r->match.params[i].name, name, n))
            return r->params[i];
    return NULL;
}

const char *pd_req_query(pd_req *r, const char *name, char *buf, size_t buflen)
{
    char key[64], arg[HTTP_ARG_MAX];
    if (!r->c || (size_t)snprintf(key, sizeof key, "%s=", name) >= sizeof key)
        return NULL;
    const char *v = lws_get_urlarg_by_name(r->c->wsi, key, arg, (int)sizeof arg);
    if (!v || strlen(v) >= buflen)
        return NULL;
    memcpy(buf, v, strlen(v) + 1);
    return buf;
}

size_t pd_req_query_all(pd_req *r, char *buf, size_t buflen, const char **names,
                        const char **values, size_t max)
{
    size_t n = 0, used = 0;
    if (!r->c)
        return 0;
    for (int i = 0; n < max && used < buflen; i++) {
        int len = lws_hdr_copy_fragment(r->c->wsi, buf + used, (int)(buflen - used),
                                        WSI_TOKEN_HTTP_URI_ARGS, i);
        if (len < 0)
            break;
        char *arg = buf + used, *eq = strchr(arg, '=');
        used += (size_t)len + 1;
        if (!len)
            continue;
        if (eq)
            *eq = '\0';
        names[n] = arg;
        values[n++] = eq ? eq + 1 : "";
    }
    return n;
}

/* A header value of n bytes copied into buf, as RFC 9110 5.5 reads it: without the spaces and
 * tabs around it, and none at all when it holds a NUL (whatever follows the NUL would be
 * invisible to every check made on the string). */
static const char *header_value(char *buf, int n)
{
    if (strlen(buf) != (size_t)n)
        return NULL;
    while (n && (buf[n - 1] == ' ' || buf[n - 1] == '\t'))
        buf[--n] = '\0';
    size_t lead = strspn(buf, " \t");
    memmove(buf, buf + lead, (size_t)n - lead + 1);
    return buf;
}

const char *pd_req_header(pd_req *r, const char *name, char *buf, size_t buflen)
{
    if (!r->c || !buflen || buflen > INT_MAX)
        return NULL;
    struct lws *wsi = r->c->wsi;
    size_t nlen = strlen(name);
    /* lws keeps the headers it knows in token slots named "name:" and the rest as custom
     * headers with lower-cased names */
    for (int t = 0; t < _WSI_TOKEN_CLIENT_SENT_PROTOCOLS; t++) {
        const char *tn = (const char *)lws_token_to_string((enum lws_token_indexes)t);
        if (!tn || strlen(tn) != nlen + 1 || tn[nlen] != ':' || strncasecmp(tn, name, nlen))
            continue;
        int n = lws_hdr_total_length(wsi, (enum lws_token_indexes)t);
        if (n <= 0 || lws_hdr_copy(wsi, buf, (int)buflen, (enum lws_token_indexes)t) < 0)
            return NULL;
        return header_value(buf, n);
    }
    char lname[64];
    if (nlen + 2 > sizeof lname)
        return NULL;
    for (size_t i = 0; i < nlen; i++)
        lname[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
    lname[nlen] = ':';
    lname[nlen + 1] = '\0';
    int n = lws_hdr_custom_length(wsi, lname, (int)nlen + 1);
    if (n < 0 || lws_hdr_custom_copy(wsi, buf, (int)buflen, lname, (int)nlen + 1) < 0)
        return NULL;
    return header_value(buf, n);
}

const char *pd_req_body(pd_req *r, size_t *len)
{
    if (len)
        *len = pd_buf_len(&r->body);
    return pd_buf_len(&r->body) ? pd_buf_ptr(&r->body) : "";
}

int pd_req_body_file(pd_req *r, uint64_t *len)
{
    int fd = r->body_fd;
    *len = fd >= 0 ? r->body_len : 0;
    r->body_fd = -1;
    return fd;
}

json_t *pd_req_json(pd_req *r)
{
    if (r->json)
        return r->json;
    json_error_t e;
    json_t *j = json_loadb(pd_req_body(r, NULL), pd_buf_len(&r->body), JSON_REJECT_DUPLICATES, &e);
    if (!j) {
        /* jansson quotes the input "near '…'": cut that, a body may hold secrets */
        char *near = strstr(e.text, " near ");
        if (near)
            *near = '\0';
        pd_req_reply_error(r, PD_ERR_PARSE, "request body is not valid JSON: %s (line %d, column %d)",
                           e.text, e.line, e.column);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        pd_req_reply_error(r, PD_ERR_INVAL, "request body must be a JSON object");
        return NULL;
    }
    r->json = j;
    return j;
}

/* --- streams ------------------------------------------------------------------------------ */

static pd_req *stream_req(pd_stream *s)
{
    return (pd_req *)((char *)s - offsetof(pd_req, stream));
}

static void stream_gzip(pd_req *r);
static pd_err gz_put(pd_stream *s, const char *data, size_t len, int flush);

static pd_stream *stream_start(pd_req *r, void (*on_close)(pd_stream *s, void *ud), void *ud)
{
    r->state = REQ_STREAM;
    r->stream.on_close = on_close;
    r->stream.ud = ud;
    /* no idle timeout: the stream is meant to sit quietly (slow readers hit the backlog) */
    lws_set_timeout(r->c->wsi, NO_PENDING_TIMEOUT, 0);
    return &r->stream;
}

static pd_stream *stream_begin(pd_req *r, const char *content_type, bool gzip,
                               void (*on_close)(pd_stream *s, void *ud), void *ud)
{
    if (!r->c || r->stream.ws || !req_can_reply(r))
        return NULL;
    r->status = 200;
    snprintf(r->ctype, sizeof r->ctype, "%s", content_type);
    if (lws_get_network_wsi(r->c->wsi) != r->c->wsi)
        lws_http_mark_sse(r->c->wsi);  /* h2: also keeps the shared connection open */
    if (gzip)
        stream_gzip(r);
    pd_stream *s = stream_start(r, on_close, ud);
    lws_callback_on_writable(r->c->wsi);
    return s;
}

pd_stream *pd_req_stream_begin(pd_req *r, void (*on_close)(pd_stream *s, void *ud), void *ud)
{
    return stream_begin(r, "text/event-stream", true, on_close, ud);
}

pd_stream *pd_req_stream_begin_as(pd_req *r, const char *content_type,
                                  void (*on_close)(pd_stream *s, void *ud), void *ud)
{
    return stream_begin(r, content_type, false, on_close, ud);
}

pd_stream *pd_req_reply_stream(pd_req *r, const char *content_type,
                               void (*produce)(pd_stream *s, void *ud),
                               void (*on_close)(pd_stream *s, void *ud), void *ud)
{
    if (!r->c || r->stream.ws || r->h->nreply_streams >= PD_HTTP_REPLY_STREAMS ||
        !req_can_reply(r))
        return NULL;
    r->h->nreply_streams++;
    r->status = 200;
    snprintf(r->ctype, sizeof r->ctype, "%s", content_type);
    pd_stream *s = stream_start(r, on_close, ud);
    s->reply = true;
    s->on_drain = produce;
    s->ended = !strcmp(r->method, "HEAD");
    pd_buf_init(&s->q, LWS_PRE + HTTP_REPLY_QUEUE_MAX);  /* empty yet: only its bound changes */
    stream_gzip(r);
    /* unlike an event stream it must keep moving: each piece is timed like a reply's */
    lws_set_timeout(r->c->wsi, PENDING_TIMEOUT_HTTP_CONTENT, HTTP_SEND_TIMEOUT_S);
    lws_callback_on_writable(r->c->wsi);
    return s;
}

void pd_stream_end(pd_stream *s)
{
    pd_req *r = stream_req(s);
    if (s->gz && !s->dropped && !gz_put(s, "", 0, Z_FINISH))
        gz_free(&s->gz);
    s->ended = true;
    s->on_drain = NULL;
    if (r->c)
        lws_callback_on_writable(r->c->wsi);
}

pd_stream *pd_req_ws_accept(pd_req *r, void (*on_close)(pd_stream *s, void *ud), void *ud)
{
    if (!r->c || !r->stream.ws || r->state != REQ_HANDLING) {
        pd_warn("http", "%s %s: not a WebSocket handshake in progress", r->method, r->path);
        return NULL;
    }
    return stream_start(r, on_close, ud);  /* lws answers 101 when the handler returns */
}

/* The connection is closed asynchronously: lws may be inside this wsi's service right now.
 * A WebSocket being closed (rather than dropped) first gets a WRITEABLE for its close frame;
 * a dropped stream's WRITEABLE hangs up (send_stream, send_ws). It is asked for either way:
 * the timeout alone is met only when lws next services the connection, which a drop from a
 * libuv timer (a session's end) does not bring about. */
static void stream_drop(pd_req *r)
{
    pd_stream *s = &r->stream;
    s->dropped = true;
    pd_buf_free(&s->q);
    gz_free(&s->gz);
    s->qoff = s->qlen = 0;
    if (!r->c)
        return;
    lws_set_timeout(r->c->wsi, PENDING_TIMEOUT_USER_OK,
                    s->closing ? HTTP_WS_CLOSE_S : LWS_TO_KILL_ASYNC);
    lws_callback_on_writable(r->c->wsi);
}

/* Appends to the queue, within its backlog; past it the stream is dropped. */
static pd_err queue_put(pd_stream *s, const char *data, size_t len)
{
    pd_req *r = stream_req(s);
    size_t limit = s->reply ? HTTP_REPLY_QUEUE_MAX : (size_t)r->h->opts.sse_backlog;
    size_t need = s->ws ? WS_REC_HDR + len : len;
    if (s->dropped)
        return PD_ERR_TOOBIG;
    if (need < len || need > limit - s->qlen) {
        pd_info("http", "stream client dropped: %zu bytes queued, backlog is %zu", s->qlen, limit);
        stream_drop(r);
        return PD_ERR_TOOBIG;
    }
    if (s->qoff && need > pd_buf_room(&s->q)) {
        pd_buf_cut(&s->q, LWS_PRE, s->qoff);  /* what was sent makes room before growing */
        s->qoff = 0;
    }
    size_t head = pd_buf_len(&s->q) ? 0 : LWS_PRE;
    char *at = pd_buf_extend(&s->q, head + need);
    if (!at) {
        pd_err rc = pd_buf_err(&s->q);
        stream_drop(r);  /* better no stream than one with gaps */
        return rc;
    }
    at += head;
    if (s->ws) {
        memcpy(at, &len, sizeof len);
        at += WS_REC_HDR;
    }
    memcpy(at, data, len);
    s->qlen += need;
    /* a WebSocket still in its handshake is asked for writes once it is established */
    if (r->c && (!s->ws || s->open) && !s->held)
        lws_callback_on_writable(r->c->wsi);
    return PD_OK;
}

/* Deflates into the queue. Z_SYNC_FLUSH ends on a byte boundary, so everything written so
 * far decodes now (an event reaches the page whole, not when the next one pushes it out);
 * Z_FINISH ends the gzip member. */
static pd_err gz_put(pd_stream *s, const char *data, size_t len, int flush)
{
    unsigned char out[GZ_PIECE];
    z_stream *z = s->gz;
    if (len > UINT_MAX)
        return PD_ERR_TOOBIG;
    z->next_in = (Bytef *)data;
    z->avail_in = (uInt)len;
    do {
        z->next_out = out;
        z->avail_out = sizeof out;
        if (deflate(z, flush) == Z_STREAM_ERROR) {
            stream_drop(stream_req(s));
            return PD_ERR_INTERNAL;
        }
        size_t n = sizeof out - z->avail_out;
        pd_err rc = n ? queue_put(s, (const char *)out, n) : PD_OK;
        if (rc)
            return rc;
    } while (!z->avail_out);
    return PD_OK;
}

pd_err pd_stream_write(pd_stream *s, const char *data, size_t len)
{
    if (s->dropped)
        return PD_ERR_TOOBIG;
    if (!s->gz)
        return queue_put(s, data, len);
    s->unflushed = s->held;
    return gz_put(s, data, len, s->held ? Z_NO_FLUSH : Z_SYNC_FLUSH);
}

void pd_stream_hold(pd_stream *s, bool hold) { s->held = hold; }

pd_err pd_stream_flush(pd_stream *s)
{
    pd_req *r = stream_req(s);
    if (s->dropped)
        return PD_ERR_TOOBIG;
    pd_err rc = s->unflushed ? gz_put(s, "", 0, Z_SYNC_FLUSH) : PD_OK;
    s->unflushed = false;
    if (!rc && s->qlen && r->c && (!s->ws || s->open))
        lws_callback_on_writable(r->c->wsi);
    return rc;
}

/* An event stream or streamed reply is gzipped when the client takes it (never a WebSocket,
 * which would need its own extension for that, nor a video, compressed already). */
static void stream_gzip(pd_req *r)
{
    if (!strncmp(r->ctype, "video/", 6) || !gz_wanted(r) || !(r->stream.gz = gz_new(GZ_WINDOW_BITS, GZ_MEM_LEVEL)))
        return;
    pd_req_add_header(r, "Content-Encoding", "gzip");
    pd_req_add_header(r, "Vary", "Accept-Encoding");
}

size_t pd_stream_queued(const pd_stream *s) { return s->qlen; }

void pd_stream_on_drain(pd_stream *s, void (*fn)(pd_stream *s, void *ud)) { s->on_drain = fn; }

void pd_stream_on_message(pd_stream *s,
                          void (*fn)(pd_stream *s, const char *data, size_t len, void *ud))
{
    s->on_message = fn;
}

void pd_stream_close(pd_stream *s)
{
    pd_req *r = stream_req(s);
    s->on_close = NULL;
    s->on_drain = NULL;
    s->on_message = NULL;
    s->closing = s->ws && s->open;
    stream_drop(r);
}

/* --- writing -------------------------------------------------------------------------------- */

static int write_headers(pd_req *r, struct lws *wsi)
{
    unsigned char buf[LWS_PRE + HTTP_HDR_MAX], *start = buf + LWS_PRE, *p = start;
    unsigned char *end = buf + sizeof buf;
    bool stream = r->state == REQ_STREAM, sse = stream && !r->stream.reply && !r->stream.ws;
    bool h1 = lws_get_network_wsi(wsi) == wsi;  /* h2 forbids connection headers */
#define ADD_HDR(tok, val) \
    lws_add_http_header_by_token(wsi, tok, (const unsigned char *)(val), (int)strlen(val), &p, end)
    if (lws_add_http_header_status(wsi, (unsigned)r->status, &p, end) ||
        (r->ctype[0] && ADD_HDR(WSI_TOKEN_HTTP_CONTENT_TYPE, r->ctype)) ||
        (!stream && r->status != 204 && r->status != 304 &&
         lws_add_http_header_content_length(wsi, reply_len(r), &p, end)) ||
        (sse && ADD_HDR(WSI_TOKEN_HTTP_CACHE_CONTROL, "no-cache")) ||
        (r->status == 401 && ADD_HDR(WSI_TOKEN_HTTP_WWW_AUTHENTICATE, "Bearer")) ||
        (r->status == 405 && ADD_HDR(WSI_TOKEN_HTTP_ALLOW, r->match.allow)) ||
        (h1 && (stream || r->close_after) && ADD_HDR(WSI_TOKEN_CONNECTION, "close")))
        return -1;
#undef ADD_HDR
    for (const char *x = r->xhdr; x < r->xhdr + r->xhdr_len;) {
        const char *v = x + strlen(x) + 1;
        size_t vlen = strlen(v);
        if (lws_add_http_header_by_name(wsi, (const unsigned char *)x, (const unsigned char *)v,
                                        (int)vlen, &p, end))
            return -1;
        x = v + vlen + 1;
    }
    return lws_finalize_write_http_header(wsi, start, &p, end) ? -1 : 0;
}

static int send_reply(conn *c, pd_req *r)
{
    struct lws *wsi = c->wsi;
    if (!r->headers_sent) {
        if (write_headers(r, wsi))
            return -1;
        r->headers_sent = true;
    }
    /* HEAD: the headers of the reply (Content-Length included) without its body */
    size_t n = strcmp(r->method, "HEAD") ? reply_len(r) - r->out_off : 0;
    bool last = n <= HTTP_CHUNK;
    if (!last)
        n = HTTP_CHUNK;
    unsigned char empty[LWS_PRE + 1], *base = empty;
    if (pd_buf_len(&r->out))
        base = (unsigned char *)pd_buf_ptr(&r->out) + r->out_off;
    /* the last write carries FINAL even when empty: h2 ends the stream with it */
    if (lws_write(wsi, base + LWS_PRE, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) < (int)n)
        return -1;
    r->out_off += n;
    if (!last) {
        lws_set_timeout(wsi, PENDING_TIMEOUT_HTTP_CONTENT, HTTP_SEND_TIMEOUT_S);
        lws_callback_on_writable(wsi);
        return 0;
    }
    bool close = r->close_after;
    c->req = NULL;
    req_free(r);
    if (close)
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static void resume_deferred(uv_idle_t *idle);

/* A turn is the work between two waits for I/O (as loopstat counts it): idle callbacks
 * before the wait and I/O callbacks after it are one turn for a request that waits behind them,
 * so the budget is reset at the wait itself, not when uv_now moves (it moves inside a turn). */
static void turn_begin(uv_prepare_t *p)
{
    pd_http *h = p->data;
    h->produce_ns = 0;
}

/* Calls the stream's producer now, or, when this turn's budget is spent, at the next turn. */
static void stream_produce(conn *c, pd_stream *s)
{
    pd_http *h = c->h;
    if (h->produce_ns >= HTTP_PRODUCE_BUDGET_NS) {
        if (!c->deferred) {
            c->deferred = true;
            c->defer_next = NULL;
            *h->defer_tail = c;
            h->defer_tail = &c->defer_next;
            if (!h->ndeferred++)
                uv_idle_start(&h->resume, resume_deferred);
        }
        return;
    }
    uint64_t t0 = uv_hrtime();
    s->on_drain(s, s->ud);
    h->produce_ns += uv_hrtime() - t0;
}

static void undefer(pd_http *h, conn *c)
{
    if (!c->deferred)
        return;
    c->deferred = false;
    for (conn **pp = &h->defer_head; *pp; pp = &(*pp)->defer_next)
        if (*pp == c) {
            *pp = c->defer_next;
            if (h->defer_tail == &c->defer_next)
                h->defer_tail = pp;
            break;
        }
    if (!--h->ndeferred)
        uv_idle_stop(&h->resume);
}

/* An idle handle keeps the loop from waiting for I/O while producers wait: they resume at the
 * start of the next turn, first deferred first, as many as the budget allows. The rest wait
 * at the head of the queue and those served join its tail when they are deferred again, so
 * every stream gets its turn: served newest first, the oldest of seven exports once got no
 * piece for the 30 s a reply may stall, and its client saw the reply cut short. */
static void resume_deferred(uv_idle_t *idle)
{
    pd_http *h = idle->data;
    conn *c = h->defer_head, *last = h->defer_tail == &h->defer_head ? NULL
        : (conn *)((char *)h->defer_tail - offsetof(conn, defer_next));
    /* one pass over those waiting now; a conn deferred again in it goes behind `last` */
    while (c && h->produce_ns < HTTP_PRODUCE_BUDGET_NS) {
        bool end = c == last;
        undefer(h, c);
        pd_req *r = c->req;
        if (r && r->state == REQ_STREAM && r->stream.on_drain && !r->stream.dropped && !r->stream.qlen)
            stream_produce(c, &r->stream);
        if (end)
            break;
        c = h->defer_head;
    }
}

/* n bytes of the queue went to the socket: ask for the next WRITEABLE, or tell the writer
 * the queue is empty. */
static void stream_sent(conn *c, pd_stream *s, size_t n)
{
    s->qoff += n;
    s->qlen -= n;
    if (s->qlen) {
        lws_callback_on_writable(c->wsi);
    } else {
        pd_buf_cut(&s->q, LWS_PRE, s->qoff);
        s->qoff = 0;
        if (s->on_drain)
            stream_produce(c, s);
        else if (s->reply && s->ended)
            lws_callback_on_writable(c->wsi);  /* to end the body */
    }
}

/* The end of a streamed reply's body: h2 ends the stream and the connection goes on;
 * HTTP/1.1, which has no length to end it by, closes - at the next WRITEABLE, which lws gives
 * only once what the socket did not take yet has gone. */
static int reply_stream_finish(conn *c, pd_req *r)
{
    unsigned char empty[LWS_PRE + 1];
    if (r->stream.finished)
        return -1;
    if (lws_write(c->wsi, empty + LWS_PRE, 0, LWS_WRITE_HTTP_FINAL) < 0)
        return -1;
    if (lws_get_network_wsi(c->wsi) == c->wsi) {
        r->stream.finished = true;
        lws_callback_on_writable(c->wsi);
        return 0;
    }
    c->req = NULL;
    r->c = NULL;
    if (r->stream.on_close)
        r->stream.on_close(&r->stream, r->stream.ud);
    req_free(r);
    return lws_http_transaction_completed(c->wsi) ? -1 : 0;
}

static int send_stream(conn *c, pd_req *r)
{
    pd_stream *s = &r->stream;
    if (s->dropped)
        return -1;
    if (!r->headers_sent) {
        if (write_headers(r, c->wsi))
            return -1;
        r->headers_sent = true;
        lws_http_headers_detach(c->wsi);  /* nothing more to read: free the header buffer */
        if (s->reply && !s->ended)
            stream_produce(c, s);  /* the first piece; the next ones follow each drain */
        if (s->dropped)
            return -1;
    }
    if (!s->qlen)
        return s->reply && s->ended ? reply_stream_finish(c, r) : 0;
    size_t n = s->qlen < HTTP_CHUNK ? s->qlen : HTTP_CHUNK;
    if (lws_write(c->wsi, (unsigned char *)pd_buf_ptr(&s->q) + LWS_PRE + s->qoff, n, LWS_WRITE_HTTP) < (int)n)
        return -1;
    if (s->reply)
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_HTTP_CONTENT, HTTP_SEND_TIMEOUT_S);
    stream_sent(c, s, n);
    return 0;
}

/* One message per WRITEABLE, as lws wants; or the close of pd_stream_close. */
static int send_ws(conn *c, pd_req *r)
{
    pd_stream *s = &r->stream;
    if (s->closing) {
        /* lws 4.1 hangs up without a close frame when WRITEABLE returns -1 or a timeout
         * fires; a close it is asked for now sends the frame and waits for the answer
         * (lws's own timeout bounds that wait) */
        if (!s->close_sent) {
            s->close_sent = true;
            lws_close_reason(c->wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
            lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
        }
        return 0;
    }
    if (s->dropped)
        return -1;
    if (!s->qlen)
        return 0;
    unsigned char *rec = (unsigned char *)pd_buf_ptr(&s->q) + LWS_PRE + s->qoff;
    size_t len;
    memcpy(&len, rec, sizeof len);
    if (lws_write(c->wsi, rec + WS_REC_HDR, len, LWS_WRITE_TEXT) < (int)len)
        return -1;
    stream_sent(c, s, WS_REC_HDR + len);
    return 0;
}

/* A reply made inside this connection's own callback goes out at once on HTTP/1.1 rather
 * than a loop turn later (h2 streams write only when lws offers WRITEABLE). */
static int send_now(conn *c)
{
    if (c->req && c->req->state == REQ_REPLYING && lws_get_network_wsi(c->wsi) == c->wsi)
        return send_reply(c, c->req);
    return 0;
}

/* --- request lifecycle ---------------------------------------------------------------------- */

/* The client has gone (or the server is stopping): tell whoever waits on the request. */
static void conn_gone(conn *c)
{
    pd_req *r = c->req;
    if (!r)
        return;
    c->req = NULL;
    r->c = NULL;
    if (r->state == REQ_STREAM) {
        if (r->stream.on_close)
            r->stream.on_close(&r->stream, r->stream.ud);
    } else if (r->state == REQ_HANDLING) {
        if (!r->on_abort)
            return;  /* the handler still owns it; its late reply frees it */
        r->on_abort(r->abort_ud);
    }
    req_free(r);
}

static void dispatch(pd_req *r)
{
    r->state = REQ_HANDLING;
    lws_set_timeout(r->c->wsi, PENDING_TIMEOUT_HTTP_CONTENT,
                    r->h->opts.handler_timeout_s > 0 ? r->h->opts.handler_timeout_s : HTTP_HANDLER_TIMEOUT_S);
    r->match.route->fn(r);
    if (r->state == REQ_HANDLING && !r->on_abort)
        pd_warn("http", "%s %s: handler returned without replying or setting on_abort",
                r->method, r->path);
}

static bool peer_ip(pd_req *r, pd_access_ip *ip)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int fd = r->c ? lws_get_socket_fd(lws_get_network_wsi(r->c->wsi)) : -1;
    return fd >= 0 && !getpeername(fd, (struct sockaddr *)&ss, &sl) &&
           pd_access_ip_from_sockaddr((struct sockaddr *)&ss, ip);
}

/* Whether the socket's peer is in a trusted network (the proxy's address, behind one). */
static bool peer_trusted(pd_req *r)
{
    pd_access_ip ip;
    return r->h->trusted.n && peer_ip(r, &ip) && pd_access_nets_match(&r->h->trusted, &ip);
}

bool pd_req_spoolman_reader(pd_req *r) { return r->ident.kind != PD_IDENT_NONE || peer_trusted(r); }

const char *pd_req_peer(pd_req *r, char *buf, size_t buflen)
{
    pd_access_ip ip;
    static const uint8_t v4[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (!buflen)
        return buf;
    buf[0] = '\0';
    if (!peer_ip(r, &ip))
        return buf;
    bool mapped = !memcmp(ip.b, v4, sizeof v4);
    if (!inet_ntop(mapped ? AF_INET : AF_INET6, mapped ? ip.b + 12 : ip.b, buf, (socklen_t)buflen))
        buf[0] = '\0';
    return buf;
}

const pd_ident *pd_req_ident(pd_req *r) { return &r->ident; }

bool pd_req_secure(pd_req *r)
{
    char proto[16];
    if (r->c && lws_is_ssl(lws_get_network_wsi(r->c->wsi)))
        return true;
    return pd_req_header(r, "x-forwarded-proto", proto, sizeof proto) &&
           !strncasecmp(proto, "https", 5) && peer_trusted(r);
}

const char *pd_req_cookie(pd_req *r, const char *name, char *buf, size_t buflen)
{
    char hdr[HTTP_HDR_MAX];
    const char *h = pd_req_header(r, "cookie", hdr, sizeof hdr);
    return h ? pd_access_cookie(h, name, buf, buflen) : NULL;
}

static bool is_write(const char *method)
{
    return !strcmp(method, "POST") || !strcmp(method, "PUT") || !strcmp(method, "PATCH") ||
           !strcmp(method, "DELETE");
}

/* Constant time: the CSRF token is a secret the page proves it has read. */
static bool secret_equal(const char *a, const char *b)
{
    size_t n = strlen(a);
    if (!n || n != strlen(b))
        return false;
    unsigned char d = 0;
    for (size_t i = 0; i < n; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

/* The browser's host behind a proxy: the first X-Forwarded-Host, believed only from a proxy
 * in auth.trusted_networks (anyone else could name the origin it wants to pass for). */
static const char *forwarded_host(pd_req *r, char *buf, size_t len)
{
    if (!pd_req_header(r, "x-forwarded-host", buf, len) || !peer_trusted(r))
        return NULL;
    buf[strcspn(buf, ", ")] = '\0';
    return buf;
}

/* Whether the request's Origin, if any, is this host (not merely a listed CORS origin). */
static bool origin_same_site(pd_req *r)
{
    char origin[HTTP_NAME_MAX], host[HTTP_NAME_MAX], fwd[HTTP_NAME_MAX];
    const char *ov = pd_req_header(r, "origin", origin, sizeof origin);
    if (!ov)
        return true;
    const char *hv = pd_req_header(r, "host", host, sizeof host);
    const char *fh = forwarded_host(r, fwd, sizeof fwd);
    return (hv && pd_access_origin_same_host(ov, hv)) || (fh && pd_access_origin_same_host(ov, fh));
}

/* A write to an open route (setup, login, logout) has no credentials to prove it comes from
 * our own page. Another site's page can still send one: a form or a no-cors fetch, which
 * never carries application/json (that needs a CORS preflight) and whose Origin a browser
 * names. So: this host's Origin if any, and JSON or no body at all. */
static bool open_write_ok(pd_req *r)
{
    char ct[HTTP_NAME_MAX], cl[32], te[32];
    if (!origin_same_site(r))
        return false;
    const char *t = pd_req_header(r, "content-type", ct, sizeof ct);
    if (t)
        return !strncasecmp(t, "application/json", 16) && (!t[16] || t[16] == ';' || t[16] == ' ');
    const char *len = pd_req_header(r, "content-length", cl, sizeof cl);
    return (!len || !strcmp(len, "0")) && !pd_req_header(r, "transfer-encoding", te, sizeof te);
}

/* The least role the route needs (http.h: PD_ROUTE_VIEWER, PD_ROUTE_ADMIN). */
static pd_role route_role(const pd_req *r)
{
    unsigned flags = r->match.route->flags;
    if (flags & PD_ROUTE_ADMIN)
        return PD_ROLE_ADMIN;
    if (flags & PD_ROUTE_VIEWER)
        return PD_ROLE_VIEWER;
    return is_write(r->method) ? PD_ROLE_OPERATOR : PD_ROLE_VIEWER;
}

static const char *const role_names[] = {"nobody", "viewer", "operator", "admin"};

/* Who sent the request (r->ident), and whether that is enough for the route: OK, or the
 * error replied (401 without valid credentials, 403 for a role too low or a cookie on a write
 * that does not prove it comes from our page). */
static bool req_authorized(pd_req *r)
{
    const pd_http_opts *o = &r->h->opts;
    unsigned flags = r->match.route->flags;
    memset(&r->ident, 0, offsetof(pd_ident, printers));
    if (!o->auth_enabled) {
        r->ident.kind = PD_IDENT_OPEN;
        r->ident.role = PD_ROLE_ADMIN;
        return true;
    }
    bool api = !strncmp(r->path, "/api/v1", 7) && (!r->path[7] || r->path[7] == '/');
    if (!api && !(flags & PD_ROUTE_OPEN))
        return true;  /* the dashboard's files: the page itself asks who is there */
    char buf[HTTP_TOKEN_MAX], cookie[HTTP_TOKEN_MAX];
    const char *tok = NULL;
    if (pd_req_header(r, "authorization", buf, sizeof buf) && !strncasecmp(buf, "bearer ", 7)) {
        tok = buf + 7 + strspn(buf + 7, " \t");
    } else {
        tok = pd_req_header(r, "x-api-key", buf, sizeof buf);
    }
    if (tok && !*tok)
        tok = NULL;
    const char *sess = tok ? NULL : pd_req_cookie(r, PD_HTTP_SESSION_COOKIE, cookie, sizeof cookie);
    bool known = (tok || sess) && o->ident && o->ident(tok, sess, &r->ident, o->ident_ud) == PD_OK;
    if (!known)
        memset(&r->ident, 0, offsetof(pd_ident, printers));
    if ((flags & PD_ROUTE_OPEN) && is_write(r->method) && !open_write_ok(r)) {
        pd_req_reply_error(r, PD_ERR_FORBIDDEN, "Request refused: setup, sign-in and sign-out take "
                           "Content-Type: application/json from this site's own page");
        return false;
    }
    if (flags & PD_ROUTE_OPEN)
        return true;
    if (!known && (flags & PD_ROUTE_SPOOLMAN) && peer_trusted(r)) {
        /* Spoolman has no accounts: its clients on a trusted network may do what it allows */
        r->ident.kind = PD_IDENT_TRUSTED;
        r->ident.role = PD_ROLE_ADMIN;
        return true;
    }
    if (!known) {
        pd_req_reply_error(r, PD_ERR_AUTH, sess && !tok
                           ? "the session has expired or was ended: sign in again"
                           : "a valid token is required (Authorization: Bearer <token> or "
                             "X-Api-Key: <token>), or a session: sign in");
        return false;
    }
    if (r->ident.kind == PD_IDENT_SESSION && (r->stream.ws || is_write(r->method))) {
        /* a cookie goes with every request the browser makes, whoever's page asks it to: a
         * write with one must come from our own page (same origin, and the CSRF token only
         * our page can read), even from an origin cors_origins lists */
        char csrf[64];
        bool ok = origin_same_site(r) &&
                  (r->stream.ws || (pd_req_header(r, "x-csrf-token", csrf, sizeof csrf) &&
                                    secret_equal(csrf, r->ident.csrf)));
        if (!ok) {
            pd_req_reply_error(r, PD_ERR_FORBIDDEN, "Request refused: a write with a session "
                               "cookie must come from this site's own page (X-CSRF-Token)");
            return false;
        }
    }
    pd_role need = route_role(r);
    if (r->ident.role < need) {
        pd_req_reply_error(r, PD_ERR_FORBIDDEN, "this needs the %s role; %s has the %s role",
                           role_names[need], r->ident.name[0] ? r->ident.name : "this token",
                           role_names[r->ident.role]);
        return false;
    }
    return true;
}

/* A header lws keeps in a token slot; NULL when absent, and *over when present but longer than
 * buf (a guard must not read that as absent). */
static const char *header_token(pd_req *r, enum lws_token_indexes t, char *buf, size_t len,
                                bool *over)
{
    int n = lws_hdr_total_length(r->c->wsi, t);
    *over = false;
    if (n <= 0)
        return NULL;
    if ((size_t)n >= len || lws_hdr_copy(r->c->wsi, buf, (int)len, t) < 0) {
        *over = true;
        return NULL;
    }
    return buf;
}

/* CORS for a listed origin; a preflight is answered here. */
static void cors_headers(pd_req *r, const char *origin, bool preflight)
{
    pd_req_add_header(r, "Access-Control-Allow-Origin", origin);
    pd_req_add_header(r, "Vary", "Origin");
    if (!preflight) {
        pd_req_add_header(r, "Access-Control-Expose-Headers", "X-Total-Count");
        return;
    }
    char want[HTTP_NAME_MAX];
    pd_req_add_header(r, "Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS");
    if (pd_req_header(r, "access-control-request-headers", want, sizeof want))
        pd_req_add_header(r, "Access-Control-Allow-Headers", want);
    pd_req_add_header(r, "Access-Control-Max-Age", "600");
}

/* The rules that hold whatever the route (docs/http.md, "Access rules"): the Host guard
 * against DNS rebinding, CORS, and the Origin guard on writes and handshakes. False when a
 * reply has been queued instead: a refusal or a preflight. */
static bool req_access(pd_req *r)
{
    const pd_http *h = r->h;
    char host[HTTP_NAME_MAX], origin[HTTP_NAME_MAX], fwd[HTTP_NAME_MAX];
    bool over;
    const char *hv = header_token(r, WSI_TOKEN_HOST, host, sizeof host, &over);
    if (!hv && !over)
        hv = header_token(r, WSI_TOKEN_HTTP_COLON_AUTHORITY, host, sizeof host, &over);
    /* a proxy's X-Forwarded-Host names the host the browser asked for: it must be one we
     * serve too, whoever sent it (refusing never trusts anyone) */
    char *fh = pd_req_header(r, "x-forwarded-host", fwd, sizeof fwd) ? fwd + strspn(fwd, " \t") : NULL;
    if (fh) {
        size_t n = strcspn(fh, ",");
        while (n && (fh[n - 1] == ' ' || fh[n - 1] == '\t'))
            n--;
        fh[n] = '\0';
    }
    const char *bad = over ? "(too long)" : !pd_access_host_allowed(hv, h->allowed_hosts, h->cors_origins) ? hv
                    : fh && *fh && !pd_access_host_allowed(fh, h->allowed_hosts, h->cors_origins) ? fh : NULL;
    if (bad) {
        /* Spoolman refuses a handshake with 403, the status its clients know */
        pd_req_reply_error(r, r->stream.ws ? PD_ERR_FORBIDDEN : PD_ERR_INVAL, "Request refused: host %.*s is "
                           "not allowed (server.allowed_hosts)", pd_jw_utf8_cut(bad, 100), bad);
        return false;
    }
    const char *ov = header_token(r, WSI_TOKEN_ORIGIN, origin, sizeof origin, &over);
    if (!ov && !over)
        return true;  /* not a browser: Moonraker, Home Assistant, scripts */
    bool listed = ov && pd_access_origin_listed(ov, h->cors_origins);
    char method[16];
    bool preflight = listed && !strcmp(r->method, "OPTIONS") &&
                     pd_req_header(r, "access-control-request-method", method, sizeof method);
    if (listed)
        cors_headers(r, ov, preflight);
    if (preflight) {
        pd_req_reply_raw(r, 204, NULL, NULL, 0);
        return false;
    }
    bool guarded = r->stream.ws || !strcmp(r->method, "POST") || !strcmp(r->method, "PUT") ||
                   !strcmp(r->method, "PATCH") || !strcmp(r->method, "DELETE");
    if (!guarded || listed)
        return true;
    const char *trusted_fh = forwarded_host(r, fwd, sizeof fwd);
    if (ov && (pd_access_origin_same_host(ov, hv) || (trusted_fh && pd_access_origin_same_host(ov, trusted_fh))))
        return true;
    const char *echo = over ? "(too long)" : ov;
    pd_req_reply_error(r, PD_ERR_FORBIDDEN, "Request refused: origin %.*s is not allowed "
                       "(server.cors_origins)", pd_jw_utf8_cut(echo, 100), echo);
    return false;
}

static const struct {
    enum lws_token_indexes tok;
    const char *name;
    bool body;  /* lws reads a body for it (POST/PATCH/PUT) */
} http_methods[] = {
    {WSI_TOKEN_GET_URI, "GET", false},       {WSI_TOKEN_POST_URI, "POST", true},
    {WSI_TOKEN_PATCH_URI, "PATCH", true},    {WSI_TOKEN_PUT_URI, "PUT", true},
    {WSI_TOKEN_DELETE_URI, "DELETE", false}, {WSI_TOKEN_OPTIONS_URI, "OPTIONS", false},
    {WSI_TOKEN_HEAD_URI, "HEAD", false},
};

/* Whether lws will deliver HTTP_BODY_COMPLETION: it reads a body for POST/PATCH/PUT with a
 * Content-Length, and completes a POST with an explicit 0 at once. Without a length there is
 * no body (RFC 9112 6.3): lws reads none, and the request is handled as it is. */
static bool body_expected(size_t mi, long long clen)
{
    return http_methods[mi].body &&
           (clen > 0 || (clen == 0 && http_methods[mi].tok == WSI_TOKEN_POST_URI));
}

/* One Content-Length field value into *len: digits, or a list of the same digits ("42, 42"),
 * which RFC 9110 8.6 lets a recipient take as one; it must also agree with *len when that is
 * already set (the field repeated). */
static bool clen_parse(const char *s, long long *len)
{
    long long v = -1;
    while (*s) {
        s += strspn(s, " \t");
        if (*s < '0' || *s > '9')
            return false;
        long long x = 0;
        for (; *s >= '0' && *s <= '9'; s++) {
            if (x > (LLONG_MAX - 9) / 10)
                return false;
            x = x * 10 + (*s - '0');
        }
        s += strspn(s, " \t");
        if (*s == ',')
            s++;
        else if (*s)
            return false;
        if (v >= 0 && x != v)
            return false;
        v = x;
    }
    if (v < 0 || (*len >= 0 && *len != v))
        return false;
    *len = v;
    return true;
}

/* The request body's framing (RFC 9112 6): *len is its Content-Length, -1 for none, and
 * *chunked says Transfer-Encoding: chunked. INVAL for a Content-Length that is not one number
 * (lws would read the first of two, or take -1 as a huge length) or that comes with
 * Transfer-Encoding (the smuggling case of RFC 9112 6.3); CODING for a transfer coding other
 * than chunked alone. */
static pd_err body_length(pd_req *r, long long *len, bool *chunked)
{
    struct lws *wsi = r->c->wsi;
    *len = -1;
    *chunked = false;
    char v[32];
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0) {
        if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0)
            return PD_ERR_INVAL;
        if (!pd_req_header(r, "transfer-encoding", v, sizeof v) || strcasecmp(v, "chunked"))
            return PD_ERR_CODING;
        *chunked = true;
        return PD_OK;
    }
    for (int i = 0; lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, i) > 0; i++)
        if (lws_hdr_copy_fragment(wsi, v, sizeof v, WSI_TOKEN_HTTP_CONTENT_LENGTH, i) < 0 ||
            !clen_parse(v, len))
            return PD_ERR_INVAL;
    return PD_OK;
}

/* An upload's file: unlinked from the start (O_TMPFILE, else mkstemp and unlink), so no
 * crash or abort can leave it behind. In the data directory rather than /tmp, which is often
 * a RAM disk on the small machines this runs on. */
static int spool_open(pd_http *h)
{
    const char *dir = h->opts.upload_dir && *h->opts.upload_dir ? h->opts.upload_dir : getenv("TMPDIR");
    if (!dir || !*dir)
        dir = "/tmp";
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
        return fd;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/.printdeck-upload-XXXXXX", dir);
    fd = mkostemp(path, O_CLOEXEC);
    if (fd >= 0)
        unlink(path);
    return fd;
}

/* Writes to an upload's file: page-cache writes, quick beside the socket read that brought
 * the bytes (nginx's client_body_temp does the same on its event loop). */
static pd_err spool_write(pd_req *r, const char *p, size_t n)
{
    if (n > r->body_max - r->body_len)
        return PD_ERR_TOOBIG;
    while (n) {
        ssize_t w = write(r->body_fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return PD_ERR_IO;
        p += w;
        n -= (size_t)w;
        r->body_len += (uint64_t)w;
    }
    return PD_OK;
}

static void bodies_check(uv_timer_t *t);

static void body_too_big(pd_req *r)
{
    pd_req_reply_error(r, PD_ERR_TOOBIG, "request body over %llu bytes",
                       (unsigned long long)r->body_max);
}

/* The body must be complete by then (HTTP_BODY_RATE); the timer checks while bodies are read. */
static void body_deadline(pd_req *r, long long len)
{
    pd_http *h = r->h;
    r->body_deadline_ms = uv_now(h->loop) + HTTP_BODY_GRACE_S * 1000 +
                          (uint64_t)len * 1000 / HTTP_BODY_RATE;
    if (!uv_is_active((uv_handle_t *)&h->body_timer))
        uv_timer_start(&h->body_timer, bodies_check, HTTP_BODY_TICK_MS, 0);
}

/* Answers 408 to each request whose body is late; the connection closes after it. */
static void bodies_check(uv_timer_t *t)
{
    pd_http *h = t->data;
    uint64_t now = uv_now(h->loop);
    bool reading = false;
    for (conn *c = h->conns; c; c = c->next) {
        pd_req *r = c->req;
        if (!r || r->state != REQ_BODY || !r->body_deadline_ms)
            continue;
        if (now < r->body_deadline_ms) {
            reading = true;
            continue;
        }
        r->close_after = true;
        pd_req_reply_error(r, PD_ERR_SLOW, "request body not received in time (%d bytes/s at "
                           "least, after %d s)", HTTP_BODY_RATE, HTTP_BODY_GRACE_S);
    }
    if (reading)
        uv_timer_start(t, bodies_check, HTTP_BODY_TICK_MS, 0);
}

/* The request (or handshake) on c, its path copied from the method's token. NULL when lws
 * cannot give it (c->req holds what there is; the connection goes and frees it). */
static pd_req *req_new(conn *c, enum lws_token_indexes tok, const char *method, int plen)
{
    pd_req *r = calloc(1, sizeof *r + 2 * ((size_t)plen + 1));
    if (!r)
        return NULL;
    r->h = c->h;
    r->c = c;
    r->state = REQ_BODY;
    r->method = method;
    r->path = r->strings;
    pd_buf_init(&r->body, (size_t)c->h->opts.max_body);
    r->body_max = (uint64_t)c->h->opts.max_body;
    r->body_fd = -1;
    pd_buf_init(&r->out, LWS_PRE + HTTP_REPLY_MAX);
    /* pd_stream_write checks the backlog itself, before the buffer would */
    pd_buf_init(&r->stream.q, LWS_PRE + (size_t)c->h->opts.sse_backlog);
    pd_buf_init(&r->stream.rx, HTTP_WS_MSG_MAX);
    c->req = r;
    return lws_hdr_copy(c->wsi, r->strings, plen + 1, tok) < 0 ? NULL : r;
}

/* The bounds on the head that lws's buffer leaves to us: 414 for the target, 431 for a header
 * (each one lws knows by name; the others only share the buffer's bound). False when the
 * refusal has been queued. */
static bool head_ok(pd_req *r, enum lws_token_indexes method_tok)
{
    struct lws *wsi = r->c->wsi;
    if (lws_hdr_total_length(wsi, method_tok) +
            lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS) > HTTP_TARGET_MAX) {
        pd_req_reply_error(r, PD_ERR_URI_LONG, "request target over %d bytes", HTTP_TARGET_MAX);
        return false;
    }
    for (int t = 0; t < WSI_TOKEN_COUNT; t++)
        if (t != (int)method_tok && t != WSI_TOKEN_HTTP_URI_ARGS &&
            lws_hdr_total_length(wsi, (enum lws_token_indexes)t) > HTTP_FIELD_MAX) {
            pd_req_reply_error(r, PD_ERR_HEAD_BIG, "a request header is over %d bytes",
                               HTTP_FIELD_MAX);
            return false;
        }
    return true;
}

/* Routing, the access rules and auth, shared by requests and handshakes. False when a reply
 * has been queued instead. */
static bool req_admit(pd_req *r, const char *route_method)
{
    size_t plen = strlen(r->path);
    pd_err rc = pd_router_find(&r->h->router, route_method, r->path, plen, &r->match);
    char *values = r->strings + plen + 1;
    for (size_t i = 0; rc == PD_OK && i < r->match.nparams; i++) {
        const pd_route_param *pp = &r->match.params[i];
        memcpy(values, r->path + pp->off, pp->len);
        values[pp->len] = '\0';
        r->params[i] = values;
        values += pp->len + 1;
    }
    if (!req_access(r))
        return false;
    if (rc == PD_ERR_NOTFOUND) {
        pd_req_reply_error(r, rc, "no such resource: %.*s", pd_jw_utf8_cut(r->path, 200), r->path);
        return false;
    }
    if (rc) {
        pd_req_reply_error(r, PD_ERR_METHOD, "%s is not allowed on %.*s; allowed: %s", r->method,
                           pd_jw_utf8_cut(r->path, 48), r->path, r->match.allow);
        return false;
    }
    return req_authorized(r);
}

static int on_request(conn *c)
{
    pd_http *h = c->h;
    struct lws *wsi = c->wsi;
    size_t mi = 0;
    int plen = 0;
    for (; mi < sizeof http_methods / sizeof *http_methods; mi++)
        if ((plen = lws_hdr_total_length(wsi, http_methods[mi].tok)) > 0)
            break;
    if (mi == sizeof http_methods / sizeof *http_methods)
        return -1;  /* lws parsed a request it has no method token for */
    pd_req *r = req_new(c, http_methods[mi].tok, http_methods[mi].name, plen);
    if (!r)
        return -1;

    long long clen;
    bool chunked;
    pd_err framing = body_length(r, &clen, &chunked);
    bool body = body_expected(mi, clen) || (chunked && http_methods[mi].body);
    /* Without a length lws 4.1 takes whatever follows for a body that never completes (chunks
     * included, which are decoded here), so such a connection cannot carry another request */
    bool unended = clen < 0 && http_methods[mi].body;
    /* answering before the body is read leaves it unread on the socket */
    r->close_after = body || framing || unended;
    if (!head_ok(r, http_methods[mi].tok))
        return 0;
    if (framing) {
        pd_req_reply_error(r, framing, framing == PD_ERR_CODING
                           ? "only the chunked transfer coding is supported"
                           : "invalid Content-Length (one number, without Transfer-Encoding)");
        return 0;
    }
    /* HEAD is GET without the body (send_reply leaves it out) */
    if (!req_admit(r, http_methods[mi].tok == WSI_TOKEN_HEAD_URI ? "GET" : r->method))
        return 0;
    if ((r->match.route->flags & PD_ROUTE_UPLOAD) && h->opts.max_upload > 0)
        r->body_max = (uint64_t)h->opts.max_upload;
    if (body && (r->match.route->flags & PD_ROUTE_UPLOAD)) {
        /* from the head, before a byte of the body is on disk: each upload may hold
         * max_upload bytes there until its handler is done with it */
        size_t max = h->opts.max_uploads > 0 ? (size_t)h->opts.max_uploads : HTTP_UPLOADS_DEFAULT;
        if (h->nuploads >= max) {
            r->close_after = true;
            pd_req_add_header(r, "Retry-After", "5");
            pd_req_reply_error(r, PD_ERR_OVERLOAD, "every upload slot (%zu) is taken; retry in a moment", max);
            return 0;
        }
        h->nuploads++;
        r->upload_slot = true;
    }
    if (body)
        body_deadline(r, chunked ? (long long)r->body_max : clen);
    if (clen > (long long)r->body_max) {
        if (clen <= HTTP_DISCARD_MAX) {
            r->discard = true;  /* close_after stays: such a client is not kept */
            return 0;
        }
        body_too_big(r);
        return 0;
    }
    r->close_after = unended;
    if (!body) {
        dispatch(r);
        return 0;
    }
    if (r->match.route->flags & PD_ROUTE_UPLOAD) {
        if ((r->body_fd = spool_open(h)) < 0) {
            r->close_after = true;
            pd_req_reply_error(r, PD_ERR_IO, "cannot store the upload: %s", strerror(errno));
            return 0;
        }
        r->chunked = chunked;
        return 0;
    }
    if (chunked) {
        r->chunked = true;
        return 0;
    }
    /* at once, up to a bound: a body that comes in pieces is then rarely copied as it grows */
    return clen > 0 && pd_buf_reserve(&r->body, clen < HTTP_BODY_PREALLOC ? (size_t)clen
                                                                          : HTTP_BODY_PREALLOC)
               ? -1 : 0;
}

static pd_err body_add(pd_req *r, const char *in, size_t len)
{
    if (r->body_fd < 0)
        return r->chunked ? pd_chunked_feed(&r->chunk, in, len, &r->body)
                          : pd_buf_add(&r->body, in, len);
    if (!r->chunked)
        return spool_write(r, in, len);
    /* one piece decodes to no more than it is, which max_body always holds */
    pd_err rc = pd_chunked_feed(&r->chunk, in, len, &r->body);
    if (!rc && pd_buf_len(&r->body))
        rc = spool_write(r, pd_buf_ptr(&r->body), pd_buf_len(&r->body));
    pd_buf_reset(&r->body);
    return rc;
}

static int on_body(conn *c, const char *in, size_t len)
{
    pd_req *r = c->req;
    if (!r || r->state != REQ_BODY || !len || r->discard)
        return 0;  /* answered already (the rest goes away with the connection), dropped, or empty */
    pd_err rc = body_add(r, in, len);
    if (rc == PD_ERR_TOOBIG || rc == PD_ERR_PARSE || rc == PD_ERR_IO) {
        r->close_after = true;
        if (rc == PD_ERR_TOOBIG)
            body_too_big(r);
        else if (rc == PD_ERR_IO)
            pd_req_reply_error(r, rc, "cannot store the upload: %s", strerror(errno));
        else
            pd_req_reply_error(r, rc, "malformed chunked request body");
        return 0;
    }
    if (!rc && r->chunked && pd_chunked_done(&r->chunk))
        dispatch(r);  /* lws sees no end to a body without a length */
    return rc ? -1 : 0;
}

static int on_body_done(conn *c)
{
    pd_req *r = c->req;
    if (!r || r->state != REQ_BODY)
        return 0;
    if (r->discard) {
        body_too_big(r);
        return 0;
    }
    dispatch(r);
    return 0;
}

/* A WebSocket handshake, from CONFIRM_UPGRADE: 0 lets lws answer 101, -1 hangs up after the
 * refusal has been written (a refused handshake ends its connection). */
static int on_handshake(conn *c)
{
    int plen = lws_hdr_total_length(c->wsi, WSI_TOKEN_GET_URI);
    if (plen <= 0 || c->req)
        return -1;
    pd_req *r = req_new(c, WSI_TOKEN_GET_URI, "WS", plen);
    if (!r)
        return -1;
    r->stream.ws = true;
    r->close_after = true;
    char ver[8];
    if (!head_ok(r, WSI_TOKEN_GET_URI) || !req_admit(r, "WS")) {
        /* refused: the reply is queued */
    } else if (!pd_req_header(r, "sec-websocket-version", ver, sizeof ver) || strcmp(ver, "13")) {
        /* lws 4.1 would go on with any version; RFC 6455 4.4 names the one we speak */
        pd_req_add_header(r, "Sec-WebSocket-Version", "13");
        pd_req_reply_error(r, PD_ERR_UPGRADE, "WebSocket version 13 only");
    } else if (lws_hdr_total_length(c->wsi, WSI_TOKEN_PROTOCOL) > 0) {
        /* none is registered, so lws would hang up after the handler had accepted */
        pd_req_reply_error(r, PD_ERR_UNSUPPORTED, "no WebSocket subprotocol is offered");
    } else {
        r->state = REQ_HANDLING;
        r->match.route->fn(r);
        if (r->state == REQ_STREAM)
            return 0;
        if (r->state == REQ_HANDLING) {
            pd_warn("http", "WS %s: handler neither accepted nor refused", r->path);
            pd_req_reply_error(r, PD_ERR_INTERNAL, NULL);
        }
    }
    send_reply(c, r);  /* frees r: close_after */
    return -1;
}

/* lws 4.1 loses the body of an h2c-upgraded request, so those are refused rather than left
 * hanging; h2c without a body and WebSocket handshakes go on. */
static int confirm_upgrade(conn *c, const char *proto)
{
    if (proto && !strcmp(proto, "h2c")) {
        for (size_t i = 0; i < sizeof http_methods / sizeof *http_methods; i++)
            if (http_methods[i].body && lws_hdr_total_length(c->wsi, http_methods[i].tok) > 0) {
                pd_info("http", "refused an h2c upgrade of a request with a body; use HTTP/1.1");
                return -1;
            }
        return 0;
    }
    return proto && !strcasecmp(proto, "websocket") ? on_handshake(c) : -1;
}

/* A text message from a WebSocket client, in pieces as lws reads them. */
static int on_ws_receive(conn *c, const char *in, size_t len)
{
    pd_req *r = c->req;
    if (!r || r->state != REQ_STREAM)
        return 0;
    pd_stream *s = &r->stream;
    if (!s->rx_active) {
        s->rx_active = true;
        s->rx_skip = lws_frame_is_binary(c->wsi) || !s->on_message || s->dropped;
    }
    bool last = lws_is_final_fragment(c->wsi);
    if (last)
        s->rx_active = false;
    if (s->rx_skip)
        return 0;
    pd_err rc = pd_buf_add(&s->rx, in, len);
    if (rc == PD_ERR_TOOBIG) {
        static const char why[] = "message too large";
        lws_close_reason(c->wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, (unsigned char *)why,
                         sizeof why - 1);
        return -1;
    }
    if (rc || !last)
        return rc ? -1 : 0;
    /* handed over and freed: an idle connection keeps no buffer */
    size_t n;
    char *rx = pd_buf_detach(&s->rx, &n);
    if (s->on_message)
        s->on_message(s, rx, n, s->ud);
    free(rx);
    return 0;
}

static int conn_new(pd_http *h, struct lws *wsi)
{
    conn *c = calloc(1, sizeof *c);
    if (!c)
        return -1;
    c->h = h;
    c->wsi = wsi;
    /* lws creates the wsi of the connection it has just filtered (before giving it its
     * socket); other wsis (h2 streams) are not connections of their own */
    c->has_addr = h->accepting;
    c->addr = h->accept_addr;
    h->accepting = false;
    c->next = h->conns;
    if (h->conns)
        h->conns->prev = c;
    h->conns = c;
    lws_set_wsi_user(wsi, c);
    h->nconns++;
    return 0;
}

static void conn_free(pd_http *h, conn *c)
{
    undefer(h, c);
    conn_gone(c);
    if (c->prev)
        c->prev->next = c->next;
    else
        h->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    h->nconns--;
    free(c);
}

/* Whether lws should hang up on a new connection: past max_clients in all, or past the
 * per-address bound from its address, loopback included (a local process is a client like
 * any other). A linear count: accepts are rare next to requests, and max_clients bounds it. */
static bool conn_refused(pd_http *h, const struct lws_filter_network_conn_args *a)
{
    pd_access_ip *ip = &h->accept_addr;
    h->accepting = false;
    if (h->nconns >= (size_t)h->opts.max_clients)
        return true;
    if (!a || !pd_access_ip_from_sockaddr((const struct sockaddr *)&a->cli_addr, ip))
        return false;
    int n = 0;
    for (const conn *c = h->conns; c; c = c->next)
        if (c->has_addr && !memcmp(&c->addr, ip, sizeof *ip) && ++n >= h->per_address)
            return true;
    h->accepting = true;
    return false;
}

/* The connection's conn, made now if lws did not announce the wsi (NULL out of memory). */
static conn *conn_of(pd_http *h, struct lws *wsi)
{
    conn *c = lws_wsi_user(wsi);
    if (!c && !conn_new(h, wsi))
        c = lws_wsi_user(wsi);
    return c;
}

static int http_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                   size_t len)
{
    pd_http *h = lws_context_user(lws_get_context(wsi));
    conn *c = lws_wsi_user(wsi);
    switch (reason) {
    case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
        return conn_refused(h, user);  /* nonzero: lws hangs up */
    case LWS_CALLBACK_WSI_CREATE:
        return conn_new(h, wsi);
    case LWS_CALLBACK_WSI_DESTROY:
        if (c)
            conn_free(h, c);
        return 0;
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_CLOSED:
        if (c)
            conn_gone(c);
        return 0;
    case LWS_CALLBACK_HTTP:
        if (!(c = conn_of(h, wsi)))
            return -1;
        return on_request(c) ? -1 : send_now(c);
    case LWS_CALLBACK_HTTP_BODY:
        return !c || on_body(c, in, len) ? -1 : send_now(c);
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        return !c || on_body_done(c) ? -1 : send_now(c);
    case LWS_CALLBACK_HTTP_WRITEABLE:
        if (!c || !c->req)
            return 0;
        if (c->req->state == REQ_REPLYING)
            return send_reply(c, c->req);
        if (c->req->state == REQ_STREAM)
            return send_stream(c, c->req);
        return 0;
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        return (c = conn_of(h, wsi)) ? confirm_upgrade(c, in) : -1;
    case LWS_CALLBACK_ESTABLISHED:
        if (!c || !c->req)
            return -1;
        c->req->stream.open = true;
        if (c->req->stream.qlen)
            lws_callback_on_writable(wsi);
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return c && c->req ? send_ws(c, c->req) : 0;
    case LWS_CALLBACK_RECEIVE:
        return c ? on_ws_receive(c, in, len) : 0;
    default:
        return 0;
    }
}

/* --- start / stop ---------------------------------------------------------------------------- */

static const struct lws_protocols http_protocols[] = {
    {.name = HTTP_PROTOCOL, .callback = http_cb, .tx_packet_size = HTTP_CHUNK},
    {0},
};

/* Every path goes to http_cb; routing is ours. */
static const struct lws_http_mount http_mount = {
    .mountpoint = "/",
    .mountpoint_len = 1,
    .origin = HTTP_PROTOCOL,
    .origin_protocol = LWSMPRO_CALLBACK,
};

/* lws repeats some errors at the rate of the event that causes them (accept() failing with
 * EMFILE logs on every loop turn: 2.7 GB of log in minutes). A line equal to the previous one
 * is counted, not written, for a second; the count is written with the next line let through. */
static void lws_log_emit(int level, const char *line)
{
    static char last[256];
    static uint64_t last_ms;
    static unsigned long repeated;
    int n = (int)strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    uint64_t now = (uint64_t)pd_clock_mono_ms();
    bool same = (size_t)n < sizeof last && !strncmp(last, line, (size_t)n) && !last[n];
    if (same && now - last_ms < 1000) {
        repeated++;
        return;
    }
    if (repeated)
        pd_log(PD_LOG_WARN, "lws", "(the previous line %lu more times)", repeated);
    repeated = 0;
    last_ms = now;
    snprintf(last, sizeof last, "%.*s", n, line);
    pd_log(level & LLL_ERR ? PD_LOG_ERROR : PD_LOG_WARN, "lws", "%.*s", n, line);
}

typedef struct listen_addr {
    char host[INET6_ADDRSTRLEN];  /* "" = every address */
    int port;
    bool v4;
} listen_addr;

static bool listen_parse(const char *s, listen_addr *a)
{
    const char *host = s, *colon;
    if (*s == '[') {
        const char *rb = strchr(s, ']');
        if (!rb || rb[1] != ':')
            return false;
        host = s + 1;
        colon = rb + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon || memchr(s, ':', (size_t)(colon - s)))
            return false;  /* an IPv6 address needs brackets */
    }
    size_t hlen = (size_t)(colon - host) - (*s == '[');
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || port < 0 || port > 65535 || hlen >= sizeof a->host)
        return false;
    memcpy(a->host, host, hlen);
    a->host[hlen] = '\0';
    a->port = (int)port;
    if (!strcmp(a->host, "localhost"))
        snprintf(a->host, sizeof a->host, "127.0.0.1");
    unsigned char bin[16];
    a->v4 = inet_pton(AF_INET, a->host, bin) == 1;
    return !hlen || a->v4 || (*s == '[' && inet_pton(AF_INET6, a->host, bin) == 1);
}

/* Without tokens every route is open to whoever reaches the listener: on loopback that is this
 * machine's users, elsewhere the network, which takes a second key saying so. */
static pd_err open_check(const pd_http_opts *o, const listen_addr *a, char *err, size_t errlen)
{
    pd_access_ip ip;
    pd_access_nets loopback;
    char why[64];
    if (o->auth_enabled)
        return PD_OK;
    bool local = a->host[0] && pd_access_ip_parse(a->host, &ip) &&
                 !pd_access_nets_parse("127.0.0.0/8, ::1/128", &loopback, why, sizeof why) &&
                 pd_access_nets_match(&loopback, &ip);
    if (!local && !o->allow_open_network) {
        snprintf(err, errlen, "auth.enabled = false on %s, which is not a loopback address, would open every "
                              "route to the network without a token; listen on 127.0.0.1, or enable auth, or "
                              "set [auth] allow_open_network = true", o->listen);
        return PD_ERR_INVAL;
    }
    pd_warn("http", "auth.enabled = false: every route is open without a token to whoever reaches http://%s%s",
            o->listen, local ? " (this machine's users and programs)" : " (allow_open_network = true)");
    return PD_OK;
}

/* lws on a foreign loop adds its own timers/idlers; pd_http_stop needs to know them to tell
 * when lws is done with the loop. They are the non-poll handles lws_create_context adds. */
typedef struct handle_list {
    uv_handle_t **v;
    size_t n, cap;
} handle_list;

static void walk_collect(uv_handle_t *hd, void *arg)
{
    handle_list *l = arg;
    if (l->n < l->cap)
        l->v[l->n] = hd;
    l->n++;
}

static void walk_count(uv_handle_t *hd, void *arg)
{
    (void)hd;
    (*(size_t *)arg)++;
}

static int ptr_cmp(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (uv_handle_t *const *)a, y = (uintptr_t) * (uv_handle_t *const *)b;
    return x < y ? -1 : x > y;
}

typedef struct handle_diff {
    const handle_list *before;
    pd_http *h;
} handle_diff;

static void walk_new_static(uv_handle_t *hd, void *arg)
{
    handle_diff *d = arg;
    if (hd->type == UV_POLL || d->h->n_lws_handles == HTTP_MAX_LWS_HANDLES ||
        bsearch(&hd, d->before->v, d->before->n, sizeof hd, ptr_cmp))
        return;
    d->h->lws_handles[d->h->n_lws_handles++] = hd;
}

/* lws 4.1 on a foreign loop crashes in its own cleanup when it cannot bind, so the common
 * failure (address in use or not local) is found first with a plain socket. 0 or errno. */
static int listen_check(const listen_addr *a)
{
    struct sockaddr_in6 s6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)a->port)};
    struct sockaddr_in s4 = {.sin_family = AF_INET, .sin_port = htons((uint16_t)a->port)};
    if (a->v4)
        inet_pton(AF_INET, a->host, &s4.sin_addr);
    else if (a->host[0])
        inet_pton(AF_INET6, a->host, &s6.sin6_addr);
    int fd = socket(a->v4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (fd < 0)
        return errno;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    int rc = a->v4 ? bind(fd, (struct sockaddr *)&s4, sizeof s4)
                   : bind(fd, (struct sockaddr *)&s6, sizeof s6);
    rc = rc ? errno : 0;
    close(fd);
    return rc;
}

static pd_err create_context(pd_http *h, const listen_addr *a, char *err, size_t errlen)
{
    int e = listen_check(a);
    if (e) {
        snprintf(err, errlen, "cannot listen on %s: %s", h->listen, strerror(e));
        return PD_ERR_IO;
    }
    handle_list before = {0};
    uv_walk(h->loop, walk_count, &before.cap);
    before.v = malloc((before.cap + 1) * sizeof *before.v);
    if (!before.v)
        return PD_ERR_NOMEM;
    uv_walk(h->loop, walk_collect, &before);
    qsort(before.v, before.n, sizeof *before.v, ptr_cmp);

    struct lws_context_creation_info info = {0};
    void *loops[] = {h->loop};
    info.port = a->port;
    info.iface = a->host[0] ? a->host : NULL;
    info.protocols = http_protocols;
    info.mounts = &http_mount;
    info.vhost_name = "printdeck";
    info.server_string = "printdeck";
    info.user = h;
    info.pcontext = &h->ctx;
    info.foreign_loops = loops;
    /* lws 4.1 with IPv6 enabled binds an IPv4 literal to every address: use an IPv4 socket */
    info.max_http_header_data2 = HTTP_HEAD_BUF;
    /* WebSockets: pinged when silent, closed when no pong proves the client is there */
    info.retry_and_idle_policy = &h->idle;
    /* lws 4.1 is lenient by default: text frames are checked to be UTF-8 (RFC 6455 8.1) */
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_UV_NO_SIGSEGV_SIGFPE_SPIN |
                   LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND | LWS_SERVER_OPTION_VALIDATE_UTF8 |
                   (a->v4 ? LWS_SERVER_OPTION_DISABLE_IPV6 : 0);
    h->ctx = lws_create_context(&info);
    if (h->ctx) {
        handle_diff d = {&before, h};
        uv_walk(h->loop, walk_new_static, &d);
        h->port = lws_get_vhost_listen_port(lws_get_vhost_by_name(h->ctx, "printdeck"));
    }
    free(before.v);
    if (!h->ctx) {
        snprintf(err, errlen, "cannot listen on %s (address in use or not local?)", h->listen);
        return PD_ERR_IO;
    }
    return PD_OK;
}

pd_err pd_http_start(uv_loop_t *loop, const pd_http_opts *opts, pd_http **out, char *err,
                     size_t errlen)
{
    listen_addr a;
    if (!opts->listen || !listen_parse(opts->listen, &a)) {
        snprintf(err, errlen, "listen address '%s' is not ADDR:PORT with an IP address",
                 opts->listen ? opts->listen : "");
        return PD_ERR_INVAL;
    }
    if (opts->max_body <= 0 || opts->sse_backlog <= 0 || opts->max_clients <= 0) {
        snprintf(err, errlen, "max_body, sse_backlog and max_clients must be positive");
        return PD_ERR_INVAL;
    }
    pd_err open = open_check(opts, &a, err, errlen);
    if (open)
        return open;
    pd_http *h = calloc(1, sizeof *h);
    if (!h)
        return PD_ERR_NOMEM;
    h->loop = loop;
    h->opts = *opts;
    snprintf(h->listen, sizeof h->listen, "%s", opts->listen);
    h->opts.listen = h->listen;
    h->opts.access = (pd_http_access){0};  /* kept parsed in h, not by reference */
    h->per_address = opts->max_clients / 2;
    if (opts->max_clients_per_address > 0 && opts->max_clients_per_address < h->per_address)
        h->per_address = opts->max_clients_per_address;
    if (!h->per_address)
        h->per_address = 1;
    int idle = opts->idle_timeout_s > 0 ? opts->idle_timeout_s : HTTP_IDLE_DEFAULT_S;
    h->idle.secs_since_valid_ping = (uint16_t)(idle / 2 > 0 ? idle / 2 : 1);
    h->idle.secs_since_valid_hangup = (uint16_t)(idle > 1 ? idle : 2);
    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_emit);
    pd_err rc = pd_http_set_access(h, &opts->access, err, errlen);
    if (!rc)
        rc = create_context(h, &a, err, errlen);
    if (rc) {
        free(h);
        return rc;
    }
    uv_timer_init(loop, &h->spare_timer);
    uv_unref((uv_handle_t *)&h->spare_timer);
    h->spare_timer.data = h;
    uv_timer_init(loop, &h->body_timer);
    uv_unref((uv_handle_t *)&h->body_timer);
    h->body_timer.data = h;
    uv_idle_init(loop, &h->resume);
    uv_unref((uv_handle_t *)&h->resume);
    h->resume.data = h;
    h->defer_tail = &h->defer_head;
    uv_prepare_init(loop, &h->turn);
    uv_unref((uv_handle_t *)&h->turn);
    h->turn.data = h;
    uv_prepare_start(&h->turn, turn_begin);
    *out = h;
    return PD_OK;
}

int pd_http_port(const pd_http *h) { return h->port; }

struct lws_context *pd_http_lws(pd_http *h) { return h->ctx; }

pd_err pd_http_set_access(pd_http *h, const pd_http_access *a, char *err, size_t errlen)
{
    pd_access_nets trusted;
    char why[192];
    pd_err rc;
    if ((rc = pd_access_nets_parse(a->trusted_networks, &trusted, why, sizeof why))) {
        snprintf(err, errlen, "trusted_networks: %s", why);
        return rc;
    }
    const char *cors = a->cors_origins ? a->cors_origins : "";
    const char *hosts = a->allowed_hosts ? a->allowed_hosts : "";
    if ((rc = pd_access_list_check(PD_ACCESS_ORIGINS, cors, why, sizeof why)) ||
        strlen(cors) >= sizeof h->cors_origins) {
        snprintf(err, errlen, "cors_origins: %s", rc ? why : "list too long");
        return rc ? rc : PD_ERR_TOOBIG;
    }
    if ((rc = pd_access_list_check(PD_ACCESS_HOSTS, hosts, why, sizeof why)) ||
        strlen(hosts) >= sizeof h->allowed_hosts) {
        snprintf(err, errlen, "allowed_hosts: %s", rc ? why : "list too long");
        return rc ? rc : PD_ERR_TOOBIG;
    }
    h->trusted = trusted;
    memcpy(h->cors_origins, cors, strlen(cors) + 1);
    memcpy(h->allowed_hosts, hosts, strlen(hosts) + 1);
    return PD_OK;
}

pd_err pd_http_add_routes(pd_http *h, const pd_route *routes, size_t n)
{
    pd_err rc = pd_router_add(&h->router, routes, n);
    if (rc)
        pd_error("http", "route table starting with %s %s rejected: %s", n ? routes[0].method : "",
                 n ? routes[0].pattern : "", pd_strerror(rc));
    return rc;
}

typedef struct reap_walk {
    const pd_http *h;
    bool busy;
} reap_walk;

static void walk_busy(uv_handle_t *hd, void *arg)
{
    reap_walk *w = arg;
    if (uv_is_closing(hd))
        w->busy = true;
    for (size_t i = 0; i < w->h->n_lws_handles; i++)
        if (w->h->lws_handles[i] == hd)
            w->busy = true;
}

static void reaper_closed(uv_handle_t *hd)
{
    free(hd->data);
}

/* lws 4.1 on a foreign loop frees its context only on a second lws_context_destroy once the
 * loop has closed every handle lws started closing in the first one; earlier, it frees memory
 * libuv still references. Checked before each poll until lws's handles are gone. */
static void reap(uv_prepare_t *p)
{
    pd_http *h = p->data;
    reap_walk w = {h, false};
    uv_walk(h->loop, walk_busy, &w);
    if (w.busy && uv_now(h->loop) - h->stop_ms < HTTP_REAP_LIMIT_MS)
        return;
    uv_prepare_stop(p);
    if (w.busy) {
        pd_error("http", "libwebsockets did not release the loop; leaking its context");
        p->data = NULL;
    } else {
        lws_context_destroy(h->ctx);
    }
    uv_close((uv_handle_t *)p, reaper_closed);
}

void pd_http_stop(pd_http **hp)
{
    pd_http *h = *hp;
    if (!h)
        return;
    *hp = NULL;
    lws_context_destroy(h->ctx);  /* closes every connection: on_abort / on_close run now */
    h->stopping = true;
    spares_free(h);
    uv_close((uv_handle_t *)&h->spare_timer, NULL);  /* the reaper waits for them */
    uv_close((uv_handle_t *)&h->body_timer, NULL);
    uv_close((uv_handle_t *)&h->resume, NULL);
    uv_close((uv_handle_t *)&h->turn, NULL);
    h->stop_ms = uv_now(h->loop);
    uv_prepare_init(h->loop, &h->reaper);
    h->reaper.data = h;
    uv_prepare_start(&h->reaper, reap);
}
