#include "files/ftps.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/curlm.h"
#include "core/log.h"
#include "core/tls.h"

#define TMP_PREFIX "ftps-"

typedef enum xfer_state { X_QUEUED, X_PREP, X_ACTIVE } xfer_state;

typedef struct xfer xfer;
struct xfer {
    xfer *next;                  /* in f->queue or f->active */
    pd_ftps *f;
    uint64_t handle;
    xfer_state state;
    pd_printer_rec rec;          /* a copy: the printer may change or go meanwhile */
    char path[PD_FTPS_PATH_MAX + 1];
    bool is_list;
    pd_ftps_list_cb lcb;
    pd_ftps_fetch_cb fcb;
    void *ud;
    int64_t max_bytes;

    /* the ca_file's text, read off the loop before the transfer starts */
    uv_work_t work;
    bool orphaned;               /* cancelled while the worker ran: prep_done frees it */
    char *pem;
    size_t pem_len;
    char prep_err[320];

    CURL *easy;
    CURLSH *share;               /* the transfer's own TLS session cache */
    char curl_err[CURL_ERROR_SIZE];
    char tmp_err[320];  /* why the temporary file could not be made */
    pd_buf listing;
    int fd;
    char tmp[PATH_MAX];
    int64_t got;
    bool too_big;
};

struct pd_ftps {
    uv_loop_t *loop;
    pd_bus *bus;
    int sub;
    pd_ftps_opts o;
    char tmp_dir[PATH_MAX - 32]; /* room for the file name */
    pd_curlm *curlm;
    uv_timer_t kick;             /* runs while transfers are active */
    /* starts waiting requests from a loop turn of its own: never inside pd_ftps_list,
     * pd_ftps_fetch or pd_ftps_cancel, so a request that cannot start (no temporary file)
     * reaches its callback after the call returned, and never inside a finish, so a queue of
     * requests that all fail is a loop, not a recursion as deep as the queue */
    uv_timer_t pumper;
    xfer *queue, *active;        /* queue in arrival order */
    int n_queued, n_active;
    uint64_t next_handle;
    int timers_closed;
};

/* --- requests ------------------------------------------------------------------------- */
static void easy_drop(xfer *x)
{
    if (x->easy) {
        pd_curlm_remove(x->f->curlm, x->easy);
        curl_easy_cleanup(x->easy);
        x->easy = NULL;
    }
    if (x->share) {
        curl_share_cleanup(x->share);
        x->share = NULL;
    }
}

static void xfer_free(xfer *x)
{
    easy_drop(x);
    if (x->fd >= 0)
        close(x->fd);
    if (x->tmp[0])
        unlink(x->tmp);
    pd_buf_free(&x->listing);
    free(x->pem);
    free(x);
}

static void unlink_from(xfer **head, xfer *x)
{
    for (xfer **pp = head; *pp; pp = &(*pp)->next)
        if (*pp == x) {
            *pp = x->next;
            return;
        }
}

/* Takes x out of the lists; the caller frees or finishes it. */
static void detach(xfer *x)
{
    pd_ftps *f = x->f;
    if (x->state == X_QUEUED) {
        unlink_from(&f->queue, x);
        f->n_queued--;
    } else {
        unlink_from(&f->active, x);
        f->n_active--;
    }
}

static void pump(pd_ftps *f);
static bool tmp_open(xfer *x);

/* Calls the request's callback once and frees it; then the next waiting request may go. */
static void finish(xfer *x, pd_err rc, const char *why)
{
    pd_ftps *f = x->f;
    detach(x);
    easy_drop(x);
    if (x->is_list) {
        pd_ftps_listing l = {0};
        if (!rc) {
            size_t len = pd_buf_len(&x->listing);
            rc = pd_ftps_list_parse(len ? pd_buf_ptr(&x->listing) : "", len, (int64_t)time(NULL),
                                    f->o.max_entries, &l);
            if (rc)
                why = "out of memory";
        }
        x->lcb(rc, why, rc ? NULL : &l, x->ud);
        pd_ftps_listing_free(&l);
    } else {
        if (!rc && !tmp_open(x)) { /* an empty file: nothing made it yet */
            rc = PD_ERR_IO;
            why = x->tmp_err;
        } else if (!rc && (close(x->fd) || x->got < 0)) {
            rc = PD_ERR_IO;
            why = "cannot write the temporary file";
        }
        x->fd = -1;
        if (!rc) {
            x->fcb(PD_OK, NULL, x->tmp, x->got, x->ud);
            x->tmp[0] = '\0'; /* the caller's now */
        } else {
            x->fcb(rc, why, NULL, 0, x->ud);
        }
    }
    xfer_free(x);
    pump(f);
}

/* The words people need: what is wrong and what to do about it. */
static pd_err curl_words(xfer *x, CURLcode cc, char *why, size_t len)
{
    const pd_printer_rec *r = &x->rec;
    const char *detail = x->curl_err[0] ? x->curl_err : curl_easy_strerror(cc);
    switch (cc) {
    case CURLE_LOGIN_DENIED:
        snprintf(why, len, "login refused: wrong access code? (user bblp on %s:%d)", r->host, r->ftps_port);
        return PD_ERR_REFUSED;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
        snprintf(why, len, "TLS verification failed: %s (expected name %s); set ca_file or "
                 "tls_verify=false", detail, r->serial);
        return PD_ERR_TLS;
    case CURLE_SSL_CONNECT_ERROR:
        snprintf(why, len, "TLS handshake with %s:%d failed: %s", r->host, r->ftps_port, detail);
        return PD_ERR_TLS;
    case CURLE_REMOTE_FILE_NOT_FOUND:
    case CURLE_FTP_COULDNT_RETR_FILE:
    case CURLE_REMOTE_ACCESS_DENIED:
        snprintf(why, len, "%s not found on the printer", x->path);
        return PD_ERR_NOTFOUND;
    case CURLE_FILESIZE_EXCEEDED:
        snprintf(why, len, "%s is larger than %lld bytes", x->path, (long long)x->max_bytes);
        return PD_ERR_TOOBIG;
    case CURLE_OPERATION_TIMEDOUT:
        snprintf(why, len, "timed out talking to %s:%d: %s", r->host, r->ftps_port, detail);
        return PD_ERR_TIMEOUT;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
        snprintf(why, len, "cannot connect to %s:%d: %s", r->host, r->ftps_port, detail);
        return PD_ERR_OFFLINE;
    case CURLE_WRITE_ERROR:
        if (x->too_big) {
            snprintf(why, len, "%s is larger than %lld bytes", x->path,
                     (long long)(x->is_list ? (int64_t)x->f->o.max_listing : x->max_bytes));
            return PD_ERR_TOOBIG;
        }
        if (x->tmp_err[0])
            snprintf(why, len, "%.320s", x->tmp_err);
        else
            snprintf(why, len, "cannot write the temporary file: %s", detail);
        return PD_ERR_IO;
    default:
        snprintf(why, len, "FTPS transfer with %s:%d failed: %s", r->host, r->ftps_port, detail);
        return PD_ERR_IO;
    }
}

static void on_done(CURL *easy, void *priv, CURLcode cc, void *ud)
{
    (void)easy;
    (void)ud;
    xfer *x = priv;
    if (!x)
        return;
    char why[2048];
    pd_err rc = cc == CURLE_OK ? PD_OK : curl_words(x, cc, why, sizeof why);
    if (rc)
        pd_info("ftps", "%s: %s", x->rec.name, why);
    finish(x, rc, rc ? why : NULL);
}

/* --- curl on the loop ------------------------------------------------------------------- */
/* curl 7.88 opens a passive data connection and starts its TLS handshake at once, but
 * vsFTPd answers that handshake only once RETR or LIST has arrived on the control channel,
 * and while the data connection is unfinished curl watches only its socket: the control
 * channel's replies would wait, unread, for curl's own timeout. Driving every transfer a few
 * times a second moves them on; the sockets' events keep the pace in between. */
#define KICK_MS 50
static void on_kick(uv_timer_t *t)
{
    pd_ftps *f = t->data;
    pd_curlm_perform(f->curlm);
}

static void kick_update(pd_ftps *f)
{
    if (!f->n_active)
        uv_timer_stop(&f->kick);
    else if (!uv_is_active((uv_handle_t *)&f->kick))
        uv_timer_start(&f->kick, on_kick, KICK_MS, KICK_MS);
}

/* --- one transfer ----------------------------------------------------------------------- */
/* The temporary file is made when the first byte arrives, not when the transfer starts: most
 * attempts on a printer that is off, or on a name its storage does not have, never get one,
 * and a farm that has just started makes thousands of them. */
static bool tmp_open(xfer *x)
{
    if (x->fd >= 0)
        return true;
    snprintf(x->tmp, sizeof x->tmp, "%s/" TMP_PREFIX "XXXXXX", x->f->tmp_dir);
    x->fd = mkostemp(x->tmp, O_CLOEXEC);
    if (x->fd >= 0)
        return true;
    snprintf(x->tmp_err, sizeof x->tmp_err, "cannot create a temporary file in %.200s: %s", x->f->tmp_dir,
             strerror(errno));
    x->tmp[0] = '\0';
    return false;
}

static size_t on_data(char *data, size_t size, size_t n, void *ud)
{
    xfer *x = ud;
    size_t len = size * n;
    if (x->is_list) {
        if (pd_buf_add(&x->listing, data, len)) {
            x->too_big = pd_buf_err(&x->listing) == PD_ERR_TOOBIG;
            return 0;
        }
        return len;
    }
    if (x->got + (int64_t)len > x->max_bytes) {
        x->too_big = true;
        return 0;
    }
    /* On the loop, deliberately: a piece is at most curl's 16 KiB receive buffer, written to
     * the page cache of a local file, and the pace is the printer's (150 KB/s at most), so a
     * transfer costs a few microseconds a piece; a thread hop would cost more. */
    if (!tmp_open(x))
        return 0;
    for (size_t done = 0; done < len;) {
        ssize_t w = write(x->fd, data + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return 0;
        done += (size_t)w;
    }
    x->got += (int64_t)len;
    return len;
}

/* Trust as the MQTT link trusts: the Bambu CA (or the ca_file), the serial as the name. The
 * printers' certificates name the serial, not the address they are reached at, so curl's
 * own host check is off and OpenSSL checks the serial during chain verification. */
static CURLcode on_ssl_ctx(CURL *easy, void *ssl_ctx, void *ud)
{
    (void)easy;
    xfer *x = ud;
    SSL_CTX *ctx = ssl_ctx;
    if (!x->rec.tls_verify)
        return CURLE_OK;
    switch (pd_tls_trust_printer(ctx, x->pem, x->pem_len, x->rec.serial)) {
    case PD_OK:
        return CURLE_OK;
    case PD_ERR_TLS:
        return CURLE_SSL_CACERT_BADFILE;
    default:
        return CURLE_SSL_CONNECT_ERROR;
    }
}

/* ftps://HOST:PORT/%2F<path>: %2F makes the path absolute (RFC 1738 §3.2.2 reads a URL's
 * path relative to the login directory); each byte outside the unreserved set is escaped, so
 * names with spaces, '#' or '%' arrive as they are. */
static bool make_url(const xfer *x, char *url, size_t len)
{
    const char *h = x->rec.host;
    int n = snprintf(url, len, strchr(h, ':') ? "ftps://[%s]:%d/%%2F" : "ftps://%s:%d/%%2F", h,
                     x->rec.ftps_port);
    if (n < 0 || (size_t)n >= len)
        return false;
    size_t at = (size_t)n;
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)x->path + 1; *p; p++) {
        if (at + 4 >= len)
            return false;
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~/", *p)) {
            url[at++] = (char)*p;
        } else {
            url[at++] = '%';
            url[at++] = hex[*p >> 4];
            url[at++] = hex[*p & 15];
        }
    }
    /* a trailing slash asks for a listing */
    if (x->is_list && at > (size_t)n && url[at - 1] != '/')
        url[at++] = '/';
    else if (x->is_list && at == (size_t)n) {
        /* the root: "/%2F/" */
        url[at++] = '/';
    }
    url[at] = '\0';
    return true;
}

static pd_err start(xfer *x, char *why, size_t len)
{
    pd_ftps *f = x->f;
    char url[3 * PD_FTPS_PATH_MAX + 300];
    if (!make_url(x, url, sizeof url)) {
        snprintf(why, len, "path too long");
        return PD_ERR_INVAL;
    }
    CURL *e = x->easy = curl_easy_init();
    x->share = curl_share_init();
    if (!e || !x->share ||
        curl_share_setopt(x->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK) {
        snprintf(why, len, "out of memory");
        return PD_ERR_NOMEM;
    }
    const pd_ftps_opts *o = &f->o;
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "ftps");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->curl_err);
    curl_easy_setopt(e, CURLOPT_USERNAME, "bblp");
    curl_easy_setopt(e, CURLOPT_PASSWORD, x->rec.access_code);
    curl_easy_setopt(e, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
    /* X1C and H2D speak TLS 1.2 only on 990; with 1.3 the data channel of P2S and H2C aborts
     * (docs/ftps.md) */
    curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)(CURL_SSLVERSION_TLSv1_2 | CURL_SSLVERSION_MAX_TLSv1_2));
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, x->rec.tls_verify ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    curl_easy_setopt(e, CURLOPT_CAINFO, NULL);
    curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
    curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
    curl_easy_setopt(e, CURLOPT_SSL_CTX_DATA, x);
    /* The data channel resumes the control channel's session (vsFTPd require_ssl_reuse), and a
     * resumed session is not verified again. curl keys its cache by host, port and its own SSL
     * options, not by what on_ssl_ctx checks, so another printer record naming the same
     * host:port (another serial or CA) must never find this session: the cache lives in a
     * share handle of this transfer's own. curl 7.88 keeps one per easy handle anyway; later
     * curl keeps it in the multi handle unless a share holds it. */
    curl_easy_setopt(e, CURLOPT_SSL_SESSIONID_CACHE, 1L);
    curl_easy_setopt(e, CURLOPT_SHARE, x->share);
    /* A session of its own, always: curl would reuse a connection to the same address and
     * port, which another printer record (another serial, another CA) may name too. */
    curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(e, CURLOPT_FTP_USE_EPSV, 0L);
    curl_easy_setopt(e, CURLOPT_FTP_SKIP_PASV_IP, 1L);
    curl_easy_setopt(e, CURLOPT_FTP_FILEMETHOD, (long)CURLFTPMETHOD_SINGLECWD);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, (long)o->connect_timeout_s);
    curl_easy_setopt(e, CURLOPT_SERVER_RESPONSE_TIMEOUT, (long)o->stall_s);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)o->stall_s);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, (long)o->timeout_s);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    if (!x->is_list)
        curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)x->max_bytes);
    if (pd_curlm_add(f->curlm, e)) {
        snprintf(why, len, "cannot start the transfer");
        return PD_ERR_INTERNAL;
    }
    return PD_OK;
}

/* x is started, or finished when it cannot be */
static void begin(xfer *x)
{
    char why[PATH_MAX + 128];
    pd_err rc = start(x, why, sizeof why);
    if (rc)
        finish(x, rc, why);
}

/* On a worker thread: touches nothing but *x's prep fields. */
static void prep_work(uv_work_t *w)
{
    xfer *x = w->data;
    const char *why = pd_tls_read_ca(x->rec.ca_file, &x->pem, &x->pem_len);
    if (why)
        snprintf(x->prep_err, sizeof x->prep_err, "TLS verification failed: cannot load ca_file %s: %s",
                 x->rec.ca_file, why);
}

static void prep_done(uv_work_t *w, int status)
{
    xfer *x = w->data;
    (void)status; /* cancelled only once dropped, and then orphaned */
    if (x->orphaned) {
        xfer_free(x);
        return;
    }
    x->state = X_ACTIVE;
    if (x->prep_err[0])
        finish(x, PD_ERR_TLS, x->prep_err);
    else
        begin(x);
}

static int active_for(const pd_ftps *f, int64_t printer_id)
{
    int n = 0;
    for (const xfer *a = f->active; a; a = a->next)
        n += a->rec.id == printer_id;
    return n;
}

/* Starts waiting requests while slots are free, oldest first, one printer's turn not taking
 * another's slot. A request that fails to start is finished and the walk starts over: its
 * callback may have changed the queue. */
static void pump_queue(pd_ftps *f)
{
    for (xfer **pp = &f->queue; *pp && f->n_active < f->o.max_active;) {
        xfer *x = *pp;
        if (active_for(f, x->rec.id) >= f->o.max_per_printer) {
            pp = &x->next;
            continue;
        }
        *pp = x->next;
        f->n_queued--;
        x->next = f->active;
        f->active = x;
        f->n_active++;
        if (x->rec.tls_verify && x->rec.ca_file[0]) {
            x->state = X_PREP;
            x->work.data = x;
            if (uv_queue_work(f->loop, &x->work, prep_work, prep_done)) {
                x->state = X_ACTIVE;
                finish(x, PD_ERR_INTERNAL, "cannot queue reading the ca_file");
            }
        } else {
            x->state = X_ACTIVE;
            begin(x);
        }
        pp = &f->queue;
    }
}

static void on_pump(uv_timer_t *t)
{
    pd_ftps *f = t->data;
    pump_queue(f);
    kick_update(f);
}

static void pump(pd_ftps *f)
{
    kick_update(f);
    if (f->queue && !uv_is_active((uv_handle_t *)&f->pumper))
        uv_timer_start(&f->pumper, on_pump, 0, 0);
}

const char *pd_ftps_path_check(const char *path)
{
    size_t len = strlen(path);
    if (path[0] != '/')
        return "must begin with /";
    if (len > PD_FTPS_PATH_MAX)
        return "longer than 512 bytes";
    for (const char *p = path; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return "has control characters";
    for (const char *seg = path + 1; *seg || seg == path + 1;) {
        const char *end = strchr(seg, '/');
        size_t n = end ? (size_t)(end - seg) : strlen(seg);
        if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
            return "has a . or .. segment";
        if (!end)
            break;
        seg = end + 1;
    }
    return NULL;
}

static pd_err enqueue(pd_ftps *f, const pd_printer_rec *rec, const char *path, xfer *proto,
                      uint64_t *handle, const char **why)
{
    const char *bad = pd_ftps_path_check(path);
    if (bad) {
        if (why)
            *why = bad;
        return PD_ERR_INVAL;
    }
    if (f->n_queued >= f->o.max_queued) {
        if (why)
            *why = "too many transfers waiting; try again later";
        return PD_ERR_BUSY;
    }
    xfer *x = malloc(sizeof *x);
    if (!x) {
        if (why)
            *why = "out of memory";
        return PD_ERR_NOMEM;
    }
    *x = *proto;
    x->f = f;
    x->fd = -1;
    x->handle = ++f->next_handle;
    x->state = X_QUEUED;
    x->rec = *rec;
    snprintf(x->path, sizeof x->path, "%s", path);
    pd_buf_init(&x->listing, f->o.max_listing);
    xfer **tail = &f->queue;
    while (*tail)
        tail = &(*tail)->next;
    x->next = NULL;
    *tail = x;
    f->n_queued++;
    if (handle)
        *handle = x->handle;
    pump(f);
    return PD_OK;
}

pd_err pd_ftps_list(pd_ftps *f, const pd_printer_rec *printer, const char *path,
                    pd_ftps_list_cb cb, void *ud, uint64_t *handle, const char **why)
{
    xfer proto = {.is_list = true, .lcb = cb, .ud = ud};
    return enqueue(f, printer, path, &proto, handle, why);
}

pd_err pd_ftps_fetch(pd_ftps *f, const pd_printer_rec *printer, const char *path,
                     int64_t max_bytes, pd_ftps_fetch_cb cb, void *ud, uint64_t *handle,
                     const char **why)
{
    xfer proto = {.fcb = cb, .ud = ud, .max_bytes = max_bytes > 0 ? max_bytes : f->o.max_file};
    return enqueue(f, printer, path, &proto, handle, why);
}

/* Drops x without its callback. A worker reading its ca_file cannot be stopped: x is left
 * for prep_done to free. */
static void drop(xfer *x)
{
    detach(x);
    if (x->state == X_PREP) {
        uv_cancel((uv_req_t *)&x->work);
        x->orphaned = true;
        return;
    }
    xfer_free(x);
}

void pd_ftps_cancel(pd_ftps *f, uint64_t handle)
{
    xfer *lists[] = {f->queue, f->active};
    for (size_t i = 0; i < 2; i++)
        for (xfer *x = lists[i]; x; x = x->next)
            if (x->handle == handle) {
                drop(x);
                pump(f);
                return;
            }
}

/* A removed printer's requests end now, with their callbacks: nobody waits for a printer
 * that is gone. */
static void on_bus(const pd_event *ev, void *ud)
{
    pd_ftps *f = ud;
    for (;;) {
        xfer *hit = NULL;
        for (xfer *x = f->active; x && !hit; x = x->next)
            if (x->rec.id == ev->printer_id && x->state == X_ACTIVE)
                hit = x;
        for (xfer *x = f->queue; x && !hit; x = x->next)
            if (x->rec.id == ev->printer_id)
                hit = x;
        if (!hit)
            break;
        finish(hit, PD_ERR_OFFLINE, "the printer was removed");
    }
    /* one reading its ca_file goes when the worker is done: its callback must not run */
    for (xfer *x = f->active, *next; x; x = next) {
        next = x->next;
        if (x->rec.id == ev->printer_id && x->state == X_PREP) {
            x->lcb ? x->lcb(PD_ERR_OFFLINE, "the printer was removed", NULL, x->ud)
                   : x->fcb(PD_ERR_OFFLINE, "the printer was removed", NULL, 0, x->ud);
            drop(x);
        }
    }
    pump(f);
}

/* Files a crash left behind: nothing else writes there. */
static void clean_tmp(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)))
        if (!strncmp(de->d_name, TMP_PREFIX, strlen(TMP_PREFIX)))
            unlinkat(dirfd(d), de->d_name, 0);
    closedir(d);
}

pd_err pd_ftps_new(uv_loop_t *loop, pd_bus *bus, const pd_ftps_opts *opts, pd_ftps **out)
{
    pd_ftps *f = calloc(1, sizeof *f);
    if (!f)
        return PD_ERR_NOMEM;
    f->loop = loop;
    f->bus = bus;
    f->o = *opts;
    snprintf(f->tmp_dir, sizeof f->tmp_dir, "%s", opts->tmp_dir);
    f->o.tmp_dir = f->tmp_dir;
    if (mkdir(f->tmp_dir, 0700) && errno != EEXIST) {
        pd_error("ftps", "cannot create %s: %s", f->tmp_dir, strerror(errno));
        free(f);
        return PD_ERR_IO;
    }
    clean_tmp(f->tmp_dir);
    if (pd_curlm_new(loop, on_done, f, &f->curlm)) {
        free(f);
        return PD_ERR_NOMEM;
    }
    uv_timer_init(loop, &f->kick);
    f->kick.data = f;
    uv_timer_init(loop, &f->pumper);
    f->pumper.data = f;
    if (bus)
        f->sub = pd_bus_subscribe(bus, PD_EV_PRINTER_REMOVED, on_bus, f);
    *out = f;
    return PD_OK;
}

/* the last of the two timers to close frees f */
static void timer_closed(uv_handle_t *h)
{
    pd_ftps *f = h->data;
    if (++f->timers_closed == 2)
        free(f);
}

void pd_ftps_free(pd_ftps **fp)
{
    pd_ftps *f = *fp;
    if (!f)
        return;
    *fp = NULL;
    if (f->sub)
        pd_bus_unsubscribe(f->bus, f->sub);
    while (f->queue)
        drop(f->queue);
    while (f->active)
        drop(f->active);
    pd_curlm_free(&f->curlm);
    uv_timer_stop(&f->kick);
    uv_timer_stop(&f->pumper);
    uv_close((uv_handle_t *)&f->kick, timer_closed);
    uv_close((uv_handle_t *)&f->pumper, timer_closed);
}
