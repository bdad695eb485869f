/* SQLite backend: WAL, foreign keys on, a bounded wait for other processes' locks; the schema
 * version lives in PRAGMA user_version. Prepared statements are cached by their text: the API
 * runs the same few statements over and over, and preparing costs as much as running a short
 * one. */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "store/backend.h"

#define SQ_CACHE 48

typedef struct sq_cached {
    char *sql;
    uint64_t hash;     /* of sql: a lookup compares texts only when these match */
    sqlite3_stmt *st;
    uint64_t used;     /* LRU clock */
    bool busy;         /* being stepped: a nested query with the same text gets its own */
} sq_cached;

struct pd_store {
    sqlite3 *db;
    bool reader;                  /* pd_db_read's: opened read-only, query_only set */
    sq_cached cache[SQ_CACHE];
    uint64_t clock;
    int wait_ms, waited_ms;       /* lock waits: the bound, and this wait so far */
    void (*on_wait)(void *ud);    /* told once, when a wait first grows long */
    void *wait_ud;
};

#define SQ_WAIT_NOTICE_MS 100

/* SQLite's own busy timeout, plus a word to whoever waits: the CLI says once that it waits
 * for the daemon rather than seeming to hang. Sleeps 1, 2, 4 … 32 ms, then 32 ms steps. */
static int sq_busy(void *ud, int n)
{
    pd_store *s = ud;
    if (n == 0)
        s->waited_ms = 0;
    if (s->waited_ms >= s->wait_ms)
        return 0;
    if (s->on_wait && s->waited_ms >= SQ_WAIT_NOTICE_MS) {
        s->on_wait(s->wait_ud);
        s->on_wait = NULL;
    }
    int step = n < 5 ? 1 << n : 32;
    if (step > s->wait_ms - s->waited_ms)
        step = s->wait_ms - s->waited_ms;
    sqlite3_sleep(step);
    s->waited_ms += step;
    return 1;
}

static void sq_lock_wait(pd_store *s, int max_ms, void (*on_wait)(void *ud), void *ud)
{
    s->wait_ms = max_ms;
    s->on_wait = on_wait;
    s->wait_ud = ud;
    sqlite3_busy_handler(s->db, sq_busy, s);
}

/* Another connection holds the lock (SQLITE_BUSY), or a table of ours is (SQLITE_LOCKED). */
static bool sq_busy_code(int rc) { return (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED; }

static const char *sq_last_error(pd_store *s) { return sqlite3_errmsg(s->db); }

static pd_err sq_exec(pd_store *s, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        bool busy = sq_busy_code(sqlite3_errcode(s->db));
        pd_log(busy ? PD_LOG_WARN : PD_LOG_ERROR, "store", "sqlite: %s", msg ? msg : "?");
        sqlite3_free(msg);
        return busy ? PD_ERR_DB_BUSY : PD_ERR_DB;
    }
    return PD_OK;
}

static int sq_schema_version(pd_store *s)
{
    sqlite3_stmt *st;
    int v = -1;
    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW)
            v = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
    }
    return v;
}

static pd_err sq_set_schema_version(pd_store *s, int v)
{
    char pragma[48];
    snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d;", v);
    return sq_exec(s, pragma);
}

static void sq_close(pd_store *s)
{
    if (!s)
        return;
    for (int i = 0; i < SQ_CACHE; i++) {
        sqlite3_finalize(s->cache[i].st);
        free(s->cache[i].sql);
    }
    sqlite3_close(s->db);
    free(s);
}

/* SQLite creates a file 0644 less the umask and gives its -wal and -shm the database's mode, so
 * a database file made here first, 0600 and empty (which SQLite takes as a new database, and
 * VACUUM INTO as its target), keeps every file of it private whatever the umask. A file that
 * exists is left as it is; an error is left to SQLite to report. */
static void sq_create_private(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0)
        close(fd);
}

static pd_err sq_open(const char *path, bool reader, pd_store **out, char *err, size_t errlen)
{
    pd_store *s = calloc(1, sizeof *s);
    if (!s)
        return PD_ERR_NOMEM;
    if (!reader && *path && strcmp(path, ":memory:")) {
        static const char *const sides[] = {"", "-wal", "-shm"};
        sq_create_private(path);
        for (size_t i = 0; i < sizeof sides / sizeof sides[0]; i++) {
            char side[1024];
            if ((size_t)snprintf(side, sizeof side, "%s%s", path, sides[i]) < sizeof side)
                pd_db_keep_private(side);
        }
    }
    /* each connection is used by one thread at a time (the loop's, or a reader handed from one
     * pool thread to the next by libuv's queue): no mutex needed around it */
    int flags = reader ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    if (sqlite3_open_v2(path, &s->db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open database %s: %s", path, sqlite3_errmsg(s->db));
        goto fail;
    }
    sq_lock_wait(s, 5000, NULL, NULL);
    /* cache_size: up to 8 MB of pages (allocated as used), so a 100,000-spool list is served
     * from memory rather than re-read from the OS on every query. A reader keeps the WAL mode
     * the database has (it is stored in the file) and refuses to write even by mistake; it
     * walks a table once per read, so a small cache serves it as well. */
    if (sq_exec(s, reader ? "PRAGMA query_only=1; PRAGMA cache_size=-1024;"
                          : "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL; "
                            "PRAGMA cache_size=-8192; PRAGMA analysis_limit=1000;")) {
        snprintf(err, errlen, "cannot configure database %s: %s", path, sqlite3_errmsg(s->db));
        goto fail;
    }
    if (reader) {
        s->reader = true;
        *out = s;
        return PD_OK;
    }
    /* ANALYZE (sampled, so it stays quick on a large file) tells the planner that, say, every
     * spool has one of two filaments, so it scans instead of walking an index row by row. It
     * writes, so it is skipped, not waited for, while another process holds the write lock:
     * the CLI beside a running daemon must reach its own wait, which says that it waits. */
    s->wait_ms = 0;
    if (sqlite3_exec(s->db, "ANALYZE", NULL, NULL, NULL) != SQLITE_OK)
        pd_debug("store", "ANALYZE skipped: %s", sqlite3_errmsg(s->db));
    s->wait_ms = 5000;
    *out = s;
    return PD_OK;
fail:
    sq_close(s);
    return PD_ERR_DB;
}

/* A cached statement for sql (*slot set, marked busy), or an uncached one (*slot NULL, the
 * caller finalizes it) when the cached one is in use by an enclosing query. */
/* FNV-1a: every statement is looked up in the cache, most of them are long and many share
 * their first hundred bytes, so comparing whole texts against 48 entries was the lookup's cost. */
static uint64_t sq_hash(const char *sql)
{
    uint64_t h = 14695981039346656037u;
    for (const unsigned char *p = (const unsigned char *)sql; *p; p++)
        h = (h ^ *p) * 1099511628211u;
    return h;
}

static sqlite3_stmt *sq_stmt(pd_store *s, const char *sql, sq_cached **slot)
{
    sq_cached *lru = &s->cache[0];
    uint64_t hash = sq_hash(sql);
    *slot = NULL;
    for (int i = 0; i < SQ_CACHE; i++) {
        sq_cached *c = &s->cache[i];
        if (c->sql && !c->busy && c->hash == hash && !strcmp(c->sql, sql)) {
            c->used = ++s->clock;
            c->busy = true;
            *slot = c;
            return c->st;
        }
        if (!c->busy && (lru->busy || c->used < lru->used))
            lru = c;
    }
    sqlite3_stmt *st;
    if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
        pd_error("store", "prepare: %s", sqlite3_errmsg(s->db));
        return NULL;
    }
    char *copy = lru->busy ? NULL : strdup(sql);
    if (!copy)
        return st;
    sqlite3_finalize(lru->st);
    free(lru->sql);
    lru->sql = copy;
    lru->hash = hash;
    lru->st = st;
    lru->used = ++s->clock;
    lru->busy = true;
    *slot = lru;
    return st;
}

static pd_err sq_map(pd_store *s, int rc)
{
    int ext = sqlite3_extended_errcode(s->db);
    if (rc == SQLITE_CONSTRAINT || (ext & 0xff) == SQLITE_CONSTRAINT) {
        if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY)
            return PD_ERR_EXISTS;
        if (ext == SQLITE_CONSTRAINT_FOREIGNKEY)
            return PD_ERR_INVAL;
    }
    if (sq_busy_code(rc)) {
        pd_warn("store", "sqlite: %s", sqlite3_errmsg(s->db));
        return PD_ERR_DB_BUSY;
    }
    pd_error("store", "sqlite: %s", sqlite3_errmsg(s->db));
    return PD_ERR_DB;
}

static pd_err sq_query(pd_store *s, const char *sql, const pd_sqlv *args, size_t nargs,
                       pd_row_fn fn, void *ud, int64_t *changes)
{
    sq_cached *slot;
    sqlite3_stmt *st = sq_stmt(s, sql, &slot);
    if (!st)
        return PD_ERR_DB;
    for (size_t i = 0; i < nargs; i++) {
        int k = (int)i + 1;
        switch (args[i].t) {
        case PD_SQL_NULL: sqlite3_bind_null(st, k); break;
        case PD_SQL_INT: sqlite3_bind_int64(st, k, args[i].i); break;
        case PD_SQL_REAL: sqlite3_bind_double(st, k, args[i].d); break;
        case PD_SQL_TEXT: sqlite3_bind_text(st, k, args[i].s, -1, SQLITE_STATIC); break;
        }
    }
    pd_row row = {&pd_store_sqlite, st};
    pd_err rc = PD_OK;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW)
        if (fn && (rc = fn(&row, ud)))
            break;
    if (!rc && step != SQLITE_DONE)
        rc = sq_map(s, step);
    if (!rc && changes)
        *changes = sqlite3_changes64(s->db);
    if (slot) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        slot->busy = false;
    } else {
        sqlite3_finalize(st);
    }
    return rc;
}

static bool sq_is_null(const void *r, int c) { return sqlite3_column_type((sqlite3_stmt *)r, c) == SQLITE_NULL; }
static int64_t sq_col_int(const void *r, int c) { return sqlite3_column_int64((sqlite3_stmt *)r, c); }
static double sq_col_real(const void *r, int c) { return sqlite3_column_double((sqlite3_stmt *)r, c); }

static const char *sq_col_text(const void *r, int c)
{
    const unsigned char *t = sqlite3_column_text((sqlite3_stmt *)r, c);
    return t ? (const char *)t : "";
}

static int sync_path(const char *path, int flags)
{
    int fd = open(path, flags | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

/* VACUUM INTO writes a consistent, compacted copy while the database stays in use; it refuses
 * an existing file, so the copy is made beside the target and renamed over it. The final name
 * therefore only ever holds a whole copy: a backup killed midway leaves PATH.tmp, no PATH.
 * VACUUM INTO does not sync what it wrote, so the copy is synced before the rename and the
 * directory after it: else a power loss could leave PATH naming pages that never reached the
 * disk. */
static pd_err sq_backup(pd_store *s, const char *path, char *err, size_t errlen)
{
    char tmp[1024], dir[1024];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp) {
        snprintf(err, errlen, "backup path too long");
        return PD_ERR_INVAL;
    }
    const char *slash = strrchr(path, '/');
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) + 1 : 1, slash ? path : ".");
    remove(tmp);
    sq_create_private(tmp);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "VACUUM INTO ?1", -1, &st, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "backup: %s", sqlite3_errmsg(s->db));
        return PD_ERR_DB;
    }
    sqlite3_bind_text(st, 1, tmp, -1, SQLITE_STATIC);
    /* a reader (POST /backup runs here, off the loop) has query_only set, which refuses the
     * copy's writes too; its own file stays read-only by how it was opened */
    if (s->reader && sq_exec(s, "PRAGMA query_only=0;")) {
        snprintf(err, errlen, "backup: %s", sqlite3_errmsg(s->db));
        sqlite3_finalize(st);
        return PD_ERR_DB;
    }
    int step = sqlite3_step(st);
    char why[256];
    snprintf(why, sizeof why, "%s", sqlite3_errmsg(s->db));  /* before another statement runs */
    sqlite3_finalize(st);
    if (s->reader && sq_exec(s, "PRAGMA query_only=1;")) {
        snprintf(err, errlen, "backup: the reader could not be made read-only again: %s", sqlite3_errmsg(s->db));
        remove(tmp);
        return PD_ERR_DB;
    }
    if (step != SQLITE_DONE) {
        snprintf(err, errlen, "backup to %s: %s", tmp, why);
        remove(tmp);
        return PD_ERR_IO;
    }
    if (sync_path(tmp, O_RDONLY) || rename(tmp, path)) {
        snprintf(err, errlen, "backup: cannot sync and rename %s to %s: %s", tmp, path, strerror(errno));
        remove(tmp);
        return PD_ERR_IO;
    }
    if (sync_path(dir, O_RDONLY | O_DIRECTORY)) {
        snprintf(err, errlen, "backup: cannot sync %s: %s", dir, strerror(errno));
        return PD_ERR_IO;
    }
    return PD_OK;
}

const pd_store_ops pd_store_sqlite = {
    .kind = PD_DB_SQLITE,
    .name = "sqlite",
    .shared = false,
    .words = {"sqlite", "INTEGER PRIMARY KEY AUTOINCREMENT", "INTEGER", "REAL",
              "CREATE TRIGGER %1$s %2$s FOR EACH ROW BEGIN ", " END;", NULL},
    .spool_text_count = "SELECT count(*) FROM (SELECT 1 FROM spool_text WHERE spool_text MATCH ? LIMIT ?) t",
    .spool_text = " AND s.id IN (SELECT rowid FROM spool_text WHERE spool_text MATCH ?)",
    .ilike = "LIKE",
    .open = sq_open,
    .close = sq_close,
    .exec = sq_exec,
    .query = sq_query,
    .is_null = sq_is_null,
    .col_int = sq_col_int,
    .col_real = sq_col_real,
    .col_text = sq_col_text,
    .schema_version = sq_schema_version,
    .set_schema_version = sq_set_schema_version,
    .backup = sq_backup,
    .last_error = sq_last_error,
    .lock_wait = sq_lock_wait,
};
