// The floor for any supervisor that reads its children through pipes: starts the 4 producers of
// throughput.sh with their stdout on 1 MiB pipes and reads everything in rounds (1 MiB reads, a 2 ms pause
// after a round that read little), discarding it: no line cutting, no prefixes, no output. Built and timed
// by throughput.sh when gcc is present. Usage: pipe-floor LINES (run where producer.py is).
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv) {
    int n = 4; int fds[4]; static char buf[1 << 20];
    for (int i = 0; i < n; i++) {
        int p[2]; pipe2(p, O_CLOEXEC); fcntl(p[0], F_SETPIPE_SZ, 1 << 20);
        if (fork() == 0) { dup2(p[1], 1); char name[8]; sprintf(name, "p%d", i);
            execlp("python3", "python3", "producer.py", name, argv[1], NULL); _exit(127); }
        close(p[1]); fds[i] = p[0];
    }
    int open_count = n; long total = 0;
    while (open_count > 0) {
        struct pollfd pf[4]; int k = 0; int map[4];
        for (int i = 0; i < n; i++) if (fds[i] >= 0) { pf[k].fd = fds[i]; pf[k].events = POLLIN; map[k++] = i; }
        poll(pf, k, -1);
        long round = 0;
        for (int j = 0; j < k; j++) if (pf[j].revents) {
            ssize_t r = read(pf[j].fd, buf, sizeof buf);
            if (r <= 0) { close(fds[map[j]]); fds[map[j]] = -1; open_count--; } else round += r;
        }
        total += round;
        if (round > 0 && round < (256 << 10)) { struct timespec ts = {0, 2000000}; nanosleep(&ts, 0); }
    }
    while (wait(0) > 0) {}
    fprintf(stderr, "%ld bytes\n", total);
}
