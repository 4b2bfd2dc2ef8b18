/*
 * truetime.h: the C interface of the truetime client library
 * (libtt_client.so, built from the tt-client crate).
 *
 * TT.now() as an interval of UTC nanoseconds that contains true time,
 * commit-wait, and Snowflake ids, read from the local timeslave: from its
 * shared-memory record (one clock read, no system call) when the record
 * file exists, over gRPC on its Unix socket otherwise.
 *
 *     tt_truetime *tt;
 *     if (tt_open(NULL, NULL, &tt) != TT_OK) {
 *         fprintf(stderr, "truetime: %s\n", tt_last_error());
 *         return 1;
 *     }
 *     tt_interval now;
 *     if (tt_now(tt, &now) == TT_OK) {
 *         // true time lies in [now.earliest_ns, now.latest_ns]
 *         int64_t commit = now.latest_ns;
 *         tt_commit_wait(tt, commit, NULL);  // true time is now past commit
 *     }
 *     tt_close(tt);
 *
 * Rules for every function:
 *   - the return value is a status code below (TT_OK is 0); results are
 *     written through the out-pointers, and only on success;
 *   - a NULL pointer where one is required gives TT_ERR_NULL and nothing
 *     is touched;
 *   - after a failure, tt_last_error() gives a sentence saying what went
 *     wrong and what to check, for the calling thread;
 *   - no Rust panic ever crosses into C (TT_ERR_PANIC instead);
 *   - handles may be used from several threads at once.
 *
 * Link with -ltt_client (and -Wl,-rpath or LD_LIBRARY_PATH pointing at
 * the directory holding libtt_client.so).
 */
#ifndef TRUETIME_H
#define TRUETIME_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes. */
/* Success. */
#define TT_OK 0
/* A pointer argument that must not be NULL was NULL. */
#define TT_ERR_NULL 1
/* An argument is out of range: a socket name that is not UTF-8, a worker
 * id above 1023, an id epoch in the future. */
#define TT_ERR_INVALID 2
/* tt_open: no record file, and the socket did not answer. Is timeslave
 * running? */
#define TT_ERR_NO_SERVICE 3
/* The record is not a usable truetime record: too short, writable by
 * others than its owner, wrong magic or layout, an inverted interval,
 * written in another boot, or stamped in the future. */
#define TT_ERR_BAD_RECORD 4
/* The timeslave is unsynchronized: no interval can be vouched for. */
#define TT_ERR_UNSYNCHRONIZED 5
/* The record is past its void-after instant: the timeslave stopped
 * renewing it. */
#define TT_ERR_VOID 6
/* The timeslave could not be reached over gRPC or answered garbage, the
 * record stayed mid-update, or the record file could not be read. */
#define TT_ERR_UNAVAILABLE 7
/* A commit-wait that cannot end (drift bound of 100 % or more, or an
 * instant beyond the local clock's range). */
#define TT_ERR_CANNOT_WAIT 8
/* Ids: the 41-bit millisecond field has run out for this epoch. */
#define TT_ERR_ID_EXHAUSTED 9
/* Ids ran ahead of the time source by more than allowed (a stalled
 * source, or more than 4096 ids per millisecond for too long). */
#define TT_ERR_ID_RUN_AHEAD 10
/* A panic inside the library was caught (a bug in the library). */
#define TT_ERR_PANIC 99

/* An interval of true time, UTC nanoseconds since the Unix epoch, both
 * ends included. */
typedef struct tt_interval {
    int64_t earliest_ns; /* true time is not before this */
    int64_t latest_ns;   /* true time is not after this */
} tt_interval;

/* A handle on this host's TrueTime. */
typedef struct tt_truetime tt_truetime;

/* A Snowflake id generator. */
typedef struct tt_ids tt_ids;

/* Opens a handle: the record file at shm_path or, if no file is there,
 * gRPC to socket (a socket path, or host:port). NULL means the default of
 * each ("/run/truetime/timeslave.shm", "/run/truetime/timeslave.sock");
 * "" as shm_path means gRPC only, "" as socket means the record only. A
 * record file that exists but is unusable is an error (TT_ERR_BAD_RECORD),
 * not a reason to fall back. Release with tt_close. */
int tt_open(const char *shm_path, const char *socket, tt_truetime **out);

/* Releases a handle; NULL is ignored. Id generators made from it stay
 * usable. */
void tt_close(tt_truetime *tt);

/* TT.now(): an interval that contains true time at some instant during the
 * call. An unsynchronized, void or bad record gives an error, never an
 * interval. */
int tt_now(const tt_truetime *tt, tt_interval *out);

/* TT.after(t): *out = 1 if t_ns has surely passed (t_ns < now.earliest),
 * else 0. */
int tt_after(const tt_truetime *tt, int64_t t_ns, int *out);

/* TT.before(t): *out = 1 if t_ns has surely not arrived
 * (t_ns > now.latest), else 0. */
int tt_before(const tt_truetime *tt, int64_t t_ns, int *out);

/* Commit-wait: blocks until now.earliest > t_ns, sleeping until just before
 * the first instant that can hold and confirming with the clock; never
 * returns earlier. Writes the interval it returned with to *out unless out
 * is NULL. */
int tt_commit_wait(const tt_truetime *tt, int64_t t_ns, tt_interval *out);

/* A Snowflake id generator (41-bit milliseconds since epoch_ms, 10-bit
 * worker, 12-bit sequence) for worker 0..1023, reading time from tt.
 * epoch_ms is milliseconds since the Unix epoch (1577836800000 is
 * 2020-01-01T00:00:00Z) and must not be in the future. ordered != 0 makes
 * every id wait until true time is past its millisecond, so ids from all
 * ordered generators follow real-time order. Release with tt_ids_free. */
int tt_ids_new(const tt_truetime *tt, uint16_t worker, int64_t epoch_ms, int ordered,
               tt_ids **out);

/* The next id: larger than every id this generator made before. */
int tt_ids_next(const tt_ids *ids, uint64_t *out);

/* Waits until true time is past the millisecond of every id this generator
 * made, so that a generator made afterwards for the same worker, in this or
 * another process, repeats none of them. TT_OK, or the time service's
 * failure when no such promise can be made. */
int tt_ids_retire(const tt_ids *ids);

/* Releases a generator, first waiting as tt_ids_retire does (up to the
 * interval's width plus the ids' run-ahead, at most about 1 s; a failure of
 * that wait is not reported: call tt_ids_retire first to see it). NULL is
 * ignored. */
void tt_ids_free(tt_ids *ids);

/* The name of a status code ("TT_OK", "TT_ERR_VOID", ...) or "unknown": a
 * static string, never NULL. */
const char *tt_status_name(int code);

/* The message of the last failed call on this thread, "" if none. Valid
 * until the next call into the library on this thread; never NULL. */
const char *tt_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* TRUETIME_H */
