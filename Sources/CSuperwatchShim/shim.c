#define _GNU_SOURCE
#include "sw_shim.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <dirent.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
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

static const char *sw_step_names[] = {"fork", "setsid", "dup2", "chdir", "execve", "pipe", "cgroup", "setrlimit"};
#define SW_STEP_COUNT 8

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
        // Into the run's own cgroup before anything can fork: from here on nothing this process starts can
        // leave it. ("0" moves the writer.)
        if (spec->cgroup_procs_fd >= 0 && write(spec->cgroup_procs_fd, "0", 1) != 1)
            sw_child_fail(errpipe[1], errno, 6);
        // Register with the keeper while SIGPIPE is still ignored as in superwatch: a dead keeper must not
        // kill the child.
        if (spec->keeper_fd >= 0 && sw_keeper_send(spec->keeper_fd, 1, self, spec->stop_signal, spec->stop_timeout_ms,
                                                   spec->cgroup_name) != 0) {
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
        // superwatch raised its own soft descriptor limit; the program gets the one superwatch was given.
        if (spec->nofile_soft >= 0) {
            struct rlimit limit;
            if (getrlimit(RLIMIT_NOFILE, &limit) != 0) sw_child_fail(errfd, errno, 7);
            limit.rlim_cur = (rlim_t)spec->nofile_soft;
            if (setrlimit(RLIMIT_NOFILE, &limit) != 0) sw_child_fail(errfd, errno, 7);
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
        if (spec->keeper_fd >= 0) sw_keeper_send(spec->keeper_fd, 2, pid, 0, 0, NULL);
        *err = child_err;
        *step = sw_step_names[msg[4] < SW_STEP_COUNT ? msg[4] : 4];
        return -1;
    }
    return pid;
}

// MARK: - cgroups (v2)

/// "dir/name" into path (SW_PATH_MAX bytes). Returns 0 or ENAMETOOLONG.
static int sw_join(char *path, const char *dir, const char *name) {
    size_t d = strlen(dir), n = strlen(name);
    if (d + 1 + n + 1 > SW_PATH_MAX) return ENAMETOOLONG;
    memcpy(path, dir, d);
    path[d] = '/';
    memcpy(path + d + 1, name, n + 1);
    return 0;
}

int sw_cgroup_signal(const char *dir, int sig, pid_t skip_pgid) {
    char path[SW_PATH_MAX];
    if (sw_join(path, dir, "cgroup.procs") != 0) return ENAMETOOLONG;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno;
    // Pids are read in chunks, a number cut by a chunk boundary carried over in `pid`.
    char buf[4096];
    long pid = 0;
    int digits = 0;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] >= '0' && buf[i] <= '9') { pid = pid * 10 + (buf[i] - '0'); digits++; continue; }
            if (digits > 0 && (skip_pgid <= 0 || getpgid((pid_t)pid) != skip_pgid)) kill((pid_t)pid, sig);
            pid = 0;
            digits = 0;
        }
    }
    if (digits > 0 && (skip_pgid <= 0 || getpgid((pid_t)pid) != skip_pgid)) kill((pid_t)pid, sig);
    close(fd);
    return 0;
}

int sw_cgroup_populated(const char *dir, int *populated) {
    char path[SW_PATH_MAX];
    if (sw_join(path, dir, "cgroup.events") != 0) return ENAMETOOLONG;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno;
    char buf[256];
    ssize_t n;
    do { n = read(fd, buf, sizeof buf - 1); } while (n < 0 && errno == EINTR);
    int err = n < 0 ? errno : 0;
    close(fd);
    if (n < 0) return err;
    buf[n] = 0;
    const char *line = strstr(buf, "populated ");
    if (!line) return EINVAL;
    *populated = line[10] == '1';
    return 0;
}

/// Calls `visit` with the path of each subdirectory of dir and `depth` (getdents64: opendir would allocate).
static int sw_each_subdirectory(const char *dir, void (*visit)(const char *path, int depth), int depth) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return errno;
    char buf[4096] __attribute__((aligned(8)));
    char path[SW_PATH_MAX];
    for (;;) {
        long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        for (long offset = 0; offset < n;) {
            struct sw_dirent64 { uint64_t ino; int64_t off; unsigned short reclen; unsigned char type; char name[]; };
            struct sw_dirent64 *entry = (struct sw_dirent64 *)(buf + offset);
            offset += entry->reclen;
            if (entry->type != DT_DIR || strcmp(entry->name, ".") == 0 || strcmp(entry->name, "..") == 0) continue;
            if (sw_join(path, dir, entry->name) == 0) visit(path, depth);
        }
    }
    close(fd);
    return 0;
}

static void sw_kill_members(const char *dir, int depth) {
    sw_cgroup_signal(dir, SIGKILL, 0);
    if (depth < 16) sw_each_subdirectory(dir, sw_kill_members, depth + 1);
}

int sw_cgroup_kill(const char *dir) {
    char path[SW_PATH_MAX];
    if (sw_join(path, dir, "cgroup.kill") != 0) return ENAMETOOLONG;
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n;
        do { n = write(fd, "1", 1); } while (n < 0 && errno == EINTR);
        int err = n == 1 ? 0 : errno;
        close(fd);
        return err;
    }
    if (errno != ENOENT) return errno;
    // Before Linux 5.14 there is no cgroup.kill: SIGKILL every member of the cgroup and its children, a few
    // rounds to catch what was forking meanwhile.
    for (int round = 0; round < 5; round++) {
        int err = sw_cgroup_signal(dir, SIGKILL, 0);
        if (err != 0) return err;
        sw_each_subdirectory(dir, sw_kill_members, 0);
    }
    return 0;
}

/// Child cgroups first (a process of the stack may have made its own, a nested superwatch does), at most
/// 16 levels deep; each level's path lives on the stack (no malloc in the keeper).
static void sw_remove_directory(const char *path, int depth) {
    if (depth < 16) sw_each_subdirectory(path, sw_remove_directory, depth + 1);
    rmdir(path);
}

int sw_cgroup_remove(const char *dir) {
    sw_each_subdirectory(dir, sw_remove_directory, 0);
    return rmdir(dir) == 0 ? 0 : errno;
}

int sw_cgroup_probe(int procs_fd) {
    sigset_t all, saved;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved);
    pid_t pid = fork();
    if (pid == 0) {
        ssize_t n = write(procs_fd, "0", 1);
        _exit(n == 1 ? 0 : (errno > 0 && errno < 256 ? errno : EIO));
    }
    int err = pid < 0 ? errno : 0;
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    if (pid < 0) return err;
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return errno;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : EIO;
}

// MARK: - keeper

/// One message to the keeper. 64 bytes, well under PIPE_BUF, so a write is atomic even from many children
/// registering at once.
typedef struct {
    int32_t op;           // 1 register, 2 unregister
    int32_t pgid;
    int32_t sig;
    int32_t timeout_ms;
    char cgroup[SW_CGROUP_NAME_MAX]; // the run's cgroup, a directory in the keeper's parent cgroup; "" for none
} sw_keeper_record;

int sw_keeper_send(int keeper_fd, int op, pid_t pgid, int stop_signal, int stop_timeout_ms,
                   const char *cgroup_name) {
    sw_keeper_record r;
    memset(&r, 0, sizeof r);
    r.op = op;
    r.pgid = (int32_t)pgid;
    r.sig = stop_signal;
    r.timeout_ms = stop_timeout_ms;
    if (cgroup_name) {
        size_t n = strlen(cgroup_name);
        if (n >= sizeof r.cgroup) n = sizeof r.cgroup - 1;
        memcpy(r.cgroup, cgroup_name, n);
    }
    ssize_t n;
    do { n = write(keeper_fd, &r, sizeof r); } while (n < 0 && errno == EINTR);
    return n == (ssize_t)sizeof r ? 0 : errno;
}

static void sw_sleep_ms(long ms) {
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

static long sw_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/// The keeper's registered groups. The keeper is a forked child of a multithreaded process that never
/// execs: malloc may deadlock there (another thread may have held its lock at the fork), so the table lives
/// in pages of its own, grown with mremap. No fixed limit: as many groups as memory allows.
typedef struct {
    sw_keeper_record *items;
    size_t count;
    size_t capacity;
} sw_keeper_table;

static int sw_keeper_reserve(sw_keeper_table *table) {
    if (table->count < table->capacity) return 0;
    size_t capacity = table->capacity ? table->capacity * 2 : 1024;
    void *grown = table->items
        ? mremap(table->items, table->capacity * sizeof(sw_keeper_record), capacity * sizeof(sw_keeper_record),
                 MREMAP_MAYMOVE)
        : mmap(NULL, capacity * sizeof(sw_keeper_record), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
               -1, 0);
    if (grown == MAP_FAILED) return errno;
    table->items = grown;
    table->capacity = capacity;
    return 0;
}

/// Says on superwatch's stderr (the keeper's fd 2) that a group could not be registered: the one way the
/// keeper can fail at its job while superwatch lives, and it must not do so silently.
static void sw_keeper_report_unregistered(pid_t pgid, int err) {
    char line[160];
    const char *head = "superwatch: the keeper cannot hold process group ";
    size_t n = strlen(head);
    memcpy(line, head, n);
    n += (size_t)sw_utoa(line + n, (long)pgid);
    const char *tail = err == ENOMEM ? " (out of memory): it will not be stopped if superwatch is killed\n"
                                     : " (mremap failed): it will not be stopped if superwatch is killed\n";
    size_t t = strlen(tail);
    memcpy(line + n, tail, t);
    ssize_t ignored = write(2, line, n + t);
    (void)ignored;
}

/// superwatch is gone: stop what it left, politely first, as superwatch itself would.
static void sw_keeper_finish(const sw_keeper_table *table, const char *cgroup_parent) {
    long deadline = 0;
    char path[SW_PATH_MAX];
    for (size_t i = 0; i < table->count; i++) {
        const sw_keeper_record *r = &table->items[i];
        kill(-r->pgid, r->sig);
        // What left the group but not the run's cgroup gets the stop signal too.
        if (cgroup_parent && r->cgroup[0] && sw_join(path, cgroup_parent, r->cgroup) == 0)
            sw_cgroup_signal(path, r->sig, r->pgid);
        if (r->timeout_ms > deadline) deadline = r->timeout_ms;
    }
    long start = sw_now_ms();
    for (;;) {
        // A group in a cgroup is gone when its cgroup is empty. kill(-pgid, 0) would also count zombies,
        // which init reaps when it gets to it: superwatch, their parent, is dead.
        int alive = 0;
        if (cgroup_parent && sw_cgroup_populated(cgroup_parent, &alive) != 0) alive = 0;
        for (size_t i = 0; i < table->count && !alive; i++) {
            if (!(cgroup_parent && table->items[i].cgroup[0])) alive = kill(-table->items[i].pgid, 0) == 0;
        }
        if (!alive || sw_now_ms() - start >= deadline) break;
        sw_sleep_ms(20);
    }
    for (size_t i = 0; i < table->count; i++) kill(-table->items[i].pgid, SIGKILL);
    if (cgroup_parent) {
        sw_cgroup_kill(cgroup_parent);
        // cgroup.kill is asynchronous: the cgroups can only be removed once their last member is gone.
        for (long waited = 0; waited < 5000; waited += 20) {
            int populated = 0;
            if (sw_cgroup_populated(cgroup_parent, &populated) != 0 || !populated) break;
            sw_sleep_ms(20);
        }
        sw_cgroup_remove(cgroup_parent);
    }
    _exit(0);
}

static void sw_keeper_main(int read_fd, const char *cgroup_parent) {
    sw_keeper_table table = { NULL, 0, 0 };
    sw_keeper_record r;
    for (;;) {
        ssize_t n = read(read_fd, &r, sizeof r);
        if (n < 0 && errno == EINTR) continue;
        if (n != (ssize_t)sizeof r) break; // EOF (or a torn record, which only a dying writer leaves)
        r.cgroup[sizeof r.cgroup - 1] = 0;
        size_t i;
        for (i = 0; i < table.count; i++) if (table.items[i].pgid == r.pgid) break;
        if (r.op == 1) {
            if (i == table.count) {
                int err = sw_keeper_reserve(&table);
                if (err != 0) { sw_keeper_report_unregistered(r.pgid, err); continue; }
                table.count++;
            }
            table.items[i] = r;
        } else if (r.op == 2 && i < table.count) {
            table.items[i] = table.items[--table.count];
        }
    }
    sw_keeper_finish(&table, cgroup_parent);
}

pid_t sw_keeper_start(int *write_fd, const char *cgroup_parent) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return -1;
    sigset_t all, saved;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved);
    pid_t pid = fork();
    if (pid < 0) {
        int err = errno;
        pthread_sigmask(SIG_SETMASK, &saved, NULL);
        close(fds[0]); close(fds[1]);
        errno = err;
        return -1;
    }
    if (pid == 0) {
        // Ctrl-C reaches the whole foreground group, the keeper included: it must survive that, and
        // only act when its pipe closes.
        sw_reset_signals();
        signal(SIGINT, SIG_IGN);
        signal(SIGTERM, SIG_IGN);
        signal(SIGHUP, SIG_IGN);
        signal(SIGQUIT, SIG_IGN);
        signal(SIGPIPE, SIG_IGN);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        prctl(PR_SET_NAME, "superwatch-keep", 0, 0, 0);
        // stdin and stdout from /dev/null; stderr stays superwatch's, for the one thing the keeper may
        // have to say.
        int devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0) { dup2(devnull, 0); dup2(devnull, 1); }
        int rfd = fcntl(fds[0], F_DUPFD, 3);
        // Hold nothing of superwatch's: no pipes, no sockets, not the write end of our own pipe.
        if (rfd != 3) { dup2(rfd, 3); }
        sw_closefrom(4);
        sw_keeper_main(3, cgroup_parent);
    }
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
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

int sw_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC) == 0 ? 0 : -errno; }

int sw_bytes_available(int fd) {
    int n = 0;
    return ioctl(fd, FIONREAD, &n) == 0 ? n : -1;
}

int sw_set_pipe_size(int fd, int size) {
    int rc = fcntl(fd, F_SETPIPE_SZ, size);
    return rc >= 0 ? rc : -errno;
}

int sw_contains_bytes(const void *haystack, size_t haystack_length, const void *needle, size_t needle_length) {
    if (haystack == NULL) return 0;
    return memmem(haystack, haystack_length, needle, needle_length) != NULL;
}

int sw_become_subreaper(void) { return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0 ? 0 : errno; }

int sw_reap_pid(pid_t pid) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    int rc;
    do { rc = waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG); } while (rc < 0 && errno == EINTR);
    if (rc < 0) return -1;
    return info.si_pid == 0 ? 0 : 1;
}

pid_t sw_next_zombie(void) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    int rc;
    do { rc = waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT); } while (rc < 0 && errno == EINTR);
    if (rc < 0) return -1;
    return info.si_pid;
}

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
