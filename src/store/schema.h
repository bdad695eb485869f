/* Private to src/store/: the migrations every backend runs. */
#ifndef PD_STORE_SCHEMA_H
#define PD_STORE_SCHEMA_H

int pd_schema_latest(void);
/* Migration `version` (1-based) with its type tokens, NULL when out of range. */
const char *pd_schema_migration(int version);
/* The statistics' summaries emptied and computed again from the rows (with type tokens). */
const char *pd_schema_rollup_rebuild(void);
/* A backend's words for the migrations' tokens: its name for @ONLY@, @ID@, @INT@, @REAL@, and
 * a row trigger's head and tail around its statements (printf formats, %1$s its name, %2$s
 * its event). */
typedef struct pd_schema_words {
    const char *backend;  /* of "@ONLY backend@" */
    const char *id, *integer, *real;
    const char *trigger_head, *trigger_tail;
    /* The tail of an insert trigger whose statements read "@NEW_ROWS col, …@": NULL where the
     * trigger runs per row, over (SELECT NEW.col AS col, …) (SQLite); else the trigger runs
     * once per statement over the transition table new_rows (PostgreSQL), so that a bulk
     * insert costs an upsert per group of rows rather than one per row. */
    const char *rows_tail;
} pd_schema_words;

/* sql with its tokens in the backend's words; malloc'd, NULL when out of memory. */
char *pd_schema_expand(const char *sql, const pd_schema_words *w);

#endif
