/*  Unit tests of which web UI file a request path names: directories get
    their index.html, and nothing hidden, encoded or outside the web
    directory can be named, whatever the path says. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "web.h"

/*  The file path names, or NULL when it names none. */
static const char *
s_resolve (const char *path)
{
    static char out[WEB_PATH_SIZE];
    return web_resolve (path, strlen (path), out, sizeof out) == 0 ? out : NULL;
}

START_TEST (test_files_and_directories)
{
    ck_assert_str_eq (s_resolve ("/"), "index.html");
    ck_assert_str_eq (s_resolve ("/index.html"), "index.html");
    ck_assert_str_eq (s_resolve ("/app.js"), "app.js");
    ck_assert_str_eq (s_resolve ("/assets/"), "assets/index.html");
    ck_assert_str_eq (s_resolve ("/assets/app-1.2_x.css"), "assets/app-1.2_x.css");
    ck_assert_str_eq (s_resolve ("/a/b/c/d/e/f/g/h/i.png"), "a/b/c/d/e/f/g/h/i.png");
}
END_TEST

START_TEST (test_nothing_outside_hidden_or_encoded)
{
    static const char *const refused[] = {
        "",          "index.html",   "/..",           "/../etc/passwd", "/a/../b",
        "/./a",      "/.git/config", "/.env",         "/a/.hidden",     "//etc/passwd",
        "/a//b",     "/%2e%2e/x",    "/a%2fb",        "/a b",           "/a\\b",
        "/a:b",      "/a\x01",       "/caf\xc3\xa9",  "/a?b",           "/a/b/c/d/e/f/g/h/i/j.png",
        "/a/b/c/d/e/f/g/h/i/",
    };
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++)
        ck_assert_msg (s_resolve (refused[i]) == NULL, "%s named a file", refused[i]);

    char long_segment[128] = "/";
    memset (long_segment + 1, 'a', 101);
    ck_assert_ptr_null (s_resolve (long_segment));
    long_segment[100] = '\0';
    ck_assert_ptr_nonnull (s_resolve (long_segment));

    /* too small an output names nothing rather than a cut path */
    char small[8];
    ck_assert_int_eq (web_resolve ("/abcdefgh.js", 12, small, sizeof small), -ENOENT);
    ck_assert_int_eq (web_resolve ("/", 1, small, sizeof small), -ENOENT);
}
END_TEST

START_TEST (test_content_types)
{
    ck_assert_str_eq (web_content_type ("index.html"), "text/html; charset=utf-8");
    ck_assert_str_eq (web_content_type ("assets/app.js"), "text/javascript; charset=utf-8");
    ck_assert_str_eq (web_content_type ("a.css"), "text/css; charset=utf-8");
    ck_assert_str_eq (web_content_type ("logo.svg"), "image/svg+xml");
    ck_assert_str_eq (web_content_type ("x.json"), "application/json");
    ck_assert_str_eq (web_content_type ("README"), "application/octet-stream");
    ck_assert_str_eq (web_content_type ("a.b/c"), "application/octet-stream");
    ck_assert_str_eq (web_content_type ("x.exe"), "application/octet-stream");
}
END_TEST

static Suite *
s_suite (void)
{
    Suite *suite = suite_create ("gateway_web");
    TCase *paths = tcase_create ("paths");
    tcase_add_test (paths, test_files_and_directories);
    tcase_add_test (paths, test_nothing_outside_hidden_or_encoded);
    tcase_add_test (paths, test_content_types);
    suite_add_tcase (suite, paths);
    return suite;
}

int
main (void)
{
    SRunner *runner = srunner_create (s_suite ());
    srunner_run_all (runner, CK_NORMAL);
    int failed = srunner_ntests_failed (runner);
    srunner_free (runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
