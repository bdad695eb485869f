/* Storage behind one function table (docs/storage.md). A backend implements a small SQL
 * surface: run one parameterised statement and walk its rows, run DDL, read and set the
 * schema version, make a backup. Domain code (printer records here, the inventory in
 * src/inventory/) writes its SQL once, in the dialect both backends share: `?` placeholders,
 * `lower(x) LIKE …`, `INSERT … RETURNING id`, `NULLS LAST`. Migrations use type tokens that
 * each backend expands (see schema.c).
 *
 * Calls are synchronous and made from the loop thread: SQLite is a local file, PostgreSQL a
 * loopback or Unix-socket round trip per statement. */
#ifndef PD_STORE_H
#define PD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

typedef struct pd_store pd_store;

/* A statement argument. Text is borrowed for the duration of the call. */
typedef enum pd_sql_type { PD_SQL_NULL, PD_SQL_INT, PD_SQL_REAL, PD_SQL_TEXT } pd_sql_type;
typedef struct pd_sqlv {
    pd_sql_type t;
    int64_t i;
    double d;
    const char *s;
} pd_sqlv;
#define PD_SQL_I(v) ((pd_sqlv){.t = PD_SQL_INT, .i = (v)})
#define PD_SQL_D(v) ((pd_sqlv){.t = PD_SQL_REAL, .d = (v)})
#define PD_SQL_S(v) ((pd_sqlv){.t = PD_SQL_TEXT, .s = (v)})
#define PD_SQL_NUL ((pd_sqlv){.t = PD_SQL_NULL})

/* One result row, valid only inside the row callback. */
typedef struct pd_row {
    const struct pd_store_ops *ops;
    const void *impl;
} pd_row;
/* Called per row; a non-OK return stops the walk and becomes the query's result. */
typedef pd_err (*pd_row_fn)(const pd_row *row, void *ud);

typedef struct pd_store_ops {
    const char *name;                 /* "sqlite" | "postgresql", as /info's db_type says */
    const char *type_id;              /* migration tokens: @ID@ @INT@ @REAL@ */
    const char *type_int;
    const char *type_real;
    const char *ilike;                /* case-insensitive LIKE: SQLite's LIKE is, PostgreSQL's is not */
    pd_err (*open)(const char *target, pd_store **out, char *err, size_t errlen);
    void (*close)(pd_store *s);
    /* Several statements, no parameters (DDL, BEGIN/COMMIT/ROLLBACK). */
    pd_err (*exec)(pd_store *s, const char *sql);
    /* One statement. fn may be NULL; *changes (may be NULL) gets the rows an INSERT, UPDATE or
     * DELETE touched. Constraint failures: unique → PD_ERR_EXISTS, foreign key → PD_ERR_INVAL. */
    pd_err (*query)(pd_store *s, const char *sql, const pd_sqlv *args, size_t nargs,
                    pd_row_fn fn, void *ud, int64_t *changes);
    bool (*is_null)(const void *row, int col);
    int64_t (*col_int)(const void *row, int col);
    double (*col_real)(const void *row, int col);
    const char *(*col_text)(const void *row, int col); /* "" for NULL */
    int (*schema_version)(pd_store *s);                /* -1 when it cannot be read */
    pd_err (*set_schema_version)(pd_store *s, int v);  /* inside the migration's transaction */
    /* A consistent copy of the live database at `path`; UNSUPPORTED when the backend has its
     * own tools for that (PostgreSQL: pg_dump). */
    pd_err (*backup)(pd_store *s, const char *path, char *err, size_t errlen);
    const char *(*last_error)(pd_store *s);
} pd_store_ops;

/* The handle every module uses: a backend's table plus its state. */
typedef struct pd_db {
    const pd_store_ops *ops;
    pd_store *s;
    int tx_depth;   /* pd_db_begin nesting: only the outermost level talks to the backend */
    bool tx_failed; /* an inner level rolled back: the outermost commit becomes a rollback */
} pd_db;

extern const pd_store_ops pd_store_sqlite;
extern const pd_store_ops pd_store_pg;

/* Chooses the backend from `url`: "" → SQLite file <data_dir>/printdeck.db, "sqlite:PATH",
 * "postgresql://…" or "postgres://…" (libpq URI). Runs the migrations; a database newer than
 * this binary is refused with PD_ERR_SCHEMA and a message saying so. */
pd_err pd_db_open(pd_db *db, const char *url, const char *data_dir, char *err, size_t errlen);
void pd_db_close(pd_db *db);
int pd_db_schema_version(pd_db *db);
int pd_db_schema_latest(void);

static inline pd_err pd_db_query(pd_db *db, const char *sql, const pd_sqlv *args, size_t nargs,
                                 pd_row_fn fn, void *ud)
{
    return db->ops->query(db->s, sql, args, nargs, fn, ud, NULL);
}
/* A statement run for its effect; *changes as in pd_store_ops.query (may be NULL). */
static inline pd_err pd_db_run(pd_db *db, const char *sql, const pd_sqlv *args, size_t nargs,
                               int64_t *changes)
{
    return db->ops->query(db->s, sql, args, nargs, NULL, NULL, changes);
}
/* `INSERT … RETURNING id`: *id gets the new row's id. */
pd_err pd_db_insert(pd_db *db, const char *sql, const pd_sqlv *args, size_t nargs, int64_t *id);
/* The first column of the first row as an integer; NOTFOUND when there is no row. */
pd_err pd_db_scalar(pd_db *db, const char *sql, const pd_sqlv *args, size_t nargs, int64_t *out);

/* Transactions nest: each API request is one transaction even when it calls helpers that
 * open their own. pd_db_end commits when rc is PD_OK, else rolls back, and returns rc (or
 * the commit's failure). */
pd_err pd_db_begin(pd_db *db);
pd_err pd_db_end(pd_db *db, pd_err rc);

static inline bool pd_row_null(const pd_row *r, int c) { return r->ops->is_null(r->impl, c); }
static inline int64_t pd_row_int(const pd_row *r, int c) { return r->ops->col_int(r->impl, c); }
static inline double pd_row_real(const pd_row *r, int c) { return r->ops->col_real(r->impl, c); }
static inline const char *pd_row_text(const pd_row *r, int c) { return r->ops->col_text(r->impl, c); }

/* --- printdeck's own records (records.c) ---------------------------------------------- */

typedef struct pd_printer_rec {
    int64_t id;
    char name[64];
    char serial[32];
    char host[256];
    int port;
    char access_code[64];
    char model[32];       /* user-given model, may be empty (then detected) */
    char ca_file[256];
    bool tls_verify;
    int64_t created_at;   /* unix seconds */
} pd_printer_rec;

pd_err pd_db_printer_list(pd_db *db, pd_printer_rec **out, size_t *n); /* *out malloc'd */
pd_err pd_db_printer_insert(pd_db *db, pd_printer_rec *rec);           /* sets id, created_at */
pd_err pd_db_printer_update(pd_db *db, const pd_printer_rec *rec);
pd_err pd_db_printer_delete(pd_db *db, int64_t id);
/* API tokens: only the SHA-256 hex of a token is stored. */
pd_err pd_db_token_insert(pd_db *db, const char *name, const char *hash_hex);
pd_err pd_db_token_find(pd_db *db, const char *hash_hex, char *name, size_t namelen);

#endif
