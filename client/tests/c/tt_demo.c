/*
 * tt_demo: uses the truetime C interface the way a database would, and
 * prints what it got, one fact per line, for the test that runs it.
 *
 *     tt_demo SHM_PATH COMMIT_T_NS WORKER EPOCH_MS
 *
 * Output lines (numbers in decimal):
 *     now EARLIEST LATEST
 *     after_past A          (tt_after of EARLIEST - 1 s: 1 expected)
 *     before_past B         (tt_before of EARLIEST - 1 s: 0 expected)
 *     wait EARLIEST LATEST  (tt_commit_wait for COMMIT_T_NS)
 *     id ID                 (three lines)
 *     missing CODE_NAME     (tt_open on SHM_PATH.missing, record only)
 *     missing_error MESSAGE
 *     null CODE_NAME        (tt_now on a NULL handle)
 *     bad_worker CODE_NAME  (tt_ids_new with worker 1024)
 * Exits 1 with a line on stderr if a call that should work fails.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "truetime.h"

static int fail(const char *what, int code) {
    fprintf(stderr, "tt_demo: %s: %s: %s\n", what, tt_status_name(code), tt_last_error());
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: tt_demo SHM_PATH COMMIT_T_NS WORKER EPOCH_MS\n");
        return 2;
    }
    const char *shm_path = argv[1];
    int64_t commit_t = strtoll(argv[2], NULL, 10);
    uint16_t worker = (uint16_t)strtoul(argv[3], NULL, 10);
    int64_t epoch_ms = strtoll(argv[4], NULL, 10);

    /* The record only: "" as the socket means no gRPC fallback. */
    tt_truetime *tt = NULL;
    int code = tt_open(shm_path, "", &tt);
    if (code != TT_OK) {
        return fail("tt_open", code);
    }

    tt_interval now;
    code = tt_now(tt, &now);
    if (code != TT_OK) {
        return fail("tt_now", code);
    }
    printf("now %" PRId64 " %" PRId64 "\n", now.earliest_ns, now.latest_ns);

    int after = -1;
    int before = -1;
    code = tt_after(tt, now.earliest_ns - 1000000000, &after);
    if (code != TT_OK) {
        return fail("tt_after", code);
    }
    code = tt_before(tt, now.earliest_ns - 1000000000, &before);
    if (code != TT_OK) {
        return fail("tt_before", code);
    }
    printf("after_past %d\nbefore_past %d\n", after, before);

    tt_interval waited;
    code = tt_commit_wait(tt, commit_t, &waited);
    if (code != TT_OK) {
        return fail("tt_commit_wait", code);
    }
    printf("wait %" PRId64 " %" PRId64 "\n", waited.earliest_ns, waited.latest_ns);

    tt_ids *ids = NULL;
    code = tt_ids_new(tt, worker, epoch_ms, 0, &ids);
    if (code != TT_OK) {
        return fail("tt_ids_new", code);
    }
    /* The generator keeps its own reference: closing the handle is fine. */
    tt_close(tt);
    for (int i = 0; i < 3; i++) {
        uint64_t id = 0;
        code = tt_ids_next(ids, &id);
        if (code != TT_OK) {
            return fail("tt_ids_next", code);
        }
        printf("id %" PRIu64 "\n", id);
    }
    /* Before the worker id is used again: true time past the last id. */
    printf("retire %s\n", tt_status_name(tt_ids_retire(ids)));
    tt_ids_free(ids);

    size_t length = strlen(shm_path) + sizeof(".missing");
    char *missing = malloc(length);
    if (missing == NULL) {
        return 1;
    }
    snprintf(missing, length, "%s.missing", shm_path);
    tt_truetime *none = NULL;
    code = tt_open(missing, "", &none);
    printf("missing %s\n", tt_status_name(code));
    printf("missing_error %s\n", tt_last_error());
    free(missing);

    code = tt_now(NULL, &now);
    printf("null %s\n", tt_status_name(code));

    tt_truetime *again = NULL;
    code = tt_open(shm_path, "", &again);
    if (code != TT_OK) {
        return fail("tt_open again", code);
    }
    tt_ids *bad = NULL;
    code = tt_ids_new(again, 1024, epoch_ms, 0, &bad);
    printf("bad_worker %s\n", tt_status_name(code));
    tt_close(again);
    return 0;
}
