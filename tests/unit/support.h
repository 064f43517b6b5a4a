/*  support — helpers the unit suites share. */
#ifndef AURA_TEST_SUPPORT_H
#define AURA_TEST_SUPPORT_H

#include <stddef.h>

/*  Makes a new, empty directory /tmp/aura-<name>-XXXXXX and writes its path
    into dir (dir_size of at least 64). Fails the running test when it
    cannot. */
void test_dir_make (char *dir, size_t dir_size, const char *name);

/*  Number of entries of dir whose names end with suffix. Fails the running
    test when dir cannot be read. */
int test_dir_count (const char *dir, const char *suffix);

/*  Removes dir and everything below it; does nothing for a missing dir. */
void test_dir_remove (const char *dir);

#endif
