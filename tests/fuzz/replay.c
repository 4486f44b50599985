/*
 * Replays saved fuzzer inputs without libFuzzer, so that the corpora run in every build, gcc
 * included, as the `fuzz` test suite: LLVMFuzzerTestOneInput is called once for every regular
 * file of the directories named on the command line, in name order. Each input sits in a
 * buffer of exactly its size, so a sanitizer build catches a read past its end, as libFuzzer
 * would. A crash or an abort() in a target fails the test; so does the target's verdict
 * (fuzz_replay_verdict) when the saved inputs no longer reach the code they were saved for.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Each target's: prints what the replayed inputs reached; nonzero when that is too little. */
int fuzz_replay_verdict(void);

/* The whole file in a buffer of exactly its size (one byte for an empty file, unread). */
static uint8_t *slurp(const char *path, size_t *size)
{
        struct stat st;
        uint8_t *buf;
        FILE *f = fopen(path, "rb");

        if (f == NULL || fstat(fileno(f), &st) != 0) {
                fprintf(stderr, "cannot read %s: %s\n", path, strerror(errno));
                exit(1);
        }
        buf = malloc(st.st_size > 0 ? (size_t)st.st_size : 1);
        if (buf == NULL || fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
                fprintf(stderr, "cannot read %s\n", path);
                exit(1);
        }
        fclose(f);
        *size = (size_t)st.st_size;
        return buf;
}

static unsigned replay_dir(const char *dir)
{
        struct dirent **names;
        unsigned replayed = 0;
        int n = scandir(dir, &names, NULL, alphasort);

        if (n < 0) {
                fprintf(stderr, "cannot list %s: %s\n", dir, strerror(errno));
                exit(1);
        }
        for (int i = 0; i < n; i++) {
                char path[4096];
                struct stat st;
                uint8_t *data;
                size_t size;

                snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
                if (names[i]->d_name[0] != '.' && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
                        /* Named first: a crash's report then says which file did it. */
                        printf("%s\n", path);
                        fflush(stdout);
                        data = slurp(path, &size);
                        LLVMFuzzerTestOneInput(data, size);
                        free(data);
                        replayed++;
                }
                free(names[i]);
        }
        free(names);
        return replayed;
}

int main(int argc, char **argv)
{
        unsigned total = 0;

        if (argc < 2) {
                fprintf(stderr, "usage: %s CORPUS_DIR...\n", argv[0]);
                return 2;
        }
        for (int i = 1; i < argc; i++)
                total += replay_dir(argv[i]);
        printf("replayed %u inputs\n", total);
        return fuzz_replay_verdict() != 0 || total == 0;
}
