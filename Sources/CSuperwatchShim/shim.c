#define _GNU_SOURCE
#include "sw_shim.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#pragma clang assume_nonnull begin

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif

/// Closes every descriptor from `lowfd` up: close_range(2) (Linux 5.9), else one by one. ignored: closing a
/// number that is not open fails with EBADF, which is the point of trying them all.
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
        // ignored: EINVAL, for the numbers glibc reserves for its own threads (32, 33); nothing else can fail.
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

/// Tells the parent which step failed with which errno (5 bytes on the close-on-exec error pipe) and exits.
__attribute__((noreturn)) static void sw_child_fail(int errpipe, int err, sw_spawn_step step) {
    uint8_t msg[5];
    memcpy(msg, &err, 4);
    msg[4] = (uint8_t)step;
    // ignored: the parent reads this pipe until exec or exit; if the write fails it sees end of file and the
    // exit status 127 below, and the child can do nothing better between fork and exec.
    ssize_t ignored = write(errpipe, msg, sizeof msg);
    (void)ignored;
    _exit(127);
}

static const char *_Nonnull const sw_step_names[] = {
    [SW_STEP_NONE] = "spawn", [SW_STEP_FORK] = "fork", [SW_STEP_SETSID] = "setsid", [SW_STEP_DUP2] = "dup2",
    [SW_STEP_CHDIR] = "chdir", [SW_STEP_EXECVE] = "execve", [SW_STEP_PIPE] = "pipe",
    [SW_STEP_CGROUP] = "cgroup", [SW_STEP_SETRLIMIT] = "setrlimit", [SW_STEP_PIDFD] = "pidfd_open",
    [SW_STEP_PASS_FDS] = "pass descriptors", [SW_STEP_TTY] = "TIOCSCTTY",
};

const char *sw_spawn_step_name(sw_spawn_step step) {
    if ((unsigned)step >= sizeof sw_step_names / sizeof sw_step_names[0]) return "spawn";
    return sw_step_names[step];
}

/// clone_args up to CLONE_ARGS_SIZE_VER0 (Linux 5.3), declared here: <linux/sched.h> clashes with glibc's.
struct sw_clone_args {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

/// Creates a child like fork(2): clone3(CLONE_PIDFD) where the kernel allows it, so that *pidfd refers to
/// this child from the first instant; else fork, leaving *pidfd -1 for the caller to pidfd_open once it is
/// safe to (the child is ours and unreaped, so its pid cannot be reused in between). Returns 0 in the child,
/// the pid in the parent, or -errno. The caller blocks every signal around this: the child runs no handler of
/// superwatch's.
static pid_t sw_create_child(sw_spawn_mode mode, int *pidfd, int *used_clone3) {
    *used_clone3 = 0;
    *pidfd = -1;
    if (mode == SW_SPAWN_AUTO) {
        struct sw_clone_args args;
        memset(&args, 0, sizeof args);
        args.flags = CLONE_PIDFD;
        args.pidfd = (uint64_t)(uintptr_t)pidfd;
        args.exit_signal = SIGCHLD;
        // A raw clone3 without CLONE_VM copies the calling thread's address space, as fork does; the child
        // then only makes system calls (no glibc state that a fork would have fixed up is used).
        long pid = syscall(SYS_clone3, &args, sizeof args);
        if (pid >= 0) {
            if (pid > 0) *used_clone3 = 1;
            return (pid_t)pid;
        }
        if (errno != ENOSYS && errno != EPERM) return -errno;
    }
    pid_t pid = fork();
    return pid < 0 ? -errno : pid;
}

int sw_clone3_available(void) {
    // An empty clone_args is refused with EINVAL by a kernel that has clone3; ENOSYS or EPERM say that the
    // kernel lacks it or a seccomp filter refuses it, as sw_create_child sees them.
    long result = syscall(SYS_clone3, NULL, 0);
    if (result >= 0) return 1;  // not reached: a size of 0 is always invalid
    return (errno == ENOSYS || errno == EPERM) ? 0 : 1;
}

/// Waits for child `pid` to end, reaping it. ignored: ECHILD would mean it was reaped already.
static void sw_wait_child(pid_t pid) {
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
}

/// The child's side of sw_spawn: only async-signal-safe calls from here to execve. Never returns.
__attribute__((noreturn)) static void sw_spawn_child(const sw_spawn_spec *spec, int errpipe) {
    if (setsid() < 0) sw_child_fail(errpipe, errno, SW_STEP_SETSID);
    pid_t self = getpid();
    // Into the run's own cgroup before anything can fork: from here on nothing this process starts can
    // leave it. ("0" moves the writer.)
    if (spec->cgroup_procs_fd >= 0 && write(spec->cgroup_procs_fd, "0", 1) != 1)
        sw_child_fail(errpipe, errno, SW_STEP_CGROUP);
    // Register with the keeper while SIGPIPE is still ignored as in superwatch: a dead keeper must not
    // kill the child. A failed registration is not the child's failure (the keeper is replaced and
    // re-registers every live group), but with every signal blocked, even an ignored SIGPIPE stays pending;
    // setting SIG_IGN discards it. ignored: signal() cannot fail for SIGPIPE.
    if (spec->keeper_fd >= 0 && sw_keeper_send(spec->keeper_fd, SW_KEEPER_REGISTER, self, spec->stop_signal,
                                               spec->stop_timeout_ms, spec->cgroup_name) != 0) {
        signal(SIGPIPE, SIG_IGN);
    }
    sw_reset_signals();
    // Move every descriptor we are going to install (and the error pipe) above the target range 0..2+N
    // first, so that dup2 onto it can never clobber a source. The lowest free fd at or above 3+N always
    // exists under any RLIMIT_NOFILE that allowed the parent to hold these descriptors.
    int count = spec->pass_fd_count;
    int high = 3 + count;
    int errfd = fcntl(errpipe, F_DUPFD_CLOEXEC, high);
    if (errfd < 0) sw_child_fail(errpipe, errno, SW_STEP_DUP2);
    int src_in = fcntl(spec->stdin_fd, F_DUPFD_CLOEXEC, high);
    int src_out = fcntl(spec->stdout_fd, F_DUPFD_CLOEXEC, high);
    int src_err = fcntl(spec->stderr_fd, F_DUPFD_CLOEXEC, high);
    if (src_in < 0 || src_out < 0 || src_err < 0) sw_child_fail(errfd, errno, SW_STEP_DUP2);
    int moved[SW_PASS_FDS_MAX];
    for (int i = 0; i < count; i++) {
        moved[i] = fcntl(spec->pass_fds[i], F_DUPFD_CLOEXEC, high);
        if (moved[i] < 0) sw_child_fail(errfd, errno, SW_STEP_DUP2);
    }
    if (dup2(src_in, 0) < 0 || dup2(src_out, 1) < 0 || dup2(src_err, 2) < 0)
        sw_child_fail(errfd, errno, SW_STEP_DUP2);
    for (int i = 0; i < count; i++) {
        if (dup2(moved[i], 3 + i) < 0) sw_child_fail(errfd, errno, SW_STEP_DUP2);
    }
    // The pseudo-terminal on 0, 1 and 2 becomes this new session's controlling terminal: job control, ^C from
    // an attached terminal and SIGHUP when it goes all work as in a terminal emulator.
    if (spec->controlling_tty && ioctl(0, TIOCSCTTY, 0) != 0) sw_child_fail(errfd, errno, SW_STEP_TTY);
    // Close everything else except the error pipe, which closes itself on exec. ignored: close of a
    // descriptor in this range can only fail with EBADF (none there), and nothing is written through them.
    for (int fd = high; fd < errfd; fd++) close(fd);
    sw_closefrom(errfd + 1);
    if (spec->cwd && chdir(spec->cwd) != 0) sw_child_fail(errfd, errno, SW_STEP_CHDIR);
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
        if (getrlimit(RLIMIT_NOFILE, &limit) != 0) sw_child_fail(errfd, errno, SW_STEP_SETRLIMIT);
        limit.rlim_cur = (rlim_t)spec->nofile_soft;
        if (setrlimit(RLIMIT_NOFILE, &limit) != 0) sw_child_fail(errfd, errno, SW_STEP_SETRLIMIT);
    }
    sigset_t none;
    sigemptyset(&none);
    // ignored: SIG_SETMASK with a valid set cannot fail.
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(spec->path, spec->argv, spec->envp);
    sw_child_fail(errfd, errno, SW_STEP_EXECVE);
}

pid_t sw_spawn(const sw_spawn_spec *spec, sw_spawn_result *result) {
    result->pid = -1;
    result->pidfd = -1;
    result->used_clone3 = 0;
    result->step = SW_STEP_NONE;
    if (spec->pass_fd_count < 0 || spec->pass_fd_count > SW_PASS_FDS_MAX) {
        result->step = SW_STEP_PASS_FDS;
        return -E2BIG;
    }
    int errpipe[2];
    if (pipe2(errpipe, O_CLOEXEC) != 0) { result->step = SW_STEP_PIPE; return -errno; }

    // No signal handler of ours may run in the child between fork and exec: block everything around the
    // fork; the child restores default dispositions before it unblocks. ignored: pthread_sigmask cannot fail
    // with SIG_SETMASK and valid sets.
    sigset_t all, saved;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved);
    int pidfd = -1;
    pid_t pid = sw_create_child(spec->mode, &pidfd, &result->used_clone3);
    if (pid == 0) sw_spawn_child(spec, errpipe[1]);
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    // ignored (here and for every close below of a descriptor this function made): close can only fail with
    // EBADF, impossible for them, or EINTR/EIO, which still release a pipe end that nothing was written to.
    close(errpipe[1]);
    if (pid < 0) {
        close(errpipe[0]);  // ignored: as above
        result->step = SW_STEP_FORK;
        return pid;
    }
    uint8_t msg[5];
    ssize_t n;
    do { n = read(errpipe[0], msg, sizeof msg); } while (n < 0 && errno == EINTR);
    close(errpipe[0]);  // ignored: as above
    if (n == (ssize_t)sizeof msg) {
        int child_err;
        memcpy(&child_err, msg, 4);
        sw_wait_child(pid);
        if (pidfd >= 0) close(pidfd);
        // It registered its group before failing: take it back, or the keeper would one day signal a
        // reused process group id. ignored: a keeper that cannot be written to is dead, and its successor
        // only gets the groups superwatch knows, which this one is not.
        if (spec->keeper_fd >= 0) (void)sw_keeper_send(spec->keeper_fd, SW_KEEPER_UNREGISTER, pid, 0, 0, NULL);
        result->step = msg[4] <= SW_STEP_TTY ? (sw_spawn_step)msg[4] : SW_STEP_EXECVE;
        return -child_err;
    }
    if (pidfd < 0) {
        // The fork fallback: the program runs now; without a pidfd superwatch could not watch it, so it ends.
        pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
        if (pidfd < 0) {
            int err = errno;
            kill(-pid, SIGKILL);
            sw_wait_child(pid);
            if (spec->keeper_fd >= 0) (void)sw_keeper_send(spec->keeper_fd, SW_KEEPER_UNREGISTER, pid, 0, 0, NULL);
            result->step = SW_STEP_PIDFD;
            return -err;
        }
    }
    result->pid = pid;
    result->pidfd = pidfd;
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

/// kill(pid, sig) unless its process group is `skip_pgid`. ignored: ESRCH, a member that exited meanwhile.
static void sw_signal_member(pid_t pid, int sig, pid_t skip_pgid) {
    if (skip_pgid <= 0 || getpgid(pid) != skip_pgid) kill(pid, sig);
}

int sw_cgroup_signal(const char *dir, int sig, pid_t skip_pgid) {
    char path[SW_PATH_MAX];
    if (sw_join(path, dir, "cgroup.procs") != 0) return -ENAMETOOLONG;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    int err = 0;
    // Pids are read in chunks, a number cut by a chunk boundary carried over in `pid`.
    char buf[4096];
    long pid = 0;
    int digits = 0;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) err = -errno;
        if (n <= 0) break;
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] >= '0' && buf[i] <= '9') { pid = pid * 10 + (buf[i] - '0'); digits++; continue; }
            if (digits > 0) sw_signal_member((pid_t)pid, sig, skip_pgid);
            pid = 0;
            digits = 0;
        }
    }
    if (digits > 0) sw_signal_member((pid_t)pid, sig, skip_pgid);
    close(fd);  // ignored: read-only, EBADF impossible
    return err;
}

int sw_cgroup_populated(const char *dir) {
    char path[SW_PATH_MAX];
    if (sw_join(path, dir, "cgroup.events") != 0) return -ENAMETOOLONG;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    char buf[256];
    ssize_t n;
    do { n = read(fd, buf, sizeof buf - 1); } while (n < 0 && errno == EINTR);
    int err = n < 0 ? errno : 0;
    close(fd);  // ignored: read-only, EBADF impossible
    if (n < 0) return -err;
    buf[n] = 0;
    const char *line = strstr(buf, "populated ");
    if (!line) return -EINVAL;  // not a cgroup v2 cgroup.events
    return line[10] == '1';
}

/// Calls `visit` with the path of each subdirectory of dir and `depth` (getdents64: opendir would allocate).
/// Returns 0 or -errno of reading dir; what `visit` returns is its own business (see the callers).
static int sw_each_subdirectory(const char *dir, int (*visit)(const char *path, int depth), int depth) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -errno;
    int err = 0;
    char buf[4096] __attribute__((aligned(8)));
    char path[SW_PATH_MAX];
    for (;;) {
        long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) err = -errno;
        if (n <= 0) break;
        for (long offset = 0; offset < n;) {
            struct sw_dirent64 { uint64_t ino; int64_t off; unsigned short reclen; unsigned char type; char name[]; };
            struct sw_dirent64 *entry = (struct sw_dirent64 *)(buf + offset);
            offset += entry->reclen;
            if (entry->type != DT_DIR || strcmp(entry->name, ".") == 0 || strcmp(entry->name, "..") == 0) continue;
            // ignored: a failure in one child cgroup (gone meanwhile) must not stop the walk over the others.
            if (sw_join(path, dir, entry->name) == 0) (void)visit(path, depth);
        }
    }
    close(fd);  // ignored: read-only, EBADF impossible
    return err;
}

/// SIGKILLs every member of cgroup `dir` and of its child cgroups, at most 16 levels deep (each level's path
/// lives on the stack: no malloc in the keeper). Returns the result for `dir` itself.
static int sw_kill_members(const char *dir, int depth) {
    int err = sw_cgroup_signal(dir, SIGKILL, 0);
    // ignored: the walk reports nothing a caller could act on that the top level's result does not.
    if (depth < 16) (void)sw_each_subdirectory(dir, sw_kill_members, depth + 1);
    return err;
}

int sw_cgroup_kill(const char *dir) {
    char path[SW_PATH_MAX];
    if (sw_join(path, dir, "cgroup.kill") != 0) return -ENAMETOOLONG;
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n;
        do { n = write(fd, "1", 1); } while (n < 0 && errno == EINTR);
        int err = n == 1 ? 0 : -errno;
        close(fd);  // ignored: the write's result is the one that counts for a cgroup file
        return err;
    }
    if (errno != ENOENT) return -errno;
    // Before Linux 5.14 there is no cgroup.kill: SIGKILL every member of the tree, a few rounds to catch what
    // was forking meanwhile.
    for (int round = 0; round < 5; round++) {
        int err = sw_kill_members(dir, 0);
        if (err != 0) return err;
    }
    return 0;
}

/// Child cgroups first (a process of the stack may have made its own, a nested superwatch does), at most
/// 16 levels deep; each level's path lives on the stack (no malloc in the keeper). Returns -errno of rmdir.
static int sw_remove_directory(const char *path, int depth) {
    // ignored: an unreadable level shows as the rmdir below failing with ENOTEMPTY or EBUSY.
    if (depth < 16) (void)sw_each_subdirectory(path, sw_remove_directory, depth + 1);
    return rmdir(path) == 0 ? 0 : -errno;
}

int sw_cgroup_remove(const char *dir) { return sw_remove_directory(dir, -1); }

int sw_cgroup_probe(int procs_fd) {
    // ignored: pthread_sigmask cannot fail with SIG_SETMASK and valid sets (here and below).
    sigset_t all, saved;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved);
    pid_t pid = fork();
    if (pid == 0) {
        ssize_t n = write(procs_fd, "0", 1);
        _exit(n == 1 ? 0 : (errno > 0 && errno < 256 ? errno : EIO));
    }
    int err = pid < 0 ? errno : 0;
    pthread_sigmask(SIG_SETMASK, &saved, NULL);  // ignored: as above
    if (pid < 0) return -err;
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return -errno;
    }
    // A child killed by a signal reports no errno: EIO stands for "the probe did not finish".
    return WIFEXITED(status) ? -WEXITSTATUS(status) : -EIO;
}

// MARK: - keeper

/// One message to the keeper. 64 bytes, well under PIPE_BUF, so a write is atomic even from many children
/// registering at once.
typedef struct {
    int32_t op;           // an sw_keeper_op
    int32_t pgid;
    int32_t sig;
    int32_t timeout_ms;
    char cgroup[SW_CGROUP_NAME_MAX]; // the run's cgroup, a directory in the keeper's parent cgroup; "" for none
} sw_keeper_record;

int sw_keeper_send(int keeper_fd, sw_keeper_op op, pid_t pgid, int stop_signal, int stop_timeout_ms,
                   const char *_Nullable cgroup_name) {
    sw_keeper_record r;
    memset(&r, 0, sizeof r);
    r.op = (int32_t)op;
    r.pgid = (int32_t)pgid;
    r.sig = stop_signal;
    r.timeout_ms = stop_timeout_ms;
    if (cgroup_name) {
        size_t n = strlen(cgroup_name);
        if (n >= sizeof r.cgroup) return -ENAMETOOLONG;
        memcpy(r.cgroup, cgroup_name, n);
    }
    ssize_t n;
    do { n = write(keeper_fd, &r, sizeof r); } while (n < 0 && errno == EINTR);
    // Under PIPE_BUF, a pipe write is all or nothing: anything but the whole record is an error.
    return n == (ssize_t)sizeof r ? 0 : (n < 0 ? -errno : -EIO);
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
    if (grown == MAP_FAILED) return -errno;
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
    const char *tail = err == -ENOMEM ? " (out of memory): it will not be stopped if superwatch is killed\n"
                                     : " (mremap failed): it will not be stopped if superwatch is killed\n";
    size_t t = strlen(tail);
    memcpy(line + n, tail, t);
    // ignored: stderr is the only place to say it; if that fails there is no other.
    ssize_t ignored = write(2, line, n + t);
    (void)ignored;
}

/// superwatch is gone: stop what it left, politely first, as superwatch itself would. Every call here is best
/// effort: superwatch, the only one who could hear of a failure, is dead, and a failure on one group must not
/// keep the others running; each kill below may find its group gone already (ESRCH).
__attribute__((noreturn)) static void sw_keeper_finish(const sw_keeper_table *table,
                                                     const char *_Nullable cgroup_parent) {
    long deadline = 0;
    char path[SW_PATH_MAX];
    for (size_t i = 0; i < table->count; i++) {
        const sw_keeper_record *r = &table->items[i];
        // ignored: see above (best effort, nobody to tell).
        (void)kill(-r->pgid, r->sig);
        // What left the group but not the run's cgroup gets the stop signal too.
        if (cgroup_parent && r->cgroup[0] && sw_join(path, cgroup_parent, r->cgroup) == 0)
            (void)sw_cgroup_signal(path, r->sig, r->pgid);
        if (r->timeout_ms > deadline) deadline = r->timeout_ms;
    }
    long start = sw_now_ms();
    for (;;) {
        // A group in a cgroup is gone when its cgroup is empty. kill(-pgid, 0) would also count zombies,
        // which init reaps when it gets to it: superwatch, their parent, is dead.
        int alive = cgroup_parent ? sw_cgroup_populated(cgroup_parent) > 0 : 0;
        for (size_t i = 0; i < table->count && !alive; i++) {
            if (!(cgroup_parent && table->items[i].cgroup[0])) alive = kill(-table->items[i].pgid, 0) == 0;
        }
        if (!alive || sw_now_ms() - start >= deadline) break;
        sw_sleep_ms(20);
    }
    // ignored: best effort, as above: what cannot be killed or removed here, nobody else can any more either.
    for (size_t i = 0; i < table->count; i++) (void)kill(-table->items[i].pgid, SIGKILL);
    if (cgroup_parent) {
        (void)sw_cgroup_kill(cgroup_parent);
        // cgroup.kill is asynchronous: the cgroups can only be removed once their last member is gone.
        for (long waited = 0; waited < 5000; waited += 20) {
            if (sw_cgroup_populated(cgroup_parent) <= 0) break;
            sw_sleep_ms(20);
        }
        (void)sw_cgroup_remove(cgroup_parent);  // ignored: as above
    }
    _exit(0);
}

__attribute__((noreturn)) static void sw_keeper_main(int read_fd, const char *_Nullable cgroup_parent) {
    sw_keeper_table table = { NULL, 0, 0 };
    sw_keeper_record r;
    for (;;) {
        ssize_t n = read(read_fd, &r, sizeof r);
        if (n < 0 && errno == EINTR) continue;
        if (n != (ssize_t)sizeof r) break; // EOF (or a torn record, which only a dying writer leaves)
        r.cgroup[sizeof r.cgroup - 1] = 0;
        size_t i;
        for (i = 0; i < table.count; i++) if (table.items[i].pgid == r.pgid) break;
        if (r.op == SW_KEEPER_REGISTER) {
            if (i == table.count) {
                int err = sw_keeper_reserve(&table);
                if (err != 0) { sw_keeper_report_unregistered(r.pgid, err); continue; }
                table.count++;
            }
            table.items[i] = r;
        } else if (r.op == SW_KEEPER_UNREGISTER && i < table.count) {
            table.items[i] = table.items[--table.count];
        }
    }
    sw_keeper_finish(&table, cgroup_parent);
}

pid_t sw_keeper_start(int *write_fd, int *pidfd, const char *_Nullable cgroup_parent, sw_spawn_mode mode) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return -errno;
    // ignored: pthread_sigmask cannot fail with SIG_SETMASK and valid sets.
    sigset_t all, saved;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved);
    int used_clone3 = 0;
    pid_t pid = sw_create_child(mode, pidfd, &used_clone3);
    if (pid == 0) {
        // The keeper, until it exits. Ctrl-C reaches the whole foreground group, the keeper included: it must
        // survive that, and only act when its pipe closes. ignored: signal, sigprocmask and prctl cannot fail
        // with these arguments.
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
        // have to say. ignored: without /dev/null they stay superwatch's, which the keeper never uses.
        int devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0) { (void)dup2(devnull, 0); (void)dup2(devnull, 1); }
        // Its pipe becomes fd 3; it holds nothing else of superwatch's: no pipes, no sockets, not the write
        // end of its own pipe. Without fd 3 it could never learn of superwatch's death: exit, and superwatch
        // sees its keeper die and says so.
        int rfd = fcntl(fds[0], F_DUPFD, 3);
        if (rfd < 0 || (rfd != 3 && dup2(rfd, 3) != 3)) _exit(127);
        sw_closefrom(4);
        sw_keeper_main(3, cgroup_parent);
    }
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    close(fds[0]);  // ignored: our copy of the read end; EBADF impossible
    if (pid < 0) {
        close(fds[1]);  // ignored: as above
        return pid;
    }
    if (*pidfd < 0) {
        *pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
        if (*pidfd < 0) {
            int err = errno;
            // Closing the pipe makes the keeper exit at once (it holds nothing yet).
            close(fds[1]);  // ignored: as above
            sw_wait_child(pid);
            return -err;
        }
    }
    *write_fd = fds[1];
    return pid;
}

// MARK: - small wrappers

int sw_pidfd_open(pid_t pid) {
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    return fd >= 0 ? fd : -errno;
}

int sw_pidfd_reap(int pidfd, int *code, int *signal_out) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    int rc;
    do { rc = waitid((idtype_t)P_PIDFD, (id_t)pidfd, &info, WEXITED | WNOHANG); } while (rc < 0 && errno == EINTR);
    if (rc < 0) return -errno;
    if (info.si_pid == 0) return 0;
    if (info.si_code == CLD_EXITED) { *code = info.si_status; *signal_out = 0; }
    else { *code = -1; *signal_out = info.si_status; }
    return 1;
}

int sw_open_pty(int *master, int *slave, unsigned short rows, unsigned short cols) {
    *master = -1;
    *slave = -1;
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0) return -errno;
    char name[128];
    int err = 0;
    if (grantpt(m) != 0 || unlockpt(m) != 0) err = errno;
    else if ((err = ptsname_r(m, name, sizeof name)) == 0) {
        int s = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (s < 0) err = errno;
        else {
            struct winsize size = { .ws_row = rows, .ws_col = cols };
            // ignored: a pty always takes a window size; a failure would only leave it 0 x 0.
            (void)ioctl(s, TIOCSWINSZ, &size);
            *master = m;
            *slave = s;
            return 0;
        }
    }
    close(m);  // ignored: nothing was written through it
    return -(err ? err : EIO);
}

int sw_set_window_size(int fd, unsigned short rows, unsigned short cols) {
    struct winsize size = { .ws_row = rows, .ws_col = cols };
    return ioctl(fd, TIOCSWINSZ, &size) == 0 ? 0 : -errno;
}

int sw_get_window_size(int fd, unsigned short *rows, unsigned short *cols) {
    struct winsize size;
    memset(&size, 0, sizeof size);
    if (ioctl(fd, TIOCGWINSZ, &size) != 0) return -errno;
    *rows = size.ws_row;
    *cols = size.ws_col;
    return 0;
}

int sw_pipe_cloexec(int fds[_Nonnull 2]) { return pipe2(fds, O_CLOEXEC) == 0 ? 0 : -errno; }

int sw_bytes_available(int fd) {
    int n = 0;
    return ioctl(fd, FIONREAD, &n) == 0 ? n : -errno;
}

int sw_set_pipe_size(int fd, int size) {
    int rc = fcntl(fd, F_SETPIPE_SZ, size);
    return rc >= 0 ? rc : -errno;
}

int sw_contains_bytes(const void *_Nullable haystack, size_t haystack_length, const void *_Nullable needle,
                      size_t needle_length) {
    if (haystack == NULL || needle == NULL) return needle_length == 0;
    return memmem(haystack, haystack_length, needle, needle_length) != NULL;
}

int sw_become_subreaper(void) { return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0 ? 0 : -errno; }

int sw_reap_pid(pid_t pid) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    int rc;
    do { rc = waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG); } while (rc < 0 && errno == EINTR);
    if (rc < 0) return -errno;
    return info.si_pid == 0 ? 0 : 1;
}

pid_t sw_next_zombie(void) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    int rc;
    do { rc = waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT); } while (rc < 0 && errno == EINTR);
    if (rc < 0) return -errno;
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
        // ignored: before main there is no one to tell; a descriptor that stays closed is what would have
        // happened without this function.
        int opened = open("/dev/null", O_RDWR);
        if (opened >= 0 && opened != fd) {
            (void)dup2(opened, fd);
            (void)close(opened);
        }
    }
    errno = saved;
}

#pragma clang assume_nonnull end
