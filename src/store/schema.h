/* Private to src/store/: the migrations every backend runs. */
#ifndef PD_STORE_SCHEMA_H
#define PD_STORE_SCHEMA_H

int pd_schema_latest(void);
/* Migration `version` (1-based) with the backend's types substituted; malloc'd, NULL when
 * out of range or out of memory. */
char *pd_schema_migration(int version, const char *id, const char *integer, const char *real);

#endif
