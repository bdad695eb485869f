/* Backend choice, migrations and the helpers every backend shares. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/log.h"
#include "store/backend.h"
#include "store/schema.h"

int pd_db_schema_latest(void) { return pd_schema_latest(); }
int pd_db_schema_version(pd_db *db) { return db->ops->schema_version(db->s); }
pd_db_kind pd_db_kind_of(const pd_db *db) { return db->ops->kind; }
bool pd_db_shared(const pd_db *db) { return db->ops->shared; }
const char *pd_db_type_real(const pd_db *db) { return db->ops->words.real; }
const char *pd_db_last_error(pd_db *db) { return db->ops->last_error(db->s); }

pd_err pd_db_exec(pd_db *db, const char *sql)
{
    char *x = pd_schema_expand(sql, &db->ops->words);
    /* a migration may hold nothing for this backend (@ONLY another@) */
    pd_err rc = !x ? PD_ERR_NOMEM : *x ? db->ops->exec(db->s, x) : PD_OK;
    free(x);
    return rc;
}

pd_err pd_db_rebuild_summaries(pd_db *db)
{
    pd_err rc = pd_db_begin(db);
    return rc ? rc : pd_db_end(db, pd_db_exec(db, pd_schema_rollup_rebuild()));
}

pd_err pd_db_query(pd_db *db, const char *sql, const pd_sqlv *args, size_t nargs, pd_row_fn fn, void *ud)
{
    return db->ops->query(db->s, sql, args, nargs, fn, ud, NULL);
}

pd_err pd_db_run(pd_db *db, const char *sql, const pd_sqlv *args, size_t nargs, int64_t *changes)
{
    return db->ops->query(db->s, sql, args, nargs, NULL, NULL, changes);
}

pd_err pd_db_sync_ids(pd_db *db, const char *table)
{
    return db->ops->sync_ids ? db->ops->sync_ids(db->s, table) : PD_OK;
}

pd_err pd_db_backup(pd_db *db, const char *path, char *err, size_t errlen)
{
    return db->ops->backup(db->s, path, err, errlen);
}

void pd_db_lock_wait(pd_db *db, int max_ms, void (*on_wait)(void *ud), void *ud)
{
    if (db->ops->lock_wait)
        db->ops->lock_wait(db->s, max_ms, on_wait, ud);
}

bool pd_db_in_tx(const pd_db *db) { return db->tx_depth > 0; }

bool pd_row_null(const pd_row *r, int c) { return r->ops->is_null(r->impl, c); }
int64_t pd_row_int(const pd_row *r, int c) { return r->ops->col_int(r->impl, c); }
double pd_row_real(const pd_row *r, int c) { return r->ops->col_real(r->impl, c); }
const char *pd_row_text(const pd_row *r, int c) { return r->ops->col_text(r->impl, c); }

void pd_db_keep_private(const char *path)
{
    struct stat st;
    if (stat(path, &st) || !(st.st_mode & 077))
        return;
    unsigned was = st.st_mode & 07777, now = st.st_mode & 0700;
    if (chmod(path, now))
        pd_warn("store", "%s may be read by other users (mode %04o) and cannot be tightened: %s", path, was,
                strerror(errno));
    else
        pd_warn("store", "%s could be read by other users (mode %04o); tightened to %04o", path, was, now);
}

static pd_err migrate(pd_db *db, char *err, size_t errlen)
{
    int v = db->ops->schema_version(db->s), latest = pd_schema_latest();
    if (v < 0) {
        snprintf(err, errlen, "cannot read schema version: %s", db->ops->last_error(db->s));
        return PD_ERR_DB;
    }
    if (v > latest) {
        snprintf(err, errlen, "database schema version %d is newer than this printdeck "
                              "understands (%d); upgrade printdeck or restore a backup", v, latest);
        return PD_ERR_SCHEMA;
    }
    for (; v < latest; v++) {
        /* each step is one transaction: a crash mid-migration leaves the previous version */
        pd_err rc = db->ops->exec(db->s, "BEGIN");
        if (!rc)
            rc = pd_db_exec(db, pd_schema_migration(v + 1));
        if (!rc)
            rc = db->ops->set_schema_version(db->s, v + 1);
        if (!rc)
            rc = db->ops->exec(db->s, "COMMIT");
        if (rc) {
            snprintf(err, errlen, "migration to schema %d failed: %s", v + 1, db->ops->last_error(db->s));
            db->ops->exec(db->s, "ROLLBACK");
            return rc;
        }
        pd_info("store", "%s database migrated to schema %d", db->ops->name, v + 1);
    }
    return PD_OK;
}

pd_err pd_db_open(pd_db **out, const char *url, const char *data_dir, char *err, size_t errlen)
{
    char path[512];
    const char *target = path;
    const pd_store_ops *ops;
    *out = NULL;
    /* the data directory is created on demand so a fresh clone runs without setup; it holds
     * temporary files, uploads and backups whatever the backend, not only SQLite's file */
    if (mkdir(data_dir, 0700) && errno != EEXIST) {
        snprintf(err, errlen, "cannot create data directory %s: %s", data_dir, strerror(errno));
        return PD_ERR_IO;
    }
    pd_db_keep_private(data_dir);
    if (!url || !*url) {
        snprintf(path, sizeof path, "%s/printdeck.db", data_dir);
        ops = &pd_store_sqlite;
    } else if (!strncmp(url, "sqlite:", 7)) {
        snprintf(path, sizeof path, "%s", url + 7);
        ops = &pd_store_sqlite;
    } else if (!strncmp(url, "postgresql:", 11) || !strncmp(url, "postgres:", 9)) {
        target = url;
        ops = &pd_store_pg;
    } else {
        snprintf(err, errlen, "unsupported database url (use sqlite:PATH or postgresql://…)");
        return PD_ERR_UNSUPPORTED;
    }
    pd_db *db = calloc(1, sizeof *db);
    if (!db) {
        snprintf(err, errlen, "out of memory");
        return PD_ERR_NOMEM;
    }
    db->ops = ops;
    pd_err rc = ops->open(target, false, &db->s, err, errlen);
    /* a private in-memory SQLite database cannot be opened a second time */
    bool memory = ops->kind == PD_DB_SQLITE && (!*target || !strcmp(target, ":memory:"));
    if (!rc && !memory && !(db->target = strdup(target)))
        rc = PD_ERR_NOMEM;
    if (!rc)
        rc = migrate(db, err, errlen);
    if (rc)
        pd_db_close(&db);
    *out = db;
    return rc;
}

void pd_db_close(pd_db **db)
{
    if (!*db)
        return;
    pd_db_reads_free(*db);
    if ((*db)->s)
        (*db)->ops->close((*db)->s);
    free((*db)->target);
    free(*db);
    *db = NULL;
}

typedef struct scalar {
    int64_t v;
    bool found;
} scalar;

static pd_err first_int(const pd_row *row, void *ud)
{
    scalar *sc = ud;
    if (!sc->found)
        sc->v = pd_row_int(row, 0);
    sc->found = true;
    return PD_OK;
}

pd_err pd_db_scalar(pd_db *db, const char *sql, const pd_sqlv *args, size_t nargs, int64_t *out)
{
    scalar sc = {0};
    pd_err rc = pd_db_query(db, sql, args, nargs, first_int, &sc);
    if (rc)
        return rc;
    if (!sc.found)
        return PD_ERR_NOTFOUND;
    *out = sc.v;
    return PD_OK;
}

pd_err pd_db_insert(pd_db *db, const char *sql, const pd_sqlv *args, size_t nargs, int64_t *id)
{
    return pd_db_scalar(db, sql, args, nargs, id);
}

pd_err pd_db_begin(pd_db *db)
{
    if (db->tx_depth++)
        return PD_OK;
    db->tx_failed = false;
    pd_err rc = db->ops->exec(db->s, "BEGIN");
    if (rc)
        db->tx_depth = 0;
    return rc;
}

pd_err pd_db_end(pd_db *db, pd_err rc)
{
    if (db->tx_depth <= 0)
        return rc;
    if (rc)
        db->tx_failed = true;
    if (--db->tx_depth)
        return rc;
    if (db->tx_failed) {
        db->ops->exec(db->s, "ROLLBACK");
        return rc ? rc : PD_ERR_DB;
    }
    pd_err c = db->ops->exec(db->s, "COMMIT");
    if (c)
        db->ops->exec(db->s, "ROLLBACK");
    return c;
}
