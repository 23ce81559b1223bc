#define _GNU_SOURCE
#include "sw_shim.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif

static void sw_closefrom(int lowfd) {
    if (syscall(SYS_close_range, (unsigned)lowfd, ~0U, 0) == 0) return;
    long max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 65536) max = 65536;
    for (int fd = lowfd; fd < max; fd++) close(fd);
}

/// Every disposition back to the default (the signal mask is the caller's business).
static void sw_reset_signals(void) {
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        sigaction(sig, &dfl, NULL);
    }
}

/// Writes a decimal number into buf (no allocation: this runs between fork and exec).
static int sw_utoa(char *buf, long value) {
    char tmp[24];
    int n = 0;
    if (value == 0) tmp[n++] = '0';
    while (value > 0 && n < 23) { tmp[n++] = (char)('0' + value % 10); value /= 10; }
    for (int i = 0; i < n; i++) buf[i] = tmp[n - 1 - i];
    buf[n] = 0;
    return n;
}

static void sw_child_fail(int errpipe, int err, uint8_t step) {
    uint8_t msg[5];
    memcpy(msg, &err, 4);
    msg[4] = step;
    ssize_t ignored = write(errpipe, msg, sizeof msg);
    (void)ignored;
    _exit(127);
}

static const char *sw_step_names[] = {"fork", "setsid", "dup2", "chdir", "execve", "pipe"};

pid_t sw_spawn(const sw_spawn_spec *spec, int *err, const char **step) {
    int errpipe[2];
    if (pipe2(errpipe, O_CLOEXEC) != 0) { *err = errno; *step = sw_step_names[5]; return -1; }

    // No signal handler of ours may run in the child between fork and exec: block everything around the
    // fork; the child restores default dispositions before it unblocks.
    sigset_t all, saved;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved);
    pid_t pid = fork();
    if (pid < 0) {
        *err = errno; *step = sw_step_names[0];
        pthread_sigmask(SIG_SETMASK, &saved, NULL);
        close(errpipe[0]); close(errpipe[1]);
        return -1;
    }
    if (pid == 0) {
        // Child: only async-signal-safe calls from here to execve.
        if (setsid() < 0) sw_child_fail(errpipe[1], errno, 1);
        pid_t self = getpid();
        // Register with the keeper while SIGPIPE is still ignored as in superwatch: a dead keeper must not
        // kill the child.
        if (spec->keeper_fd >= 0 && sw_keeper_send(spec->keeper_fd, 1, self, spec->stop_signal, spec->stop_timeout_ms) != 0) {
            // With every signal blocked, even an ignored SIGPIPE stays pending; setting SIG_IGN discards it.
            signal(SIGPIPE, SIG_IGN);
        }
        sw_reset_signals();
        // Move every descriptor we are going to install (and the error pipe) above the target range 0..2+N
        // first, so that dup2 onto it can never clobber a source. The lowest free fd at or above 3+N always
        // exists under any RLIMIT_NOFILE that allowed the parent to hold these descriptors.
        int count = spec->pass_fd_count > 256 ? 256 : spec->pass_fd_count;
        int high = 3 + count;
        int errfd = fcntl(errpipe[1], F_DUPFD_CLOEXEC, high);
        if (errfd < 0) sw_child_fail(errpipe[1], errno, 2);
        int src_in = fcntl(spec->stdin_fd, F_DUPFD_CLOEXEC, high);
        int src_out = fcntl(spec->stdout_fd, F_DUPFD_CLOEXEC, high);
        int src_err = fcntl(spec->stderr_fd, F_DUPFD_CLOEXEC, high);
        if (src_in < 0 || src_out < 0 || src_err < 0) sw_child_fail(errfd, errno, 2);
        int moved[256];
        for (int i = 0; i < count; i++) {
            moved[i] = fcntl(spec->pass_fds[i], F_DUPFD_CLOEXEC, high);
            if (moved[i] < 0) sw_child_fail(errfd, errno, 2);
        }
        if (dup2(src_in, 0) < 0 || dup2(src_out, 1) < 0 || dup2(src_err, 2) < 0)
            sw_child_fail(errfd, errno, 2);
        for (int i = 0; i < count; i++) {
            if (dup2(moved[i], 3 + i) < 0) sw_child_fail(errfd, errno, 2);
        }
        // Close everything else except the error pipe, which closes itself on exec.
        for (int fd = high; fd < errfd; fd++) close(fd);
        sw_closefrom(errfd + 1);
        if (spec->cwd && chdir(spec->cwd) != 0) sw_child_fail(errfd, errno, 3);
        // LISTEN_PID must be the child's own pid: fill in the placeholder the parent left (only there is
        // one when sockets are passed; a user's own LISTEN_PID is left alone otherwise).
        if (count > 0) {
            for (char *const *e = spec->envp; *e; e++) {
                if (strncmp(*e, "LISTEN_PID=", 11) == 0) { sw_utoa(*e + 11, (long)self); break; }
            }
        }
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execve(spec->path, spec->argv, spec->envp);
        sw_child_fail(errfd, errno, 4);
    }

    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    close(errpipe[1]);
    uint8_t msg[5];
    ssize_t n;
    do { n = read(errpipe[0], msg, sizeof msg); } while (n < 0 && errno == EINTR);
    close(errpipe[0]);
    if (n == (ssize_t)sizeof msg) {
        int child_err;
        memcpy(&child_err, msg, 4);
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        // It registered its group before failing: take it back, or the keeper would one day signal a
        // reused process group id.
        if (spec->keeper_fd >= 0) sw_keeper_send(spec->keeper_fd, 2, pid, 0, 0);
        *err = child_err;
        *step = sw_step_names[msg[4] < 6 ? msg[4] : 4];
        return -1;
    }
    return pid;
}

// MARK: - keeper

typedef struct { int32_t op, pgid, sig, timeout_ms; } sw_keeper_record;

int sw_keeper_send(int keeper_fd, int op, pid_t pgid, int stop_signal, int stop_timeout_ms) {
    sw_keeper_record r = { op, (int32_t)pgid, stop_signal, stop_timeout_ms };
    ssize_t n;
    do { n = write(keeper_fd, &r, sizeof r); } while (n < 0 && errno == EINTR);
    return n == (ssize_t)sizeof r ? 0 : errno;
}

#define SW_KEEPER_MAX 4096

static void sw_sleep_ms(long ms) {
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

static long sw_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void sw_keeper_main(int read_fd) {
    static sw_keeper_record groups[SW_KEEPER_MAX];
    int count = 0;
    sw_keeper_record r;
    for (;;) {
        ssize_t n = read(read_fd, &r, sizeof r);
        if (n < 0 && errno == EINTR) continue;
        if (n != (ssize_t)sizeof r) break; // EOF (or a torn record, which only a dying writer leaves)
        if (r.op == 1) {
            int i;
            for (i = 0; i < count; i++) if (groups[i].pgid == r.pgid) break;
            if (i == count && count < SW_KEEPER_MAX) count++;
            if (i < SW_KEEPER_MAX) groups[i] = r;
        } else if (r.op == 2) {
            for (int i = 0; i < count; i++) {
                if (groups[i].pgid == r.pgid) { groups[i] = groups[--count]; break; }
            }
        }
    }
    // superwatch is gone. Stop what it left, politely first.
    long deadline = 0;
    for (int i = 0; i < count; i++) {
        if (kill(-groups[i].pgid, groups[i].sig) == 0 && groups[i].timeout_ms > deadline)
            deadline = groups[i].timeout_ms;
    }
    long start = sw_now_ms();
    for (;;) {
        int alive = 0;
        for (int i = 0; i < count; i++) if (kill(-groups[i].pgid, 0) == 0) alive++;
        if (alive == 0 || sw_now_ms() - start >= deadline) break;
        sw_sleep_ms(20);
    }
    for (int i = 0; i < count; i++) kill(-groups[i].pgid, SIGKILL);
    _exit(0);
}

pid_t sw_keeper_start(int *write_fd) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return -1;
    pid_t pid = fork();
    if (pid < 0) { close(fds[0]); close(fds[1]); return -1; }
    if (pid == 0) {
        // Ctrl-C reaches the whole foreground group, the keeper included: it must survive that, and
        // only act when its pipe closes.
        sw_reset_signals();
        signal(SIGINT, SIG_IGN);
        signal(SIGTERM, SIG_IGN);
        signal(SIGHUP, SIG_IGN);
        signal(SIGQUIT, SIG_IGN);
        signal(SIGPIPE, SIG_IGN);
        prctl(PR_SET_NAME, "superwatch-keep", 0, 0, 0);
        int devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0) { dup2(devnull, 0); dup2(devnull, 1); dup2(devnull, 2); }
        int rfd = fcntl(fds[0], F_DUPFD, 3);
        // Hold nothing of superwatch's: no pipes, no sockets, not the write end of our own pipe.
        if (rfd != 3) { dup2(rfd, 3); }
        sw_closefrom(4);
        sw_keeper_main(3);
    }
    close(fds[0]);
    *write_fd = fds[1];
    return pid;
}

// MARK: - small wrappers

int sw_pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

int sw_pidfd_reap(int pidfd, int *code, int *signal_out) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    int rc;
    do { rc = waitid((idtype_t)P_PIDFD, (id_t)pidfd, &info, WEXITED | WNOHANG); } while (rc < 0 && errno == EINTR);
    if (rc < 0) return -1;
    if (info.si_pid == 0) return 0;
    if (info.si_code == CLD_EXITED) { *code = info.si_status; *signal_out = 0; }
    else { *code = -1; *signal_out = info.si_status; }
    return 1;
}

int sw_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

int sw_bytes_available(int fd) {
    int n = 0;
    return ioctl(fd, FIONREAD, &n) == 0 ? n : -1;
}

int sw_set_pipe_size(int fd, int size) { return fcntl(fd, F_SETPIPE_SZ, size); }

/// Opens /dev/null onto fd 0, 1 or 2 when one is closed (`superwatch up >&-`). Otherwise the first descriptor
/// opened later takes its number: Dispatch's epoll and eventfd, made before an async `main` runs, become
/// "stdout", the log goes into them and is lost, and children would inherit whatever landed on 0. So this runs
/// as a constructor, before any Swift code; it changes nothing when the three are open.
__attribute__((constructor)) static void sw_open_closed_standard_descriptors(void) {
    int saved = errno;
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
        // open(2) returns the lowest free descriptor, which is this one: the lower ones are open by now.
        int opened = open("/dev/null", O_RDWR);
        if (opened >= 0 && opened != fd) {
            dup2(opened, fd);
            close(opened);
        }
    }
    errno = saved;
}
