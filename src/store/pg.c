/* PostgreSQL backend (libpq), for farms that outgrow one SQLite file or run several
 * instances. One blocking connection used from the loop thread: a statement is one round
 * trip over loopback or a Unix socket. Arguments go as text and PostgreSQL infers their
 * types from the statement, so the shared SQL avoids a bare `? IS NULL`. The schema version
 * lives in a one-row table, pd_schema. */
#include <dlfcn.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "store/backend.h"

/* libpq is opened when a PostgreSQL database is configured, not linked: loading it pulls in
 * gnutls, Kerberos, LDAP and more, 3.6 MB resident that a daemon on SQLite never uses. */
static struct {
    __typeof__(PQclear) *PQclear;
    __typeof__(PQcmdStatus) *PQcmdStatus;
    __typeof__(PQcmdTuples) *PQcmdTuples;
    __typeof__(PQconnectdb) *PQconnectdb;
    __typeof__(PQerrorMessage) *PQerrorMessage;
    __typeof__(PQexec) *PQexec;
    __typeof__(PQexecParams) *PQexecParams;
    __typeof__(PQfinish) *PQfinish;
    __typeof__(PQftype) *PQftype;
    __typeof__(PQgetisnull) *PQgetisnull;
    __typeof__(PQgetvalue) *PQgetvalue;
    __typeof__(PQntuples) *PQntuples;
    __typeof__(PQreset) *PQreset;
    __typeof__(PQresultErrorField) *PQresultErrorField;
    __typeof__(PQresultErrorMessage) *PQresultErrorMessage;
    __typeof__(PQresultStatus) *PQresultStatus;
    __typeof__(PQsetNoticeReceiver) *PQsetNoticeReceiver;
    __typeof__(PQstatus) *PQstatus;
    __typeof__(PQtransactionStatus) *PQtransactionStatus;
} pq;
static const char *const pq_names[] = {"PQclear", "PQcmdStatus", "PQcmdTuples", "PQconnectdb", "PQerrorMessage", "PQexec", "PQexecParams", "PQfinish", "PQftype", "PQgetisnull", "PQgetvalue", "PQntuples", "PQreset", "PQresultErrorField", "PQresultErrorMessage", "PQresultStatus", "PQsetNoticeReceiver", "PQstatus", "PQtransactionStatus"};
#define PQclear pq.PQclear
#define PQcmdStatus pq.PQcmdStatus
#define PQcmdTuples pq.PQcmdTuples
#define PQconnectdb pq.PQconnectdb
#define PQerrorMessage pq.PQerrorMessage
#define PQexec pq.PQexec
#define PQexecParams pq.PQexecParams
#define PQfinish pq.PQfinish
#define PQftype pq.PQftype
#define PQgetisnull pq.PQgetisnull
#define PQgetvalue pq.PQgetvalue
#define PQntuples pq.PQntuples
#define PQreset pq.PQreset
#define PQresultErrorField pq.PQresultErrorField
#define PQresultErrorMessage pq.PQresultErrorMessage
#define PQresultStatus pq.PQresultStatus
#define PQsetNoticeReceiver pq.PQsetNoticeReceiver
#define PQstatus pq.PQstatus
#define PQtransactionStatus pq.PQtransactionStatus

static pd_err pq_load(char *err, size_t errlen)
{
    static void *lib;
    if (lib)
        return PD_OK;
    void *h = dlopen("libpq.so.5", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(err, errlen, "PostgreSQL needs libpq (Debian package libpq5): %s", dlerror());
        return PD_ERR_UNSUPPORTED;
    }
    void **slot = (void **)&pq;
    for (size_t i = 0; i < sizeof pq_names / sizeof pq_names[0]; i++)
        if (!(slot[i] = dlsym(h, pq_names[i]))) {
            snprintf(err, errlen, "libpq has no %s", pq_names[i]);
            dlclose(h);
            return PD_ERR_UNSUPPORTED;
        }
    lib = h;
    return PD_OK;
}

#define PG_MAX_ARGS 64
#define PG_BOOLOID 16 /* pg_type's oid for boolean (server headers are not in libpq-dev) */

struct pd_store {
    PGconn *c;
    bool in_tx; /* the server last said a transaction was open */
    bool reader; /* pd_db_read's connection: its sessions refuse writes */
    char err[256];
};

typedef struct pg_row {
    PGresult *res;
    int row;
} pg_row;

static const char *pg_last_error(pd_store *s) { return s->err; }

static void pg_note_error(pd_store *s, const PGresult *res)
{
    const char *m = res ? PQresultErrorMessage(res) : PQerrorMessage(s->c);
    snprintf(s->err, sizeof s->err, "%s", m && *m ? m : "unknown error");
    s->err[strcspn(s->err, "\n")] = '\0';
}

/* Constraint failures mean the request was wrong, not that the database is. */
static pd_err pg_map(pd_store *s, PGresult *res)
{
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    pg_note_error(s, res);
    if (state && !strcmp(state, "23505"))
        return PD_ERR_EXISTS;
    if (state && !strcmp(state, "23503"))
        return PD_ERR_INVAL;
    pd_error("store", "postgresql: %s", s->err);
    return PD_ERR_DB;
}

/* Remembers whether a transaction is open, for when the connection breaks. A broken
 * connection reports no status: the last known one stands. */
static void pg_track(pd_store *s)
{
    PGTransactionStatusType t = PQtransactionStatus(s->c);
    if (t != PQTRANS_UNKNOWN)
        s->in_tx = t != PQTRANS_IDLE;
}

static pd_err pg_run(pd_store *s, const char *sql)
{
    PGresult *res = PQexec(s->c, sql);
    ExecStatusType st = PQresultStatus(res);
    pd_err rc = (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) ? PD_OK : pg_map(s, res);
    /* COMMIT of a transaction that an earlier statement aborted answers "ROLLBACK", not an
     * error; the caller believes it committed, so that is the failure to report */
    if (!rc && !strcmp(PQcmdStatus(res), "ROLLBACK") && strcasecmp(sql, "ROLLBACK")) {
        snprintf(s->err, sizeof s->err, "transaction rolled back: a statement in it had failed");
        pd_error("store", "postgresql: %s", s->err);
        rc = PD_ERR_DB;
    }
    PQclear(res);
    pg_track(s);
    return rc;
}

/* What every session needs, on the first connection and after a reconnect: unix-second
 * timestamps are UTC, and text comes back as UTF-8 whatever the database's encoding. */
static pd_err pg_session(pd_store *s)
{
    return pg_run(s, s->reader ? "SET TIME ZONE 'UTC'; SET client_encoding = 'UTF8'; "
                                 "SET default_transaction_read_only = on"
                               : "SET TIME ZONE 'UTC'; SET client_encoding = 'UTF8'");
}

/* The server may drop the connection (restart, failover, an administrator): the statement
 * that finds it gone fails, the next one connects again. A transaction that was open is lost
 * with its work, so until the ROLLBACK that ends it its statements fail rather than run
 * (and commit) one by one on the new connection. */
static bool pg_connected(pd_store *s, const char *sql)
{
    if (PQstatus(s->c) == CONNECTION_OK)
        return true;
    if (s->in_tx && strcasecmp(sql, "ROLLBACK")) {
        snprintf(s->err, sizeof s->err, "connection lost inside a transaction");
        pd_error("store", "postgresql: %s", s->err);
        return false;
    }
    s->in_tx = false;
    PQreset(s->c);
    if (PQstatus(s->c) != CONNECTION_OK) {
        pg_note_error(s, NULL);
        pd_error("store", "postgresql: reconnect failed: %s", s->err);
        return false;
    }
    pd_info("store", "postgresql: reconnected");
    return !pg_session(s);
}

static pd_err pg_exec(pd_store *s, const char *sql)
{
    return pg_connected(s, sql) ? pg_run(s, sql) : PD_ERR_DB;
}

/* NOTICEs ("table already exists, skipping") are chatter, not errors. */
static void pg_quiet(void *arg, const PGresult *res)
{
    (void)arg;
    (void)res;
}

static void pg_close(pd_store *s)
{
    if (!s)
        return;
    PQfinish(s->c);
    free(s);
}

static pd_err pg_open(const char *url, bool reader, pd_store **out, char *err, size_t errlen)
{
    pd_err rc = pq_load(err, errlen);
    if (rc)
        return rc;
    pd_store *s = calloc(1, sizeof *s);
    if (!s)
        return PD_ERR_NOMEM;
    s->c = PQconnectdb(url);
    if (!s->c || PQstatus(s->c) != CONNECTION_OK) {
        /* the URL may carry a password: say where, not what */
        snprintf(err, errlen, "cannot connect to PostgreSQL: %s",
                 s->c ? PQerrorMessage(s->c) : "out of memory");
        err[strcspn(err, "\n")] = '\0';
        pg_close(s);
        return PD_ERR_DB;
    }
    PQsetNoticeReceiver(s->c, pg_quiet, NULL);
    s->reader = reader;
    if (pg_session(s) ||
        (!reader && pg_run(s, "CREATE TABLE IF NOT EXISTS pd_schema (version INTEGER NOT NULL);"
                              "INSERT INTO pd_schema SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM pd_schema);"))) {
        snprintf(err, errlen, "cannot prepare PostgreSQL database: %s", s->err);
        pg_close(s);
        return PD_ERR_DB;
    }
    *out = s;
    return PD_OK;
}

static int pg_schema_version(pd_store *s)
{
    PGresult *res = PQexec(s->c, "SELECT version FROM pd_schema");
    int v = -1;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
        v = atoi(PQgetvalue(res, 0, 0));
    else
        pg_note_error(s, res);
    PQclear(res);
    return v;
}

static pd_err pg_set_schema_version(pd_store *s, int v)
{
    char sql[64];
    snprintf(sql, sizeof sql, "UPDATE pd_schema SET version = %d", v);
    return pg_exec(s, sql);
}

/* `?` → `$n` outside quoted literals and identifiers. */
static char *pg_placeholders(const char *sql)
{
    size_t len = strlen(sql), marks = 0;
    for (const char *p = sql; *p; p++)
        marks += *p == '?';
    char *out = malloc(len + marks * 10 + 1); /* "?" grows to "$" and at most 10 digits */
    if (!out)
        return NULL;
    char quote = 0, *o = out;
    int n = 0;
    for (const char *p = sql; *p; p++) {
        if (quote) {
            if (*p == quote)
                quote = 0;
        } else if (*p == '\'' || *p == '"') {
            quote = *p;
        } else if (*p == '?') {
            o += sprintf(o, "$%d", ++n);
            continue;
        }
        *o++ = *p;
    }
    *o = '\0';
    return out;
}

static pd_err pg_query(pd_store *s, const char *sql, const pd_sqlv *args, size_t nargs,
                       pd_row_fn fn, void *ud, int64_t *changes)
{
    if (nargs > PG_MAX_ARGS)
        return PD_ERR_TOOBIG;
    char num[PG_MAX_ARGS][32];
    const char *vals[PG_MAX_ARGS];
    for (size_t i = 0; i < nargs; i++) {
        switch (args[i].t) {
        case PD_SQL_NULL: vals[i] = NULL; break;
        case PD_SQL_INT: snprintf(num[i], sizeof num[i], "%" PRId64, args[i].i); vals[i] = num[i]; break;
        case PD_SQL_REAL: snprintf(num[i], sizeof num[i], "%.17g", args[i].d); vals[i] = num[i]; break;
        case PD_SQL_TEXT: vals[i] = args[i].s; break;
        }
    }
    if (!pg_connected(s, sql))
        return PD_ERR_DB;
    char *q = pg_placeholders(sql);
    if (!q)
        return PD_ERR_NOMEM;
    PGresult *res = PQexecParams(s->c, q, (int)nargs, NULL, vals, NULL, NULL, 0);
    free(q);
    pg_track(s);
    pd_err rc = PD_OK;
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_TUPLES_OK) {
        pg_row r = {res, 0};
        pd_row row = {&pd_store_pg, &r};
        int n = PQntuples(res);
        for (; r.row < n && !rc; r.row++)
            if (fn)
                rc = fn(&row, ud);
    } else if (st != PGRES_COMMAND_OK) {
        rc = pg_map(s, res);
    }
    if (!rc && changes)
        *changes = strtoll(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return rc;
}

static bool pg_is_null(const void *r, int c)
{
    const pg_row *pr = r;
    return PQgetisnull(pr->res, pr->row, c);
}

static const char *pg_col_text(const void *r, int c)
{
    const pg_row *pr = r;
    return PQgetvalue(pr->res, pr->row, c); /* "" for NULL */
}

/* A comparison or EXISTS comes back as boolean "t"/"f", where SQLite says 1/0. */
static int64_t pg_col_int(const void *r, int c)
{
    const pg_row *pr = r;
    const char *t = pg_col_text(r, c);
    return PQftype(pr->res, c) == PG_BOOLOID ? *t == 't' : strtoll(t, NULL, 10);
}
static double pg_col_real(const void *r, int c) { return strtod(pg_col_text(r, c), NULL); }

/* A sequence moves only when it hands out an id, so after rows that brought their own it
 * would hand out one of theirs: move it past the largest. */
static pd_err pg_sync_ids(pd_store *s, const char *table)
{
    char sql[256];
    if ((size_t)snprintf(sql, sizeof sql,
                         "SELECT setval(pg_get_serial_sequence('%s', 'id'), (SELECT max(id) FROM %s))",
                         table, table) >= sizeof sql)
        return PD_ERR_TOOBIG;
    return pg_query(s, sql, NULL, 0, NULL, NULL, NULL);
}

static pd_err pg_backup(pd_store *s, const char *path, char *err, size_t errlen)
{
    (void)s;
    (void)path;
    snprintf(err, errlen, "online backup is for SQLite; back up PostgreSQL with pg_dump");
    return PD_ERR_UNSUPPORTED;
}

const pd_store_ops pd_store_pg = {
    .kind = PD_DB_POSTGRESQL,
    .name = "postgresql",
    .shared = true,
    .words = {"postgresql", "BIGSERIAL PRIMARY KEY", "BIGINT", "DOUBLE PRECISION",
              "CREATE FUNCTION %1$s() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN ",
              " RETURN NULL; END $$; CREATE TRIGGER %1$s %2$s FOR EACH ROW EXECUTE FUNCTION %1$s();",
              " RETURN NULL; END $$; CREATE TRIGGER %1$s %2$s REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
              "EXECUTE FUNCTION %1$s();"},
    .ilike = "ILIKE",
    .open = pg_open,
    .close = pg_close,
    .exec = pg_exec,
    .query = pg_query,
    .is_null = pg_is_null,
    .col_int = pg_col_int,
    .col_real = pg_col_real,
    .col_text = pg_col_text,
    .schema_version = pg_schema_version,
    .set_schema_version = pg_set_schema_version,
    .sync_ids = pg_sync_ids,
    .backup = pg_backup,
    .last_error = pg_last_error,
};
