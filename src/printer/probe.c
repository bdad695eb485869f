/* The connection test of a printer record (probe.h). */
#include "printer/probe.h"

#include <errno.h>
#include <mosquitto.h>
#include <netdb.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/tls.h"
#include "printer/model.h"
#include "printer/state.h"

typedef struct probe {
    const pd_printer_rec *rec;
    pd_probe_result *out;
    bool done;
    int connack;             /* -1 until CONNACK */
    int verify_err;          /* X509_V_OK unless the certificate failed */
    int64_t report_ms;       /* mono time of the first report, 0 before */
} probe;

/* Firmware that predates the `fun` field says nothing of Developer Mode: after a first
 * report, this long for a full one that does. */
#define FUN_WAIT_MS 3000

static const char *const step_names[] = {"ok", "address", "connect", "tls", "access_code",
                                         "report", "developer_mode"};

const char *pd_probe_step_name(pd_probe_step s) { return step_names[s]; }

static void finish(probe *pb, pd_probe_step step, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void finish(probe *pb, pd_probe_step step, const char *fmt, ...)
{
    if (pb->done)
        return;
    pb->done = true;
    pb->out->step = step;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pb->out->message, sizeof pb->out->message, fmt, ap);
    va_end(ap);
}

static int verify_cb(int ok, X509_STORE_CTX *xs)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
    probe *pb = ssl ? SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)) : NULL;
    if (!ok && pb && pb->verify_err == X509_V_OK)
        pb->verify_err = X509_STORE_CTX_get_error(xs);
    return ok;
}

/* The link's trust (link.c): TLS 1.2 only, the CA of ca_file or Bambu's, the serial as the
 * certificate's name, or nothing checked with tls_verify off. */
static SSL_CTX *tls_ctx(probe *pb, const char *pem, size_t pem_len)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx)
        return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_app_data(ctx, pb);
    if (!pb->rec->tls_verify) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
        return ctx;
    }
    X509_STORE *store = pd_tls_pem_store(pem ? pem : pd_bambu_ca_pem, pem ? (int)pem_len : -1);
    if (!store) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_cert_store(ctx, store);
    X509_VERIFY_PARAM_set1_host(SSL_CTX_get0_param(ctx), pb->rec->serial, 0);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_cb);
    return ctx;
}

static void on_connect(struct mosquitto *m, void *obj, int rc)
{
    probe *pb = obj;
    pb->connack = rc;
    if (rc)
        return;
    char topic[64], req[96];
    snprintf(topic, sizeof topic, "device/%s/report", pb->rec->serial);
    mosquitto_subscribe(m, NULL, topic, 0);
    snprintf(topic, sizeof topic, "device/%s/request", pb->rec->serial);
    snprintf(req, sizeof req, "{\"pushing\":{\"sequence_id\":\"0\",\"command\":\"pushall\"}}");
    mosquitto_publish(m, NULL, topic, (int)strlen(req), req, 0, false);
}

/* The first report with the fun bits settles it: Developer Mode shows there. Deltas without
 * them only count as a report. */
static void on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
    (void)m;
    probe *pb = obj;
    json_t *root = json_loadb(msg->payload, (size_t)msg->payloadlen, 0, NULL);
    const json_t *print = json_object_get(root, "print");
    if (json_is_object(print) && !pb->report_ms)
        pb->report_ms = pd_clock_mono_ms();
    if (json_is_object(print) && json_object_get(print, "fun")) {
        pd_state st;
        pd_state_init(&st);
        pd_state_extract(&st, print, pd_model_from_serial(pb->rec->serial));
        if (st.sign_required)
            finish(pb, PD_PROBE_DEVELOPER_MODE,
                   "connected and the printer reports, but its firmware wants signed commands: "
                   "printdeck can watch it but not pause, stop or control it. Turn on Developer "
                   "Mode on the printer's screen (Settings, LAN Only Mode)");
        else
            finish(pb, PD_PROBE_OK, "connected, the access code is right and the printer "
                   "reports; commands are accepted (Developer Mode on or not needed)");
    }
    json_decref(root);
}

static void fail_rc(probe *pb, int rc, int err_no)
{
    const pd_printer_rec *r = pb->rec;
    if (pb->connack == 4 || pb->connack == 5)
        finish(pb, PD_PROBE_ACCESS_CODE, "the printer refused the access code: check the LAN "
               "access code on the printer's screen (it changes when LAN mode is turned off and "
               "on again)");
    else if (pb->connack > 0)
        finish(pb, PD_PROBE_CONNECT, "the printer refused the connection: %s",
               mosquitto_connack_string(pb->connack));
    else if (pb->verify_err != X509_V_OK)
        finish(pb, PD_PROBE_TLS, "the printer's certificate did not verify: %s (expected the "
               "name %s, signed by %s). Check the serial, or set ca_file, or turn tls_verify "
               "off", X509_verify_cert_error_string(pb->verify_err), r->serial,
               r->ca_file[0] ? "the CA in ca_file" : "the Bambu Lab CA");
    else if (rc == MOSQ_ERR_TLS)
        finish(pb, PD_PROBE_TLS, "the TLS handshake with %s:%d failed: is it a Bambu printer's "
               "MQTT port (8883)?", r->host, r->port);
    else if (rc == MOSQ_ERR_ERRNO && err_no == ECONNREFUSED)
        finish(pb, PD_PROBE_CONNECT, "%s refused the connection on port %d: is LAN mode on, "
               "and the address the printer's?", r->host, r->port);
    else
        finish(pb, PD_PROBE_CONNECT, "cannot connect to %s:%d: %s", r->host, r->port,
               rc == MOSQ_ERR_ERRNO ? strerror(err_no) : mosquitto_strerror(rc));
}

void pd_probe_run(const pd_printer_rec *rec, const char *pem, size_t pem_len, int timeout_ms,
                  pd_probe_result *out)
{
    memset(out, 0, sizeof *out);
    probe pb = {.rec = rec, .out = out, .connack = -1, .verify_err = X509_V_OK};
    int64_t start = pd_clock_mono_ms(), deadline = start + timeout_ms;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    char addr[64];
    int gai = getaddrinfo(rec->host, NULL, &hints, &ai);
    if (gai || !ai || getnameinfo(ai->ai_addr, ai->ai_addrlen, addr, sizeof addr, NULL, 0,
                                  NI_NUMERICHOST)) {
        finish(&pb, PD_PROBE_ADDRESS, "cannot find the host %s: %s", rec->host,
               gai ? gai_strerror(gai) : "no address");
        freeaddrinfo(ai);
        out->elapsed_ms = pd_clock_mono_ms() - start;
        return;
    }
    freeaddrinfo(ai);
    char id[96];
    snprintf(id, sizeof id, "printdeck_test_%s_%d", rec->serial, (int)getpid());
    struct mosquitto *m = mosquitto_new(id, true, &pb);
    SSL_CTX *ctx = m ? tls_ctx(&pb, rec->ca_file[0] ? pem : NULL, pem_len) : NULL;
    if (!ctx) {
        finish(&pb, PD_PROBE_TLS, m && rec->ca_file[0] ? "no PEM certificate in ca_file %s"
                                                       : "cannot set up TLS%s", rec->ca_file);
        goto out;
    }
    mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_connect_callback_set(m, on_connect);
    mosquitto_message_callback_set(m, on_message);
    mosquitto_username_pw_set(m, "bblp", rec->access_code);
    mosquitto_int_option(m, MOSQ_OPT_SSL_CTX_WITH_DEFAULTS, 0);
    mosquitto_void_option(m, MOSQ_OPT_SSL_CTX, ctx);
    /* non-blocking connect: the loop below bounds the TCP connect and the handshake too */
    int rc = mosquitto_connect_async(m, addr, rec->port, 30), err_no = 0;
    while (!pb.done && rc == MOSQ_ERR_SUCCESS && pd_clock_mono_ms() < deadline) {
        if (pb.report_ms && pd_clock_mono_ms() - pb.report_ms > FUN_WAIT_MS)
            finish(&pb, PD_PROBE_OK, "connected, the access code is right and the printer "
                   "reports (its firmware does not say whether it needs Developer Mode)");
        rc = mosquitto_loop(m, 100, 1);
        err_no = errno;
        /* a TCP connect refused under the TLS handshake is, to libmosquitto, one not
         * finished yet (link.c): the socket hung up says it */
        struct pollfd pf = {.fd = mosquitto_socket(m), .events = POLLIN};
        if (rc == MOSQ_ERR_SUCCESS && pb.connack < 0 && pf.fd >= 0 && poll(&pf, 1, 0) == 1 &&
            (pf.revents & (POLLERR | POLLHUP))) {
            socklen_t sl = sizeof err_no;
            if (getsockopt(pf.fd, SOL_SOCKET, SO_ERROR, &err_no, &sl) || !err_no)
                err_no = ECONNREFUSED;
            rc = MOSQ_ERR_ERRNO;
        }
    }
    if (!pb.done && rc != MOSQ_ERR_SUCCESS)
        fail_rc(&pb, rc, err_no);
    else if (!pb.done && pb.report_ms)
        finish(&pb, PD_PROBE_OK, "connected, the access code is right and the printer reports");
    else if (!pb.done && pb.connack == 0)
        finish(&pb, PD_PROBE_REPORT, "logged in, but no report came for serial %s within %d s: "
               "check the serial on the printer's screen", rec->serial, timeout_ms / 1000);
    else if (!pb.done && pb.connack > 0)
        fail_rc(&pb, rc, err_no);
    else if (!pb.done)
        finish(&pb, PD_PROBE_CONNECT, "no answer from %s:%d within %d s: is the printer on, "
               "on this network, with LAN mode on?", rec->host, rec->port, timeout_ms / 1000);
    mosquitto_disconnect(m);
out:
    mosquitto_destroy(m);
    SSL_CTX_free(ctx);
    out->elapsed_ms = pd_clock_mono_ms() - start;
}
