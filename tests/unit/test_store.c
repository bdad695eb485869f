/* SQLite store: migrations, printer CRUD, unique serials, tokens, newer-schema refusal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store/store.h"

static char dir[64];

static int setup(void **st)
{
    (void)st;
    strcpy(dir, "/tmp/pd-store-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **st)
{
    (void)st;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

static pd_printer_rec rec(const char *name, const char *serial)
{
    pd_printer_rec r = {0};
    snprintf(r.name, sizeof r.name, "%s", name);
    snprintf(r.serial, sizeof r.serial, "%s", serial);
    strcpy(r.host, "127.0.0.1");
    r.port = 8883;
    strcpy(r.access_code, "12345678");
    r.tls_verify = true;
    return r;
}

static void printers_crud(void **st)
{
    (void)st;
    pd_db db;
    char err[256];
    assert_int_equal(pd_db_open(&db, "", dir, err, sizeof err), PD_OK);
    assert_int_equal(pd_db_schema_version(&db), pd_db_schema_latest());
    pd_printer_rec a = rec("a", "00M09A350100001"), b = rec("b", "01P00A451200002");
    assert_int_equal(pd_db_printer_insert(&db, &a), PD_OK);
    assert_int_equal(pd_db_printer_insert(&db, &b), PD_OK);
    assert_true(b.id > a.id);
    pd_printer_rec dup = rec("c", "00M09A350100001");
    assert_int_equal(pd_db_printer_insert(&db, &dup), PD_ERR_EXISTS);
    strcpy(a.host, "10.0.0.9");
    a.tls_verify = false;
    assert_int_equal(pd_db_printer_update(&db, &a), PD_OK);
    pd_printer_rec *v = NULL;
    size_t n = 0;
    assert_int_equal(pd_db_printer_list(&db, &v, &n), PD_OK);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].host, "10.0.0.9");
    assert_false(v[0].tls_verify);
    assert_string_equal(v[1].serial, "01P00A451200002");
    free(v);
    assert_int_equal(pd_db_printer_delete(&db, b.id), PD_OK);
    assert_int_equal(pd_db_printer_delete(&db, b.id), PD_ERR_NOTFOUND);
    b.id = 999;
    assert_int_equal(pd_db_printer_update(&db, &b), PD_ERR_NOTFOUND);

    char name[64];
    assert_int_equal(pd_db_token_insert(&db, "ci", "abcd"), PD_OK);
    assert_int_equal(pd_db_token_find(&db, "abcd", name, sizeof name), PD_OK);
    assert_string_equal(name, "ci");
    assert_int_equal(pd_db_token_find(&db, "ffff", name, sizeof name), PD_ERR_NOTFOUND);
    pd_db_close(&db);

    /* reopening keeps the data and does not migrate again */
    assert_int_equal(pd_db_open(&db, "", dir, err, sizeof err), PD_OK);
    assert_int_equal(pd_db_printer_list(&db, &v, &n), PD_OK);
    assert_int_equal(n, 1);
    free(v);
    pd_db_close(&db);
}

static void newer_schema_is_refused(void **st)
{
    (void)st;
    char path[128], err[256];
    snprintf(path, sizeof path, "%s/future.db", dir);
    sqlite3 *raw;
    assert_int_equal(sqlite3_open(path, &raw), SQLITE_OK);
    assert_int_equal(sqlite3_exec(raw, "PRAGMA user_version = 999", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(raw);
    char url[160];
    snprintf(url, sizeof url, "sqlite:%s", path);
    pd_db db;
    assert_int_equal(pd_db_open(&db, url, dir, err, sizeof err), PD_ERR_SCHEMA);
    assert_non_null(strstr(err, "newer than this printdeck"));
    pd_db_close(&db);
    assert_int_equal(pd_db_open(&db, "mysql://x", dir, err, sizeof err), PD_ERR_UNSUPPORTED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(printers_crud),
        cmocka_unit_test(newer_schema_is_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
