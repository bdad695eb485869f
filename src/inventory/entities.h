/* Private to src/inventory/: the column tables and the helpers the entity files share. */
#ifndef PD_INVENTORY_ENTITIES_H
#define PD_INVENTORY_ENTITIES_H

#include "inventory/inventory.h"

typedef enum inv_coltype {
    COL_TEXT, COL_INT, COL_REAL, COL_BOOL,
    COL_TIME,       /* unix seconds ↔ ISO 8601 */
    COL_REF,        /* id of another entity (vendor_id, filament_id) */
    COL_COLOR,      /* RRGGBB or RRGGBBAA, stored upper-case without '#' */
    COL_COLORS,     /* ≥2 colours, comma-joined */
    COL_DIRECTION,  /* "coaxial" | "longitudinal" */
    COL_DATE,       /* YYYY-MM-DD */
} inv_coltype;

enum {
    COL_RO = 1u << 0,        /* set by the server (id, registered) */
    COL_REQ = 1u << 1,       /* required on create */
    COL_NONNULL = 1u << 2,   /* null is refused */
    COL_POSITIVE = 1u << 3,  /* > 0 rather than ≥ 0 */
    COL_HIDDEN = 1u << 4,    /* not in the JSON object (ids shown as nested objects) */
};

typedef struct inv_col {
    const char *name;        /* JSON key and SQL column */
    inv_coltype type;
    unsigned flags;
    double min;              /* numbers: lower bound (0 unless said) */
    int maxlen;              /* text: characters */
} inv_col;

typedef struct inv_table {
    const char *name, *alias;
    const inv_col *cols;
    size_t n;
} inv_table;

extern const inv_table inv_tables[PD_INV__N];

const inv_col *inv_col_find(pd_inv_entity en, const char *name);
/* "SELECT <columns of en, then of what it embeds> FROM … WHERE 1 = 1" (or count(*)). */
void inv_select_from(pd_sqlb *b, pd_inv_entity en, bool count);
/* The same with the given select list ("s.id"), or all columns when cols is NULL; with a
 * select list, only the joins that `uses` (the rest of the statement) needs. */
void inv_select_cols_from(pd_sqlb *b, pd_inv_entity en, const char *cols, const char *uses);
/* One row of inv_select_from as the object GET returns (without `extra`). */
json_t *inv_render_row(pd_inv_entity en, const pd_row *row);
/* Sets `extra` on each object in items and on the objects they embed. */
pd_err inv_attach_extras(pd_inv *inv, pd_inv_entity en, json_t *items);
/* Runs a statement from inv_select_from and appends each rendered row to items. */
pd_err inv_fetch(pd_inv *inv, pd_inv_entity en, const pd_sqlb *b, json_t *items);
/* A spool's remaining grams: its own initial weight, else its filament's, less what was used,
 * never below 0; NULL when neither weight is known. The filament's weight only matters for the
 * rare spool without its own: a subquery there, rather than a join every row pays for. The
 * usual spool (own weight, not used up) is decided by the first test. */
#define INV_REMAINING_OWN "CASE WHEN s.initial_weight > s.used_weight THEN s.initial_weight - s.used_weight " \
    "WHEN s.initial_weight IS NOT NULL THEN 0"
#define INV_REMAINING_SQL "(" INV_REMAINING_OWN " ELSE (SELECT CASE WHEN w.weight IS NULL THEN NULL " \
    "WHEN w.weight > s.used_weight THEN w.weight - s.used_weight ELSE 0 END FROM filament w " \
    "WHERE w.id = s.filament_id) END)"
/* The same for a spool with its own initial weight, NULL for one without. On PostgreSQL the
 * subquery alone, never run, makes an aggregate over 100,000 spools 4 times slower (a SubPlan
 * in each row's expression, and no parallel scan): groups add up this one and read the
 * filament's weight only for the spools without their own. */
#define INV_REMAINING_OWN_SQL "(" INV_REMAINING_OWN " END)"

/* What inv_where adds for spools without allow_archived: a statement over a table aliased s
 * with an archived column (spools, spool_sum) takes it as it is. */
#define INV_LIVE_SQL " AND s.archived = 0"

/* The conditions of a list of en (" AND …", appended to b): the filters of its table, the
 * archived flag of spools and the extra-field filters. aliases: also the deprecated
 * underscore names (filament_id, vendor_id, …), which Spoolman's grouping does not read. */
pd_err inv_where(pd_inv *inv, pd_inv_entity en, const pd_inv_param *p, size_t n, bool aliases,
                 pd_sqlb *b, pd_inv_err *e);

/* Ids gathered by a query, in its order (a list's page, an export's rows). */
typedef struct inv_ids {
    int64_t *v;
    size_t n, cap;
} inv_ids;
pd_err inv_ids_add(inv_ids *ids, int64_t id);
/* inv_select_from for the rows with these ids, then order (" ORDER BY …", or ""). */
void inv_select_ids(pd_sqlb *b, pd_inv_entity en, const int64_t *ids, size_t n, const char *order);

/* One item of a `sort` parameter, trimmed in place: "field:asc|desc", the direction in any
 * case (Spoolman's parse_sort, its 400s). *field NULL for an empty item, which is skipped;
 * else the field and *desc. */
pd_err inv_sort_item(char *item, char **field, bool *desc, pd_inv_err *e);

/* Row callback for (entity_id, key, value) rows: sets ud["<entity_id>"][key] = value. */
pd_err inv_extra_collect(const pd_row *row, void *ud);
/* The keys of en's text and choice extra fields, the ones whose values are words (search.c),
 * in definition order: a JSON array of strings that matched ^[a-z0-9_]+$. */
pd_err inv_extra_text_keys(pd_inv *inv, pd_inv_entity en, json_t **out);

/* What makes a cursor a list or an export (query.c, transfer.c). */
typedef struct inv_cursor_ops {
    /* reading before the ids (an export's CSV keys), with the connection the ids are read
     * with: off the loop, so it touches only the cursor; may be NULL */
    pd_err (*prepare)(pd_inv_cursor *c, pd_db *db);
    /* the statement of a batch of ids; NULL: inv_select_ids of the cursor's entity */
    void (*select)(pd_inv_cursor *c, pd_sqlb *b, const int64_t *ids, size_t n);
    /* runs b (the statement of a batch) and appends one object per row to rows */
    pd_err (*fetch)(pd_inv_cursor *c, const pd_sqlb *b, json_t *rows);
    pd_err (*head)(pd_inv_cursor *c, pd_buf *out);        /* may be NULL */
    pd_err (*write)(pd_inv_cursor *c, json_t *row, pd_buf *out);
    void (*free)(pd_inv_cursor *c);                       /* frees ud; may be NULL */
    const char *sep, *tail;                               /* between rows, after the last */
} inv_cursor_ops;

struct pd_inv_cursor {
    pd_inv *inv;
    pd_inv_entity en;
    const inv_cursor_ops *ops;
    pd_sqlb *query;            /* takes the ids in order (a row with id -1 carries the total);
                                * freed once pd_inv_cursor_prepare has run it */
    inv_ids ids;               /* every row to send, in order, taken by that query */
    int64_t total;             /* from the -1 row, else how many ids */
    bool prepared;
    size_t next;               /* ids before it have been sent */
    size_t written;            /* rows written */
    char *order;               /* " ORDER BY …" of each batch */
    bool started;
    void *ud;
};
/* A cursor whose ids `query` (stolen; freed on failure too) will take; order is copied.
 * NULL when out of memory. */
pd_inv_cursor *inv_cursor_new(pd_inv *inv, pd_inv_entity en, const inv_cursor_ops *ops,
                              const char *order, pd_sqlb *query);
/* Appends v as json_dumpb writes it with flags. */
pd_err inv_dump_into(const json_t *v, size_t flags, pd_buf *out);

/* Row callback: appends column 0 as a string to the json array ud. */
pd_err inv_collect_text(const pd_row *row, void *ud);
/* settings.c and fields.c (field definitions live in the extra_fields_* settings) */
pd_err inv_fail_rc(pd_inv_err *e, pd_err rc);  /* the error's own sentence as the message */
size_t inv_utf8_chars(const char *s);          /* code points: what Spoolman's limits count */
pd_err inv_setting_text(pd_inv *inv, const pd_inv_setting_def *def, char **text);
pd_err inv_setting_put(pd_inv *inv, const pd_inv_setting_def *def, const char *text, pd_inv_err *e);
void inv_setting_announce(pd_inv *inv, const pd_inv_setting_def *def, const char *text);
pd_err inv_fields_setting_check(const char *setting, const json_t *value, pd_inv_err *e);

/* Spool extra field key as a group or a renamed value (Spoolman: text or single choice only),
 * else 400 in Spoolman's words; with sql, the scalar subquery of its stored text for row s.id. */
pd_err inv_extra_plain(pd_inv *inv, const char *key, char *sql, size_t sqllen, pd_inv_err *e);
/* A stored extra value's decoded string, malloc'd; NULL for null, "" or anything not a string. */
char *inv_extra_decode(const char *text);
/* Every spool's value of key whose decoded string is from becomes to (JSON-encoded); *updated
 * how many. Inside the caller's transaction. */
pd_err inv_extra_rename(pd_inv *inv, const char *key, const char *from, const char *to, int64_t *updated);

double inv_length_mm(double grams, double density, double diameter);
double inv_weight_g(double length_mm, double density, double diameter);

/* Inside slots.c's transaction: a slot prompt for what the slot now reports, replacing the
 * slot's open one; and settling the open one when the slot gets a spool (answered) or is
 * emptied (replaced). */
pd_err inv_prompt_slot_raise(pd_inv *inv, int64_t printer_id, int unit, int slot,
                             const pd_inv_reported *rep);
pd_err inv_prompt_slot_settle(pd_inv *inv, int64_t printer_id, int unit, int slot,
                              int64_t spool_id /* 0: emptied */);
/* A Bambu RFID spool no spool carries yet, made into one (rfid.c): *spool_id the new spool. */
pd_err inv_rfid_spool(pd_inv *inv, const pd_inv_reported *rep, int64_t *spool_id);

#endif
