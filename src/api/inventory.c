/* The Spoolman-compatible inventory routes: vendor, filament, spool (with use and measure),
 * distinct lists, location rename, info, health, backup (export is in transfer.c). The work is in
 * src/inventory/; this file maps requests to it and its errors to Spoolman's shapes. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "api/api.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"

#define MAX_PARAMS 64

void pd_api_inv_fail(pd_req *r, const pd_inv_err *e)
{
    if (e->code == PD_ERR_DB_BUSY)
        pd_req_add_header(r, "Retry-After", "1");
    if (e->code == PD_ERR_FIELD)
        pd_req_reply_field_error(r, e->loc[0] ? e->loc : "body", e->field[0] ? e->field : NULL, "%s", e->msg);
    else
        pd_req_reply_error(r, e->code ? e->code : PD_ERR_INTERNAL, "%s", e->msg);
}

static pd_inv *inv_of(pd_req *r)
{
    return ((pd_app *)pd_req_app(r))->inv;
}

/* The entity is the path segment after /api/v1/. */
static pd_inv_entity entity_of(pd_req *r)
{
    const char *p = pd_req_path(r) + strlen("/api/v1/");
    pd_inv_entity en = PD_INV_SPOOL;
    if (!strncmp(p, "vendor", 6))
        en = PD_INV_VENDOR;
    else if (!strncmp(p, "filament", 8))
        en = PD_INV_FILAMENT;
    return en;
}

/* {id} as an integer; else 422 as Spoolman's schema check answers. */
static bool path_id(pd_req *r, int64_t *id)
{
    const char *s = pd_req_param(r, "id");
    char *end;
    long long v = s && *s ? strtoll(s, &end, 10) : 0;
    if (!s || !*s || *end || v < 0 || (!isdigit((unsigned char)*s))) {
        pd_req_reply_field_error(r, "path", "id", "Input should be a valid integer, unable to parse string as an integer");
        return false;
    }
    *id = v;
    return true;
}

/* Replies obj (stolen) on success, else the error. */
static void reply_result(pd_req *r, pd_err rc, json_t *obj, const pd_inv_err *e)
{
    if (rc) {
        json_decref(obj);
        pd_api_inv_fail(r, e);
    } else
        pd_req_reply_json(r, 200, obj);
}

/* Rendered list replies, reused until the inventory changes: clients poll the same lists
 * (Moonraker, Home Assistant every 30 s), and rendering 1,000 spools costs far more than
 * sending them. Our own writes invalidate at once. A PostgreSQL database may also be written
 * by another printdeck instance, so there a reply is reused for at most LIST_CACHE_SHARED_MS.
 * When it is older, the first request builds it again and the others meanwhile get the old one
 * (for at most LIST_CACHE_REBUILD_MS): otherwise every client of a popular list misses at the
 * same moment and each builds it, which on a loaded loop takes longer than the reply may live
 * (32 clients of a 1,000-spool list on PostgreSQL: 36 replies a second). Bounded in entries
 * and bytes. */
#define LIST_CACHE_N 16
#define LIST_CACHE_MAX_BODY (2u << 20)  /* 16 entries: at most 32 MB */
#define LIST_CACHE_SHARED_MS 1000
#define LIST_CACHE_REBUILD_MS 5000

typedef struct list_cached {
    char *key, *body;
    size_t len;
    int64_t total;
    uint64_t generation, used, stored_ms;
    uint64_t rebuild_ms;  /* when a request set out to build it again; 0: none has */
} list_cached;

static list_cached list_cache[LIST_CACHE_N];
static uint64_t list_clock;

static list_cached *cache_find(const char *key, uint64_t generation, uint64_t oldest_ms, uint64_t now_ms)
{
    for (int i = 0; i < LIST_CACHE_N; i++) {
        list_cached *c = &list_cache[i];
        if (!c->key || c->generation != generation || strcmp(c->key, key))
            continue;
        if (c->stored_ms < oldest_ms) {
            if (!c->rebuild_ms || now_ms - c->rebuild_ms > LIST_CACHE_REBUILD_MS) {
                c->rebuild_ms = now_ms;  /* this request builds it; the next ones get this copy */
                return NULL;
            }
        }
        c->used = ++list_clock;
        return c;
    }
    return NULL;
}

static void cache_store(const char *key, uint64_t generation, uint64_t now_ms, const char *body,
                        size_t len, int64_t total)
{
    list_cached *c = &list_cache[0];
    for (int i = 1; i < LIST_CACHE_N; i++)
        if (list_cache[i].used < c->used)
            c = &list_cache[i];
    for (int i = 0; i < LIST_CACHE_N; i++)
        if (list_cache[i].key && !strcmp(list_cache[i].key, key))
            c = &list_cache[i];  /* a rebuilt reply takes its old copy's place */
    char *k = strdup(key), *b = malloc(len ? len : 1);
    if (!k || !b || len > LIST_CACHE_MAX_BODY) {
        free(k);
        free(b);
        return;
    }
    memcpy(b, body, len);
    free(c->key);
    free(c->body);
    *c = (list_cached){k, b, len, total, generation, ++list_clock, now_ms, 0};
}

void pd_api_inventory_cache_clear(void)
{
    for (int i = 0; i < LIST_CACHE_N; i++) {
        free(list_cache[i].key);
        free(list_cache[i].body);
        list_cache[i] = (list_cached){0};
    }
}

/* A list or export reply: the cursor's ids are read off the loop (pd_db_read), then up to
 * PD_API_BUILD_MAX rows are built whole (and a list cached), more are made while they are
 * sent: the cursor renders the next rows each time the previous ones have gone to the socket,
 * so memory stays at one batch whatever the size. */
typedef struct inv_stream {
    pd_req *r;              /* NULL once the client went away while the ids were read */
    pd_inv_cursor *cur;
    pd_buf piece;
    const char *content_type;
    bool total;             /* a list: X-Total-Count */
    char *cache_key;        /* a list worth keeping whole, or NULL */
    uint64_t generation, now;
} inv_stream;

static void inv_stream_free(pd_stream *s, void *ud)
{
    (void)s;
    inv_stream *st = ud;
    pd_inv_cursor_free(&st->cur);
    pd_buf_free(&st->piece);
    free(st->cache_key);
    free(st);
}

static void inv_stream_produce(pd_stream *s, void *ud)
{
    inv_stream *st = ud;
    bool done;
    pd_buf_reset(&st->piece);
    pd_err rc = pd_inv_cursor_next(st->cur, &st->piece, &done);
    if (rc) {
        /* the status went out long ago: a body cut short is the only honest answer */
        pd_error("inventory", "streamed reply cut off: %s", pd_strerror(rc));
        inv_stream_free(s, st);
        pd_stream_close(s);
        return;
    }
    if (pd_buf_len(&st->piece) && pd_stream_write(s, pd_buf_ptr(&st->piece), pd_buf_len(&st->piece)))
        return;  /* the client is being dropped: inv_stream_free runs once it is gone */
    if (done)
        pd_stream_end(s);
}

static void total_header(pd_req *r, int64_t total)
{
    char t[24];
    snprintf(t, sizeof t, "%lld", (long long)total);
    pd_req_add_header(r, "x-total-count", t);
}

static pd_err inv_stream_read(pd_db *rd, void *ud)
{
    return pd_inv_cursor_prepare(((inv_stream *)ud)->cur, rd);
}

static void inv_stream_gone(void *ud) { ((inv_stream *)ud)->r = NULL; }

static void inv_stream_reply(pd_err rc, void *ud)
{
    inv_stream *st = ud;
    pd_req *r = st->r;
    if (!r || rc) {
        if (r)
            pd_req_reply_error(r, rc, "%s", pd_strerror(rc));
        inv_stream_free(NULL, st);
        return;
    }
    if (st->total)
        total_header(r, pd_inv_cursor_total(st->cur));
    if (pd_inv_cursor_rows(st->cur) <= PD_API_BUILD_MAX) {
        bool done = false;
        while (!rc && !done)
            rc = pd_inv_cursor_next(st->cur, &st->piece, &done);
        if (rc) {
            pd_req_reply_error(r, rc, "%s", pd_strerror(rc));
        } else {
            if (st->cache_key)
                cache_store(st->cache_key, st->generation, st->now, pd_buf_ptr(&st->piece),
                            pd_buf_len(&st->piece), pd_inv_cursor_total(st->cur));
            pd_req_reply_raw(r, 200, st->content_type, pd_buf_ptr(&st->piece), pd_buf_len(&st->piece));
        }
        inv_stream_free(NULL, st);
    } else if (!pd_req_reply_stream(r, st->content_type, inv_stream_produce, inv_stream_free, st)) {
        inv_stream_free(NULL, st);
        pd_req_reply_error(r, PD_ERR_BUSY, PD_API_STREAMS_BUSY);
    }
}

/* reply_cursor with what a list adds: its total, and the key it is cached under (or NULL) */
static void reply_cursor(pd_req *r, const char *content_type, pd_inv_cursor *cur, bool total,
                         const char *cache_key, uint64_t generation, uint64_t now)
{
    pd_app *app = pd_req_app(r);
    inv_stream *st = calloc(1, sizeof *st);
    if (!st || (cache_key && !(st->cache_key = strdup(cache_key)))) {
        free(st);
        pd_inv_cursor_free(&cur);
        pd_req_reply_error(r, PD_ERR_NOMEM, "out of memory");
        return;
    }
    *st = (inv_stream){.r = r, .cur = cur, .content_type = content_type, .total = total,
                       .cache_key = st->cache_key, .generation = generation, .now = now};
    pd_buf_init(&st->piece, 64u << 20);  /* one batch of rows, or a list built whole */
    pd_req_on_abort(r, inv_stream_gone, st);
    pd_err rc = pd_db_read(app->inv->db, app->loop, inv_stream_read, inv_stream_reply, st);
    if (rc) {
        pd_req_on_abort(r, NULL, NULL);
        inv_stream_free(NULL, st);
        pd_req_reply_error(r, rc, "%s", rc == PD_ERR_BUSY ? "Too many large replies are being read; try again shortly."
                                                          : pd_strerror(rc));
    }
}

void pd_api_inv_reply_cursor(pd_req *r, const char *content_type, pd_inv_cursor *cur, bool total)
{
    reply_cursor(r, content_type, cur, total, NULL, 0, 0);
}

static void reply_list(pd_req *r, const char *body, size_t len, int64_t total)
{
    total_header(r, total);
    pd_req_reply_raw(r, 200, "application/json", body, len);
}

/* The query's arguments as list parameters, pointing into buf; how many. */
static size_t query_params(pd_req *r, char *buf, size_t buflen, pd_inv_param *p)
{
    const char *names[MAX_PARAMS], *values[MAX_PARAMS];
    size_t n = pd_req_query_all(r, buf, buflen, names, values, MAX_PARAMS);
    for (size_t i = 0; i < n; i++)
        p[i] = (pd_inv_param){names[i], values[i]};
    return n;
}

/* The cached reply to this query of `kind`, if there is one; else key (at least 8 KiB + 64)
 * gets what to keep the reply under, "" for a query too long to be one. */
static list_cached *cache_lookup(pd_req *r, const char *kind, const pd_inv_param *p, size_t n, char *key,
                                 size_t keylen, uint64_t *now)
{
    pd_inv *inv = inv_of(r);
    size_t kl = (size_t)snprintf(key, keylen, "%s", kind);
    for (size_t i = 0; i < n && kl < keylen; i++)
        kl += (size_t)snprintf(key + kl, keylen - kl, "&%s=%s", p[i].name, p[i].value);
    /* the clock itself, not the loop's time of this turn: replies built one after another in
     * a long turn would otherwise be stamped at its start and be too old for the next one,
     * which then builds them all again (32 clients of a PostgreSQL list: 36 replies a second) */
    *now = (uint64_t)pd_clock_mono_ms();
    if (kl >= keylen) {
        *key = '\0';
        return NULL;
    }
    uint64_t oldest = pd_db_shared(inv->db) && *now > LIST_CACHE_SHARED_MS ? *now - LIST_CACHE_SHARED_MS : 0;
    return cache_find(key, inv->generation, oldest, *now);
}

static void list(pd_req *r)
{
    char buf[8192], key[8192 + 64];
    pd_inv_param p[MAX_PARAMS];
    size_t n = query_params(r, buf, sizeof buf, p);
    pd_inv *inv = inv_of(r);
    pd_inv_entity en = entity_of(r);
    uint64_t now;
    list_cached *c = cache_lookup(r, pd_inv_entity_name(en), p, n, key, sizeof key, &now);
    bool cacheable = *key;
    if (c) {
        reply_list(r, c->body, c->len, c->total);
        return;
    }
    pd_inv_list out;
    pd_inv_err e = {0};
    pd_inv_cursor *cur;
    pd_err rc = pd_inv_list_open(inv, en, p, n, &out, &cur, &e);
    if (rc) {
        pd_api_inv_fail(r, &e);
        return;
    }
    if (cur) {
        reply_cursor(r, "application/json", cur, true, cacheable ? key : NULL, inv->generation, now);
        return;
    }
    char *body = json_dumps(out.items, PD_JSON_FLAGS);
    json_decref(out.items);
    if (!body) {
        pd_req_reply_error(r, PD_ERR_NOMEM, "out of memory");
        return;
    }
    if (cacheable)
        cache_store(key, inv->generation, now, body, strlen(body), out.total);
    reply_list(r, body, strlen(body), out.total);
    free(body);
}

static void search(pd_req *r)
{
    char buf[8192];
    pd_inv_param p[MAX_PARAMS];
    size_t n = query_params(r, buf, sizeof buf, p);
    json_t *out = NULL;
    pd_inv_err e = {0};
    pd_err rc = pd_inv_search(inv_of(r), p, n, &out, &e);
    reply_result(r, rc, out, &e);
}

/* GET /spool/group: the aggregate walks every matching spool, so it is read off the loop as a
 * list's ids are; the page's filament or vendor objects are then read on the loop. */
typedef struct grp_req {
    pd_req *r;  /* NULL once the client went away */
    pd_inv_groups *g;
    char *key;  /* of the list cache, or NULL */
    uint64_t generation, now;
} grp_req;

static pd_err group_read(pd_db *rd, void *ud) { return pd_inv_groups_read(((grp_req *)ud)->g, rd); }
static void group_gone(void *ud) { ((grp_req *)ud)->r = NULL; }

static void group_reply(pd_err rc, void *ud)
{
    grp_req *gq = ud;
    json_t *arr = NULL;
    int64_t total = 0;
    if (gq->r && !rc)
        rc = pd_inv_groups_render(gq->g, &arr, &total);
    char *body = arr ? json_dumps(arr, PD_JSON_FLAGS) : NULL;
    json_decref(arr);
    if (gq->r && !rc && !body)
        rc = PD_ERR_NOMEM;
    if (gq->r && rc) {
        pd_req_reply_error(gq->r, rc, "%s", pd_strerror(rc));
    } else if (gq->r) {
        /* reused as a list is until the next write: a grouped view is polled as lists are */
        if (gq->key)
            cache_store(gq->key, gq->generation, gq->now, body, strlen(body), total);
        reply_list(gq->r, body, strlen(body), total);
    }
    free(body);
    free(gq->key);
    pd_inv_groups_free(&gq->g);
    free(gq);
}

static void spool_group(pd_req *r)
{
    char buf[8192], key[8192 + 64];
    pd_inv_param p[MAX_PARAMS];
    size_t n = query_params(r, buf, sizeof buf, p);
    pd_inv_err e = {0};
    uint64_t now;
    list_cached *c = cache_lookup(r, "group", p, n, key, sizeof key, &now);
    if (c) {
        reply_list(r, c->body, c->len, c->total);
        return;
    }
    grp_req *gq = calloc(1, sizeof *gq);
    if (!gq || (*key && !(gq->key = strdup(key)))) {
        free(gq);
        pd_req_reply_error(r, PD_ERR_NOMEM, "out of memory");
        return;
    }
    gq->r = r;
    gq->generation = inv_of(r)->generation;
    gq->now = now;
    pd_err rc = pd_inv_groups_open(inv_of(r), p, n, &gq->g, &e);
    if (rc) {
        free(gq->key);
        free(gq);
        pd_api_inv_fail(r, &e);
        return;
    }
    pd_app *app = pd_req_app(r);
    pd_req_on_abort(r, group_gone, gq);
    rc = pd_db_read(app->inv->db, app->loop, group_read, group_reply, gq);
    if (rc) {
        pd_req_on_abort(r, NULL, NULL);
        pd_inv_groups_free(&gq->g);
        free(gq->key);
        free(gq);
        pd_req_reply_error(r, rc, "%s", rc == PD_ERR_BUSY ? "Too many large replies are being read; try again shortly."
                                                          : pd_strerror(rc));
    }
}

/* PATCH /spool/field/{field} {"value","new_value"}: both non-empty strings (422 otherwise). */
static void spool_field_rename(pd_req *r)
{
    json_t *body = pd_req_json(r);
    if (!body)
        return;
    static const char *const members[] = {"value", "new_value"};
    const char *v[2];
    for (size_t i = 0; i < 2; i++) {
        json_t *m = json_object_get(body, members[i]);
        v[i] = json_string_value(m);
        if (!m || !v[i] || !*v[i]) {
            pd_req_reply_field_error(r, "body", members[i], "%s", !m ? "Field required" : !v[i]
                                     ? "Input should be a valid string" : "String should have at least 1 character");
            return;
        }
    }
    int64_t updated;
    pd_inv_err e = {0};
    pd_err rc = pd_inv_spool_field_rename(inv_of(r), pd_req_param(r, "field"), v[0], v[1], &updated, &e);
    reply_result(r, rc, json_pack("{s:I}", "spools_updated", (json_int_t)updated), &e);
}

static void get_one(pd_req *r)
{
    int64_t id;
    json_t *obj = NULL;
    pd_inv_err e = {0};
    if (path_id(r, &id)) {
        pd_err rc = pd_inv_get(inv_of(r), entity_of(r), id, &obj, &e);
        reply_result(r, rc, obj, &e);
    }
}

static void create(pd_req *r)
{
    json_t *body = pd_req_json(r), *obj = NULL;
    pd_inv_err e = {0};
    if (body) {
        pd_err rc = pd_inv_create(inv_of(r), entity_of(r), body, &obj, &e);
        reply_result(r, rc, obj, &e);
    }
}

static void update(pd_req *r)
{
    int64_t id;
    json_t *body, *obj = NULL;
    pd_inv_err e = {0};
    if (path_id(r, &id) && (body = pd_req_json(r))) {
        pd_err rc = pd_inv_update(inv_of(r), entity_of(r), id, body, &obj, &e);
        reply_result(r, rc, obj, &e);
    }
}

static void delete_one(pd_req *r)
{
    int64_t id;
    pd_inv_err e = {0};
    if (!path_id(r, &id))
        return;
    pd_err rc = pd_inv_delete(inv_of(r), entity_of(r), id, &e);
    reply_result(r, rc, json_pack("{s:s}", "message", "Success!"), &e);
}

static void spool_use(pd_req *r)
{
    int64_t id;
    json_t *body, *obj = NULL;
    pd_inv_err e = {0};
    if (path_id(r, &id) && (body = pd_req_json(r))) {
        pd_err rc = pd_inv_spool_use(inv_of(r), id, body, &obj, &e);
        reply_result(r, rc, obj, &e);
    }
}

static void spool_measure(pd_req *r)
{
    int64_t id;
    json_t *body, *obj = NULL;
    pd_inv_err e = {0};
    if (path_id(r, &id) && (body = pd_req_json(r))) {
        pd_err rc = pd_inv_spool_measure(inv_of(r), id, body, &obj, &e);
        reply_result(r, rc, obj, &e);
    }
}

/* /material, /article-number, /lot-number, /location: the path names the column. */
static void distinct(pd_req *r)
{
    static const struct {
        const char *path, *what;
    } map[] = {{"/api/v1/material", "material"}, {"/api/v1/article-number", "article_number"},
               {"/api/v1/lot-number", "lot_nr"}, {"/api/v1/location", "location"}};
    const char *path = pd_req_path(r);
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        if (strncmp(path, map[i].path, strlen(map[i].path)))
            continue;
        json_t *out = NULL;
        pd_err rc = pd_inv_distinct(inv_of(r), map[i].what, &out);
        if (rc)
            pd_req_reply_error(r, rc, "%s", pd_strerror(rc));
        else
            pd_req_reply_json(r, 200, out);
        return;
    }
    pd_req_reply_error(r, PD_ERR_NOTFOUND, "Not Found");
}

static void location_rename(pd_req *r)
{
    json_t *body = pd_req_json(r);
    pd_inv_err e = {0};
    if (!body)
        return;
    const char *to = json_string_value(json_object_get(body, "name"));
    if (!to) {
        pd_req_reply_field_error(r, "body", "name", "Field required: a string");
        return;
    }
    pd_err rc = pd_inv_location_rename(inv_of(r), pd_req_param(r, "name"), to, &e);
    reply_result(r, rc, json_string(to), &e);
}

static void health(pd_req *r)
{
    pd_req_reply_json(r, 200, json_pack("{s:s}", "status", "healthy"));
}

/* Spoolman's names for its database types; clients compare the string. */
static const char *db_type(const pd_db *db)
{
    return pd_db_kind_of(db) == PD_DB_POSTGRESQL ? "postgres" : "sqlite";
}

static void info(pd_req *r)
{
    pd_app *app = pd_req_app(r);
    char backups[PD_CFG_STR + 16];
    snprintf(backups, sizeof backups, "%s/backups", app->cfg->data_dir);
    /* version: the Spoolman API level served (Fluidd reads settings only from 0.16 on) */
    pd_req_reply_json(r, 200, json_pack("{s:s,s:b,s:b,s:s,s:s,s:s,s:s,s:s,s:n,s:n,s:s}",
                                        "version", "0.26.1", "debug_mode", 0, "automatic_backups", 0,
                                        "data_dir", app->cfg->data_dir, "logs_dir", app->cfg->data_dir,
                                        "backups_dir", backups, "db_type", db_type(app->db),
                                        "external_db_name", "SpoolmanDB", "git_commit", "build_date",
                                        "server", "printdeck"));
}

/* Spoolman's retention (its backup_and_rotate): the newest copy is printdeck.db, older ones
 * printdeck.db.1 … .BACKUP_KEEP. A copy equal byte for byte to the newest is dropped, and
 * within BACKUP_QUIET_MS of this process's last rotation none is even made, so backups taken
 * again and again (a client's button, a schedule) keep the history instead of pushing it out. */
#define BACKUP_KEEP 5
#define BACKUP_QUIET_MS (300 * 1000)

static int64_t backup_rotated_ms = -1;  /* this process's last rotation; -1 none */

static bool files_equal(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    bool same = fa && fb;
    static char ba[1 << 16], bb[1 << 16];  /* one backup at a time: backup_running, or the CLI */
    while (same) {
        size_t na = fread(ba, 1, sizeof ba, fa), nb = fread(bb, 1, sizeof bb, fb);
        same = na == nb && !memcmp(ba, bb, na);
        if (na < sizeof ba)
            break;
    }
    same = same && feof(fa) && feof(fb) && !ferror(fa) && !ferror(fb);
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    return same;
}

pd_err pd_api_backup(pd_db *db, const char *data_dir, char *path, size_t pathlen, bool *created, char *err,
                     size_t errlen)
{
    char dir[PD_CFG_STR + 16], pending[PD_CFG_STR + 64], from[PD_CFG_STR + 64], to[PD_CFG_STR + 64];
    struct stat st;
    *created = false;
    snprintf(dir, sizeof dir, "%s/backups", data_dir);
    if (mkdir(dir, 0700) && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s", dir);
        return PD_ERR_IO;
    }
    snprintf(path, pathlen, "%s/printdeck.db", dir);
    bool newest = !stat(path, &st);
    if (newest && backup_rotated_ms >= 0 && pd_clock_mono_ms() - backup_rotated_ms < BACKUP_QUIET_MS)
        return PD_OK;
    snprintf(pending, sizeof pending, "%s.pending", path);
    pd_err rc = pd_db_backup(db, pending, err, errlen);
    if (rc || (newest && files_equal(pending, path))) {
        remove(pending);
        return rc;
    }
    for (int i = BACKUP_KEEP; i >= 1; i--) {
        snprintf(to, sizeof to, "%s.%d", path, i);
        if (i > 1)
            snprintf(from, sizeof from, "%s.%d", path, i - 1);
        else
            snprintf(from, sizeof from, "%s", path);
        if (rename(from, to) && errno != ENOENT) {
            snprintf(err, errlen, "cannot rename %s to %s: %s", from, to, strerror(errno));
            remove(pending);
            return PD_ERR_IO;
        }
    }
    if (rename(pending, path)) {
        snprintf(err, errlen, "cannot rename %s to %s: %s", pending, path, strerror(errno));
        remove(pending);
        return PD_ERR_IO;
    }
    backup_rotated_ms = pd_clock_mono_ms();
    *created = true;
    return PD_OK;
}

/* POST /backup: VACUUM INTO, two fsyncs and a comparison with the last copy take as long as
 * the database is big (seconds for 100,000 spools), so they run in the pool on a read
 * connection (VACUUM INTO reads; SQLite's WAL lets it while the loop writes). */
typedef struct backup_job {
    pd_req *r;                   /* NULL once the client went away */
    char data_dir[PD_CFG_STR];
    char path[PD_CFG_STR + 64], err[256];
    bool created;
} backup_job;

static bool backup_running;  /* the loop's: one backup at a time (the files and the rotation) */

static pd_err backup_work(pd_db *rd, void *ud)
{
    backup_job *b = ud;
    return pd_api_backup(rd, b->data_dir, b->path, sizeof b->path, &b->created, b->err, sizeof b->err);
}

static void backup_gone(void *ud) { ((backup_job *)ud)->r = NULL; }

static void backup_done(pd_err rc, void *ud)
{
    backup_job *b = ud;
    backup_running = false;
    if (rc)
        pd_error("inventory", "backup failed: %s", b->err[0] ? b->err : pd_strerror(rc));
    else if (b->created)
        pd_info("inventory", "backup written to %s", b->path);
    if (b->r) {
        pd_req_on_abort(b->r, NULL, NULL);
        if (rc)
            pd_req_reply_error(b->r, PD_ERR_INTERNAL, "Backup failed. See server logs for more information.");
        else
            pd_req_reply_json(b->r, 200, json_pack("{s:s,s:b}", "path", b->path, "created", b->created));
    }
    free(b);
}

static void backup(pd_req *r)
{
    pd_app *app = pd_req_app(r);
    if (backup_running) {
        pd_req_reply_error(r, PD_ERR_BUSY, "A backup is being written; try again shortly.");
        return;
    }
    backup_job *b = calloc(1, sizeof *b);
    if (!b) {
        pd_req_reply_error(r, PD_ERR_NOMEM, NULL);
        return;
    }
    b->r = r;
    snprintf(b->data_dir, sizeof b->data_dir, "%s", app->cfg->data_dir);
    backup_running = true;
    pd_req_on_abort(r, backup_gone, b);
    /* the copy always ends by itself, however long a big database takes at the pool's nice 10:
     * no cut-off that would close the connection with the backup still being written */
    pd_req_wait(r, 0);
    pd_err rc = pd_db_read(app->db, app->loop, backup_work, backup_done, b);
    if (rc) {  /* neither function ran */
        backup_running = false;
        pd_req_on_abort(r, NULL, NULL);
        free(b);
        pd_req_reply_error(r, rc, "%s", rc == PD_ERR_BUSY ? "Too many reads are waiting; try again shortly."
                                                          : pd_strerror(rc));
    }
}

#define SM PD_ROUTE_SPOOLMAN

const pd_route pd_api_inventory_routes[] = {
    {"GET", "/api/v1/vendor", list, SM},
    {"POST", "/api/v1/vendor", create, SM},
    {"GET", "/api/v1/vendor/{id}", get_one, SM},
    {"PATCH", "/api/v1/vendor/{id}", update, SM},
    {"DELETE", "/api/v1/vendor/{id}", delete_one, SM},
    {"GET", "/api/v1/filament", list, SM},
    {"POST", "/api/v1/filament", create, SM},
    {"GET", "/api/v1/filament/{id}", get_one, SM},
    {"PATCH", "/api/v1/filament/{id}", update, SM},
    {"DELETE", "/api/v1/filament/{id}", delete_one, SM},
    {"GET", "/api/v1/spool", list, SM},
    {"POST", "/api/v1/spool", create, SM},
    {"GET", "/api/v1/spool/group", spool_group, SM},  /* before {id}: "group" is no id */
    {"GET", "/api/v1/spool/{id}", get_one, SM},
    {"PATCH", "/api/v1/spool/{id}", update, SM},
    {"DELETE", "/api/v1/spool/{id}", delete_one, SM},
    {"PATCH", "/api/v1/spool/field/{field}", spool_field_rename, SM},
    {"PUT", "/api/v1/spool/{id}/use", spool_use, SM},
    {"PUT", "/api/v1/spool/{id}/measure", spool_measure, SM},
    {"GET", "/api/v1/material", distinct, SM},
    {"GET", "/api/v1/article-number", distinct, SM},
    {"GET", "/api/v1/lot-number", distinct, SM},
    {"GET", "/api/v1/location", distinct, SM},
    {"PATCH", "/api/v1/location/{name}", location_rename, SM},
    {"GET", "/api/v1/search", search, SM},
    {"GET", "/api/v1/info", info, SM},
    {"GET", "/api/v1/health", health, SM},
    {"POST", "/api/v1/backup", backup, SM | PD_ROUTE_ADMIN},
};
const size_t pd_api_inventory_nroutes = sizeof pd_api_inventory_routes / sizeof pd_api_inventory_routes[0];
