/*  nchan_server — nginx with the Nchan module on a free loopback port: the
    reference Server-Sent Events server that bench_sse measures the gateway
    against. Events are POSTed to /pub?id=CHANNEL and streamed from
    /sub?id=CHANNEL as text/event-stream. */
#ifndef NCHAN_SERVER_H
#define NCHAN_SERVER_H

#include <stddef.h>

typedef struct _nchan_server_t nchan_server_t;

/*  Whether nginx and the Nchan module are installed. Returns 0 with
    nginx's version ("nginx/1.22.1") in version, or -ENOENT with the reason
    in version. */
int nchan_server_probe (char *version, size_t version_size);

/*  Starts nginx with `workers` worker processes, each able to hold
    `connections` connections, writing its configuration, pid file, logs
    and temporary files under dir (which must exist). Returns once it
    answers HTTP; the process group dies with the caller. On error, NULL
    is returned, the reason printed to stderr, and nothing is left running. */
nchan_server_t *nchan_server_new (const char *dir, int workers,
                                  long connections);

/*  Stops nginx and every process it started. Does nothing on NULL. */
void nchan_server_destroy (nchan_server_t **self_p);

int nchan_server_port (const nchan_server_t *self);

/*  CPU seconds (user + system) used so far by the worker processes. */
double nchan_server_cpu_s (const nchan_server_t *self);

/*  Resident memory of the worker processes, summed, in KiB; -1 when it
    cannot be read. */
long nchan_server_rss_kib (const nchan_server_t *self);

#endif
