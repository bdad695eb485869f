/* printdeck-sim main: options, the fleet of simulated printers, one libmosquitto client
 * driven by the libuv loop (uv_poll on its socket, loop_read/write/misc; no thread), the
 * scheduler that gives every printer its report cadence, and topic dispatch. */
#include "sim.h"

#include "core/log.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <mosquitto.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#define SIM_LOG          "sim"
#define SIM_TICK_MS      20
#define SIM_MISC_MS      1000
#define SIM_KEEPALIVE_S  30
#define SIM_BACKOFF_MAX  5000
#define SIM_MAX_PENDING  5000 /* reports handed to libmosquitto but not yet on the socket */
#define SIM_MAX_CATCHUP  100  /* reports per printer per tick when --rate outpaces the tick */
#define SIM_SERIAL_LEN   15   /* real serials are 15 characters */

typedef struct sim {
    sim_opts opt;
    uv_loop_t loop;
    uv_timer_t tick, misc, retry, stop;
    uv_signal_t sigint, sigterm;
    uv_poll_t poll;
    bool poll_open, poll_closing;
    int poll_events;
    struct mosquitto *mosq;
    bool connected, quitting;
    unsigned backoff_ms;
    size_t n;
    sim_printer *printers;
    sim_printer **by_serial;
    uint64_t sent, pending, refused, stats_sent;
    double stats_ms;
} sim;

double sim_now_ms(const sim *s)
{
    return (double)uv_now(&s->loop);
}

const sim_opts *sim_options(const sim *s)
{
    return &s->opt;
}

void sim_wake(sim_printer *p)
{
    p->next_due_ms = sim_now_ms(p->sim);
}

/* ---- options ----------------------------------------------------------------------- */

static void sim_usage(FILE *f)
{
    char models[128];
    sim_model_list(models, sizeof models);
    fprintf(f,
        "usage: printdeck-sim [options]\n"
        "Plays Bambu Lab printers on an MQTT broker: reports on device/<serial>/report,\n"
        "commands from device/<serial>/request, scenarios on printdeck-sim/<serial>/control.\n\n"
        "  --host H            broker address, loopback only (127.0.0.1)\n"
        "  --port P            broker port, plain MQTT (1883)\n"
        "  --user U            (sim)\n"
        "  --password PW       (printdeck-sim)\n"
        "  --printers N        how many printers (3)\n"
        "  --models LIST       models cycled over the printers (X1C,P1S,A1); known: %s\n"
        "  --serials LIST      explicit serials; the model follows the serial prefix, else --models\n"
        "  --serial-prefix S   inserted after the model prefix of generated serials\n"
        "  --serials-file F    write \"serial<TAB>model\" lines at start\n"
        "  --list              print the serials that would be played and exit\n"
        "  --interval-ms N     partial report cadence while printing; idle is 2N (1000)\n"
        "  --speedup K         simulated time runs K times faster (1)\n"
        "  --seed S            random seed: the same seed gives the same fleet (1)\n"
        "  --auto-jobs         idle printers start jobs; HMS, spool swaps, failures (default)\n"
        "  --no-auto-jobs      only scripted behaviour (tests)\n"
        "  --rate R            benchmark: R partial reports/s in total, evenly spread\n"
        "  --storage-dir DIR   write each job's <name>.gcode.3mf to DIR/<serial>/ (its FTPS root)\n"
        "  --camera-port P     cameras: printer i on 127.0.0.1:P+i (A1, P1: port-6000 protocol;\n"
        "                      X1, P2S, H2, X2D: RTSPS with Digest auth, H.264)\n"
        "  --cert-dir DIR      the cameras' TLS: DIR/<serial>.crt and .key (scripts/gen-certs.sh)\n"
        "  --access-code C     the access code the cameras take (12345678)\n"
        "  --camera-fps F      frames per second of each camera (2)\n"
        "  --camera-max N      connections a camera feeds at once; one more is accepted and stalls,\n"
        "                      or an RTSPS session more is refused with 453 (1)\n"
        "  --camera-rtsp-size WxH  the RTSPS cameras' picture, e.g. 1920x1080 (1280x720)\n"
        "  --camera-log F      append \"serial frame monotonic_us\" as each frame goes out\n"
        "                      (bench/camera.sh; the frame number is also in the picture)\n"
        "  --log-level L       debug|info|warn|error (info)\n"
        "  --log-json          log JSON lines\n",
        models);
}

static bool sim_parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static bool sim_parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        return false;
    *out = v;
    return true;
}

static bool sim_loopback(const char *host)
{
    return !strcmp(host, "127.0.0.1") || !strcmp(host, "localhost") || !strcmp(host, "::1");
}

/* Returns -1 to go on, else the exit status. */
static int sim_parse_options(sim_opts *o, int argc, char **argv)
{
    enum { O_AUTO = 256, O_NO_AUTO, O_LIST, O_LOG_LEVEL, O_LOG_JSON, O_HELP, O_STORAGE,
           O_CAM_PORT, O_CERT_DIR, O_ACCESS_CODE, O_CAM_FPS, O_CAM_MAX,
           O_CAM_SIZE, O_CAM_LOG };
    static const struct option longs[] = {
        {"host", required_argument, NULL, 'h'},       {"port", required_argument, NULL, 'p'},
        {"user", required_argument, NULL, 'u'},       {"password", required_argument, NULL, 'P'},
        {"printers", required_argument, NULL, 'n'},   {"models", required_argument, NULL, 'm'},
        {"serials", required_argument, NULL, 's'},    {"serial-prefix", required_argument, NULL, 'x'},
        {"serials-file", required_argument, NULL, 'f'}, {"interval-ms", required_argument, NULL, 'i'},
        {"speedup", required_argument, NULL, 'k'},    {"seed", required_argument, NULL, 'S'},
        {"rate", required_argument, NULL, 'r'},       {"auto-jobs", no_argument, NULL, O_AUTO},
        {"no-auto-jobs", no_argument, NULL, O_NO_AUTO}, {"list", no_argument, NULL, O_LIST},
        {"log-level", required_argument, NULL, O_LOG_LEVEL}, {"log-json", no_argument, NULL, O_LOG_JSON},
        {"storage-dir", required_argument, NULL, O_STORAGE},
        {"camera-port", required_argument, NULL, O_CAM_PORT}, {"cert-dir", required_argument, NULL, O_CERT_DIR},
        {"access-code", required_argument, NULL, O_ACCESS_CODE},
        {"camera-fps", required_argument, NULL, O_CAM_FPS}, {"camera-max", required_argument, NULL, O_CAM_MAX},
        {"camera-rtsp-size", required_argument, NULL, O_CAM_SIZE},
        {"camera-log", required_argument, NULL, O_CAM_LOG},
        {"help", no_argument, NULL, O_HELP},          {NULL, 0, NULL, 0},
    };
    *o = (sim_opts){.host = "127.0.0.1", .port = 1883, .user = "sim", .password = "printdeck-sim",
                    .printers = 3, .models = "X1C,P1S,A1", .serial_prefix = "", .interval_ms = 1000,
                    .speedup = 1, .seed = 1, .auto_jobs = true, .access_code = "12345678",
                    .camera_fps = 2, .camera_max = 1,
                    .camera_rtsp_w = 1280, .camera_rtsp_h = 720};
    pd_log_level level = PD_LOG_INFO;
    bool json = false;
    long l;
    int c, li = -1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longs, &li)) != -1) {
        bool ok = true;
        switch (c) {
        case 'h': o->host = optarg; ok = sim_loopback(optarg); break;
        case 'p': ok = sim_parse_long(optarg, 1, 65535, &l); o->port = (int)l; break;
        case 'u': o->user = optarg; break;
        case 'P': o->password = optarg; break;
        case 'n': ok = sim_parse_long(optarg, 1, SIM_MAX_PRINTERS, &l); o->printers = (int)l; break;
        case 'm': o->models = optarg; break;
        case 's': o->serials = optarg; break;
        case 'x': o->serial_prefix = optarg; ok = strlen(optarg) <= 12; break;
        case 'f': o->serials_file = optarg; break;
        case 'i': ok = sim_parse_long(optarg, 50, 600000, &l); o->interval_ms = (int)l; break;
        case 'k': ok = sim_parse_double(optarg, 0.01, 10000, &o->speedup); break;
        case 'S': ok = sim_parse_long(optarg, 0, LONG_MAX, &l); o->seed = (uint64_t)l; break;
        case 'r': ok = sim_parse_double(optarg, 0.1, 1e6, &o->rate); break;
        case O_AUTO: o->auto_jobs = true; break;
        case O_NO_AUTO: o->auto_jobs = false; break;
        case O_LIST: o->list = true; break;
        case O_LOG_LEVEL: ok = pd_log_level_parse(optarg, &level) == 0; break;
        case O_LOG_JSON: json = true; break;
        case O_HELP: sim_usage(stdout); return 0;
        case O_STORAGE: o->storage_dir = optarg; break;
        case O_CAM_PORT: ok = sim_parse_long(optarg, 1, 65535, &l); o->camera_port = (int)l; break;
        case O_CERT_DIR: o->cert_dir = optarg; break;
        case O_ACCESS_CODE: o->access_code = optarg; ok = strlen(optarg) <= 32; break;
        case O_CAM_FPS: ok = sim_parse_double(optarg, 0.1, 30, &o->camera_fps); break;
        case O_CAM_MAX: ok = sim_parse_long(optarg, 1, 16, &l); o->camera_max = (int)l; break;
        case O_CAM_SIZE: {
            int w = 0, h = 0, used = 0;
            /* even sizes: H.264's 4:2:0 chroma halves both */
            ok = sscanf(optarg, "%dx%d%n", &w, &h, &used) == 2 && !optarg[used] && w >= 320 &&
                 w <= 3840 && h >= 240 && h <= 2160 && !(w % 2) && !(h % 2);
            o->camera_rtsp_w = w;
            o->camera_rtsp_h = h;
            break;
        }
        case O_CAM_LOG: o->camera_log = optarg; break;
        default: ok = false; break;
        }
        if (!ok) {
            if (c == '?' || li < 0)
                fprintf(stderr, "printdeck-sim: unknown or incomplete option %s\n", argv[optind - 1]);
            else
                fprintf(stderr, "printdeck-sim: bad value for --%s: %s%s\n", longs[li].name, optarg,
                        c == 'h' ? " (loopback only)" : c == 'x' ? " (12 characters at most)" : "");
            sim_usage(stderr);
            return 2;
        }
        li = -1;
    }
    if (optind < argc) {
        fprintf(stderr, "printdeck-sim: unexpected argument %s\n", argv[optind]);
        return 2;
    }
    pd_log_setup(level, json);
    return -1;
}

/* ---- the fleet ---------------------------------------------------------------------- */

static bool sim_serial_valid(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > SIM_SERIAL_MAX)
        return false;
    /* a serial is a topic level: no '/', '+', '#' and nothing a shell would mangle */
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z')))
            return false;
    return true;
}

/* splits a comma list into at most max items of SIM_SERIAL_MAX characters; count or -1 */
static int sim_split(const char *list, char (*items)[SIM_SERIAL_MAX + 1], int max)
{
    int n = 0;
    for (const char *s = list; *s;) {
        const char *e = strchr(s, ',');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (n == max || len > SIM_SERIAL_MAX)
            return -1;
        memcpy(items[n], s, len);
        items[n++][len] = '\0';
        s = e ? e + 1 : s + len;
    }
    return n;
}

static int sim_by_serial_cmp(const void *a, const void *b)
{
    return strcmp((*(sim_printer *const *)a)->serial, (*(sim_printer *const *)b)->serial);
}

static uint64_t sim_seed_for(uint64_t seed, const char *serial)
{
    /* FNV-1a then splitmix64: a printer's story depends on its serial, not its position */
    uint64_t h = 0xCBF29CE484222325ull ^ seed;
    for (const char *c = serial; *c; c++)
        h = (h ^ (unsigned char)*c) * 0x100000001B3ull;
    h += 0x9E3779B97F4A7C15ull;
    h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9ull;
    h = (h ^ (h >> 27)) * 0x94D049BB133111EBull;
    return h ^ (h >> 31);
}

static int sim_build_fleet(sim *s)
{
    int rc = -1;
    char (*models)[SIM_SERIAL_MAX + 1] = calloc(16, sizeof *models);
    char (*serials)[SIM_SERIAL_MAX + 1] = calloc(SIM_MAX_PRINTERS, sizeof *serials);
    const sim_model *mv[16];
    if (!models || !serials)
        goto out;
    int n_models = sim_split(s->opt.models, models, 16);
    if (n_models <= 0) {
        fprintf(stderr, "printdeck-sim: bad --models\n");
        goto out;
    }
    for (int i = 0; i < n_models; i++) {
        if (!(mv[i] = sim_model_find(models[i]))) {
            fprintf(stderr, "printdeck-sim: unknown model %s\n", models[i]);
            goto out;
        }
    }
    int n = s->opt.printers;
    if (s->opt.serials && (n = sim_split(s->opt.serials, serials, SIM_MAX_PRINTERS)) <= 0) {
        fprintf(stderr, "printdeck-sim: bad --serials (at most %d, %d characters each)\n", SIM_MAX_PRINTERS,
                SIM_SERIAL_MAX);
        goto out;
    }
    s->opt.printers = n;
    s->printers = calloc((size_t)n, sizeof *s->printers);
    s->by_serial = calloc((size_t)n, sizeof *s->by_serial);
    if (!s->printers || !s->by_serial)
        goto out;
    double now = sim_now_ms(s);
    for (int i = 0; i < n; i++) {
        const sim_model *m = mv[i % n_models];
        if (s->opt.serials) {
            const sim_model *by_prefix = sim_model_from_serial(serials[i]);
            m = by_prefix ? by_prefix : m;
        } else {
            int width = SIM_SERIAL_LEN - (int)strlen(m->prefix) - (int)strlen(s->opt.serial_prefix);
            if (snprintf(serials[i], sizeof serials[i], "%s%s%0*d", m->prefix, s->opt.serial_prefix,
                         width > 0 ? width : 1, i) >= (int)sizeof serials[i])
                serials[i][0] = '\0'; /* refused below */
        }
        if (!sim_serial_valid(serials[i])) {
            fprintf(stderr, "printdeck-sim: bad serial '%s' (letters and digits only)\n", serials[i]);
            goto out;
        }
        sim_printer_init(&s->printers[i], s, m, serials[i], sim_seed_for(s->opt.seed, serials[i]),
                         s->opt.auto_jobs, now);
        s->by_serial[i] = &s->printers[i];
        s->n = (size_t)i + 1;
    }
    qsort(s->by_serial, s->n, sizeof *s->by_serial, sim_by_serial_cmp);
    for (size_t i = 1; i < s->n; i++) {
        if (!strcmp(s->by_serial[i - 1]->serial, s->by_serial[i]->serial)) {
            fprintf(stderr, "printdeck-sim: serial %s given twice\n", s->by_serial[i]->serial);
            goto out;
        }
    }
    rc = 0;
out:
    free(models);
    free(serials);
    return rc;
}

static int sim_serial_key_cmp(const void *key, const void *elem)
{
    return strcmp(key, (*(sim_printer *const *)elem)->serial);
}

static sim_printer *sim_find(sim *s, const char *serial)
{
    sim_printer **hit = bsearch(serial, s->by_serial, s->n, sizeof *s->by_serial, sim_serial_key_cmp);
    return hit ? *hit : NULL;
}

static int sim_print_serials(const sim *s, FILE *f)
{
    for (size_t i = 0; i < s->n; i++)
        if (fprintf(f, "%s\t%s\n", s->printers[i].serial, s->printers[i].model->key) < 0)
            return -1;
    return 0;
}

/* written whole or not at all: scripts read it as soon as it exists */
static int sim_write_serials(const sim *s, const char *path)
{
    char tmp[4096];
    int rc = -1;
    if (snprintf(tmp, sizeof tmp, "%s.tmp%d", path, (int)getpid()) >= (int)sizeof tmp)
        return -1;
    FILE *f = fopen(tmp, "w");
    if (!f)
        goto out;
    rc = sim_print_serials(s, f);
    if (fclose(f) || rc || rename(tmp, path))
        rc = -1;
out:
    if (rc) {
        fprintf(stderr, "printdeck-sim: cannot write %s: %s\n", path, strerror(errno));
        unlink(tmp);
    }
    return rc;
}

/* ---- publishing ---------------------------------------------------------------------- */

static bool sim_publish(sim *s, const char *topic, const char *payload, size_t len)
{
    if (!s->connected || len > INT32_MAX)
        return false;
    /* counted first: for QoS 0, on_publish fires inside mosquitto_publish once written */
    s->pending++;
    int rc = mosquitto_publish(s->mosq, NULL, topic, (int)len, payload, 0, false);
    if (rc != MOSQ_ERR_SUCCESS) {
        s->pending--;
        pd_debug(SIM_LOG, "publish on %s: %s", topic, mosquitto_strerror(rc));
        return false;
    }
    s->sent++;
    return true;
}

bool sim_send(sim_printer *p, json_t *msg, bool partial)
{
    sim *s = p->sim;
    bool ok = true;
    char *text = NULL;
    if (!msg || sim_now_ms(s) < p->silent_until_ms)
        goto out;
    if (partial && (!s->connected || s->pending >= SIM_MAX_PENDING)) {
        s->refused++;
        ok = false;
        goto out;
    }
    text = json_dumps(msg, JSON_COMPACT);
    if (text && !sim_publish(s, p->report_topic, text, strlen(text)))
        ok = !partial;
out:
    free(text);
    json_decref(msg);
    return ok;
}

void sim_send_raw(sim_printer *p, const char *payload, size_t len)
{
    if (sim_now_ms(p->sim) >= p->silent_until_ms)
        sim_publish(p->sim, p->report_topic, payload, len);
}

/* ---- the MQTT client on the loop ------------------------------------------------------ */

static void sim_connect(sim *s);
static void sim_stop(sim *s);

static void sim_on_retry(uv_timer_t *t)
{
    sim *s = t->data;
    if (s->quitting)
        return;
    if (s->poll_closing) { /* the old fd's watcher must be gone before a new socket can reuse it */
        uv_timer_start(&s->retry, sim_on_retry, 50, 0);
        return;
    }
    sim_connect(s);
}

static void sim_retry_later(sim *s)
{
    s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : 250;
    if (s->backoff_ms > SIM_BACKOFF_MAX)
        s->backoff_ms = SIM_BACKOFF_MAX;
    uv_timer_start(&s->retry, sim_on_retry, s->backoff_ms, 0);
}

static void sim_on_poll_closed(uv_handle_t *h)
{
    ((sim *)h->data)->poll_closing = false;
}

static void sim_close_poll(sim *s)
{
    if (!s->poll_open)
        return;
    s->poll_open = false;
    s->poll_closing = true;
    uv_close((uv_handle_t *)&s->poll, sim_on_poll_closed);
}

static void sim_lost(sim *s)
{
    if (!s->poll_open)
        return;
    s->connected = false;
    s->pending = 0; /* libmosquitto dropped whatever was queued */
    sim_close_poll(s);
    if (s->quitting)
        return;
    pd_warn(SIM_LOG, "connection to %s:%d lost, reconnecting", s->opt.host, s->opt.port);
    sim_retry_later(s);
}

static void sim_on_poll(uv_poll_t *h, int status, int events);

static void sim_poll_update(sim *s)
{
    if (!s->poll_open)
        return;
    if (mosquitto_socket(s->mosq) < 0) {
        sim_lost(s);
        return;
    }
    int ev = UV_READABLE | (mosquitto_want_write(s->mosq) ? UV_WRITABLE : 0);
    if (ev != s->poll_events) {
        uv_poll_start(&s->poll, ev, sim_on_poll);
        s->poll_events = ev;
    }
}

static void sim_on_poll(uv_poll_t *h, int status, int events)
{
    sim *s = h->data;
    int rc = status < 0 ? MOSQ_ERR_CONN_LOST : MOSQ_ERR_SUCCESS;
    if (rc == MOSQ_ERR_SUCCESS && (events & UV_READABLE))
        rc = mosquitto_loop_read(s->mosq, 1);
    if (rc == MOSQ_ERR_SUCCESS && (events & UV_WRITABLE))
        rc = mosquitto_loop_write(s->mosq, 1);
    if (rc != MOSQ_ERR_SUCCESS)
        sim_lost(s);
    else
        sim_poll_update(s);
}

static void sim_connect(sim *s)
{
    /* a blocking connect is fine: the broker is on loopback, refusal is immediate */
    int rc = mosquitto_connect(s->mosq, s->opt.host, s->opt.port, SIM_KEEPALIVE_S);
    if (rc != MOSQ_ERR_SUCCESS) {
        pd_warn(SIM_LOG, "cannot connect to %s:%d: %s", s->opt.host, s->opt.port,
                rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
        sim_retry_later(s);
        return;
    }
    if ((rc = uv_poll_init_socket(&s->loop, &s->poll, mosquitto_socket(s->mosq)))) {
        pd_error(SIM_LOG, "cannot watch the MQTT socket: %s", uv_strerror(rc));
        sim_retry_later(s); /* the next mosquitto_connect closes this socket */
        return;
    }
    s->poll.data = s;
    s->poll_open = true;
    s->poll_events = 0;
    sim_poll_update(s);
}

static void sim_on_connect(struct mosquitto *m, void *ud, int rc)
{
    sim *s = ud;
    if (rc) {
        pd_error(SIM_LOG, "broker refused the connection: %s", mosquitto_connack_string(rc));
        return; /* the broker closes the socket; the poll callback reconnects with backoff */
    }
    s->connected = true;
    s->backoff_ms = 0;
    static const char *const subs[] = {"device/+/request", "printdeck-sim/+/control", "printdeck-sim/control"};
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
        mosquitto_subscribe(m, NULL, subs[i], 1);
    pd_info(SIM_LOG, "connected to %s:%d, playing %zu printers", s->opt.host, s->opt.port, s->n);
}

static void sim_on_publish(struct mosquitto *m, void *ud, int mid)
{
    sim *s = ud;
    if (s->pending)
        s->pending--;
}

/* "<pre><serial><post>" → serial */
static bool sim_topic_serial(const char *topic, const char *pre, const char *post, char *out)
{
    size_t lt = strlen(topic), lp = strlen(pre), ls = strlen(post);
    if (lt <= lp + ls || lt - lp - ls > SIM_SERIAL_MAX || strncmp(topic, pre, lp) || strcmp(topic + lt - ls, post))
        return false;
    memcpy(out, topic + lp, lt - lp - ls);
    out[lt - lp - ls] = '\0';
    return true;
}

static void sim_on_stop(uv_timer_t *t)
{
    sim_stop(t->data);
}

static void sim_on_message(struct mosquitto *m, void *ud, const struct mosquitto_message *msg)
{
    sim *s = ud;
    char serial[SIM_SERIAL_MAX + 1];
    size_t len = msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0;
    const char *payload = msg->payload ? msg->payload : "";
    bool request = sim_topic_serial(msg->topic, "device/", "/request", serial);
    if (request || sim_topic_serial(msg->topic, "printdeck-sim/", "/control", serial)) {
        sim_printer *p = sim_find(s, serial);
        if (!p)
            pd_debug(SIM_LOG, "%s: not a simulated printer", serial);
        else if (request)
            sim_printer_request(p, payload, len);
        else
            sim_printer_control(p, payload, len);
        return;
    }
    if (!strcmp(msg->topic, "printdeck-sim/control")) {
        json_t *req = json_loadb(payload, len, 0, NULL);
        const char *action = json_string_value(json_object_get(req, "action"));
        if (action && !strcmp(action, "quit")) {
            pd_info(SIM_LOG, "quit requested");
            /* not from inside libmosquitto's callback: the DISCONNECT must be written now */
            uv_timer_start(&s->stop, sim_on_stop, 0, 0);
        } else {
            pd_warn(SIM_LOG, "global control: unknown or malformed message ignored");
        }
        json_decref(req);
    }
}

/* ---- timers, signals, lifecycle -------------------------------------------------------- */

static double sim_cadence_ms(const sim *s, const sim_printer *p)
{
    if (s->opt.rate > 0)
        return 1000.0 * (double)s->n / s->opt.rate;
    /* P1/A1 push about every second while printing and every two seconds when idle */
    return sim_printer_busy(p) ? s->opt.interval_ms : 2.0 * s->opt.interval_ms;
}

static void sim_on_tick(uv_timer_t *t)
{
    sim *s = t->data;
    double now = sim_now_ms(s);
    for (size_t i = 0; i < s->n; i++) {
        sim_printer *p = &s->printers[i];
        for (int k = 0; k < SIM_MAX_CATCHUP && now >= p->next_due_ms; k++) {
            if (s->opt.rate > 0) /* every benchmark tick is a report, like a P1S's bed+wifi delta */
                p->dirty |= SIM_G_BED | SIM_G_WIFI;
            /* at most two reports' worth, or two of the timer's turns when reports come
             * faster than it turns (--rate) */
            sim_printer_tick(p, now, 2 * fmax(sim_cadence_ms(s, p), SIM_TICK_MS));
            /* the cadence stays exact instead of drifting by the tick, but never bursts after a stall */
            double next = p->next_due_ms + sim_cadence_ms(s, p);
            p->next_due_ms = next < now - 1000 ? now : next;
        }
    }
    sim_poll_update(s);
}

static void sim_on_misc(uv_timer_t *t)
{
    sim *s = t->data;
    if (s->poll_open) {
        int rc = mosquitto_loop_misc(s->mosq); /* keepalive pings */
        if (rc == MOSQ_ERR_NO_CONN || rc == MOSQ_ERR_CONN_LOST)
            sim_lost(s);
        else
            sim_poll_update(s);
    }
    double now = sim_now_ms(s);
    if (s->opt.rate > 0 && now - s->stats_ms >= 10000) {
        pd_info(SIM_LOG, "%.0f reports/s, %llu sent, %llu deferred (backpressure), %llu pending",
                (double)(s->sent - s->stats_sent) * 1000.0 / (now - s->stats_ms), (unsigned long long)s->sent,
                (unsigned long long)s->refused, (unsigned long long)s->pending);
        s->stats_ms = now;
        s->stats_sent = s->sent;
    }
}

static void sim_stop(sim *s)
{
    if (s->quitting)
        return;
    s->quitting = true;
    if (s->connected)
        mosquitto_disconnect(s->mosq);
    s->connected = false;
    sim_close_poll(s);
    sim_camera_stop();
    uv_handle_t *handles[] = {(uv_handle_t *)&s->tick, (uv_handle_t *)&s->misc, (uv_handle_t *)&s->retry,
                              (uv_handle_t *)&s->stop, (uv_handle_t *)&s->sigint, (uv_handle_t *)&s->sigterm};
    for (size_t i = 0; i < sizeof handles / sizeof handles[0]; i++)
        uv_close(handles[i], NULL);
}

static void sim_on_signal(uv_signal_t *h, int signum)
{
    pd_info(SIM_LOG, "signal %d: stopping", signum);
    sim_stop(h->data);
}

static int sim_setup_loop(sim *s)
{
    char id[64];
    snprintf(id, sizeof id, "printdeck-sim-%d", (int)getpid());
    s->mosq = mosquitto_new(id, true, s);
    if (!s->mosq)
        return -1;
    mosquitto_int_option(s->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_username_pw_set(s->mosq, s->opt.user, s->opt.password);
    mosquitto_connect_callback_set(s->mosq, sim_on_connect);
    mosquitto_publish_callback_set(s->mosq, sim_on_publish);
    mosquitto_message_callback_set(s->mosq, sim_on_message);
    uv_timer_t *timers[] = {&s->tick, &s->misc, &s->retry, &s->stop};
    for (size_t i = 0; i < sizeof timers / sizeof timers[0]; i++) {
        uv_timer_init(&s->loop, timers[i]);
        timers[i]->data = s;
    }
    uv_signal_init(&s->loop, &s->sigint);
    uv_signal_init(&s->loop, &s->sigterm);
    s->sigint.data = s->sigterm.data = s;
    uv_signal_start(&s->sigint, sim_on_signal, SIGINT);
    uv_signal_start(&s->sigterm, sim_on_signal, SIGTERM);
    uv_timer_start(&s->tick, sim_on_tick, SIM_TICK_MS, SIM_TICK_MS);
    uv_timer_start(&s->misc, sim_on_misc, SIM_MISC_MS, SIM_MISC_MS);
    return 0;
}

static void sim_schedule(sim *s)
{
    double now = sim_now_ms(s);
    uint64_t rng = s->opt.seed;
    for (size_t i = 0; i < s->n; i++) {
        sim_printer *p = &s->printers[i];
        /* benchmark: exactly evenly spread; otherwise randomly, as printers booted apart */
        double period = s->opt.rate > 0 ? 1000.0 * (double)s->n / s->opt.rate : 2.0 * s->opt.interval_ms;
        p->next_due_ms = now + period * (s->opt.rate > 0 ? (double)i / (double)s->n : sim_frand(&rng));
        p->last_ms = now;
    }
    s->stats_ms = now;
}

int main(int argc, char **argv)
{
    static sim s; /* zeroed, and big: the printers' lookup and the loop's handles live in it */
    int rc = sim_parse_options(&s.opt, argc, argv);
    bool loop_ready = false, lib_ready = false;
    if (rc >= 0)
        return rc;
    rc = 2;
    signal(SIGPIPE, SIG_IGN); /* a broker gone mid-write is an error code, not a death */
    if (uv_loop_init(&s.loop))
        goto out;
    loop_ready = true;
    if (sim_report_init() || sim_build_fleet(&s))
        goto out;
    if (s.opt.list) {
        rc = sim_print_serials(&s, stdout) ? 1 : 0;
        goto out;
    }
    if (s.opt.serials_file && sim_write_serials(&s, s.opt.serials_file))
        goto out;
    mosquitto_lib_init();
    lib_ready = true;
    rc = 1;
    if (sim_setup_loop(&s))
        goto out;
    sim_schedule(&s);
    if (sim_camera_start(&s.loop, s.printers, s.n, &s.opt))
        goto out;
    pd_info(SIM_LOG, "%zu printers, seed %llu, speedup %g, auto jobs %s%s", s.n, (unsigned long long)s.opt.seed,
            s.opt.speedup, s.opt.auto_jobs ? "on" : "off", s.opt.rate > 0 ? ", benchmark rate" : "");
    sim_connect(&s);
    uv_run(&s.loop, UV_RUN_DEFAULT);
    rc = 0;
out:
    if (loop_ready)
        uv_loop_close(&s.loop);
    mosquitto_destroy(s.mosq);
    if (lib_ready)
        mosquitto_lib_cleanup();
    for (size_t i = 0; i < s.n; i++)
        sim_printer_free(&s.printers[i]);
    free(s.printers);
    free(s.by_serial);
    sim_report_cleanup();
    sim_camera_free();
    return rc;
}
