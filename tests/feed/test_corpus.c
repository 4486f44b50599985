/*
 * Replays the saved snapshots in tests/feed/corpus/ (the directory is argv[1]): a file named
 * good-*.snap must parse, and format back to text that parses to the same counts; bad-*.snap
 * must be refused with a reason. Each file is one cmocka test, named after the file, so a
 * failure says which. New cases (a real EA's output, a fuzzer's find) are added by dropping a
 * file in; corpus/README lists what each one holds.
 */
#undef NDEBUG
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "snapshot.h"

static const char *corpus_dir;

static char *read_file(const char *name, size_t *len)
{
        char path[4096];
        FILE *f;
        char *buf;
        long n;

        snprintf(path, sizeof(path), "%s/%s", corpus_dir, name);
        f = fopen(path, "rb");
        if (f == NULL)
                fail_msg("cannot open %s", path);
        assert_int_equal(fseek(f, 0, SEEK_END), 0);
        n = ftell(f);
        assert_true(n >= 0);
        rewind(f);
        /* Exactly n bytes and no terminator: ASan catches a read past the end. */
        buf = malloc(n > 0 ? (size_t)n : 1);
        assert_non_null(buf);
        assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
        fclose(f);
        *len = (size_t)n;
        return buf;
}

static void replay(void **state)
{
        const char *name = *state;
        struct hf_snapshot s, back;
        char why[256], *text;
        size_t len, text_len;
        char *buf = read_file(name, &len);
        int rc = hf_parse(buf, len, &s, why, sizeof(why));

        if (strncmp(name, "good-", 5) == 0) {
                if (rc != 0)
                        fail_msg("%s refused: %s", name, why);
                assert_int_equal(hf_format(&s, &text, &text_len), 0);
                assert_int_equal(hf_parse(text, text_len, &back, why, sizeof(why)), 0);
                assert_int_equal(back.seq, s.seq);
                assert_int_equal(back.n_positions, s.n_positions);
                assert_int_equal(back.n_orders, s.n_orders);
                assert_int_equal(back.n_deals, s.n_deals);
                hf_free(&back);
                hf_free(&s);
                free(text);
        } else {
                if (rc != -EINVAL)
                        fail_msg("%s accepted (rc %d)", name, rc);
                assert_true(strncmp(why, "line ", 5) == 0);
                print_message("%s: %s\n", name, why);
        }
        free(buf);
}

static int by_name(const void *a, const void *b)
{
        return strcmp(((const struct CMUnitTest *)a)->name, ((const struct CMUnitTest *)b)->name);
}

int main(int argc, char **argv)
{
        struct CMUnitTest *tests = NULL;
        size_t n = 0, good = 0, bad = 0;
        struct dirent *e;
        int rc;
        DIR *d;

        if (argc != 2) {
                fprintf(stderr, "usage: %s CORPUS-DIR\n", argv[0]);
                return 2;
        }
        corpus_dir = argv[1];
        d = opendir(corpus_dir);
        if (d == NULL) {
                perror(corpus_dir);
                return 1;
        }
        while ((e = readdir(d)) != NULL) {
                size_t l = strlen(e->d_name);
                char *name;

                if (l < 5 || strcmp(e->d_name + l - 5, ".snap") != 0)
                        continue;
                name = strdup(e->d_name);
                if (name == NULL)
                        return 1;
                if (strncmp(name, "good-", 5) == 0) {
                        good++;
                } else if (strncmp(name, "bad-", 4) == 0) {
                        bad++;
                } else {
                        fprintf(stderr, "%s: a corpus file is named good-* or bad-*\n", name);
                        return 1;
                }
                tests = realloc(tests, (n + 1) * sizeof(*tests));
                if (tests == NULL)
                        return 1;
                tests[n++] =
                    (struct CMUnitTest){.name = name, .test_func = replay, .initial_state = name};
        }
        closedir(d);
        if (good == 0 || bad == 0) {
                fprintf(stderr, "%s: expected good-*.snap and bad-*.snap files\n", corpus_dir);
                return 1;
        }
        qsort(tests, n, sizeof(*tests), by_name);
        rc = _cmocka_run_group_tests("corpus", tests, n, NULL, NULL);
        for (size_t i = 0; i < n; i++)
                free((char *)tests[i].initial_state);
        free(tests);
        return rc;
}
