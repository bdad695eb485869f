/* Spoolman's external filament catalogue (SpoolmanDB): GET /api/v1/external/filament, /material
 * and /filament/search. Served from the last catalogue fetched (<data_dir>/external/), else from
 * the small one built in (assets/spoolmandb), so it works offline and in tests. With
 * inventory.external_db_url set, the files are fetched at start and every external_db_sync_s
 * in a worker (blocking libcurl there), checked, kept on disk and only then served. */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api/api.h"
#include "core/json.h"
#include "core/log.h"
#include "inventory/catalog.h"

extern const char pd_catalog_builtin_filaments[], pd_catalog_builtin_materials[];

enum { CAT_FILAMENTS, CAT_MATERIALS, CAT__N };

static const struct {
    const char *file;             /* SpoolmanDB's name, and ours under <data_dir>/external/ */
    const char *builtin;
    const char *const *words;     /* what a search looks in */
} cats[CAT__N] = {
    [CAT_FILAMENTS] = {"filaments.json", pd_catalog_builtin_filaments,
                       (const char *const[]){"manufacturer", "name", "material", NULL}},
    [CAT_MATERIALS] = {"materials.json", pd_catalog_builtin_materials, (const char *const[]){"material", NULL}},
};

#define FETCH_TIMEOUT_S 120

typedef struct fetch_job {
    char url[PD_CFG_STR + 32], dir[PD_CFG_STR + 16];
    pd_catalog *got[CAT__N];
    char err[PD_CFG_STR + 192];
} fetch_job;

static struct ext_state {
    pd_catalog *cat[CAT__N];
    pd_app *app;
    uv_timer_t timer;
    bool timer_on, fetching, stopped;
} ext;

static pd_err dir_of(const pd_app *app, char *dir, size_t len)
{
    snprintf(dir, len, "%s/external", app->cfg->data_dir);
    return mkdir(dir, 0700) && errno != EEXIST ? PD_ERR_IO : PD_OK;
}

static pd_err load_file(const char *path, int which, pd_catalog **out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return PD_ERR_NOTFOUND;
    char *text = malloc(PD_CATALOG_MAX_BYTES + 1);
    size_t n = text ? fread(text, 1, PD_CATALOG_MAX_BYTES + 1, f) : 0;
    pd_err rc = !text ? PD_ERR_NOMEM : ferror(f) ? PD_ERR_IO : pd_catalog_load(text, n, cats[which].words, out);
    fclose(f);
    free(text);
    return rc;
}

/* --- fetching (worker thread) ------------------------------------------------------------- */

typedef struct body {
    char *p;
    size_t len;
} body;

static size_t body_add(char *data, size_t size, size_t nmemb, void *ud)
{
    body *b = ud;
    size_t n = size * nmemb;
    if (b->len + n > PD_CATALOG_MAX_BYTES)
        return 0;  /* curl fails the transfer: bounded */
    char *p = realloc(b->p, b->len + n + 1);
    if (!p)
        return 0;
    memcpy(p + b->len, data, n);
    b->p = p;
    b->len += n;
    return n;
}

/* Written beside and renamed over: the file only ever holds a whole catalogue. */
static bool keep(const char *dir, const char *file, const char *text, size_t len)
{
    char path[PD_CFG_STR + 64], tmp[sizeof path + 8];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    bool ok = f && fwrite(text, 1, len, f) == len;
    ok = f && !fclose(f) && ok && !rename(tmp, path);
    if (!ok)
        remove(tmp);
    return ok;
}

static void fetch_run(void *ud)
{
    fetch_job *j = ud;
    for (int i = 0; i < CAT__N && !j->err[0]; i++) {
        char url[sizeof j->url + 32];
        snprintf(url, sizeof url, "%s%s%s", j->url, j->url[strlen(j->url) - 1] == '/' ? "" : "/", cats[i].file);
        body b = {0};
        CURL *c = curl_easy_init();
        CURLcode cc = CURLE_FAILED_INIT;
        long status = 0;
        if (c) {
            curl_easy_setopt(c, CURLOPT_URL, url);
            curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
            curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
            curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
            curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)FETCH_TIMEOUT_S);
            curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
            curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_add);
            curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
            cc = curl_easy_perform(c);
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
            curl_easy_cleanup(c);
        }
        pd_err rc = PD_OK;
        if (cc != CURLE_OK || status != 200)
            snprintf(j->err, sizeof j->err, "%s: %s", url, cc != CURLE_OK ? curl_easy_strerror(cc) : "not 200 OK");
        else if ((rc = pd_catalog_load(b.p ? b.p : "", b.len, cats[i].words, &j->got[i])))
            snprintf(j->err, sizeof j->err, "%s: not a catalogue (%s)", url, pd_strerror(rc));
        else if (!keep(j->dir, cats[i].file, b.p, b.len))
            snprintf(j->err, sizeof j->err, "cannot write %s/%s", j->dir, cats[i].file);
        free(b.p);
    }
}

static void fetch_done(void *ud, bool cancelled)
{
    fetch_job *j = ud;
    ext.fetching = false;
    if (!cancelled && j->err[0])
        pd_warn("inventory", "filament catalogue not fetched: %s; the one held is served", j->err);
    for (int i = 0; i < CAT__N; i++) {
        if (!cancelled && !j->err[0] && !ext.stopped) {
            pd_catalog_free(&ext.cat[i]);
            ext.cat[i] = j->got[i];
            j->got[i] = NULL;
        }
        pd_catalog_free(&j->got[i]);
    }
    if (!cancelled && !j->err[0] && !ext.stopped)
        pd_info("inventory", "filament catalogue fetched from %s: %zu filaments, %zu materials", j->url,
                pd_catalog_items(ext.cat[CAT_FILAMENTS]), pd_catalog_items(ext.cat[CAT_MATERIALS]));
    free(j);
}

static void fetch_tick(uv_timer_t *t)
{
    (void)t;
    if (ext.fetching || ext.stopped)
        return;
    fetch_job *j = calloc(1, sizeof *j);
    if (!j || dir_of(ext.app, j->dir, sizeof j->dir)) {
        pd_warn("inventory", "filament catalogue not fetched: no directory for it");
        free(j);
        return;
    }
    snprintf(j->url, sizeof j->url, "%s", ext.app->cfg->external_db_url);
    if (pd_work_submit(ext.app->work, fetch_run, fetch_done, j)) {
        free(j);  /* the workers are busy: the next tick tries again */
        return;
    }
    ext.fetching = true;
}

pd_err pd_api_external_start(pd_app *app)
{
    char dir[PD_CFG_STR + 16], path[PD_CFG_STR + 64];
    ext = (struct ext_state){.app = app};
    snprintf(dir, sizeof dir, "%s/external", app->cfg->data_dir);
    for (int i = 0; i < CAT__N; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, cats[i].file);
        pd_err rc = load_file(path, i, &ext.cat[i]);
        if (rc && rc != PD_ERR_NOTFOUND)
            pd_warn("inventory", "%s: %s; the built-in catalogue is served", path, pd_strerror(rc));
        if (rc && pd_catalog_load(cats[i].builtin, strlen(cats[i].builtin), cats[i].words, &ext.cat[i]))
            return PD_ERR_NOMEM;
    }
    if (!app->cfg->external_db_url[0])
        return PD_OK;
    uint64_t every = (uint64_t)app->cfg->external_db_sync_s * 1000;
    if (uv_timer_init(app->loop, &ext.timer) || uv_timer_start(&ext.timer, fetch_tick, 0, every))
        return PD_ERR_INTERNAL;
    ext.timer_on = true;
    return PD_OK;
}

void pd_api_external_stop(void)
{
    ext.stopped = true;
    if (ext.timer_on)
        uv_close((uv_handle_t *)&ext.timer, NULL);
    ext.timer_on = false;
    for (int i = 0; i < CAT__N; i++)
        pd_catalog_free(&ext.cat[i]);
}

/* --- routes ------------------------------------------------------------------------------- */

static void serve(pd_req *r, int which)
{
    size_t len;
    const char *text = pd_catalog_text(ext.cat[which], &len);
    pd_req_reply_raw(r, 200, "application/json", text, len);
}

static void filaments(pd_req *r) { serve(r, CAT_FILAMENTS); }
static void materials(pd_req *r) { serve(r, CAT_MATERIALS); }

static void search(pd_req *r)
{
    char q[512], lim[24];
    long limit = 20;
    if (!pd_req_query(r, "query", q, sizeof q)) {
        pd_req_reply_field_error(r, "query", "query", "Field required");
        return;
    }
    if (pd_req_query(r, "limit", lim, sizeof lim)) {
        char *end;
        limit = strtol(lim, &end, 10);
        if (!*lim || *end || limit < 1 || limit > 100) {
            pd_req_reply_field_error(r, "query", "limit", "Input should be an integer from 1 to 100");
            return;
        }
    }
    json_t *out = pd_catalog_search(ext.cat[CAT_FILAMENTS], q, (size_t)limit);
    if (!out)
        pd_req_reply_error(r, PD_ERR_NOMEM, "out of memory");
    else
        pd_req_reply_json(r, 200, out);
}

const pd_route pd_api_external_routes[] = {
    {"GET", "/api/v1/external/filament", filaments, PD_ROUTE_SPOOLMAN},
    {"GET", "/api/v1/external/filament/search", search, PD_ROUTE_SPOOLMAN},
    {"GET", "/api/v1/external/material", materials, PD_ROUTE_SPOOLMAN},
};
const size_t pd_api_external_nroutes = sizeof pd_api_external_routes / sizeof pd_api_external_routes[0];
