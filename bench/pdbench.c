/* Benchmark driver.
 *   pdbench publish --port P [--host H] [--user U --password W] --serials-file F
 *                   [--rate R] [--seconds S] [--stamp | --payload-file J]
 *     publishes realistic partial reports (the P1S delta shape, ~150 bytes) round-robin to
 *     device/<serial>/report at R messages/s in total for S seconds; with --stamp each carries
 *     its send time (CLOCK_REALTIME ns) in subtask_name so an SSE reader can measure latency;
 *     with --payload-file each is the file's bytes (a full report of a sample printer).
 *   pdbench control --port P [--host H] [--user U --password W] --serials-file F --json J
 *                   [--spread S] [--seed N]
 *     publishes J to every printer's printdeck-sim/<serial>/control (docs/simulator.md), each
 *     "{serial}" in J replaced by the serial, at a time of its own drawn evenly within S
 *     seconds (0: one after the other at once); prints "<serial> <CLOCK_REALTIME ns>" per
 *     message as it goes, so a receiver on the same clock can measure from that moment.
 *   pdbench sse --port P --token T [--seconds S]
 *     reads /api/v1/events and prints p50/p90/p99/max of (receive − send) for stamped events.
 *   pdbench slow --port P --clients N --seconds S
 *     N slow clients (slowloris): each connects from its own loopback address (127.0.1.x,
 *     so no per-address bound applies), sends a request line and then one header byte a second,
 *     and connects again when the server hangs up; prints connections made and refused.
 *   pdbench probe --port P --seconds S [--path /healthz] [--interval-ms 20]
 *     GET path on a fresh connection every interval; prints p50/p99/max of the answer time.
 *   pdbench camera --port P --token T --path PATH --viewers N --seconds S --out F
 *   pdbench camera --stdin --seconds S --out F
 *     N MJPEG viewers of PATH (or one multipart stream on stdin: FFmpeg's -f mpjpeg): for each
 *     whole JPEG, the frame number the simulator drew across the top of the picture (32
 *     squares, bit 31 first: tools/sim/camera.c) read back by decoding only those rows, and
 *     the arrival time; F gets "viewer frame monotonic_us width" lines (bench/camera.sh).
 *   pdbench certs --dir D --serials-file F
 *     writes D/<serial>.crt and D/<serial>.key for every serial: CN and subjectAltName name the
 *     serial, signed by D/ca.crt + D/ca.key (scripts/gen-certs.sh makes them), all for one
 *     RSA key. A farm where every printer presents its own certificate, as real printers do,
 *     in a second instead of a key generation per printer. Existing pairs are kept.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <mosquitto.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>
#include <jpeglib.h>
#include <poll.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SERIALS 20000
#define MAX_SAMPLES 2000000

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_until(int64_t t)
{
    struct timespec ts = {.tv_sec = t / 1000000000, .tv_nsec = t % 1000000000};
    while (clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

static const char *opt(int argc, char **argv, const char *name, const char *def)
{
    for (int i = 2; i < argc - 1; i++)
        if (!strcmp(argv[i], name))
            return argv[i + 1];
    return def;
}

static int flag(int argc, char **argv, const char *name)
{
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], name))
            return 1;
    return 0;
}

static char serials[MAX_SERIALS][32];

static int read_serials(int argc, char **argv)
{
    const char *file = opt(argc, argv, "--serials-file", NULL);
    int n = 0;
    FILE *f = file ? fopen(file, "r") : NULL;
    if (!f) {
        fprintf(stderr, "pdbench: --serials-file required\n");
        return -1;
    }
    char line[128];
    while (n < MAX_SERIALS && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\t\r\n ")] = 0;
        if (line[0])
            snprintf(serials[n++], sizeof serials[0], "%.31s", line);
    }
    fclose(f);
    return n;
}

/* The simulator's broker, as user --user: one connection, its network thread started. */
static struct mosquitto *connect_sim(int argc, char **argv)
{
    const char *host = opt(argc, argv, "--host", "127.0.0.1");
    int port = atoi(opt(argc, argv, "--port", "1883"));
    mosquitto_lib_init();
    struct mosquitto *m = mosquitto_new(NULL, true, NULL);
    if (m)
        mosquitto_username_pw_set(m, opt(argc, argv, "--user", NULL), opt(argc, argv, "--password", NULL));
    if (!m || mosquitto_connect(m, host, port, 60) != MOSQ_ERR_SUCCESS || mosquitto_loop_start(m)) {
        fprintf(stderr, "pdbench: cannot connect to %s:%d\n", host, port);
        return NULL;
    }
    return m;
}

static void disconnect_sim(struct mosquitto *m)
{
    mosquitto_disconnect(m);
    mosquitto_loop_stop(m, false);
    mosquitto_destroy(m);
    mosquitto_lib_cleanup();
}

static int publish(int argc, char **argv)
{
    double rate = atof(opt(argc, argv, "--rate", "1000"));
    double seconds = atof(opt(argc, argv, "--seconds", "10"));
    int stamp = flag(argc, argv, "--stamp");
    const char *payload_file = opt(argc, argv, "--payload-file", NULL);
    int n = read_serials(argc, argv);
    if (n <= 0)
        return 2;
    static char fixed[1 << 20];
    size_t fixed_len = 0;
    if (payload_file) {
        FILE *f = fopen(payload_file, "rb");
        fixed_len = f ? fread(fixed, 1, sizeof fixed, f) : 0;
        if (f)
            fclose(f);
        if (!fixed_len) {
            fprintf(stderr, "pdbench: cannot read %s\n", payload_file);
            return 2;
        }
    }
    struct mosquitto *m = connect_sim(argc, argv);
    if (!m)
        return 1;
    int64_t start = now_ns(), interval = (int64_t)(1e9 / rate);
    long total = (long)(rate * seconds), sent = 0;
    char topic[64], payload[512];
    for (long i = 0; i < total; i++) {
        sleep_until(start + i * interval);
        const char *s = serials[i % n];
        double bed = 60.0 + (double)(i % 100) / 32.0;
        int len;
        if (fixed_len) {
            snprintf(topic, sizeof topic, "device/%s/report", s);
            sent += mosquitto_publish(m, NULL, topic, (int)fixed_len, fixed, 0, false) == MOSQ_ERR_SUCCESS;
            continue;
        }
        if (stamp)
            len = snprintf(payload, sizeof payload,
                           "{\"print\":{\"bed_temper\":%.5f,\"wifi_signal\":\"-%lddBm\",\"subtask_name\":"
                           "\"lat:%lld\",\"command\":\"push_status\",\"msg\":1,\"sequence_id\":\"%ld\"}}",
                           bed, 40 + i % 30, (long long)now_ns(), 40000 + i);
        else
            len = snprintf(payload, sizeof payload,
                           "{\"print\":{\"bed_temper\":%.5f,\"wifi_signal\":\"-%lddBm\",\"mc_percent\":%ld,"
                           "\"command\":\"push_status\",\"msg\":1,\"sequence_id\":\"%ld\"}}",
                           bed, 40 + i % 30, i % 101, 40000 + i);
        snprintf(topic, sizeof topic, "device/%s/report", s);
        if (mosquitto_publish(m, NULL, topic, len, payload, 0, false) == MOSQ_ERR_SUCCESS)
            sent++;
    }
    sleep(1); /* let the network thread flush */
    double took = (double)(now_ns() - start) / 1e9;
    printf("published %ld reports to %d printers in %.2f s (%.0f/s)\n", sent, n, took, sent / took);
    disconnect_sim(m);
    return 0;
}

typedef struct due {
    int64_t at;
    int serial;
} due;

static int cmp_due(const void *a, const void *b)
{
    int64_t x = ((const due *)a)->at, y = ((const due *)b)->at;
    return x < y ? -1 : x > y;
}

static int control(int argc, char **argv)
{
    const char *json = opt(argc, argv, "--json", NULL);
    double spread = atof(opt(argc, argv, "--spread", "0"));
    int n = read_serials(argc, argv);
    if (n <= 0 || !json || strlen(json) > 2000) {
        fprintf(stderr, "pdbench control: --serials-file and --json (at most 2,000 bytes) required\n");
        return 2;
    }
    struct mosquitto *m = connect_sim(argc, argv);
    if (!m)
        return 1;
    static due plan[MAX_SERIALS];
    srand((unsigned)atoi(opt(argc, argv, "--seed", "1")));
    int64_t start = now_ns();
    for (int i = 0; i < n; i++)
        plan[i] = (due){start + (int64_t)(spread * 1e9 * ((double)rand() / ((double)RAND_MAX + 1))), i};
    qsort(plan, (size_t)n, sizeof plan[0], cmp_due);
    int failed = 0;
    for (int i = 0; i < n; i++) {
        const char *s = serials[plan[i].serial];
        char topic[96], payload[4096];
        size_t len = 0;
        for (const char *p = json; *p && len + 40 < sizeof payload;) {
            if (!strncmp(p, "{serial}", 8)) {
                len += (size_t)snprintf(payload + len, sizeof payload - len, "%s", s);
                p += 8;
            } else {
                payload[len++] = *p++;
            }
        }
        snprintf(topic, sizeof topic, "printdeck-sim/%s/control", s);
        sleep_until(plan[i].at);
        int64_t t = now_ns();
        if (mosquitto_publish(m, NULL, topic, (int)len, payload, 1, false) != MOSQ_ERR_SUCCESS)
            failed++;
        printf("%s %lld\n", s, (long long)t);
    }
    fflush(stdout);
    sleep(1); /* let the network thread flush */
    if (failed)
        fprintf(stderr, "pdbench control: %d of %d not published\n", failed, n);
    disconnect_sim(m);
    return failed ? 1 : 0;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int sse(int argc, char **argv)
{
    int port = atoi(opt(argc, argv, "--port", "8080"));
    double seconds = atof(opt(argc, argv, "--seconds", "10"));
    const char *token = opt(argc, argv, "--token", "");
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof a)) {
        perror("pdbench: connect");
        return 1;
    }
    char req[512];
    int n = snprintf(req, sizeof req, "GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                      "Authorization: Bearer %s\r\nAccept: text/event-stream\r\n\r\n", token);
    if (write(fd, req, (size_t)n) != n)
        return 1;
    static int64_t lat[MAX_SAMPLES];
    size_t cnt = 0;
    static char buf[1 << 20];
    size_t have = 0;
    int64_t end = now_ns() + (int64_t)(seconds * 1e9);
    struct timeval tv = {.tv_sec = 1};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    while (now_ns() < end) {
        ssize_t r = read(fd, buf + have, sizeof buf - 1 - have);
        if (r <= 0) {
            if (r < 0 && errno == EAGAIN)
                continue;
            break;
        }
        int64_t t = now_ns();
        have += (size_t)r;
        buf[have] = 0;
        char *p = buf, *hit;
        while ((hit = strstr(p, "\"lat:"))) {
            char *endq = strchr(hit + 5, '"');
            if (!endq)
                break;
            if (cnt < MAX_SAMPLES)
                lat[cnt++] = t - atoll(hit + 5);
            p = endq;
        }
        /* keep only an unfinished tail */
        char *last = strrchr(buf, '\n');
        size_t keep = last ? have - (size_t)(last + 1 - buf) : have;
        if (keep > sizeof buf / 2)
            keep = 0;
        memmove(buf, buf + have - keep, keep);
        have = keep;
    }
    close(fd);
    if (!cnt) {
        printf("no stamped events received\n");
        return 1;
    }
    qsort(lat, cnt, sizeof lat[0], cmp64);
    printf("events %zu  p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  max %.2f ms\n", cnt,
           lat[cnt / 2] / 1e6, lat[cnt * 9 / 10] / 1e6, lat[cnt * 99 / 100] / 1e6, lat[cnt - 1] / 1e6);
    return 0;
}

static int add_ext(X509 *x, X509 *ca, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, ca, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    int ok = e && X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    return ok;
}

static X509 *leaf_cert(const char *serial, EVP_PKEY *key, X509 *ca, EVP_PKEY *ca_key)
{
    char san[64];
    unsigned char sn[8];
    X509 *x = X509_new();
    BIGNUM *bn = BN_bin2bn(sn, RAND_bytes(sn, sizeof sn) == 1 ? sizeof sn : 0, NULL);
    snprintf(san, sizeof san, "DNS:%s", serial);
    int ok = x && bn && X509_set_version(x, 2) &&
             BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) &&
             X509_gmtime_adj(X509_getm_notBefore(x), 0) &&
             X509_gmtime_adj(X509_getm_notAfter(x), 3650L * 86400) &&
             X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                                        (const unsigned char *)serial, -1, -1, 0) &&
             X509_set_issuer_name(x, X509_get_subject_name(ca)) && X509_set_pubkey(x, key) &&
             add_ext(x, ca, NID_basic_constraints, "CA:FALSE") &&
             add_ext(x, ca, NID_key_usage, "critical,digitalSignature,keyEncipherment") &&
             add_ext(x, ca, NID_ext_key_usage, "serverAuth") &&
             add_ext(x, ca, NID_subject_alt_name, san) &&
             add_ext(x, ca, NID_authority_key_identifier, "keyid") &&
             X509_sign(x, ca_key, EVP_sha256()) > 0;
    BN_free(bn);
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

static int write_pem(const char *path, mode_t mode, X509 *cert, EVP_PKEY *key)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    int ok = f && (cert ? PEM_write_X509(f, cert)
                        : PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL));
    if (f ? fclose(f) : fd >= 0 ? close(fd) : -1)
        ok = 0;
    return ok;
}

static int certs(int argc, char **argv)
{
    const char *dir = opt(argc, argv, "--dir", NULL);
    int n = read_serials(argc, argv);
    char path[4096];
    if (!dir || n <= 0) {
        fprintf(stderr, "pdbench: certs needs --dir and --serials-file\n");
        return 2;
    }
    snprintf(path, sizeof path, "%s/ca.crt", dir);
    FILE *f = fopen(path, "r");
    X509 *ca = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    snprintf(path, sizeof path, "%s/ca.key", dir);
    f = fopen(path, "r");
    EVP_PKEY *ca_key = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    EVP_PKEY *key = EVP_RSA_gen(2048);
    int rc = 0, made = 0;
    if (!ca || !ca_key || !key) {
        fprintf(stderr, "pdbench: cannot read %s/ca.crt and ca.key, or make a key\n", dir);
        rc = 1;
    }
    for (int i = 0; i < n && !rc; i++) {
        char crt[4096];
        snprintf(crt, sizeof crt, "%s/%s.crt", dir, serials[i]);
        snprintf(path, sizeof path, "%s/%s.key", dir, serials[i]);
        if (!access(crt, R_OK) && !access(path, R_OK))
            continue;
        X509 *x = leaf_cert(serials[i], key, ca, ca_key);
        if (!x || !write_pem(path, 0600, NULL, key) || !write_pem(crt, 0644, x, NULL)) {
            fprintf(stderr, "pdbench: cannot make %s\n", crt);
            rc = 1;
        }
        X509_free(x);
        made++;
    }
    if (!rc)
        printf("%d certificates made, %d kept\n", made, n - made);
    X509_free(ca);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(key);
    return rc;
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* a non-blocking connection from 127.0.1.<1 + i % 250> to 127.0.0.1:port; -1 on failure */
static int connect_from(int i, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in src = {.sin_family = AF_INET}, dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    char ip[32];
    snprintf(ip, sizeof ip, "127.0.1.%d", 1 + i % 250);
    inet_pton(AF_INET, ip, &src.sin_addr);
    inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
    if (fd < 0 || bind(fd, (struct sockaddr *)&src, sizeof src) ||
        (connect(fd, (struct sockaddr *)&dst, sizeof dst) && errno != EINPROGRESS)) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static int slow(int argc, char **argv)
{
    static const char req[] = "GET /api/v1/printers HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
                              "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    int port = atoi(opt(argc, argv, "--port", "8080"));
    int n = atoi(opt(argc, argv, "--clients", "1000"));
    double seconds = atof(opt(argc, argv, "--seconds", "10"));
    if (n < 1 || n > 20000)
        return 2;
    int *fd = calloc((size_t)n, sizeof *fd);
    size_t *sent = calloc((size_t)n, sizeof *sent);
    int64_t *next = calloc((size_t)n, sizeof *next);
    long made = 0, failed = 0, hangups = 0;
    int64_t end = mono_ns() + (int64_t)(seconds * 1e9);
    for (int i = 0; i < n; i++)
        fd[i] = -1;
    while (mono_ns() < end) {
        int64_t now = mono_ns();
        for (int i = 0; i < n; i++) {
            if (fd[i] < 0) {
                if ((fd[i] = connect_from(i, port)) < 0) {
                    failed++;
                    continue;
                }
                made++;
                sent[i] = 0;
                next[i] = now + 1000000000;  /* the first byte once connected */
                continue;
            }
            char c;
            ssize_t r = recv(fd[i], &c, 1, MSG_DONTWAIT | MSG_PEEK);
            if (r == 0 || (r < 0 && errno != EAGAIN && errno != ENOTCONN)) {
                hangups++;  /* the server hung up (or answered): next round connects again */
                close(fd[i]);
                fd[i] = -1;
                continue;
            }
            if (now >= next[i] && sent[i] < sizeof req - 1) {
                if (send(fd[i], req + sent[i], 1, MSG_DONTWAIT | MSG_NOSIGNAL) == 1)
                    sent[i]++;
                next[i] = now + 1000000000;
            }
        }
        struct timespec pause = {.tv_nsec = 20000000};
        nanosleep(&pause, NULL);
    }
    int open_now = 0;
    for (int i = 0; i < n; i++)
        if (fd[i] >= 0) {
            open_now++;
            close(fd[i]);
        }
    printf("slow clients %d: connections made %ld, refused %ld, hung up by the server %ld, open at the end %d\n",
           n, made, failed, hangups, open_now);
    free(fd);
    free(sent);
    free(next);
    return 0;
}

static int probe(int argc, char **argv)
{
    int port = atoi(opt(argc, argv, "--port", "8080"));
    double seconds = atof(opt(argc, argv, "--seconds", "10"));
    const char *path = opt(argc, argv, "--path", "/healthz");
    int interval_ms = atoi(opt(argc, argv, "--interval-ms", "20"));
    static int64_t lat[MAX_SAMPLES];
    size_t cnt = 0, errors = 0;
    int64_t end = mono_ns() + (int64_t)(seconds * 1e9);
    char req[512], buf[4096];
    int rl = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
    while (mono_ns() < end && cnt < MAX_SAMPLES) {
        int64_t t0 = mono_ns();
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
        struct timeval tv = {.tv_sec = 5};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        bool ok = !connect(fd, (struct sockaddr *)&a, sizeof a) && write(fd, req, (size_t)rl) == rl;
        ssize_t r = ok ? read(fd, buf, sizeof buf - 1) : -1;
        ok = r > 12 && !memcmp(buf, "HTTP/1.1 200", 12);
        close(fd);
        if (ok)
            lat[cnt++] = mono_ns() - t0;
        else
            errors++;
        int64_t wait = t0 + (int64_t)interval_ms * 1000000 - mono_ns();
        if (wait > 0) {
            struct timespec ts = {.tv_sec = wait / 1000000000, .tv_nsec = wait % 1000000000};
            nanosleep(&ts, NULL);
        }
    }
    if (!cnt) {
        printf("probe %s: no answer (%zu errors)\n", path, errors);
        return 1;
    }
    qsort(lat, cnt, sizeof lat[0], cmp64);
    printf("probe %s: %zu answers, %zu errors, p50 %.2f ms  p99 %.2f ms  max %.2f ms\n", path, cnt, errors,
           lat[cnt / 2] / 1e6, lat[cnt * 99 / 100] / 1e6, lat[cnt - 1] / 1e6);
    return 0;
}

/* --- camera viewers ------------------------------------------------------------------- */

#define CAM_BITS 32
#define CAM_BUF (4u << 20)

typedef struct cam_err {
    struct jpeg_error_mgr pub;
    jmp_buf back;
} cam_err;

static void cam_error_exit(j_common_ptr c) { longjmp(((cam_err *)c->err)->back, 1); }
static void cam_message(j_common_ptr c, int level) { (void)c; (void)level; }

/* The frame number drawn across the top of a JPEG: the middle row of the squares, decoded at
 * a quarter or half size (the squares are 1/32 of the width), the rest never decoded. -1 when
 * it cannot be read. */
static long long cam_stamp(const unsigned char *jpeg, size_t len, int *width)
{
    struct jpeg_decompress_struct d;
    cam_err e;
    static unsigned char row[4096];
    d.err = jpeg_std_error(&e.pub);
    e.pub.error_exit = cam_error_exit;
    e.pub.emit_message = cam_message;
    if (setjmp(e.back)) {
        jpeg_destroy_decompress(&d);
        return -1;
    }
    jpeg_create_decompress(&d);
    jpeg_mem_src(&d, jpeg, (unsigned long)len);
    jpeg_read_header(&d, TRUE);
    *width = (int)d.image_width;
    d.out_color_space = JCS_GRAYSCALE;
    d.scale_num = 1;
    d.scale_denom = d.image_width > 1000 ? 4 : 2;
    jpeg_start_decompress(&d);
    unsigned w = d.output_width, sq = w / CAM_BITS, want = sq / 2;
    if (w > sizeof row || sq < 2) {
        jpeg_destroy_decompress(&d);
        return -1;
    }
    JSAMPROW r = row;
    while (d.output_scanline <= want)
        jpeg_read_scanlines(&d, &r, 1);
    long long v = 0;
    for (unsigned i = 0; i < CAM_BITS; i++)
        v = v << 1 | (row[i * sq + sq / 2] > 128);
    jpeg_abort_decompress(&d);
    jpeg_destroy_decompress(&d);
    return v;
}

typedef struct cam_viewer {
    int fd;
    bool http;              /* the HTTP response's head is still to be skipped */
    unsigned char *buf;
    size_t have;
} cam_viewer;

/* Takes the whole parts in v's buffer: each JPEG's stamp and arrival go to out. */
static void cam_parts(cam_viewer *v, int id, FILE *out)
{
    size_t at = 0;
    for (;;) {
        unsigned char *end = memmem(v->buf + at, v->have - at, "\r\n\r\n", 4);
        if (!end)
            break;
        size_t head = (size_t)(end - (v->buf + at)) + 4;
        if (v->http) {
            v->http = false;
            at += head;
            continue;
        }
        char h[512];
        size_t hl = head < sizeof h - 1 ? head : sizeof h - 1;
        memcpy(h, v->buf + at, hl);
        h[hl] = 0;
        char *cl = strcasestr(h, "Content-Length:");
        size_t len = cl ? strtoul(cl + 15, NULL, 10) : 0;
        if (!len || len > CAM_BUF / 2) {
            fprintf(stderr, "pdbench: viewer %d: a part without a usable Content-Length\n", id);
            v->have = 0;
            return;
        }
        if (v->have - at < head + len)
            break;
        int width = 0;
        long long frame = cam_stamp(v->buf + at + head, len, &width);
        fprintf(out, "%d %lld %lld %d\n", id, frame, (long long)(mono_ns() / 1000), width);
        at += head + len;
    }
    memmove(v->buf, v->buf + at, v->have - at);
    v->have -= at;
}

static int camera(int argc, char **argv)
{
    int port = atoi(opt(argc, argv, "--port", "8080")), n = atoi(opt(argc, argv, "--viewers", "1"));
    double seconds = atof(opt(argc, argv, "--seconds", "10"));
    const char *token = opt(argc, argv, "--token", ""), *path = opt(argc, argv, "--path", "/");
    FILE *out = fopen(opt(argc, argv, "--out", "/dev/stdout"), "w");
    bool from_stdin = flag(argc, argv, "--stdin");
    if (from_stdin)
        n = 1;
    if (!out || n < 1 || n > 1000)
        return 1;
    cam_viewer *vs = calloc((size_t)n, sizeof *vs);
    struct pollfd *pf = calloc((size_t)n, sizeof *pf);
    for (int i = 0; i < n; i++) {
        vs[i].buf = malloc(CAM_BUF);
        if (from_stdin) {
            vs[i].fd = 0;
        } else {
            struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
            inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
            vs[i].fd = socket(AF_INET, SOCK_STREAM, 0);
            vs[i].http = true;
            char req[1024];
            /* HTTP/1.0: the stream comes as it is, never chunked */
            int len = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n"
                               "Authorization: Bearer %s\r\n\r\n", path, token);
            if (connect(vs[i].fd, (struct sockaddr *)&a, sizeof a) || write(vs[i].fd, req, (size_t)len) != len) {
                perror("pdbench: camera viewer");
                return 1;
            }
        }
        pf[i] = (struct pollfd){.fd = vs[i].fd, .events = POLLIN};
    }
    int64_t end = mono_ns() + (int64_t)(seconds * 1e9);
    int open = n;
    while (open && mono_ns() < end) {
        if (poll(pf, (nfds_t)n, 200) <= 0)
            continue;
        for (int i = 0; i < n; i++) {
            if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            cam_viewer *v = &vs[i];
            ssize_t r = read(v->fd, v->buf + v->have, CAM_BUF - v->have);
            if (r <= 0) {
                pf[i].fd = -1;
                open--;
                continue;
            }
            v->have += (size_t)r;
            cam_parts(v, i, out);
            if (v->have == CAM_BUF)
                v->have = 0;
        }
    }
    fclose(out);
    for (int i = 0; i < n; i++) {
        if (!from_stdin)
            close(vs[i].fd);
        free(vs[i].buf);
    }
    free(vs);
    free(pf);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "publish"))
        return publish(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "control"))
        return control(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "camera"))
        return camera(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "sse"))
        return sse(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "certs"))
        return certs(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "slow"))
        return slow(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "probe"))
        return probe(argc, argv);
    fprintf(stderr, "usage: pdbench publish|control|sse|certs|slow|probe [options] (see the comment in bench/pdbench.c)\n");
    return 2;
}
