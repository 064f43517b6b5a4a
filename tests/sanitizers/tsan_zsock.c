/*  zsock_send and zsock_recv as the TSan build links them (ld --wrap, see
    CMakeLists.txt). Aura passes pointers between its threads in such
    messages (a runner's events, to the worker's thread): libzmq orders the
    send before the receive, but with atomics in code TSan does not
    instrument, so every read of what a message pointed to would be
    reported as a race. Each send releases, and each receive acquires, one
    sync object: that ordering, told to TSan. */
#include <czmq.h>
#include <sanitizer/tsan_interface.h>

int __wrap_zsock_send (void *self, const char *picture, ...);
int __wrap_zsock_recv (void *self, const char *picture, ...);

static char s_zsock_order;

int
__wrap_zsock_send (void *self, const char *picture, ...)
{
    va_list args;
    va_start (args, picture);
    __tsan_release (&s_zsock_order);
    int rc = zsock_vsend (self, picture, args);
    va_end (args);
    return rc;
}

int
__wrap_zsock_recv (void *self, const char *picture, ...)
{
    va_list args;
    va_start (args, picture);
    int rc = zsock_vrecv (self, picture, args);
    va_end (args);
    __tsan_acquire (&s_zsock_order);
    return rc;
}
