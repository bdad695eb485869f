/* The printer link under a wall clock that jumps by hours (an NTP step, a fixed RTC): the
 * fleet runs on a real loop against a real mosquitto broker over TLS (scripts/broker.sh),
 * a libmosquitto client in this thread plays the printer, and an injected clock source
 * moves the wall clock while the monotonic one stands still, and then the monotonic one
 * alone. Command deadlines, silence and reconnects must follow only the monotonic one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <mosquitto.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "printer/printer.h"

#define SERIAL "01P00A451200321"
#define ACCESS_CODE "12345678"
#define SIM_USER "sim"
#define SIM_PASSWORD "printdeck-sim"
#define HOURS(n) ((int64_t)(n) * 3600 * 1000)
#define TICKS_MS 700         /* a little over three fleet ticks (200 ms each) */
#define WAIT_MS 10000

static const pd_fleet_opts opts = {
    .silence_s = 5, .keepalive_s = 30, .reconnect_min_ms = 1000, .reconnect_max_ms = 4000,
    .command_timeout_ms = 2000, .pushall_retry_s = 60, .max_payload = 1 << 20, .max_printers = 8,
};

/* --- the injected clock: 2030-01-01T00:00:00Z on the wall at the start ------------------- */
static int64_t mono = HOURS(1000), wall_offset = 1893456000000 - HOURS(1000);

static int64_t fake_clock(pd_clock_id id) { return id == PD_CLOCK_MONO ? mono : mono + wall_offset; }

/* --- the world: broker, loop, fleet, the printer's side ------------------------------------ */
static char dir[] = "/tmp/pd-clock-XXXXXX";
static int tls_port, sim_port;
static uv_loop_t loop;
static pd_bus *bus;
static pd_fleet *fleet;
static struct mosquitto *printer_side;

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd >= 0 && !bind(fd, (struct sockaddr *)&a, sizeof a) &&
        !getsockname(fd, (struct sockaddr *)&a, &len))
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static int broker(const char *args)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s/scripts/broker.sh --dir %s %s >>%s/broker.out 2>&1", PD_SOURCE_DIR,
             dir, args, dir);
    return system(cmd);
}

/* Runs the loop and the printer's client for ms of real time, or until done() holds. */
static bool pump(bool (*done)(void), int ms)
{
    for (int waited = 0; waited < ms; waited += 5) {
        uv_run(&loop, UV_RUN_NOWAIT);
        mosquitto_loop(printer_side, 5, 1);
        if (done && done())
            return true;
    }
    return false;
}

/* Reports until done() holds: the link's subscription may still be on its way to the broker. */
static bool report_until(const char *json, bool (*done)(void))
{
    for (int waited = 0; waited < WAIT_MS; waited += 250) {
        assert_int_equal(mosquitto_publish(printer_side, NULL, "device/" SERIAL "/report",
                                           (int)strlen(json), json, 1, false), MOSQ_ERR_SUCCESS);
        if (pump(done, 250))
            return true;
    }
    return false;
}

static int setup(void **state)
{
    (void)state;
    pd_clock_set_source(fake_clock);
    mosquitto_lib_init();
    if (!mkdtemp(dir))
        return -1;
    /* a free port may be taken by a test running beside this one before mosquitto binds it:
     * new ports, a few times */
    int tries = 0;
    for (;; tries++) {
        if ((tls_port = free_port()) < 0)
            return -1;
        do
            sim_port = free_port();
        while (sim_port == tls_port);
        if (sim_port < 0)
            return -1;
        char args[256];
        snprintf(args, sizeof args, "--serials %s --base-port %d --sim-port %d --access-code %s --daemon",
                 SERIAL, tls_port, sim_port, ACCESS_CODE);
        if (!broker(args))
            break;
        broker("--stop");
        if (tries == 2) {
            fprintf(stderr, "broker did not start, see %s/broker.out\n", dir);
            return -1;
        }
    }
    printer_side = mosquitto_new("clock-test-printer", true, NULL);
    if (!printer_side || mosquitto_username_pw_set(printer_side, SIM_USER, SIM_PASSWORD) ||
        mosquitto_connect(printer_side, "127.0.0.1", sim_port, 30) || uv_loop_init(&loop) ||
        !(bus = pd_bus_new()) || pd_fleet_new(&loop, bus, &opts, &fleet)) {
        broker("--stop"); /* no teardown follows a failed setup: leave no broker behind */
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (!bus)
        return 0; /* the setup failed and cleaned up after itself; cmocka calls this all the same */
    pd_fleet_free(&fleet);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    pd_bus_free(&bus);
    mosquitto_destroy(printer_side);
    mosquitto_lib_cleanup();
    broker("--stop");
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    pd_clock_set_source(NULL);
    return system(cmd);
}

/* --- the clock module ------------------------------------------------------------------------ */
static void test_system_clocks(void **state)
{
    (void)state;
    pd_clock_set_source(NULL);
    int64_t m1 = pd_clock_mono_ms(), w = pd_clock_wall_ms(), m2 = pd_clock_mono_ms();
    pd_clock_set_source(fake_clock);
    assert_true(m2 >= m1);
    assert_true(llabs(w - (int64_t)time(NULL) * 1000) < 2000);
    assert_int_equal(pd_clock_wall_ms() - pd_clock_mono_ms(), wall_offset);
}

/* --- a connected printer: a pending command, silence ---------------------------------------- */
static pd_printer *online_printer;
static int cmd_calls;
static pd_err cmd_rc;

static void on_cmd(pd_err rc, const char *detail, const json_t *ack, void *ud)
{
    (void)detail, (void)ack, (void)ud;
    cmd_calls++;
    cmd_rc = rc;
}

static bool is_connected(void) { return pd_printer_link_state(online_printer) == PD_LINK_CONNECTED; }
static bool is_online(void) { return pd_printer_online(online_printer); }
static bool is_stale(void) { return pd_printer_link_state(online_printer) == PD_LINK_STALE; }
static bool cmd_done(void) { return cmd_calls > 0; }

static void assert_undisturbed(void)
{
    assert_int_equal(cmd_calls, 0);
    assert_int_equal(pd_printer_link_state(online_printer), PD_LINK_CONNECTED);
    assert_true(pd_printer_online(online_printer));
}

static void test_connected_printer_ignores_wall_jumps(void **state)
{
    (void)state;
    pd_printer_rec rec = {.id = 1, .name = "clock", .serial = SERIAL, .host = "127.0.0.1",
                          .port = tls_port, .access_code = ACCESS_CODE, .tls_verify = true};
    snprintf(rec.ca_file, sizeof rec.ca_file, "%s/ca.crt", dir);
    assert_int_equal(pd_fleet_add(fleet, &rec, &online_printer), PD_OK);
    assert_true(pump(is_connected, WAIT_MS));
    assert_true(report_until("{\"print\":{\"command\":\"push_status\",\"msg\":0,\"bed_temper\":21}}",
                             is_online));

    /* what people see is dated by the wall clock */
    size_t len;
    const char *js = pd_printer_json_str(online_printer, &len);
    assert_non_null(strstr(js, "\"since\":\"2030-01-01T00:00:00.000Z\""));

    json_t *req = json_pack("{s:s}", "command", "pause");
    char err[256];
    assert_int_equal(pd_printer_command(online_printer, req, on_cmd, NULL, NULL, err, sizeof err), PD_OK);
    json_decref(req);

    /* the printer never acknowledges and stops reporting, while the wall clock jumps: an
     * hour-long step is past every deadline and silence limit if either read it */
    wall_offset += HOURS(5);
    pump(NULL, TICKS_MS);
    assert_undisturbed();
    wall_offset -= HOURS(10);
    pump(NULL, TICKS_MS);
    assert_undisturbed();

    /* the same decisions do follow the monotonic clock */
    mono += opts.command_timeout_ms;
    assert_true(pump(cmd_done, WAIT_MS));
    assert_int_equal(cmd_rc, PD_ERR_TIMEOUT);
    assert_int_equal(pd_printer_link_state(online_printer), PD_LINK_CONNECTED);
    mono += (int64_t)opts.silence_s * 1000;
    assert_true(pump(is_stale, WAIT_MS));
    assert_true(report_until("{\"print\":{\"command\":\"push_status\",\"msg\":1,\"bed_temper\":22}}",
                             is_connected));
    pd_fleet_remove(fleet, online_printer);
}

/* --- a printer nobody answers for: backoff ------------------------------------------------- */
static pd_printer *lost_printer;

static uint64_t reconnects(void)
{
    pd_printer_counters c;
    pd_printer_counters_get(lost_printer, &c);
    return c.reconnects;
}

static bool in_backoff(void) { return pd_printer_link_state(lost_printer) == PD_LINK_BACKOFF; }
static bool reconnected(void) { return reconnects() > 0; }

static void test_backoff_ignores_wall_jumps(void **state)
{
    (void)state;
    /* nothing listens there: the connect is refused and the link backs off */
    pd_printer_rec rec = {.id = 2, .name = "lost", .serial = "01P00A451200999", .host = "127.0.0.1",
                          .port = free_port(), .access_code = ACCESS_CODE, .tls_verify = false};
    assert_int_equal(pd_fleet_add(fleet, &rec, &lost_printer), PD_OK);
    assert_true(pump(in_backoff, WAIT_MS));

    /* forward: the backoff (at most 1.25 s of monotonic time) is not cut short */
    wall_offset += HOURS(5);
    pump(NULL, TICKS_MS);
    assert_int_equal(reconnects(), 0);
    assert_true(in_backoff());

    /* back, by more than it went forward: the reconnect still comes when it is due */
    wall_offset -= HOURS(10);
    mono += opts.reconnect_min_ms + opts.reconnect_min_ms / 4;
    assert_true(pump(reconnected, WAIT_MS));
    pd_fleet_remove(fleet, lost_printer);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_system_clocks),
        cmocka_unit_test(test_connected_printer_ignores_wall_jumps),
        cmocka_unit_test(test_backoff_ignores_wall_jumps),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
