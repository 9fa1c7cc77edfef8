/* STAND-IN for alpine's su-exec, which Debian does not package: `su-exec uid:gid command [args...]`
   sets the groups, gid and uid, then execs the command. Numeric ids only; built by tests/standin_images.py. */
#define _GNU_SOURCE
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char *argv[]) {
    if (argc < 3) {
        fprintf(stderr, "usage: su-exec uid:gid command [args...]\n");
        return 1;
    }
    char *colon = strchr(argv[1], ':');
    uid_t uid = (uid_t)strtoul(argv[1], NULL, 10);
    gid_t gid = colon ? (gid_t)strtoul(colon + 1, NULL, 10) : (gid_t)uid;
    if (setgroups(1, &gid) || setgid(gid) || setuid(uid)) {
        perror("su-exec");
        return 1;
    }
    execvp(argv[2], argv + 2);
    perror("su-exec: exec");
    return 127;
}
