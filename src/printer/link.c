/* One MQTT-over-TLS link per printer, driven by the loop: libmosquitto in external-loop mode
 * (uv_poll on its socket; keepalive, silence and command deadlines from the fleet tick). What
 * an attempt needs from the outside world (the host's address, the ca_file) is fetched on
 * libuv's worker pool first: the loop never waits on a resolver or a file a user named. */
#include <errno.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mqttio.h"
#include "core/tls.h"
#include "printer/printer_priv.h"

/* From the start of the attempt, name resolution included */
#define CONNECT_TIMEOUT_MS 15000
/* At most this many connection attempts (TCP connect, TLS handshake, CONNACK) run at once;
 * the others wait, "connecting", for the fleet tick. A handshake holds ~50 KB of temporaries
 * among the few KB a link keeps: a thousand at once (a farm restarting) spike memory and CPU
 * and leave the heap fragmented (7 MB more resident at 1,000 printers than 128 at a time). */
#define MAX_ATTEMPTS 128
#define FIRST_SEQ 30000

static void link_fail(pd_printer *p, pd_link_state st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

const char *pd_link_state_name(pd_link_state s)
{
    static const char *const names[] = {"disconnected", "connecting", "connected", "stale",
                                        "backoff", "auth_failed", "tls_failed"};
    return s <= PD_LINK_TLS_FAILED ? names[s] : "unknown";
}

void pd_link_set_state(pd_printer *p, pd_link_state s, const char *error)
{
    const char *e = error ? error : "";
    if (p->lstate == s && !strcmp(p->last_error, e))
        return;
    if (error)
        pd_warn("printer", "%s (%s): %s: %s", p->rec.name, p->rec.serial, pd_link_state_name(s), e);
    else
        pd_info("printer", "%s (%s): %s", p->rec.name, p->rec.serial, pd_link_state_name(s));
    p->lstate = s;
    snprintf(p->last_error, sizeof p->last_error, "%s", e);
    p->since_ms = pd_clock_wall_ms();
    free(p->json_cache);
    p->json_cache = NULL;
    pd_fleet_emit_simple(p, PD_EV_CONNECTION);
}

static void set_online(pd_printer *p, bool on)
{
    if (p->online == on)
        return;
    p->online = on;
    free(p->json_cache);
    p->json_cache = NULL;
    pd_fleet_emit_simple(p, on ? PD_EV_ONLINE : PD_EV_OFFLINE);
}

/* --- TLS ------------------------------------------------------------------------------ */
/* One SSL_CTX per trust configuration (the embedded Bambu CA, each ca_file, no verification),
 * shared by every printer that uses it: a context costs ~10 KB and a ca_file parsed into its
 * own X509_STORE another ~3.5 KB, per printer, for identical content. What differs per printer
 * is the name to expect, and libmosquitto creates the SSL and starts the handshake inside
 * mosquitto_connect_async, leaving no moment to set it on the SSL; so the context's
 * verification callback looks up whose handshake it is and checks that printer's serial. */
struct pd_tls_ctx {
    pd_tls_ctx *next;
    SSL_CTX *ctx;
    int links;                   /* links holding it; freed with the last */
    bool verify;
    char ca_file[];              /* "" = the embedded Bambu CA */
};

static pd_printer *printer_by_ssl(pd_fleet *f, const SSL *ssl)
{
    for (size_t i = 0; i < f->n; i++) {
        pd_printer *p = f->v[i];
        if (p->mosq && mosquitto_ssl_get(p->mosq) == ssl)
            return p;
    }
    return NULL;
}

/* Replaces OpenSSL's chain verification (SSL_CTX_set_cert_verify_callback). It verifies a
 * private copy of the printer's certificate: verification decodes and caches every
 * subjectAltName on the certificate it checks, and the certificate OpenSSL received stays
 * referenced by the session for the life of the link (~100 KB per link for a certificate
 * that names 1,000 serials, as a test broker serving a whole simulated farm presents). The
 * copy takes that cache with it when freed, and no verified chain is left on the SSL. */
static int tls_verify(X509_STORE_CTX *xs, void *arg)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
    pd_printer *p = ssl ? printer_by_ssl(arg, ssl) : NULL;
    X509 *leaf = p ? X509_dup(X509_STORE_CTX_get0_cert(xs)) : NULL;
    X509_STORE_CTX *own = leaf ? X509_STORE_CTX_new() : NULL;
    int err = X509_V_ERR_UNSPECIFIED, ok = 0;
    if (own && X509_STORE_CTX_init(own, X509_STORE_CTX_get0_store(xs), leaf,
                                   X509_STORE_CTX_get0_untrusted(xs))) {
        X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(own);
        /* purpose, trust and security level as OpenSSL set them for this handshake */
        X509_VERIFY_PARAM_set1(param, X509_STORE_CTX_get0_param(xs));
        /* the printer's certificate names its serial, not its IP address */
        if (X509_VERIFY_PARAM_set1_host(param, p->rec.serial, 0) == 1) {
            ok = X509_verify_cert(own) == 1;
            err = X509_STORE_CTX_get_error(own);
        }
    }
    X509_STORE_CTX_free(own);
    X509_free(leaf);
    if (!ok && err == X509_V_OK)
        err = X509_V_ERR_UNSPECIFIED;
    X509_STORE_CTX_set_error(xs, err);
    if (!ok && p)
        snprintf(p->last_error, sizeof p->last_error,
                 "printer certificate did not verify: %s (expected name %s); set ca_file or "
                 "tls_verify=false", X509_verify_cert_error_string(err), p->rec.serial);
    return ok;
}

/* pem: the ca_file's text when the printer names one (read off the loop). */
static SSL_CTX *tls_ctx_new(pd_printer *p, const char *pem, size_t pem_len)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx)
        return NULL;
    /* Bambu printers refuse TLS 1.0, 1.1 and 1.3 (docs/bambu-protocol.md §1.2) */
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS); /* idle links hold no 34 KB buffers */
    /* a session is never resumed (every attempt is a fresh client): keep no ticket */
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    if (!p->rec.tls_verify) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
        return ctx;
    }
    /* The Bambu CA is parsed when a printer first needs it, not at start: parsing
     * certificates sets up OpenSSL's decoders (~2.7 MB), which a daemon without printers
     * never needs. */
    X509_STORE *store = pd_tls_pem_store(p->rec.ca_file[0] ? pem : pd_bambu_ca_pem,
                                         p->rec.ca_file[0] ? (int)pem_len : -1);
    if (!store) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_cert_store(ctx, store);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_cert_verify_callback(ctx, tls_verify, p->fleet);
    return ctx;
}

/* Takes a reference to the context of the printer's trust configuration into p->tls. */
static pd_err tls_acquire(pd_printer *p, const char *pem, size_t pem_len)
{
    pd_fleet *f = p->fleet;
    const char *ca = p->rec.tls_verify ? p->rec.ca_file : "";
    pd_tls_ctx *t;
    for (t = f->tls; t; t = t->next)
        if (t->verify == p->rec.tls_verify && !strcmp(t->ca_file, ca))
            break;
    if (!t) {
        t = calloc(1, sizeof *t + strlen(ca) + 1);
        if (!t)
            return PD_ERR_NOMEM;
        if (!(t->ctx = tls_ctx_new(p, pem, pem_len))) {
            free(t);
            if (p->rec.ca_file[0])
                snprintf(p->last_error, sizeof p->last_error,
                         "cannot load ca_file %s: no PEM certificate in it", p->rec.ca_file);
            else
                snprintf(p->last_error, sizeof p->last_error, "cannot create a TLS context");
            return PD_ERR_TLS;
        }
        t->verify = p->rec.tls_verify;
        strcpy(t->ca_file, ca);
        t->next = f->tls;
        f->tls = t;
    }
    t->links++;
    p->tls = t;
    if (!p->rec.tls_verify)
        pd_warn("printer", "%s: TLS verification is off (tls_verify=false)", p->rec.name);
    return PD_OK;
}

/* A ca_file is read again once no link uses it, so an edited file counts from then on. */
static void tls_release(pd_printer *p)
{
    pd_tls_ctx *t = p->tls;
    if (!t)
        return;
    p->tls = NULL;
    if (--t->links > 0)
        return;
    for (pd_tls_ctx **pp = &p->fleet->tls; *pp; pp = &(*pp)->next)
        if (*pp == t) {
            *pp = t->next;
            break;
        }
    SSL_CTX_free(t->ctx);
    free(t);
}

/* --- socket watching ------------------------------------------------------------------ */
static void link_unwatch(pd_printer *p) { pd_mqttio_unwatch(&p->poll); }

static void poll_cb(uv_poll_t *h, int status, int events);

static void link_watch(pd_printer *p)
{
    if (pd_mqttio_watch(&p->poll, p->fleet->loop, p->mosq, poll_cb, p))
        link_fail(p, PD_LINK_BACKOFF, "cannot watch socket");
}

static void fail_pending(pd_printer *p, pd_err rc, const char *detail)
{
    for (int i = 0; i < PD_MAX_PENDING_CMDS; i++) {
        pd_pending_cmd *c = &p->pending[i];
        if (!c->handle)
            continue;
        pd_cmd_cb cb = c->cb;
        void *ud = c->ud;
        c->handle = 0;
        p->counters.command_failures++;
        cb(rc, detail, NULL, ud);
    }
}

/* The attempt ends (connected, or torn down): its slot frees for a waiting link. */
static void attempt_done(pd_printer *p)
{
    if (p->attempting) {
        p->attempting = false;
        p->fleet->attempts--;
    }
}

struct pd_link_prep {
    uv_work_t w;                 /* first: the callbacks get the request through it */
    pd_printer *p;               /* NULL once the attempt was given up: the result is dropped */
    char host[sizeof ((pd_printer_rec *)0)->host];
    char ca_file[sizeof ((pd_printer_rec *)0)->ca_file]; /* "" = none to read */
    char addr[NI_MAXHOST];       /* numeric */
    char *pem;
    size_t pem_len;
    bool ca_failed;              /* err is about the ca_file, else about the host */
    char err[300];               /* "" = ready to connect */
};

static void link_drop(pd_printer *p)
{
    if (p->prep) {
        /* a worker cannot be stopped mid-call: it finishes, and prep_done frees it */
        p->prep->p = NULL;
        uv_cancel((uv_req_t *)&p->prep->w);
        p->prep = NULL;
    }
    attempt_done(p);
    link_unwatch(p);
    if (p->mosq) {
        mosquitto_destroy(p->mosq);
        p->mosq = NULL;
    }
    if (p->holds_fds) {
        p->holds_fds = false;
        p->fleet->links--;
    }
    tls_release(p);
}

static void link_fail(pd_printer *p, pd_link_state st, const char *fmt, ...)
{
    char msg[sizeof p->last_error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    link_drop(p);
    set_online(p, false);
    fail_pending(p, PD_ERR_OFFLINE, msg);
    const pd_fleet_opts *o = &p->fleet->opts;
    int delay;
    if (st == PD_LINK_AUTH_FAILED || st == PD_LINK_TLS_FAILED) {
        /* retrying a wrong access code quickly only hammers the printer: go slow */
        delay = o->reconnect_max_ms;
    } else {
        delay = p->backoff_ms ? p->backoff_ms : o->reconnect_min_ms;
        p->backoff_ms = delay * 2 > o->reconnect_max_ms ? o->reconnect_max_ms : delay * 2;
    }
    p->next_attempt_ms = pd_clock_mono_ms() + pd_mqttio_jitter(delay);
    pd_link_set_state(p, st, msg);
}

/* --- libmosquitto callbacks (run inside loop_read/loop_write) ------------------------- */
static void on_connect(struct mosquitto *m, void *obj, int rc)
{
    pd_printer *p = obj;
    if (rc != 0) {
        p->connack_rc = rc;
        return;
    }
    attempt_done(p);
    char topic[64];
    snprintf(topic, sizeof topic, "device/%s/report", p->rec.serial);
    mosquitto_subscribe(m, NULL, topic, 0);
    p->last_msg_ms = pd_clock_mono_ms();
    p->pushall_resent = false;
    pd_link_set_state(p, PD_LINK_CONNECTED, NULL);
    pd_link_request_pushall(p);
    char req[96];
    snprintf(req, sizeof req, "{\"info\":{\"sequence_id\":\"%u\",\"command\":\"get_version\"}}",
             p->next_seq++);
    snprintf(topic, sizeof topic, "device/%s/request", p->rec.serial);
    mosquitto_publish(m, NULL, topic, (int)strlen(req), req, 1, false);
}

static void on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
    pd_printer *p = obj;
    (void)m;
    if (msg->payloadlen > p->fleet->opts.max_payload) {
        p->counters.messages++;
        p->counters.dropped++;
        pd_warn("printer", "%s: dropped a %d-byte report (limit %d)", p->rec.name,
                msg->payloadlen, p->fleet->opts.max_payload);
        return;
    }
    p->last_msg_ms = pd_clock_mono_ms();
    p->pushall_resent = false;
    p->backoff_ms = 0;
    if (p->lstate == PD_LINK_STALE)
        pd_link_set_state(p, PD_LINK_CONNECTED, NULL);
    set_online(p, true);
    pd_fleet_on_message(p, msg->payload, (size_t)msg->payloadlen);
}

static void on_log(struct mosquitto *m, void *obj, int level, const char *str)
{
    (void)m;
    pd_printer *p = obj;
    if (level == MOSQ_LOG_ERR && !p->last_error[0])
        snprintf(p->last_error, sizeof p->last_error, "%s", str);
}

/* --- connecting ------------------------------------------------------------------------ */
/* On a worker thread: touches nothing but *pr. */
static void prep_work(uv_work_t *w)
{
    pd_link_prep *pr = (pd_link_prep *)w;
    if (pr->ca_file[0]) {
        const char *why = pd_tls_read_ca(pr->ca_file, &pr->pem, &pr->pem_len);
        if (why) {
            pr->ca_failed = true;
            snprintf(pr->err, sizeof pr->err, "cannot load ca_file %s: %s", pr->ca_file, why);
            return;
        }
    }
    /* as libmosquitto asks: no AI_ADDRCONFIG, which hides 127.0.0.1 on a host with only lo */
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    int rc = getaddrinfo(pr->host, NULL, &hints, &ai);
    if (!rc)
        rc = getnameinfo(ai->ai_addr, ai->ai_addrlen, pr->addr, sizeof pr->addr, NULL, 0, NI_NUMERICHOST);
    if (rc)
        snprintf(pr->err, sizeof pr->err, "cannot resolve %s: %s", pr->host,
                 rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
    freeaddrinfo(ai);
}

static void link_open(pd_printer *p, const pd_link_prep *pr);

static void prep_done(uv_work_t *w, int status)
{
    pd_link_prep *pr = (pd_link_prep *)w;
    pd_printer *p = pr->p;
    (void)status; /* cancelled only once given up, and then p is NULL */
    if (p) {
        p->prep = NULL;
        if (pr->err[0])
            link_fail(p, pr->ca_failed ? PD_LINK_TLS_FAILED : PD_LINK_BACKOFF, "%s", pr->err);
        else
            link_open(p, pr);
    }
    free(pr->pem);
    free(pr);
}

/* An attempt begins with its address and ca_file fetched off the loop; link_open goes on. */
static void link_attempt(pd_printer *p)
{
    pd_fleet *f = p->fleet;
    /* Past the descriptor limit, accept() fails in the HTTP server and every connect here:
     * the printers beyond what it leaves room for wait, saying why, and the API keeps its own */
    if (f->opts.max_links && f->links >= f->opts.max_links) {
        link_fail(p, PD_LINK_BACKOFF, "no descriptor left for another printer connection (%d are "
                  "open): raise the open-files limit (ulimit -n, systemd LimitNOFILE=)", f->links);
        return;
    }
    p->holds_fds = true;
    f->links++;
    f->connects_since_trim++;
    p->connack_rc = 0;
    p->last_error[0] = 0;
    p->attempting = true;
    p->fleet->attempts++;
    p->attempt_ms = pd_clock_mono_ms();
    pd_link_prep *pr = calloc(1, sizeof *pr);
    if (!pr) {
        link_fail(p, PD_LINK_BACKOFF, "out of memory");
        return;
    }
    pr->p = p;
    snprintf(pr->host, sizeof pr->host, "%s", p->rec.host);
    if (p->rec.tls_verify)
        snprintf(pr->ca_file, sizeof pr->ca_file, "%s", p->rec.ca_file);
    if (uv_queue_work(p->fleet->loop, &pr->w, prep_work, prep_done)) {
        free(pr);
        link_fail(p, PD_LINK_BACKOFF, "cannot queue name resolution");
        return;
    }
    p->prep = pr;
}

static void link_open(pd_printer *p, const pd_link_prep *pr)
{
    static unsigned client_n;
    char id[96];
    /* a fresh client id per attempt: the broker must not replay a dead session's commands */
    snprintf(id, sizeof id, "printdeck_%s_%d_%u", p->rec.serial, (int)getpid(), ++client_n);
    p->mosq = mosquitto_new(id, true, p);
    if (!p->mosq) {
        link_fail(p, PD_LINK_BACKOFF, "out of memory");
        return;
    }
    mosquitto_int_option(p->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_connect_callback_set(p->mosq, on_connect);
    mosquitto_message_callback_set(p->mosq, on_message);
    mosquitto_log_callback_set(p->mosq, on_log);
    mosquitto_username_pw_set(p->mosq, "bblp", p->rec.access_code);
    if (tls_acquire(p, pr->pem, pr->pem_len)) {
        char why[sizeof p->last_error];
        snprintf(why, sizeof why, "%s", p->last_error);
        link_fail(p, PD_LINK_TLS_FAILED, "%s", why);
        return;
    }
    /* our context is complete: libmosquitto's defaults would demand a cafile of its own */
    mosquitto_int_option(p->mosq, MOSQ_OPT_SSL_CTX_WITH_DEFAULTS, 0);
    mosquitto_void_option(p->mosq, MOSQ_OPT_SSL_CTX, p->tls->ctx);
    /* the numeric address: libmosquitto would resolve the name again, on the loop. TLS does
     * not need the name: the certificate is checked against the serial (tls_verify). */
    int rc = mosquitto_connect_async(p->mosq, pr->addr, p->rec.port, p->fleet->opts.keepalive_s);
    if (rc != MOSQ_ERR_SUCCESS) {
        const char *why = rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc);
        link_fail(p, PD_LINK_BACKOFF, "cannot connect to %s:%d: %s", p->rec.host, p->rec.port, why);
        return;
    }
    link_watch(p);
}

static void link_connect(pd_printer *p)
{
    link_drop(p);
    pd_link_set_state(p, PD_LINK_CONNECTING, NULL);
    if (p->fleet->attempts < MAX_ATTEMPTS)
        link_attempt(p);
}

/* After libmosquitto returns an error, name the cause the user can act on. */
static void link_fail_rc(pd_printer *p, int rc)
{
    if (p->connack_rc == 4 || p->connack_rc == 5) {
        link_fail(p, PD_LINK_AUTH_FAILED,
                  "printer refused the access code (MQTT CONNACK %d): check the LAN access code "
                  "on the printer's screen", p->connack_rc);
    } else if (p->connack_rc) {
        link_fail(p, PD_LINK_BACKOFF, "printer refused the connection (CONNACK %d: %s)",
                  p->connack_rc, mosquitto_connack_string(p->connack_rc));
    } else if (strstr(p->last_error, "did not verify")) {
        /* set by verify_cb in this attempt (cleared at its start): the handshake failed on
         * it, whichever error libmosquitto then returned (MOSQ_ERR_TLS usually; a reset or a
         * lost connection when the read that meets the alert comes first) */
        char why[sizeof p->last_error];
        snprintf(why, sizeof why, "%s", p->last_error);
        link_fail(p, PD_LINK_TLS_FAILED, "%s", why);
    } else {
        const char *why = rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc);
        if (p->lstate == PD_LINK_CONNECTING)
            link_fail(p, PD_LINK_BACKOFF, "cannot connect to %s:%d: %s", p->rec.host, p->rec.port, why);
        else
            link_fail(p, PD_LINK_BACKOFF, "connection lost: %s", why);
    }
}

static void poll_cb(uv_poll_t *h, int status, int events)
{
    pd_printer *p = h->data;
    if (!p || !p->mosq)
        return;
    if (status < 0) {
        link_fail(p, PD_LINK_BACKOFF, "socket error: %s", uv_strerror(status));
        return;
    }
    /* while the TLS handshake runs, writability also moves it on, through loop_read */
    int rc = pd_mqttio_service(&p->mosq, events, p->lstate == PD_LINK_CONNECTING);
    if (rc != MOSQ_ERR_SUCCESS)
        link_fail_rc(p, rc);
    else
        link_watch(p);
}

pd_err pd_link_start(pd_printer *p)
{
    p->backoff_ms = 0;
    p->next_seq = FIRST_SEQ;
    if (p->rec.source == PD_PRINTER_HA)
        return PD_OK;  /* Home Assistant's webhooks feed it (pd_fleet_feed): there is no link */
    link_connect(p);
    return PD_OK;
}

void pd_link_stop(pd_printer *p)
{
    if (p->mosq && (p->lstate == PD_LINK_CONNECTED || p->lstate == PD_LINK_STALE)) {
        /* best effort: tell the printer we leave, so its one-client firmware frees the slot */
        mosquitto_disconnect(p->mosq);
        mosquitto_loop_write(p->mosq, 1);
    }
    link_drop(p);
    set_online(p, false);
    fail_pending(p, PD_ERR_OFFLINE, "printer removed or reconfigured");
    p->lstate = PD_LINK_DISCONNECTED;
}

/* --- commands -------------------------------------------------------------------------- */
static pd_err link_publish(pd_printer *p, json_t *msg)
{
    char topic[64];
    snprintf(topic, sizeof topic, "device/%s/request", p->rec.serial);
    char *s = json_dumps(msg, JSON_COMPACT);
    if (!s)
        return PD_ERR_NOMEM;
    int rc = mosquitto_publish(p->mosq, NULL, topic, (int)strlen(s), s, 1, false);
    free(s);
    if (rc != MOSQ_ERR_SUCCESS)
        return PD_ERR_OFFLINE;
    link_watch(p);
    return PD_OK;
}

void pd_link_request_pushall(pd_printer *p)
{
    if (!p->mosq)
        return;
    json_t *m = json_pack("{s:{s:s,s:s,s:i,s:i}}", "pushing", "sequence_id", "0", "command",
                          "pushall", "version", 1, "push_target", 1);
    if (m)
        link_publish(p, m);
    p->pushall_ms = pd_clock_mono_ms();
    json_decref(m);
}

static bool ack_success(const json_t *body)
{
    const char *r = json_string_value(json_object_get(body, "result"));
    return r && !strcasecmp(r, "success");
}

static pd_pending_cmd *pending_take(pd_printer *p, const char *seq)
{
    for (int i = 0; i < PD_MAX_PENDING_CMDS; i++)
        if (p->pending[i].handle && !strcmp(p->pending[i].seq, seq))
            return &p->pending[i];
    return NULL;
}

static void pending_finish(pd_printer *p, pd_pending_cmd *c, pd_err rc, const char *detail,
                           const json_t *ack)
{
    pd_cmd_cb cb = c->cb;
    void *ud = c->ud;
    c->handle = 0;
    if (rc)
        p->counters.command_failures++;
    cb(rc, detail, ack, ud);
}

void pd_link_on_ack(pd_printer *p, const json_t *body)
{
    const char *seq = json_string_value(json_object_get(body, "sequence_id"));
    pd_pending_cmd *c = seq ? pending_take(p, seq) : NULL;
    if (!c)
        return; /* another client's command (Bambu Studio, Handy) */
    if (ack_success(body)) {
        pending_finish(p, c, PD_OK, NULL, body);
        return;
    }
    const char *reason = json_string_value(json_object_get(body, "reason"));
    /* January-2025 firmware without Developer Mode: "mqtt message verify failed" */
    bool signed_fw = reason && strstr(reason, "verify failed");
    pending_finish(p, c, signed_fw ? PD_ERR_SIGNED : PD_ERR_REFUSED, reason ? reason : "failed", body);
}

void pd_link_on_full_report(pd_printer *p)
{
    for (int i = 0; i < PD_MAX_PENDING_CMDS; i++)
        if (p->pending[i].handle && !strcmp(p->pending[i].seq, "pushall"))
            pending_finish(p, &p->pending[i], PD_OK, NULL, NULL);
}

/* Builds the wire message for an API command body; NULL + err on a bad request. */
static json_t *command_build(const json_t *req, const char *seq, char *err, size_t errlen)
{
    const char *cmd = json_string_value(json_object_get(req, "command"));
    if (!cmd) {
        snprintf(err, errlen, "command: required string");
        return NULL;
    }
    if (!strcmp(cmd, "pause") || !strcmp(cmd, "resume") || !strcmp(cmd, "stop"))
        return json_pack("{s:{s:s,s:s,s:s}}", "print", "sequence_id", seq, "command", cmd, "param", "");
    if (!strcmp(cmd, "speed")) {
        json_t *lv = json_object_get(req, "level");
        json_int_t level = json_is_integer(lv) ? json_integer_value(lv) : 0;
        if (level < 1 || level > 4) {
            snprintf(err, errlen, "level: integer 1 (silent) to 4 (ludicrous) required");
            return NULL;
        }
        char param[4];
        snprintf(param, sizeof param, "%d", (int)level);
        return json_pack("{s:{s:s,s:s,s:s}}", "print", "sequence_id", seq, "command", "print_speed",
                         "param", param);
    }
    if (!strcmp(cmd, "gcode")) {
        const char *g = json_string_value(json_object_get(req, "gcode"));
        size_t n = g ? strlen(g) : 0;
        if (!n || n > 4096) {
            snprintf(err, errlen, "gcode: non-empty string of at most 4096 bytes required");
            return NULL;
        }
        char *line = malloc(n + 2);
        if (!line)
            return NULL;
        memcpy(line, g, n);
        /* the firmware runs complete lines only */
        strcpy(line + n, g[n - 1] == '\n' ? "" : "\n");
        json_t *m = json_pack("{s:{s:s,s:s,s:s}}", "print", "sequence_id", seq, "command",
                              "gcode_line", "param", line);
        free(line);
        return m;
    }
    if (!strcmp(cmd, "light")) {
        json_t *on = json_object_get(req, "on");
        const char *node = json_string_value(json_object_get(req, "node"));
        if (!json_is_boolean(on)) {
            snprintf(err, errlen, "on: boolean required");
            return NULL;
        }
        if (!node)
            node = "chamber_light";
        if (strcmp(node, "chamber_light") && strcmp(node, "work_light") &&
            strcmp(node, "chamber_light2") && strcmp(node, "heatbed_light")) {
            snprintf(err, errlen, "node: one of chamber_light, work_light, chamber_light2, heatbed_light");
            return NULL;
        }
        return json_pack("{s:{s:s,s:s,s:s,s:s,s:i,s:i,s:i,s:i}}", "system", "sequence_id", seq,
                         "command", "ledctrl", "led_node", node, "led_mode",
                         json_is_true(on) ? "on" : "off", "led_on_time", 500, "led_off_time", 500,
                         "loop_times", 0, "interval_time", 0);
    }
    if (!strcmp(cmd, "pushall"))
        return json_pack("{s:{s:s,s:s,s:i,s:i}}", "pushing", "sequence_id", seq, "command",
                         "pushall", "version", 1, "push_target", 1);
    snprintf(err, errlen, "command: '%s' is not one of pause, resume, stop, light, speed, gcode, pushall", cmd);
    return NULL;
}

pd_err pd_printer_command(pd_printer *p, const json_t *req, pd_cmd_cb cb, void *ud,
                          uint64_t *handle, char *err, size_t errlen)
{
    char seq[16];
    snprintf(seq, sizeof seq, "%u", p->next_seq);
    json_t *msg = command_build(req, seq, err, errlen);
    if (!msg)
        return PD_ERR_INVAL;
    bool is_pushall = json_object_get(msg, "pushing") != NULL;
    pd_err rc = PD_OK;
    pd_pending_cmd *slot = NULL;
    if (p->rec.source == PD_PRINTER_HA) {
        snprintf(err, errlen, "printer %s is backed by Home Assistant: printdeck has no link to it "
                 "and sends it no commands", p->rec.name);
        rc = PD_ERR_UNSUPPORTED;
        goto out;
    }
    if (p->lstate != PD_LINK_CONNECTED && p->lstate != PD_LINK_STALE) {
        snprintf(err, errlen, "printer %s is not connected (%s%s%s)", p->rec.name,
                 pd_link_state_name(p->lstate), p->last_error[0] ? ": " : "", p->last_error);
        rc = PD_ERR_OFFLINE;
        goto out;
    }
    if (p->state.sign_required && !is_pushall) {
        snprintf(err, errlen, "%s", pd_strerror(PD_ERR_SIGNED));
        rc = PD_ERR_SIGNED;
        goto out;
    }
    for (int i = 0; i < PD_MAX_PENDING_CMDS && !slot; i++)
        if (!p->pending[i].handle)
            slot = &p->pending[i];
    if (!slot) {
        snprintf(err, errlen, "%d commands already wait for this printer", PD_MAX_PENDING_CMDS);
        rc = PD_ERR_BUSY;
        goto out;
    }
    if ((rc = link_publish(p, msg))) {
        snprintf(err, errlen, "could not send to the printer");
        goto out;
    }
    p->next_seq++;
    p->counters.commands++;
    /* the printer answers pushall with a full report, not an ack */
    snprintf(slot->seq, sizeof slot->seq, "%s", is_pushall ? "pushall" : seq);
    slot->handle = p->fleet->next_handle++;
    slot->deadline_ms = pd_clock_mono_ms() + p->fleet->opts.command_timeout_ms;
    slot->cb = cb;
    slot->ud = ud;
    if (handle)
        *handle = slot->handle;
out:
    json_decref(msg);
    return rc;
}

void pd_printer_command_cancel(pd_printer *p, uint64_t handle)
{
    for (int i = 0; i < PD_MAX_PENDING_CMDS; i++)
        if (p->pending[i].handle == handle)
            p->pending[i].handle = 0;
}

/* --- the fleet tick ---------------------------------------------------------------------- */
void pd_link_tick(pd_printer *p, int64_t now)
{
    const pd_fleet_opts *o = &p->fleet->opts;
    for (int i = 0; i < PD_MAX_PENDING_CMDS; i++) {
        pd_pending_cmd *c = &p->pending[i];
        if (c->handle && now >= c->deadline_ms)
            pending_finish(p, c, PD_ERR_TIMEOUT,
                           "no acknowledgement in time; printers without Developer Mode may drop "
                           "control commands silently", NULL);
    }
    if (p->rec.source == PD_PRINTER_HA)
        return;  /* its state is Home Assistant's connection's (ha/source.c), not a link's */
    switch (p->lstate) {
    case PD_LINK_CONNECTING:
        if (!p->attempting) {
            if (p->fleet->attempts < MAX_ATTEMPTS)
                link_attempt(p);
        } else if (now - p->attempt_ms > CONNECT_TIMEOUT_MS) {
            link_fail(p, PD_LINK_BACKOFF, "connection to %s:%d timed out", p->rec.host, p->rec.port);
        }
        break;
    case PD_LINK_CONNECTED:
    case PD_LINK_STALE: {
        int rc = mosquitto_loop_misc(p->mosq);
        if (rc != MOSQ_ERR_SUCCESS) {
            link_fail_rc(p, rc);
            break;
        }
        int64_t silent = now - p->last_msg_ms, limit = (int64_t)o->silence_s * 1000;
        if (silent >= limit + limit / 2) {
            /* P1 firmware can stop publishing while TCP stays up: only a reconnect helps */
            link_fail(p, PD_LINK_BACKOFF, "no report for %d s; reconnecting", (int)(silent / 1000));
        } else if (silent >= limit && !p->pushall_resent) {
            p->pushall_resent = true;
            pd_link_set_state(p, PD_LINK_STALE, "no report from the printer; asked for a full report");
            pd_link_request_pushall(p);
        } else {
            link_watch(p);
        }
        break;
    }
    case PD_LINK_BACKOFF:
    case PD_LINK_AUTH_FAILED:
    case PD_LINK_TLS_FAILED:
        if (now >= p->next_attempt_ms) {
            p->counters.reconnects++;
            link_connect(p);
        }
        break;
    case PD_LINK_DISCONNECTED:
        break;
    }
}
