/* Private to src/store/: what a backend implements, and the handle around it. Only the store's
 * own files see these structs; everyone else goes through store.h, so a new backend is a new
 * file here and one more branch in pd_db_open. */
#ifndef PD_STORE_BACKEND_H
#define PD_STORE_BACKEND_H

#include "store/schema.h"
#include "store/store.h"

typedef struct pd_store pd_store;

typedef struct pd_store_ops {
    pd_db_kind kind;
    const char *name;                 /* "sqlite" | "postgresql", for logs */
    bool shared;                      /* other processes may write the same database */
    pd_schema_words words;            /* of the migrations' tokens */
    /* pd_sqlb_spool_text's count of the spools an FTS5 query finds (up to the second
     * argument) and its condition on them; NULL: no text index */
    const char *spool_text_count, *spool_text;
    const char *ilike;                /* case-insensitive LIKE: SQLite's LIKE is, PostgreSQL's is not */
    /* reader: a read-only connection for pd_db_read, without the schema's set-up */
    pd_err (*open)(const char *target, bool reader, pd_store **out, char *err, size_t errlen);
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
    /* After rows inserted with their own ids: the next id handed out follows the largest.
     * NULL when the backend does that by itself (SQLite's AUTOINCREMENT). */
    pd_err (*sync_ids)(pd_store *s, const char *table);
    /* A consistent copy of the live database at `path`; UNSUPPORTED when the backend has its
     * own tools for that (PostgreSQL: pg_dump). */
    pd_err (*backup)(pd_store *s, const char *path, char *err, size_t errlen);
    const char *(*last_error)(pd_store *s);
    /* How long a statement waits for another process's lock (pd_db_lock_wait); NULL when the
     * backend waits by itself (PostgreSQL's row locks). */
    void (*lock_wait)(pd_store *s, int max_ms, void (*on_wait)(void *ud), void *ud);
} pd_store_ops;

typedef struct pd_db_reads pd_db_reads;

struct pd_db {
    const pd_store_ops *ops;
    pd_store *s;
    char *target;       /* what readers open; NULL when there can be no second connection */
    pd_db_reads *reads; /* pd_db_read's connections and queue, made on first use */
    int tx_depth;   /* pd_db_begin nesting: only the outermost level talks to the backend */
    bool tx_failed; /* an inner level rolled back: the outermost commit becomes a rollback */
};

/* One result row as a backend hands it to the row callback. */
struct pd_row {
    const pd_store_ops *ops;
    const void *impl;
};

/* The database, its side files and the data directory hold printers' access codes: one of
 * them that other users may read (an older install's 0644 file, a 0755 directory) loses those
 * bits, and the log says so. Nothing happens to a path that does not exist. */
void pd_db_keep_private(const char *path);
/* reader.c: closes the readers (none may be working: the loop has run to its end) */
void pd_db_reads_free(pd_db *db);

extern const pd_store_ops pd_store_sqlite;
extern const pd_store_ops pd_store_pg;

#endif
