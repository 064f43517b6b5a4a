/*  support — helpers the unit suites share. */
#define _XOPEN_SOURCE 700 /* nftw */
#include "support.h"

#include <check.h>
#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
test_dir_make (char *dir, size_t dir_size, const char *name)
{
    int n = snprintf (dir, dir_size, "/tmp/aura-%s-XXXXXX", name);
    ck_assert_msg (n > 0 && (size_t) n < dir_size, "directory name too long");
    ck_assert_msg (mkdtemp (dir) != NULL, "cannot make %s", dir);
}

int
test_dir_count (const char *dir, const char *suffix)
{
    DIR *d = opendir (dir);
    ck_assert_msg (d != NULL, "cannot read %s", dir);
    size_t suffix_len = strlen (suffix);
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir (d))) {
        size_t len = strlen (entry->d_name);
        if (len >= suffix_len
            && strcmp (entry->d_name + len - suffix_len, suffix) == 0)
            count++;
    }
    closedir (d);
    return count;
}

static int
s_remove_entry (const char *path, const struct stat *st, int flag,
                struct FTW *ftw)
{
    (void) st;
    (void) flag;
    (void) ftw;
    return remove (path) == 0 ? 0 : -1;
}

void
test_dir_remove (const char *dir)
{
    nftw (dir, s_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}
