/* Shared by the unit tests that run on both backends: PostgreSQL databases made and dropped
 * around each case. Include after <cmocka.h>. pg_base is the server's base URL (PD_TEST_PG),
 * NULL when the tests run on SQLite only. */
#ifndef PD_TEST_TESTDB_H
#define PD_TEST_TESTDB_H

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *pg_base;

/* One statement on the server's maintenance database, outside the store under test (opening
 * a store there would run printdeck's migrations in it). */
static void pg_admin(const char *sql)
{
    PGconn *c = PQconnectdb(pg_base);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PGresult *res = PQexec(c, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(res));
    PQclear(res);
    PQfinish(c);
}

/* base with its database name (the URL's path) replaced; options after '?' are kept */
static void url_with_db(const char *base, const char *name, char *out, size_t n)
{
    const char *a = strstr(base, "://");
    a = a ? a + 3 : base;
    a += strcspn(a, "/?");             /* the end of user@host:port */
    snprintf(out, n, "%.*s/%s%s", (int)(a - base), base, name, a + strcspn(a, "?"));
}

/* A fresh data directory /tmp/pd-<prefix>-XXXXXX and, on PostgreSQL, a fresh database named
 * after the prefix; url gets what pd_db_open wants ("" for SQLite's default file). */
static void testdb_create(const char *prefix, char dir[64], char dbname[64], char url[512])
{
    static int seq;
    snprintf(dir, 64, "/tmp/pd-%s-XXXXXX", prefix);
    assert_non_null(mkdtemp(dir));
    url[0] = '\0';
    if (!pg_base)
        return;
    char sql[128];
    snprintf(dbname, 64, "pd_%s_%d_%d", prefix, (int)getpid(), ++seq);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", dbname);
    pg_admin(sql);
    url_with_db(pg_base, dbname, url, 512);
}

/* Drops what testdb_create made (the store must be closed first). */
static int testdb_destroy(const char *dir, const char *dbname)
{
    char cmd[128];
    if (pg_base) {
        /* FORCE: a case that failed half-way may have left a connection open */
        snprintf(cmd, sizeof cmd, "DROP DATABASE IF EXISTS %s WITH (FORCE)", dbname);
        pg_admin(cmd);
    }
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

/* Every case on SQLite, then again on PostgreSQL when PD_TEST_PG names a server. */
static int testdb_run(const struct CMUnitTest *tests, size_t n)
{
    int failed = _cmocka_run_group_tests("sqlite", tests, n, NULL, NULL);
    pg_base = getenv("PD_TEST_PG");
    if (pg_base && *pg_base)
        failed += _cmocka_run_group_tests("postgresql", tests, n, NULL, NULL);
    else
        pg_base = NULL;
    return failed;
}

#endif
