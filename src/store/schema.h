/* Private to src/store/: the migrations every backend runs. */
#ifndef PD_STORE_SCHEMA_H
#define PD_STORE_SCHEMA_H

int pd_schema_latest(void);
/* Migration `version` (1-based) with its type tokens, NULL when out of range. */
const char *pd_schema_migration(int version);
/* The statistics' summaries emptied and computed again from the rows (with type tokens). */
const char *pd_schema_rollup_rebuild(void);
/* sql with @ID@, @INT@ and @REAL@ replaced by the given types; malloc'd, NULL when out of
 * memory. */
char *pd_schema_expand(const char *sql, const char *id, const char *integer, const char *real);

#endif
