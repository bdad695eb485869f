/* libFuzzer target for the inventory import: arbitrary bytes as a CSV and as a JSON export,
 * into an in-memory SQLite inventory, then the export of whatever was imported. Each run is
 * wrapped in a transaction that is rolled back, so every input meets the same empty inventory
 * and a crash reproduces from its input alone. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/log.h"
#include "inventory/inventory.h"

#define FUZZ_MAX_INPUT (256 * 1024) /* a few hundred rows: the parsers, not SQLite, are under test */

static pd_db *db;
static pd_inv inv;

static void export_all(void)
{
    for (int en = 0; en < PD_INV__N; en++)
        for (int fmt = PD_INV_FMT_JSON; fmt <= PD_INV_FMT_CSV; fmt++) {
            char *text = NULL;
            size_t len;
            if (pd_inv_export(&inv, (pd_inv_entity)en, (pd_inv_format)fmt, true, &text, &len))
                abort(); /* what was imported must export */
            free(text);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_MAX_INPUT)
        return 0;
    if (!db) {
        char err[256];
        pd_log_setup(PD_LOG_ERROR, false); /* rejected rows are the normal case here */
        if (pd_db_open(&db, "sqlite::memory:", ".", err, sizeof err))
            abort();
        inv = (pd_inv){.db = db};
    }
    for (int fmt = PD_INV_FMT_JSON; fmt <= PD_INV_FMT_CSV; fmt++) {
        pd_inv_import_counts n;
        pd_inv_err e;
        if (pd_db_begin(db))
            abort();
        pd_err rc = pd_inv_import(&inv, (pd_inv_format)fmt, (const char *)data, size, &n, &e);
        if (rc && (e.code != rc || !e.msg[0]))
            abort(); /* a refusal always says why, with the code it returns */
        if (!rc)
            export_all();
        pd_db_end(db, PD_ERR_INTERNAL); /* rolls back what the import wrote */
    }
    return 0;
}
