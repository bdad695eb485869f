#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "store/store.h"

pd_err pd_db_open(pd_db *db, const char *url, const char *data_dir, char *err, size_t errlen)
{
    char path[512];
    db->ops = NULL;
    db->s = NULL;
    if (!url || !*url) {
        /* the data directory is created on demand so a fresh clone runs without setup */
        if (mkdir(data_dir, 0700) && errno != EEXIST) {
            snprintf(err, errlen, "cannot create data directory %s", data_dir);
            return PD_ERR_IO;
        }
        snprintf(path, sizeof path, "%s/printdeck.db", data_dir);
    } else if (!strncmp(url, "sqlite:", 7)) {
        snprintf(path, sizeof path, "%s", url + 7);
    } else {
        snprintf(err, errlen, "unsupported database url '%s' (use sqlite:PATH)", url);
        return PD_ERR_UNSUPPORTED;
    }
    db->ops = &pd_store_sqlite;
    return db->ops->open(path, &db->s, err, errlen);
}

void pd_db_close(pd_db *db)
{
    if (db->ops && db->s)
        db->ops->close(db->s);
    db->s = NULL;
}
