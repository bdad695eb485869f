/* Storage behind one function table (docs/storage.md). A backend (backend.h, private to
 * src/store/) implements a small SQL surface: run one parameterised statement and walk its
 * rows, run DDL, read and set the schema version, make a backup. Domain code (printer records
 * here, the inventory in src/inventory/) writes its SQL once, in the dialect both backends
 * share: `?` placeholders, `INSERT … RETURNING id`, `NULLS LAST`; what differs (a
 * case-insensitive match, a type name) it asks the store for. Migrations use type tokens that
 * each backend expands (see schema.c).
 *
 * Calls are synchronous and made from the loop thread: SQLite is a local file, PostgreSQL a
 * loopback or Unix-socket round trip per statement. A read that walks a large table goes off
 * the loop with pd_db_read (below). */
#ifndef PD_STORE_H
#define PD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "core/err.h"

/* The handle every module uses; what is behind it (the backend's function table and state) is
 * private to src/store/ (backend.h). */
typedef struct pd_db pd_db;

/* Which backend a handle talks to, for the few answers that name it (Spoolman's /info). */
typedef enum pd_db_kind { PD_DB_SQLITE, PD_DB_POSTGRESQL } pd_db_kind;

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
typedef struct pd_row pd_row;
/* Called per row; a non-OK return stops the walk and becomes the query's result. */
typedef pd_err (*pd_row_fn)(const pd_row *row, void *ud);

/* Chooses the backend from `url`: "" → SQLite file <data_dir>/printdeck.db, "sqlite:PATH",
 * "postgresql://…" or "postgres://…" (libpq URI). Runs the migrations; a database newer than
 * this binary is refused with PD_ERR_SCHEMA and a message saying so. *out is NULL on failure. */
pd_err pd_db_open(pd_db **out, const char *url, const char *data_dir, char *err, size_t errlen);
void pd_db_close(pd_db **db);  /* NULLs *db; NULL is fine */

/* Reads off the loop. One statement over 100,000 rows (a whole list's ids, the keys of an
 * export) takes tens of milliseconds that the loop must not spend: pd_db_read runs `work` in
 * libuv's thread pool with `rd`, a connection of its own opened read-only on the same database
 * (SQLite's WAL lets it read while the loop's connection writes; a statement sees what was
 * committed when it began), then `done` on the loop with work's result. work touches nothing
 * but rd and what ud owns. At most PD_DB_READERS run at once, each on its own connection
 * (kept open for the next); further ones wait in order, at most PD_DB_READ_QUEUE, past which
 * PD_ERR_BUSY is returned and neither function runs. A database with no second connection
 * (SQLite in memory) runs both on the loop, with db itself, before pd_db_read returns. */
#define PD_DB_READERS 2
#define PD_DB_READ_QUEUE 64
typedef pd_err (*pd_db_read_fn)(pd_db *rd, void *ud);
typedef void (*pd_db_read_done)(pd_err rc, void *ud);
pd_err pd_db_read(pd_db *db, uv_loop_t *loop, pd_db_read_fn work, pd_db_read_done done, void *ud);
int pd_db_schema_version(pd_db *db);
int pd_db_schema_latest(void);

pd_db_kind pd_db_kind_of(const pd_db *db);
/* Other processes may write the same database (PostgreSQL serving several instances): what a
 * process caches from it must expire. */
bool pd_db_shared(const pd_db *db);
/* The backend's name for a double column, for CAST(… AS …). */
const char *pd_db_type_real(const pd_db *db);

/* One statement; fn (may be NULL) is called per row. */
pd_err pd_db_query(pd_db *db, const char *sql, const pd_sqlv *args, size_t nargs, pd_row_fn fn, void *ud);
/* A statement run for its effect; *changes (may be NULL) gets the rows an INSERT, UPDATE or
 * DELETE touched. Constraint failures: unique → PD_ERR_EXISTS, foreign key → PD_ERR_INVAL. */
pd_err pd_db_run(pd_db *db, const char *sql, const pd_sqlv *args, size_t nargs, int64_t *changes);
/* `INSERT … RETURNING id`: *id gets the new row's id. */
pd_err pd_db_insert(pd_db *db, const char *sql, const pd_sqlv *args, size_t nargs, int64_t *id);
/* The first column of the first row as an integer; NOTFOUND when there is no row. */
pd_err pd_db_scalar(pd_db *db, const char *sql, const pd_sqlv *args, size_t nargs, int64_t *out);
/* Several statements without parameters (DDL); the type tokens @ID@, @INT@ and @REAL@ become
 * the backend's types, as in the migrations (docs/storage.md). */
pd_err pd_db_exec(pd_db *db, const char *sql);
/* The statistics' summaries (docs/stats.md) computed again from the job and usage rows, in one
 * transaction: for rows that went in behind the daemon's back (SQL, a restored copy). */
pd_err pd_db_rebuild_summaries(pd_db *db);
/* The backend's message for the last failure, for logs. */
const char *pd_db_last_error(pd_db *db);
/* After rows were inserted with ids of their own (an import keeping its source's ids): the
 * ids `table` hands out next follow the largest one. table comes from the caller's code. */
pd_err pd_db_sync_ids(pd_db *db, const char *table);
/* A consistent copy of the live database at `path`; UNSUPPORTED when the backend has its own
 * tools for that (PostgreSQL: pg_dump), with err saying which. */
pd_err pd_db_backup(pd_db *db, const char *path, char *err, size_t errlen);

/* How long a statement may wait for a lock another process holds (SQLite: one writer at a
 * time), then fail with PD_ERR_DB_BUSY; on_wait (may be NULL) is called once, the first time
 * a wait passes 100 ms. A database opens with a 5 s wait; the daemon shortens it, because the
 * loop waits with it (docs/storage.md), and the CLI lengthens it and says it waits. */
void pd_db_lock_wait(pd_db *db, int max_ms, void (*on_wait)(void *ud), void *ud);

/* Transactions nest: each API request is one transaction even when it calls helpers that
 * open their own. pd_db_end commits when rc is PD_OK, else rolls back, and returns rc (or
 * the commit's failure). */
pd_err pd_db_begin(pd_db *db);
pd_err pd_db_end(pd_db *db, pd_err rc);
/* Inside pd_db_begin … pd_db_end: what the caller announces waits for the commit. */
bool pd_db_in_tx(const pd_db *db);

bool pd_row_null(const pd_row *r, int c);
int64_t pd_row_int(const pd_row *r, int c);
double pd_row_real(const pd_row *r, int c);
const char *pd_row_text(const pd_row *r, int c);  /* "" for NULL */

/* --- printdeck's own records (records.c) ---------------------------------------------- */

/* Where a printer's state comes from: its own MQTT link, or Home Assistant's webhooks (no
 * link, no commands; docs/homeassistant.md, Inbound). */
typedef enum pd_printer_source { PD_PRINTER_MQTT, PD_PRINTER_HA } pd_printer_source;
const char *pd_printer_source_name(pd_printer_source s);

typedef struct pd_printer_rec {
    int64_t id;
    char name[64];
    char serial[32];
    char host[256];
    int port;             /* MQTT */
    int ftps_port;        /* implicit FTPS: the printer's storage */
    char access_code[64];
    char model[32];       /* user-given model, may be empty (then detected) */
    char ca_file[256];
    bool tls_verify;
    int64_t created_at;   /* unix seconds */
    char camera_host[256]; /* a relay in front of the camera; "" = host */
    int camera_port;      /* 0 = the model's (6000, RTSPS 322) */
    bool camera_enabled;
    pd_printer_source source;
    char ha_id[64];       /* Home Assistant's printer_id for it; "" = none */
    /* Home Assistant's API as the source (ha/source.c): the ha-bambulab device's entity
     * prefix, and per entity an id that replaces the default made from it ("" = default) */
    char ha_device[64];
    char ha_print_status[96], ha_task_name[96], ha_gcode_file[96], ha_print_progress[96],
        ha_current_layer[96], ha_total_layers[96], ha_active_tray[96], ha_ams_tray[96];
    char webhook_secret[129]; /* its Home Assistant webhooks' own secret; "" = the global one */
    /* its own timelapse settings over [timelapse]'s (docs/camera.md, Timelapses); PD_REC_UNSET
     * (or "") = the global one */
    int timelapse_enabled;    /* 0, 1 */
    char timelapse_mode[12];  /* "layer", "interval" */
    int timelapse_interval_s, timelapse_fps;
} pd_printer_rec;

#define PD_REC_UNSET (-1)

pd_err pd_db_printer_list(pd_db *db, pd_printer_rec **out, size_t *n); /* *out malloc'd */
pd_err pd_db_printer_insert(pd_db *db, pd_printer_rec *rec);           /* sets id, created_at */
pd_err pd_db_printer_update(pd_db *db, const pd_printer_rec *rec);
pd_err pd_db_printer_delete(pd_db *db, int64_t id);

#endif
