/* printdeck's own records: printers, in the SQL both backends share (tokens, sessions and
 * accounts: api/auth.c and api/accounts.c). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/sqlb.h"
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

typedef enum sql_verb { SQL_SELECT, SQL_INSERT, SQL_UPDATE } sql_verb;

/* A column's value as a statement's argument; false for none (created_at, in an UPDATE) */
static bool col_arg(const pd_printer_rec *r, const printer_col *c, sql_verb verb, pd_sqlv *v)
{
    const void *m = (const char *)r + c->off;
    switch (c->kind) {
    case COL_TEXT:
        *v = PD_SQL_S(m);
        return true;
    case COL_TEXT_NULL:
        *v = *(const char *)m ? PD_SQL_S(m) : PD_SQL_NUL;
        return true;
    case COL_INT:
        *v = PD_SQL_I(*(const int *)m);
        return true;
    case COL_BOOL:
        *v = PD_SQL_I(*(const bool *)m);
        return true;
    case COL_OPT_INT:
        *v = *(const int *)m == PD_REC_UNSET ? PD_SQL_NUL : PD_SQL_I(*(const int *)m);
        return true;
    case COL_SOURCE:
        *v = PD_SQL_S(pd_printer_source_name(*(const pd_printer_source *)m));
        return true;
    case COL_CREATED:
        *v = PD_SQL_I(*(const int64_t *)m);
        return verb == SQL_INSERT;
    }
    return false;
}

/* The statement over every column in the table's order, with r's values as its arguments
 * (r NULL for the SELECT); the caller runs it when pd_sqlb_ok, then frees it. */
static void printer_stmt(pd_sqlb *b, sql_verb verb, const pd_printer_rec *r)
{
    static const char *const head[] = {"SELECT id", "INSERT INTO printer (", "UPDATE printer SET "};
    pd_sqlb_init(b);
    pd_sqlb_add(b, "%s", head[verb]);
    size_t n = 0;
    for (size_t i = 0; i < N_COLS; i++) {
        pd_sqlv v = PD_SQL_NUL;
        if (verb != SQL_SELECT && !col_arg(r, &cols[i], verb, &v))
            continue;
        pd_sqlb_add(b, "%s%s%s", verb == SQL_SELECT || n ? ", " : "", cols[i].name,
                    verb == SQL_UPDATE ? " = ?" : "");
        if (verb != SQL_SELECT)
            pd_sqlb_arg(b, v);
        n++;
    }
    if (verb == SQL_SELECT)
        pd_sqlb_add(b, " FROM printer ORDER BY id");
    else if (verb == SQL_UPDATE) {
        pd_sqlb_add(b, " WHERE id = ?");
        pd_sqlb_arg(b, PD_SQL_I(r->id));
    } else {
        pd_sqlb_add(b, ") VALUES (?");
        for (size_t i = 1; i < n; i++)
            pd_sqlb_add(b, ", ?");
        pd_sqlb_add(b, ") RETURNING id");
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
    pd_sqlb *b = malloc(sizeof *b);
    if (!b)
        return PD_ERR_NOMEM;
    printer_stmt(b, SQL_SELECT, NULL);
    printer_vec pv = {0};
    pd_err rc = pd_sqlb_ok(b) ? pd_db_query(db, b->sql, NULL, 0, printer_row, &pv) : PD_ERR_TOOBIG;
    pd_sqlb_free(b);
    free(b);
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

pd_err pd_db_printer_insert(pd_db *db, pd_printer_rec *rec)
{
    if (!rec->created_at)
        rec->created_at = (int64_t)time(NULL);
    pd_sqlb *b = malloc(sizeof *b);
    if (!b)
        return PD_ERR_NOMEM;
    printer_stmt(b, SQL_INSERT, rec);
    pd_err rc = pd_sqlb_ok(b) ? pd_db_insert(db, b->sql, b->args, b->nargs, &rec->id) : PD_ERR_TOOBIG;
    pd_sqlb_free(b);
    free(b);
    return rc;
}

static pd_err changed_one(pd_err rc, int64_t changes)
{
    return rc ? rc : changes ? PD_OK : PD_ERR_NOTFOUND;
}

pd_err pd_db_printer_update(pd_db *db, const pd_printer_rec *rec)
{
    pd_sqlb *b = malloc(sizeof *b);
    if (!b)
        return PD_ERR_NOMEM;
    printer_stmt(b, SQL_UPDATE, rec);
    int64_t changes = 0;
    pd_err rc = pd_sqlb_ok(b) ? pd_db_run(db, b->sql, b->args, b->nargs, &changes) : PD_ERR_TOOBIG;
    pd_sqlb_free(b);
    free(b);
    return changed_one(rc, changes);
}

pd_err pd_db_printer_delete(pd_db *db, int64_t id)
{
    int64_t n = 0;
    pd_sqlv a[] = {PD_SQL_I(id)};
    pd_err rc = pd_db_run(db, "DELETE FROM printer WHERE id = ?", a, 1, &n);
    return changed_one(rc, n);
}
