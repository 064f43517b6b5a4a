/*  server — the gateway's HTTP side on libmicrohttpd: a pool of epoll
    threads (one per core by default), suspend/resume instead of a thread
    per connection. A request that needs
    the broker is suspended until the bus answers or times out; an SSE
    stream is suspended whenever it has nothing to send. */
#ifndef AURA_GATEWAY_SERVER_H
#define AURA_GATEWAY_SERVER_H

#include "bus.h"
#include "config.h"
#include "hub.h"

typedef struct server_t server_t;

/*  Starts listening on cfg->http_host:cfg->http_port (port 0: any free
    port) and serving the gateway's routes with bus and hub, which must
    outlive the server. Returns NULL, after logging why, when the daemon
    cannot start. */
server_t *server_new (const aura_config_t *cfg, bus_t *bus, hub_t *hub);

/*  The port actually bound. */
int server_port (server_t *self);

/*  Stops accepting connections; requests already accepted carry on. */
void server_quiesce (server_t *self);

/*  Waits up to timeout_ms until no connection is suspended (every stream
    and broker request has been woken). Returns 0, or -ETIMEDOUT. */
int server_wait_unsuspended (server_t *self, int timeout_ms);

/*  Waits up to timeout_ms until every event stream has ended (each has
    sent what it held and its farewell comment). Returns 0, or
    -ETIMEDOUT. */
int server_wait_streams_closed (server_t *self, int timeout_ms);

/*  Stops the daemon, closing every connection, and frees the server. When
    connections are still suspended (stopping the daemon then is an API
    violation in libmicrohttpd) the daemon and the server are left running
    for the process's exit instead. Sets *self_p to NULL; does nothing when
    it is NULL. */
void server_destroy (server_t **self_p);

#endif
