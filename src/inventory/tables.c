/* Tables outside the inventory's entities (print jobs, filament usage) listed by its rules and
 * sent through its cursors (inventory.h, pd_inv_table): the ids are taken off the loop in one
 * statement, the rows rendered a batch at a time while the reply is sent. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "inventory/entities.h"

typedef struct table_ctx {
    const pd_inv_table *t;
} table_ctx;

static void table_select(pd_inv_cursor *c, pd_sqlb *b, const int64_t *ids, size_t n)
{
    const pd_inv_table *t = ((table_ctx *)c->ud)->t;
    /* the ids are ours, integers: written into the statement, no argument limit */
    pd_sqlb_add(b, "SELECT %s%s WHERE %s.id IN (", t->cols, t->from, t->alias);
    for (size_t i = 0; i < n; i++)
        pd_sqlb_add(b, "%s%lld", i ? ", " : "", (long long)ids[i]);
    pd_sqlb_add(b, ")%s", c->order);
}

static pd_err table_fetch_json(pd_inv_cursor *c, const pd_sqlb *b, json_t *rows)
{
    return ((table_ctx *)c->ud)->t->fetch(c->inv->db, b, rows, false);
}

static pd_err table_fetch_csv(pd_inv_cursor *c, const pd_sqlb *b, json_t *rows)
{
    return ((table_ctx *)c->ud)->t->fetch(c->inv->db, b, rows, true);
}

static pd_err json_head(pd_inv_cursor *c, pd_buf *out)
{
    (void)c;
    return pd_buf_add_str(out, "[");
}

static pd_err json_write(pd_inv_cursor *c, json_t *row, pd_buf *out)
{
    (void)c;
    return inv_dump_into(row, PD_JSON_FLAGS, out);
}

static pd_err csv_head(pd_inv_cursor *c, pd_buf *out)
{
    const pd_inv_table *t = ((table_ctx *)c->ud)->t;
    for (size_t i = 0; i < t->ncsv; i++) {
        pd_buf_add_str(out, i ? "," : "");
        pd_buf_add_str(out, t->csv_cols[i]);
    }
    return pd_buf_add_str(out, "\r\n");
}

static pd_err csv_write(pd_inv_cursor *c, json_t *row, pd_buf *out)
{
    const pd_inv_table *t = ((table_ctx *)c->ud)->t;
    for (size_t i = 0; i < t->ncsv; i++) {
        json_t *v = json_object_get(row, t->csv_cols[i]);
        char num[40] = "";
        if (json_is_integer(v))
            snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        else if (json_is_real(v))
            snprintf(num, sizeof num, "%.*f", t->csv_decimals, json_real_value(v));
        pd_buf_add_str(out, i ? "," : "");
        pd_buf_add_csv(out, json_is_string(v) ? json_string_value(v) : num);
    }
    return pd_buf_add_str(out, "\r\n");  /* the adds fail for good: checked once */
}

static void table_free(pd_inv_cursor *c) { free(c->ud); }

static const inv_cursor_ops table_ops[2] = {
    {.select = table_select, .fetch = table_fetch_json, .head = json_head, .write = json_write,
     .free = table_free, .sep = ",", .tail = "]"},
    {.select = table_select, .fetch = table_fetch_csv, .head = csv_head, .write = csv_write, .free = table_free},
};

/* One scan numbers every match in the list's order (row_number, so the order survives the
 * CTE), the count travels as a row of its own (id -1): the total and the page's ids in one
 * statement, arguments used once. */
static pd_err ids_query(pd_inv *inv, const pd_inv_table *t, const pd_inv_param *p, size_t n, bool csv,
                        pd_sqlb *q, char *order, size_t orderlen, pd_inv_err *e)
{
    int64_t limit = -1, offset = 0;
    pd_err rc = csv ? PD_OK : pd_inv_paging(p, n, &limit, &offset, e);
    if (rc)
        return rc;
    const char *sort = pd_inv_param_get(p, n, "sort");
    pd_sqlb_add(q, "WITH m AS MATERIALIZED (SELECT %s.id AS id, row_number() OVER (", t->alias);
    size_t at = q->len;
    if ((rc = pd_inv_order_add(t->alias, sort && *sort ? sort : t->default_sort, t->sort_expr, NULL, q, e)))
        return rc;
    snprintf(order, orderlen, "%.*s", (int)(q->len - at), q->sql + at);
    pd_sqlb_add(q, ") AS k%s WHERE 1 = 1", t->from);
    for (size_t i = 0; i < t->nfilters && !rc; i++) {
        const pd_inv_filter *f = &t->filters[i];
        const char *v = pd_inv_param_get(p, n, f->param);
        if (!v && f->alias)
            v = pd_inv_param_get(p, n, f->alias);
        if (v)
            rc = pd_inv_filter_add(inv, f, v, q, e);
    }
    pd_sqlb_add(q, ") SELECT -1, count(*) FROM m UNION ALL SELECT * FROM (SELECT id, 0 FROM m ORDER BY k "
                   "LIMIT ? OFFSET ?) p");
    pd_sqlb_arg(q, PD_SQL_I(limit < 0 ? INT64_MAX : limit));
    pd_sqlb_arg(q, PD_SQL_I(offset));
    if (!rc && !pd_sqlb_ok(q))
        rc = pd_inv_fail(e, PD_ERR_TOOBIG, NULL, NULL, "Too many filter terms.");
    return rc;
}

pd_err pd_inv_table_open(pd_inv *inv, const pd_inv_table *t, const pd_inv_param *p, size_t n, bool csv,
                         pd_inv_cursor **out, pd_inv_err *e)
{
    *out = NULL;
    pd_sqlb *q = malloc(sizeof *q);
    table_ctx *x = calloc(1, sizeof *x);
    char *order = malloc(PD_SQLB_MAX_SQL);
    pd_err rc = q && x && order ? PD_OK : pd_inv_fail(e, PD_ERR_NOMEM, NULL, NULL, "out of memory");
    if (!rc) {
        x->t = t;
        pd_sqlb_init(q);
        rc = ids_query(inv, t, p, n, csv, q, order, PD_SQLB_MAX_SQL, e);
    }
    if (rc) {
        if (q)
            pd_sqlb_free(q);
        free(q);
        free(x);
        free(order);
        return rc;
    }
    /* the entity is not read: table_select makes every batch's statement */
    pd_inv_cursor *c = inv_cursor_new(inv, PD_INV_SPOOL, &table_ops[csv], order, q);
    free(order);
    if (!c) {
        free(x);
        return pd_inv_fail(e, PD_ERR_NOMEM, NULL, NULL, "out of memory");
    }
    c->ud = x;
    *out = c;
    return PD_OK;
}

json_t *pd_inv_col_json(const pd_inv_col *c, const pd_row *row, int i)
{
    if (pd_row_null(row, i))
        return json_null();
    switch (c->kind) {
    case PD_INV_COL_INT: return json_integer(pd_row_int(row, i));
    case PD_INV_COL_REAL: return json_real(round(pd_row_real(row, i) * 1000) / 1000);
    case PD_INV_COL_TIME: return pd_inv_time_json(pd_row_int(row, i));
    case PD_INV_COL_BOOL: return json_boolean(pd_row_int(row, i));
    case PD_INV_COL_TEXT: break;
    }
    return json_string(pd_row_text(row, i));
}

bool pd_inv_col_sort(const pd_inv_col *cols, size_t n, const char *field, char *out, size_t outlen)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(cols[i].name, field)) {
            snprintf(out, outlen, "%s", cols[i].sql);
            return true;
        }
    return false;
}
