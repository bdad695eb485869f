/* SQLite backend: WAL, foreign keys on, busy timeout; versioned migrations in
 * PRAGMA user_version so a newer database is refused instead of misread. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "store/store.h"

struct pd_store {
    sqlite3 *db;
};

/* Append-only: migration i brings the schema to version i+1. The inventory issue adds rows. */
static const char *const migrations[] = {
    "CREATE TABLE printer ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  name TEXT NOT NULL,"
    "  serial TEXT NOT NULL UNIQUE,"
    "  host TEXT NOT NULL,"
    "  port INTEGER NOT NULL DEFAULT 8883,"
    "  access_code TEXT NOT NULL,"
    "  model TEXT NOT NULL DEFAULT '',"
    "  ca_file TEXT NOT NULL DEFAULT '',"
    "  tls_verify INTEGER NOT NULL DEFAULT 1,"
    "  created_at INTEGER NOT NULL);"
    "CREATE TABLE api_token ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  name TEXT NOT NULL,"
    "  hash TEXT NOT NULL UNIQUE,"
    "  created_at INTEGER NOT NULL);",
};
#define N_MIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

static pd_err sq_exec(pd_store *s, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        pd_error("store", "sqlite: %s", msg ? msg : "?");
        sqlite3_free(msg);
        return PD_ERR_DB;
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

static pd_err sq_migrate(pd_store *s, char *err, size_t errlen)
{
    int v = sq_schema_version(s);
    if (v < 0) {
        snprintf(err, errlen, "cannot read schema version: %s", sqlite3_errmsg(s->db));
        return PD_ERR_DB;
    }
    if (v > N_MIGRATIONS) {
        snprintf(err, errlen, "database schema version %d is newer than this printdeck "
                              "understands (%d); upgrade printdeck or restore a backup", v, N_MIGRATIONS);
        return PD_ERR_SCHEMA;
    }
    for (; v < N_MIGRATIONS; v++) {
        char pragma[48];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d;", v + 1);
        /* each step is one transaction: a crash mid-migration leaves the previous version */
        if (sq_exec(s, "BEGIN IMMEDIATE") || sq_exec(s, migrations[v]) || sq_exec(s, pragma) ||
            sq_exec(s, "COMMIT")) {
            sq_exec(s, "ROLLBACK");
            snprintf(err, errlen, "migration to schema %d failed: %s", v + 1, sqlite3_errmsg(s->db));
            return PD_ERR_DB;
        }
        pd_info("store", "database migrated to schema %d", v + 1);
    }
    return PD_OK;
}

static void sq_close(pd_store *s)
{
    if (!s)
        return;
    sqlite3_close(s->db);
    free(s);
}

static pd_err sq_open(const char *path, pd_store **out, char *err, size_t errlen)
{
    pd_err rc = PD_ERR_DB;
    pd_store *s = calloc(1, sizeof *s);
    if (!s)
        return PD_ERR_NOMEM;
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                        SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open database %s: %s", path, sqlite3_errmsg(s->db));
        goto out;
    }
    sqlite3_busy_timeout(s->db, 5000);
    if (sq_exec(s, "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL;")) {
        snprintf(err, errlen, "cannot configure database %s: %s", path, sqlite3_errmsg(s->db));
        goto out;
    }
    if ((rc = sq_migrate(s, err, errlen)))
        goto out;
    *out = s;
    return PD_OK;
out:
    sq_close(s);
    return rc;
}

static pd_err sq_prepare(pd_store *s, const char *sql, sqlite3_stmt **st)
{
    if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK) {
        pd_error("store", "prepare: %s", sqlite3_errmsg(s->db));
        return PD_ERR_DB;
    }
    return PD_OK;
}

static void col_text(sqlite3_stmt *st, int i, char *dst, size_t n)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    snprintf(dst, n, "%s", t ? (const char *)t : "");
}

#define PRINTER_COLS "id, name, serial, host, port, access_code, model, ca_file, tls_verify, created_at"

static pd_err sq_printer_list(pd_store *s, pd_printer_rec **out, size_t *n)
{
    sqlite3_stmt *st;
    pd_err rc = sq_prepare(s, "SELECT " PRINTER_COLS " FROM printer ORDER BY id", &st);
    if (rc)
        return rc;
    pd_printer_rec *v = NULL;
    size_t cnt = 0, cap = 0;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (cnt == cap) {
            cap = cap ? cap * 2 : 16;
            pd_printer_rec *nv = realloc(v, cap * sizeof *v);
            if (!nv) {
                rc = PD_ERR_NOMEM;
                goto out;
            }
            v = nv;
        }
        pd_printer_rec *r = &v[cnt++];
        memset(r, 0, sizeof *r);
        r->id = sqlite3_column_int64(st, 0);
        col_text(st, 1, r->name, sizeof r->name);
        col_text(st, 2, r->serial, sizeof r->serial);
        col_text(st, 3, r->host, sizeof r->host);
        r->port = sqlite3_column_int(st, 4);
        col_text(st, 5, r->access_code, sizeof r->access_code);
        col_text(st, 6, r->model, sizeof r->model);
        col_text(st, 7, r->ca_file, sizeof r->ca_file);
        r->tls_verify = sqlite3_column_int(st, 8) != 0;
        r->created_at = sqlite3_column_int64(st, 9);
    }
    if (step != SQLITE_DONE)
        rc = PD_ERR_DB;
out:
    sqlite3_finalize(st);
    if (rc) {
        free(v);
        return rc;
    }
    *out = v;
    *n = cnt;
    return PD_OK;
}

/* Binds the record's columns in PRINTER_COLS order from index 2 (name) on. */
static void bind_printer(sqlite3_stmt *st, const pd_printer_rec *r)
{
    sqlite3_bind_text(st, 2, r->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, r->serial, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, r->host, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 5, r->port);
    sqlite3_bind_text(st, 6, r->access_code, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, r->model, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, r->ca_file, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 9, r->tls_verify);
}

static pd_err step_done(pd_store *s, sqlite3_stmt *st)
{
    int step = sqlite3_step(st);
    int ext = sqlite3_extended_errcode(s->db);
    sqlite3_finalize(st);
    if (step == SQLITE_DONE)
        return PD_OK;
    if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY)
        return PD_ERR_EXISTS;
    pd_error("store", "sqlite: %s", sqlite3_errmsg(s->db));
    return PD_ERR_DB;
}

static pd_err sq_printer_insert(pd_store *s, pd_printer_rec *rec)
{
    sqlite3_stmt *st;
    pd_err rc = sq_prepare(s, "INSERT INTO printer (" PRINTER_COLS ") VALUES "
                              "(NULL, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)", &st);
    if (rc)
        return rc;
    if (!rec->created_at)
        rec->created_at = (int64_t)time(NULL);
    bind_printer(st, rec);
    sqlite3_bind_int64(st, 10, rec->created_at);
    if ((rc = step_done(s, st)))
        return rc;
    rec->id = sqlite3_last_insert_rowid(s->db);
    return PD_OK;
}

static pd_err sq_printer_update(pd_store *s, const pd_printer_rec *rec)
{
    sqlite3_stmt *st;
    pd_err rc = sq_prepare(s, "UPDATE printer SET name=?2, serial=?3, host=?4, port=?5, "
                              "access_code=?6, model=?7, ca_file=?8, tls_verify=?9 WHERE id=?1", &st);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, rec->id);
    bind_printer(st, rec);
    if ((rc = step_done(s, st)))
        return rc;
    return sqlite3_changes(s->db) ? PD_OK : PD_ERR_NOTFOUND;
}

static pd_err sq_printer_delete(pd_store *s, int64_t id)
{
    sqlite3_stmt *st;
    pd_err rc = sq_prepare(s, "DELETE FROM printer WHERE id=?1", &st);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    if ((rc = step_done(s, st)))
        return rc;
    return sqlite3_changes(s->db) ? PD_OK : PD_ERR_NOTFOUND;
}

static pd_err sq_token_insert(pd_store *s, const char *name, const char *hash_hex)
{
    sqlite3_stmt *st;
    pd_err rc = sq_prepare(s, "INSERT INTO api_token (name, hash, created_at) VALUES (?1, ?2, ?3)", &st);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, hash_hex, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (int64_t)time(NULL));
    return step_done(s, st);
}

static pd_err sq_token_find(pd_store *s, const char *hash_hex, char *name, size_t namelen)
{
    sqlite3_stmt *st;
    pd_err rc = sq_prepare(s, "SELECT name FROM api_token WHERE hash=?1", &st);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, hash_hex, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        col_text(st, 0, name, namelen);
    sqlite3_finalize(st);
    return step == SQLITE_ROW ? PD_OK : step == SQLITE_DONE ? PD_ERR_NOTFOUND : PD_ERR_DB;
}

const pd_store_ops pd_store_sqlite = {
    .name = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .printer_list = sq_printer_list,
    .printer_insert = sq_printer_insert,
    .printer_update = sq_printer_update,
    .printer_delete = sq_printer_delete,
    .token_insert = sq_token_insert,
    .token_find = sq_token_find,
    .schema_version = sq_schema_version,
};
