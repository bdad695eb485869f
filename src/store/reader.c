/* pd_db_read: reads in libuv's thread pool, each on a read-only connection of its own. The
 * connections are opened in the pool on first use (a PostgreSQL connect is a round trip the
 * loop must not wait for) and kept for the next read; jobs past PD_DB_READERS wait here, in
 * order, rather than in libuv's queue, so a burst of reads never takes every pool thread. */
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/log.h"
#include "store/backend.h"

typedef struct read_job {
    uv_work_t req;
    pd_db_reads *owner;
    int slot;               /* which connection; set when it starts */
    pd_db_read_fn work;
    pd_db_read_done done;
    void *ud;
    pd_err rc;
    char err[256];          /* why the connection could not be opened */
} read_job;

struct pd_db_reads {
    pd_db *db;
    uv_loop_t *loop;
    pd_db *conn[PD_DB_READERS];  /* NULL until a job opens it */
    bool busy[PD_DB_READERS];
    read_job *queue[PD_DB_READ_QUEUE];  /* a ring: head, n */
    size_t head, n;
};

static void read_work(uv_work_t *req)
{
    /* A read competes with the loop for the cores: on a busy machine the loop must win, so
     * the pool thread that runs it yields to every other thread of the process (Linux's nice
     * is per thread). For good, deliberately: without CAP_SYS_NICE a thread cannot take its
     * priority back, and every job of the shared pool (file analyses, libuv's file work) is
     * background work next to the loop, so a pool thread at nice 10 runs it as it should. */
    static _Thread_local bool lowered;
    if (!lowered) {
        lowered = true;
        setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10);
    }
    read_job *j = req->data;
    pd_db_reads *rs = j->owner;
    pd_db **conn = &rs->conn[j->slot];
    if (!*conn) {
        pd_db *rd = calloc(1, sizeof *rd);
        if (!rd) {
            j->rc = PD_ERR_NOMEM;
            return;
        }
        rd->ops = rs->db->ops;
        if ((j->rc = rd->ops->open(rs->db->target, true, &rd->s, j->err, sizeof j->err))) {
            free(rd);
            return;
        }
        *conn = rd;
    }
    j->rc = j->work(*conn, j->ud);
}

static void start(pd_db_reads *rs, read_job *j);

static void read_after(uv_work_t *req, int status)
{
    (void)status;  /* never cancelled */
    read_job *j = req->data;
    pd_db_reads *rs = j->owner;
    rs->busy[j->slot] = false;
    /* the oldest waiting read takes the connection first: done may ask for another read,
     * which then waits behind it or takes a connection still idle */
    if (rs->n) {
        read_job *next = rs->queue[rs->head];
        rs->head = (rs->head + 1) % PD_DB_READ_QUEUE;
        rs->n--;
        start(rs, next);
    }
    if (j->err[0])
        pd_error("store", "%s reader: %s", rs->db->ops->name, j->err);
    j->done(j->rc, j->ud);
    free(j);
}

static void start(pd_db_reads *rs, read_job *j)
{
    for (j->slot = 0; rs->busy[j->slot]; j->slot++)
        ;
    rs->busy[j->slot] = true;
    j->req.data = j;
    uv_queue_work(rs->loop, &j->req, read_work, read_after);
}

pd_err pd_db_read(pd_db *db, uv_loop_t *loop, pd_db_read_fn work, pd_db_read_done done, void *ud)
{
    if (!db->target) {
        done(work(db, ud), ud);
        return PD_OK;
    }
    if (!db->reads) {
        if (!(db->reads = calloc(1, sizeof *db->reads)))
            return PD_ERR_NOMEM;
        db->reads->db = db;
        db->reads->loop = loop;
    }
    pd_db_reads *rs = db->reads;
    bool idle = false;
    for (int i = 0; i < PD_DB_READERS; i++)
        idle |= !rs->busy[i];
    if (rs->n == PD_DB_READ_QUEUE)
        return PD_ERR_BUSY;
    read_job *j = calloc(1, sizeof *j);
    if (!j)
        return PD_ERR_NOMEM;
    *j = (read_job){.owner = rs, .work = work, .done = done, .ud = ud};
    if (idle && !rs->n)
        start(rs, j);
    else
        rs->queue[(rs->head + rs->n++) % PD_DB_READ_QUEUE] = j;
    return PD_OK;
}

void pd_db_reads_free(pd_db *db)
{
    pd_db_reads *rs = db->reads;
    if (!rs)
        return;
    for (int i = 0; i < PD_DB_READERS; i++) {
        if (rs->busy[i]) {
            /* a pool thread may still be using it: leaking it at exit is the safe choice */
            pd_warn("store", "a reader was still working when the database closed");
            return;
        }
    }
    for (int i = 0; i < PD_DB_READERS; i++)
        pd_db_close(&rs->conn[i]);
    free(rs);
    db->reads = NULL;
}
