/* /api/v1/printers/{id}/files: the printer's storage (SD card, USB drive) over FTPS, as a
 * browser: a directory listing, and a file streamed to the client once it is fetched whole
 * into a bounded temporary file (the printers cannot resume a transfer, docs/ftps.md). Both
 * wait as long as the FTPS transfer's own bounds allow (a 96 MB file takes ~20 min), not the
 * server's handler timeout (pd_req_wait). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "core/date.h"
#include "core/jw.h"

#define PIECE (64 * 1024)
/* Bytes of the file's name in Content-Disposition: the header, with filename and filename*,
 * stays well inside the 1 KiB that a reply's headers share. */
#define DISPOSITION_NAME_MAX 160

typedef struct files_wait {
    pd_req *r;
    pd_ftps *ftps;
    uint64_t handle;
    char path[PD_FTPS_PATH_MAX + 1];
} files_wait;

static void wait_abort(void *ud)
{
    files_wait *w = ud;
    pd_ftps_cancel(w->ftps, w->handle);
    free(w);
}

/* The printer, and ?path= checked; NULL after replying. */
static pd_printer *files_args(pd_req *r, files_wait *w, const char *dflt)
{
    pd_printer *p = pd_api_printer_of(r);
    if (!p)
        return NULL;
    /* every argument, in a buffer as large as a request target: pd_req_query takes a path
     * too long for it for an absent one, which would list "/" instead of refusing it */
    char q[8192 + 1];
    const char *names[16], *values[16], *path = NULL;
    size_t n = pd_req_query_all(r, q, sizeof q, names, values, 16);
    for (size_t i = 0; i < n && !path; i++)
        if (!strcmp(names[i], "path"))
            path = values[i];
    if (!path && !dflt) {
        pd_req_reply_field_error(r, "query", "path", "required: the file's path on the printer");
        return NULL;
    }
    const char *bad = pd_ftps_path_check(path ? path : dflt);
    json_t *utf8 = bad ? NULL : json_string(path ? path : dflt);
    if (!bad && !utf8)
        bad = "is not UTF-8"; /* no JSON answer could name it */
    json_decref(utf8);
    if (bad) {
        pd_req_reply_field_error(r, "query", "path", "%s", bad);
        return NULL;
    }
    snprintf(w->path, sizeof w->path, "%s", path ? path : dflt);
    return p;
}

/* Queues the request; false after replying. */
static bool files_queued(pd_req *r, files_wait *w, pd_err rc, const char *why)
{
    if (!rc) {
        pd_req_on_abort(r, wait_abort, w);
        /* the transfer's timeouts (connect, stall, whole) in a bounded queue end the wait */
        pd_req_wait(r, 0);
        return true;
    }
    if (rc == PD_ERR_BUSY)
        pd_req_add_header(r, "Retry-After", "5");
    pd_req_reply_error(r, rc, "%s", why ? why : pd_strerror(rc));
    free(w);
    return false;
}

static files_wait *wait_new(pd_req *r)
{
    files_wait *w = calloc(1, sizeof *w);
    if (!w) {
        pd_req_reply_error(r, PD_ERR_NOMEM, NULL);
        return NULL;
    }
    w->r = r;
    w->ftps = ((pd_app *)pd_req_app(r))->ftps;
    return w;
}

/* --- listing ---------------------------------------------------------------------------- */
static void listed(pd_err rc, const char *why, const pd_ftps_listing *l, void *ud)
{
    files_wait *w = ud;
    pd_req *r = w->r;
    if (rc) {
        pd_req_reply_error(r, rc, "%s", why);
        free(w);
        return;
    }
    json_t *entries = json_array();
    for (size_t i = 0; i < l->n; i++) {
        const pd_ftps_entry *e = &l->v[i];
        json_t *name = json_string(e->name);
        if (!name)
            continue; /* not UTF-8: no JSON string can carry it, no path the API takes */
        char when[PD_DATE_LEN];
        if (e->mtime >= 0)
            pd_date_format(e->mtime, when);
        json_array_append_new(entries, json_pack("{s:o,s:s,s:o,s:o}", "name", name, "type",
                                                 pd_ftps_kind_name(e->kind), "size",
                                                 e->size >= 0 ? json_integer(e->size) : json_null(),
                                                 "modified", e->mtime >= 0 ? json_string(when) : json_null()));
    }
    pd_req_reply_json(r, 200, json_pack("{s:s,s:o,s:b}", "path", w->path, "entries", entries,
                                        "truncated", l->truncated));
    free(w);
}

static void list_dir(pd_req *r, const char *dflt)
{
    files_wait *w = wait_new(r);
    pd_printer *p = w ? files_args(r, w, dflt) : NULL;
    if (!p) {
        free(w);
        return;
    }
    const char *why = NULL;
    pd_err rc = pd_ftps_list(w->ftps, pd_printer_rec_get(p), w->path, listed, w, &w->handle, &why);
    files_queued(r, w, rc, why);
}

static void files_list(pd_req *r) { list_dir(r, "/"); }
/* The printer's own timelapses: where the P1, A1 and X1 series keep them (docs/ftps.md);
 * ?path= names another directory some firmware uses (/timelapse/video, /record). */
static void printer_timelapses(pd_req *r) { list_dir(r, "/timelapse/"); }

/* --- download --------------------------------------------------------------------------- */
typedef struct file_stream {
    int fd;
    char piece[PIECE];
} file_stream;

static void stream_closed(pd_stream *s, void *ud)
{
    (void)s;
    file_stream *fs = ud;
    close(fs->fd);
    free(fs);
}

/* A local file, a piece per turn: the socket's pace, never the whole file in memory. The read
 * is on the loop, deliberately: 64 KiB of a file just written, from the page cache. */
static void stream_produce(pd_stream *s, void *ud)
{
    file_stream *fs = ud;
    ssize_t n;
    do
        n = read(fs->fd, fs->piece, sizeof fs->piece);
    while (n < 0 && errno == EINTR);
    if (n <= 0) {
        pd_stream_end(s);
        return;
    }
    pd_stream_write(s, fs->piece, (size_t)n);
}

void pd_api_reply_file(pd_req *r, int fd, int64_t size, const char *content_type)
{
    file_stream *fs = malloc(sizeof *fs);
    if (!fs) {
        close(fd);
        pd_req_reply_error(r, PD_ERR_NOMEM, NULL);
        return;
    }
    fs->fd = fd;
    char len[24];
    snprintf(len, sizeof len, "%lld", (long long)size);
    pd_req_add_header(r, "X-File-Size", len);
    if (!pd_req_reply_stream(r, content_type, stream_produce, stream_closed, fs)) {
        stream_closed(NULL, fs);
        pd_req_reply_error(r, PD_ERR_BUSY, PD_API_STREAMS_BUSY);
    }
}

/* Content-Disposition's filename: the last segment, with what would break the quoted string
 * replaced (RFC 6266 §4.1), and the exact name in filename* (RFC 8187); a longer name is cut
 * to DISPOSITION_NAME_MAX bytes on a character boundary. */
static void disposition(pd_req *r, const char *path)
{
    const char *base = strrchr(path, '/') + 1;
    size_t len = (size_t)pd_jw_utf8_cut(base, DISPOSITION_NAME_MAX);
    char plain[DISPOSITION_NAME_MAX + 1], ext[3 * DISPOSITION_NAME_MAX + 1], h[1024];
    size_t pn = 0, en = 0;
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *c = (const unsigned char *)base; pn < len; c++)
        plain[pn++] = *c == '"' || *c == '\\' || *c > 0x7e ? '_' : (char)*c;
    plain[pn] = '\0';
    for (const unsigned char *c = (const unsigned char *)base; c < (const unsigned char *)base + len; c++) {
        if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
            strchr("!#$&+-.^_`|~", *c)) {
            ext[en++] = (char)*c;
        } else {
            ext[en++] = '%';
            ext[en++] = hex[*c >> 4];
            ext[en++] = hex[*c & 15];
        }
    }
    ext[en] = '\0';
    snprintf(h, sizeof h, "attachment; filename=\"%s\"; filename*=UTF-8''%s", plain, ext);
    pd_req_add_header(r, "Content-Disposition", h);
}

static void fetched(pd_err rc, const char *why, const char *path, int64_t size, void *ud)
{
    files_wait *w = ud;
    pd_req *r = w->r;
    int fd = -1;
    if (!rc) {
        fd = open(path, O_RDONLY | O_CLOEXEC);
        /* gone from the directory at once: the descriptor keeps the bytes until the reply ends,
         * and nothing is left behind whatever happens to the client */
        unlink(path);
        if (fd < 0) {
            rc = PD_ERR_IO;
            why = "cannot read the fetched file";
        }
    }
    if (rc) {
        pd_req_reply_error(r, rc, "%s", why);
        free(w);
        return;
    }
    disposition(r, w->path);
    pd_api_reply_file(r, fd, size, "application/octet-stream");
    free(w);
}

static void files_download(pd_req *r)
{
    files_wait *w = wait_new(r);
    pd_printer *p = w ? files_args(r, w, NULL) : NULL;
    if (!p) {
        free(w);
        return;
    }
    if (w->path[strlen(w->path) - 1] == '/') {
        pd_req_reply_field_error(r, "query", "path", "names a directory: list it at /files?path=");
        free(w);
        return;
    }
    const char *why = NULL;
    pd_err rc = pd_ftps_fetch(w->ftps, pd_printer_rec_get(p), w->path, 0, fetched, w, &w->handle, &why);
    files_queued(r, w, rc, why);
}

const pd_route pd_api_storage_routes[] = {
    {"GET", "/api/v1/printers/{id}/files", files_list, 0},
    {"GET", "/api/v1/printers/{id}/files/download", files_download, 0},
    {"GET", "/api/v1/printers/{id}/timelapses", printer_timelapses, 0},
};
const size_t pd_api_storage_nroutes = sizeof pd_api_storage_routes / sizeof pd_api_storage_routes[0];
