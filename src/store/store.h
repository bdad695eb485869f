/* Storage behind one function table. The SQLite backend (sqlite.c) is the default; the
 * inventory issue adds PostgreSQL (pg.c) behind the same table. Calls are synchronous and
 * made from the loop thread; they are short single-row statements on a local file. */
#ifndef PD_STORE_H
#define PD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

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

typedef struct pd_store pd_store;

typedef struct pd_store_ops {
    const char *name;
    pd_err (*open)(const char *target, pd_store **out, char *err, size_t errlen);
    void (*close)(pd_store *s);
    /* printers */
    pd_err (*printer_list)(pd_store *s, pd_printer_rec **out, size_t *n); /* *out malloc'd */
    pd_err (*printer_insert)(pd_store *s, pd_printer_rec *rec);           /* sets rec->id */
    pd_err (*printer_update)(pd_store *s, const pd_printer_rec *rec);
    pd_err (*printer_delete)(pd_store *s, int64_t id);
    /* API tokens: only the SHA-256 hex of a token is stored */
    pd_err (*token_insert)(pd_store *s, const char *name, const char *hash_hex);
    pd_err (*token_find)(pd_store *s, const char *hash_hex, char *name, size_t namelen);
    int (*schema_version)(pd_store *s);
} pd_store_ops;

/* The handle every module uses: a backend's table plus its state. */
typedef struct pd_db {
    const pd_store_ops *ops;
    pd_store *s;
} pd_db;

extern const pd_store_ops pd_store_sqlite;

/* Chooses the backend from `url` ("" or "sqlite:PATH" → SQLite under data_dir). */
pd_err pd_db_open(pd_db *db, const char *url, const char *data_dir, char *err, size_t errlen);
void pd_db_close(pd_db *db);

#endif
