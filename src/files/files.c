/* files.h: which reader a file goes to, the result's lifetime, and the questions asked of a
 * result afterwards (grams up to a layer). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "files/priv.h"

#define GCODE_PIECE (1u << 20)

void pd_files_limits_default(pd_files_limits *l)
{
    *l = (pd_files_limits){
        .max_input = 512ull << 20,
        .max_unzipped = 2ull << 30,   /* a 100 MB 3MF holds about 600 MB of G-code */
        .max_entries = 10000,
        .max_ratio = 100,
        .max_plates = 64,
        .max_layers = 100000,
        .max_points = 1000000,       /* 12 MB */
        .max_thumbnail = 4u << 20,
    };
}

static pd_files_result *result_new(void)
{
    return calloc(1, sizeof(pd_files_result));
}

void pd_files_result_free(pd_files_result **r)
{
    if (!*r)
        return;
    for (int i = 0; i < (*r)->nplates; i++) {
        free((*r)->plates[i].curve);
        free((*r)->plates[i].thumb);
    }
    free((*r)->plates);
    free(*r);
    *r = NULL;
}

/* What the readers left unknown takes the defaults: 1.75 mm, the material's usual density. */
static void finalize(pd_files_result *res)
{
    for (int p = 0; p < res->nplates; p++) {
        pd_files_plate *pl = &res->plates[p];
        for (int i = 0; i < pl->nfil; i++) {
            pd_files_filament *f = &pl->fil[i];
            if (f->diameter <= 0)
                f->diameter = 1.75;
            if (f->density <= 0)
                f->density = pd_files_density(f->type);
        }
        if (pl->weight_g < 0) {
            double sum = 0;
            bool any = false;
            for (int i = 0; i < pl->nfil; i++)
                if (pl->fil[i].used_g >= 0) {
                    sum += pl->fil[i].used_g;
                    any = true;
                }
            if (any)
                pl->weight_g = sum;
        }
    }
}

static bool is_zip(const unsigned char *head, size_t n)
{
    return n >= 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4;
}

/* A whole plain G-code file as plate 1, fed by `next` piece after piece. */
static pd_err gcode_read(const pd_files_limits *lim, pd_files_result *res,
                         pd_err (*next)(void *ud, const char **p, size_t *n), void *ud, char *err,
                         size_t errlen)
{
    res->kind = PD_FILES_GCODE;
    res->plates = calloc(1, sizeof *res->plates);
    pd_gcode *g = pd_gcode_new(lim);
    if (!res->plates || !g) {
        pd_gcode_free(&g);
        snprintf(err, errlen, "out of memory");
        return PD_ERR_NOMEM;
    }
    res->nplates = 1;
    res->plates[0] = (pd_files_plate){.index = 1, .prediction_s = -1, .weight_g = -1};
    pd_err rc;
    const char *p;
    size_t n;
    while (!(rc = next(ud, &p, &n)) && n)
        if ((rc = pd_gcode_feed(g, p, n, err, errlen)))
            break;
    if (!rc)
        rc = pd_gcode_finish(g, &res->plates[0], res, err, errlen);
    pd_gcode_free(&g);
    return rc;
}

typedef struct fd_src {
    int fd;
    uint64_t off, left;
    char *buf;
    char *err;
    size_t errlen;
} fd_src;

static pd_err fd_next(void *ud, const char **p, size_t *n)
{
    fd_src *s = ud;
    size_t want = s->left < GCODE_PIECE ? (size_t)s->left : GCODE_PIECE;
    *p = s->buf;
    *n = 0;
    if (!want)
        return PD_OK;
    ssize_t got;
    do
        got = pread(s->fd, s->buf, want, (off_t)s->off);
    while (got < 0 && errno == EINTR);
    if (got <= 0) {
        snprintf(s->err, s->errlen, "the file could not be read: %s",
                 got < 0 ? strerror(errno) : "shorter than announced");
        return PD_ERR_IO;
    }
    s->off += (uint64_t)got;
    s->left -= (uint64_t)got;
    *n = (size_t)got;
    return PD_OK;
}

static pd_err check_size(uint64_t len, const pd_files_limits *lim, char *err, size_t errlen)
{
    if (len > lim->max_input) {
        snprintf(err, errlen, "the file is %llu bytes, over the bound of %llu",
                 (unsigned long long)len, (unsigned long long)lim->max_input);
        return PD_ERR_TOOBIG;
    }
    if (!len) {
        snprintf(err, errlen, "the file is empty");
        return PD_ERR_PARSE;
    }
    return PD_OK;
}

pd_err pd_files_analyze_fd(int fd, uint64_t off, uint64_t len, const pd_files_limits *lim,
                           pd_files_result **out, char *err, size_t errlen)
{
    *out = NULL;
    pd_err rc = check_size(len, lim, err, errlen);
    if (rc)
        return rc;
    pd_files_result *res = result_new();
    fd_src s = {.fd = fd, .off = off, .left = len, .err = err, .errlen = errlen};
    s.buf = malloc(len < GCODE_PIECE ? (size_t)len : GCODE_PIECE); /* a small file, a small buffer */
    if (!res || !s.buf) {
        snprintf(err, errlen, "out of memory");
        rc = PD_ERR_NOMEM;
        goto out;
    }
    unsigned char head[4] = {0};
    ssize_t hn = pread(fd, head, sizeof head, (off_t)off);
    if (is_zip(head, hn > 0 ? (size_t)hn : 0)) {
        /* libzip reads through its own FILE, positioned on the range */
        int dupfd = dup(fd);
        FILE *f = dupfd >= 0 ? fdopen(dupfd, "rb") : NULL;
        zip_error_t ze;
        zip_error_init(&ze);
        zip_source_t *src = f ? zip_source_filep_create(f, off, (zip_int64_t)len, &ze) : NULL;
        zip_error_fini(&ze);
        if (!src) {
            if (f)
                fclose(f);
            else if (dupfd >= 0)
                close(dupfd);
            snprintf(err, errlen, "the file could not be opened: %s", strerror(errno));
            rc = PD_ERR_IO;
            goto out;
        }
        rc = pd_threemf_read(src, lim, res, err, errlen);
    } else {
        rc = gcode_read(lim, res, fd_next, &s, err, errlen);
    }
out:
    free(s.buf);
    if (!rc) {
        finalize(res);
        *out = res;
    } else {
        pd_files_result_free(&res);
    }
    return rc;
}

pd_err pd_files_analyze_path(const char *path, const pd_files_limits *lim, pd_files_result **out,
                             char *err, size_t errlen)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return errno == ENOENT ? PD_ERR_NOTFOUND : PD_ERR_IO;
    }
    off_t end = lseek(fd, 0, SEEK_END);
    pd_err rc = end < 0 ? PD_ERR_IO
                        : pd_files_analyze_fd(fd, 0, (uint64_t)end, lim, out, err, errlen);
    if (end < 0)
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
    close(fd);
    return rc;
}

typedef struct mem_src {
    const char *p;
    size_t left;
} mem_src;

static pd_err mem_next(void *ud, const char **p, size_t *n)
{
    mem_src *m = ud;
    *p = m->p;
    *n = m->left;
    m->p += m->left;
    m->left = 0;
    return PD_OK;
}

pd_err pd_files_analyze_mem(const void *data, size_t len, const pd_files_limits *lim,
                            pd_files_result **out, char *err, size_t errlen)
{
    *out = NULL;
    pd_err rc = check_size(len, lim, err, errlen);
    if (rc)
        return rc;
    pd_files_result *res = result_new();
    if (!res) {
        snprintf(err, errlen, "out of memory");
        return PD_ERR_NOMEM;
    }
    if (is_zip(data, len)) {
        zip_error_t ze;
        zip_error_init(&ze);
        zip_source_t *src = zip_source_buffer_create(data, len, 0, &ze);
        zip_error_fini(&ze);
        if (!src) {
            snprintf(err, errlen, "out of memory");
            rc = PD_ERR_NOMEM;
        } else {
            rc = pd_threemf_read(src, lim, res, err, errlen);
        }
    } else {
        mem_src m = {data, len};
        rc = gcode_read(lim, res, mem_next, &m, err, errlen);
    }
    if (!rc) {
        finalize(res);
        *out = res;
    } else {
        pd_files_result_free(&res);
    }
    return rc;
}

size_t pd_files_grams_upto_layer(const pd_files_result *r, int plate, int layer, double *grams,
                                 size_t n)
{
    const pd_files_plate *pl = NULL;
    for (int i = 0; r && i < r->nplates && !pl; i++)
        if (r->plates[i].index == plate)
            pl = &r->plates[i];
    if (!pl)
        return 0;
    pd_files_walk w;
    pd_files_walk_init(&w, pl);
    return pd_files_walk_to(&w, layer, grams, n);
}

void pd_files_walk_init(pd_files_walk *w, const pd_files_plate *pl)
{
    *w = (pd_files_walk){.pl = pl};
}

size_t pd_files_walk_to(pd_files_walk *w, int layer, double *grams, size_t n)
{
    const pd_files_plate *pl = w->pl;
    if (!pl->has_gcode || layer < 0)
        return 0;
    size_t k = (size_t)pl->nfil < n ? (size_t)pl->nfil : n;
    for (; w->at < pl->ncurve && pl->curve[w->at].layer <= (uint32_t)layer; w->at++)
        w->mm[pl->curve[w->at].fil] = pl->curve[w->at].mm;
    for (size_t i = 0; i < k; i++) {
        const pd_files_filament *f = &pl->fil[i];
        double g = pd_files_mm_to_g(w->mm[i], f->diameter, f->density);
        /* the slicer's own total is the reference: the curve gives the shape */
        double total = pd_files_mm_to_g(f->gcode_mm, f->diameter, f->density);
        if (f->used_g > 0 && total > 0)
            g *= f->used_g / total;
        grams[i] = g;
    }
    return k;
}
