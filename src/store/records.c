/* printdeck's own records: printers, in the SQL both backends share (tokens, sessions and
 * accounts: api/auth.c and api/accounts.c). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/store.h"

/* How a column holds its member of pd_printer_rec. */
typedef enum col_kind {
    COL_TEXT,
    COL_TEXT_NULL, /* "" is NULL: ha_id, unique among the printers that have one */
    COL_INT,
    COL_BOOL,
    COL_OPT_INT,   /* NULL is PD_REC_UNSET, the global setting */
    COL_SOURCE,    /* "mqtt" or "homeassistant" */
    COL_CREATED    /* int64_t unix seconds, written once by the insert */
} col_kind;

typedef struct printer_col {
    const char *name; /* the column's and the member's */
    col_kind kind;
    size_t off, size;
} printer_col;

/* The printer table's columns but id, one row each: they make the SELECT, the INSERT, the
 * UPDATE, the reading of a row and the arguments, so a column is added here once. Each row
 * names the member's type as its kind reads and writes it; one that is not fails to compile
 * (a negative array size), so a kind cannot read the wrong number of bytes. */
#define COL(m, kind, type)                                                                       \
    {#m, kind, offsetof(pd_printer_rec, m),                                                      \
     sizeof ((pd_printer_rec *)0)->m + 0 * sizeof(char[_Generic(((pd_printer_rec *)0)->m, type: 1, default: -1)])}
#define TEXT(m) COL(m, COL_TEXT, char *)
#define INT(m) COL(m, COL_INT, int)
#define BOOL(m) COL(m, COL_BOOL, bool)
#define OPT_INT(m) COL(m, COL_OPT_INT, int)
static const printer_col cols[] = {
    TEXT(name),
    TEXT(serial),
    TEXT(host),
    INT(port),
    TEXT(access_code),
    TEXT(model),
    TEXT(ca_file),
    BOOL(tls_verify),
    INT(ftps_port),
    TEXT(camera_host),
    INT(camera_port),
    BOOL(camera_enabled),
    COL(source, COL_SOURCE, pd_printer_source),
    COL(ha_id, COL_TEXT_NULL, char *),
    TEXT(ha_device),
    TEXT(ha_print_status),
    TEXT(ha_task_name),
    TEXT(ha_gcode_file),
    TEXT(ha_print_progress),
    TEXT(ha_current_layer),
    TEXT(ha_total_layers),
    TEXT(ha_active_tray),
    TEXT(ha_ams_tray),
    TEXT(webhook_secret),
    OPT_INT(timelapse_enabled),
    TEXT(timelapse_mode),
    OPT_INT(timelapse_interval_s),
    OPT_INT(timelapse_fps),
    COL(created_at, COL_CREATED, int64_t),
};
#undef TEXT
#undef INT
#undef BOOL
#undef OPT_INT
#undef COL
#define N_COLS (sizeof cols / sizeof *cols)

/* The statements' text: the longest, the UPDATE, is about 500 bytes */
#define SQL_MAX 2048

typedef enum sql_verb { SQL_SELECT, SQL_INSERT, SQL_UPDATE } sql_verb;

/* Appends to sql[0..*len]; past SQL_MAX the text stays cut (and the statement fails to
 * prepare, loudly) rather than anything being written beyond it. */
static void add(char sql[SQL_MAX], size_t *len, const char *a, const char *b)
{
    if (*len < SQL_MAX) {
        int n = snprintf(sql + *len, SQL_MAX - *len, "%s%s", a, b);
        *len += n > 0 ? (size_t)n : 0;
    }
}

static void sql_of(sql_verb verb, char sql[SQL_MAX])
{
    static const char *const head[] = {"SELECT id", "INSERT INTO printer (", "UPDATE printer SET "};
    size_t len = 0;
    add(sql, &len, head[verb], "");
    const char *sep = verb == SQL_SELECT ? ", " : "";
    for (size_t i = 0; i < N_COLS; i++) {
        if (verb == SQL_UPDATE && cols[i].kind == COL_CREATED)
            continue;
        add(sql, &len, sep, cols[i].name);
        if (verb == SQL_UPDATE)
            add(sql, &len, " = ?", "");
        sep = ", ";
    }
    if (verb == SQL_SELECT)
        add(sql, &len, " FROM printer ORDER BY id", "");
    else if (verb == SQL_UPDATE)
        add(sql, &len, " WHERE id = ?", "");
    else {
        add(sql, &len, ") VALUES (?", "");
        for (size_t i = 1; i < N_COLS; i++)
            add(sql, &len, ", ?", "");
        add(sql, &len, ") RETURNING id", "");
    }
}

typedef struct printer_vec {
    pd_printer_rec *v;
    size_t n, cap;
} printer_vec;

static pd_err printer_row(const pd_row *row, void *ud)
{
    printer_vec *pv = ud;
    if (pv->n == pv->cap) {
        size_t cap = pv->cap ? pv->cap * 2 : 16;
        pd_printer_rec *nv = realloc(pv->v, cap * sizeof *nv);
        if (!nv)
            return PD_ERR_NOMEM;
        pv->v = nv;
        pv->cap = cap;
    }
    pd_printer_rec *r = &pv->v[pv->n++];
    memset(r, 0, sizeof *r);
    r->id = pd_row_int(row, 0);
    for (size_t i = 0; i < N_COLS; i++) {
        const int c = (int)i + 1;
        void *m = (char *)r + cols[i].off;
        switch (cols[i].kind) {
        case COL_TEXT:
        case COL_TEXT_NULL:
            snprintf(m, cols[i].size, "%s", pd_row_text(row, c));
            break;
        case COL_INT:
            *(int *)m = (int)pd_row_int(row, c);
            break;
        case COL_BOOL:
            *(bool *)m = pd_row_int(row, c) != 0;
            break;
        case COL_OPT_INT:
            *(int *)m = pd_row_null(row, c) ? PD_REC_UNSET : (int)pd_row_int(row, c);
            break;
        case COL_SOURCE:
            *(pd_printer_source *)m =
                !strcmp(pd_row_text(row, c), "homeassistant") ? PD_PRINTER_HA : PD_PRINTER_MQTT;
            break;
        case COL_CREATED:
            *(int64_t *)m = pd_row_int(row, c);
            break;
        }
    }
    return PD_OK;
}

pd_err pd_db_printer_list(pd_db *db, pd_printer_rec **out, size_t *n)
{
    char sql[SQL_MAX];
    sql_of(SQL_SELECT, sql);
    printer_vec pv = {0};
    pd_err rc = pd_db_query(db, sql, NULL, 0, printer_row, &pv);
    if (rc) {
        free(pv.v);
        return rc;
    }
    *out = pv.v;
    *n = pv.n;
    return PD_OK;
}

const char *pd_printer_source_name(pd_printer_source s)
{
    return s == PD_PRINTER_HA ? "homeassistant" : "mqtt";
}

/* The columns' values in the table's order, the UPDATE's without created_at; returns how many */
static size_t printer_args(const pd_printer_rec *r, sql_verb verb, pd_sqlv a[N_COLS])
{
    size_t n = 0;
    for (size_t i = 0; i < N_COLS; i++) {
        const void *m = (const char *)r + cols[i].off;
        switch (cols[i].kind) {
        case COL_TEXT:
            a[n++] = PD_SQL_S(m);
            break;
        case COL_TEXT_NULL:
            a[n++] = *(const char *)m ? PD_SQL_S(m) : PD_SQL_NUL;
            break;
        case COL_INT:
            a[n++] = PD_SQL_I(*(const int *)m);
            break;
        case COL_BOOL:
            a[n++] = PD_SQL_I(*(const bool *)m);
            break;
        case COL_OPT_INT:
            a[n++] = *(const int *)m == PD_REC_UNSET ? PD_SQL_NUL : PD_SQL_I(*(const int *)m);
            break;
        case COL_SOURCE:
            a[n++] = PD_SQL_S(pd_printer_source_name(*(const pd_printer_source *)m));
            break;
        case COL_CREATED:
            if (verb == SQL_INSERT)
                a[n++] = PD_SQL_I(*(const int64_t *)m);
            break;
        }
    }
    return n;
}

pd_err pd_db_printer_insert(pd_db *db, pd_printer_rec *rec)
{
    if (!rec->created_at)
        rec->created_at = (int64_t)time(NULL);
    char sql[SQL_MAX];
    sql_of(SQL_INSERT, sql);
    pd_sqlv a[N_COLS];
    return pd_db_insert(db, sql, a, printer_args(rec, SQL_INSERT, a), &rec->id);
}

static pd_err changed_one(pd_err rc, int64_t changes)
{
    return rc ? rc : changes ? PD_OK : PD_ERR_NOTFOUND;
}

pd_err pd_db_printer_update(pd_db *db, const pd_printer_rec *rec)
{
    char sql[SQL_MAX];
    sql_of(SQL_UPDATE, sql);
    pd_sqlv a[N_COLS + 1];
    size_t n = printer_args(rec, SQL_UPDATE, a);
    a[n++] = PD_SQL_I(rec->id);
    int64_t changes = 0;
    pd_err rc = pd_db_run(db, sql, a, n, &changes);
    return changed_one(rc, changes);
}

pd_err pd_db_printer_delete(pd_db *db, int64_t id)
{
    int64_t n = 0;
    pd_sqlv a[] = {PD_SQL_I(id)};
    pd_err rc = pd_db_run(db, "DELETE FROM printer WHERE id = ?", a, 1, &n);
    return changed_one(rc, n);
}
