#ifndef SW_SHIM_H
#define SW_SHIM_H

#ifndef __linux__
#error "superwatch is Linux-only: it needs pidfds, epoll, inotify, prctl and cgroup v2"
#endif

#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/vfs.h>

/// The one return convention of this shim: every function that can fail returns a value >= 0 on success (0, a
/// pid, a descriptor, a count or a yes/no 1/0, as its comment says) and the negated errno on failure. It never
/// relies on the caller reading `errno` afterwards, which Swift code in between could change. Functions that
/// cannot fail say so.

#pragma clang assume_nonnull begin

/// Longest path the cgroup helpers build.
#define SW_PATH_MAX 4096
/// Room for a run's cgroup name in a keeper record, terminating NUL included.
#define SW_CGROUP_NAME_MAX 48
/// The most descriptors `sw_spawn` passes to a child (as fds 3, 4, ...); more is an error (-E2BIG), never a
/// silent cut. The child moves them through an array of this size on its stack, where it may not allocate.
#define SW_PASS_FDS_MAX 256

/// A record to the keeper.
typedef enum sw_keeper_op {
    /// Stop this process group (and its cgroup's members) when superwatch dies.
    SW_KEEPER_REGISTER = 1,
    /// The group has ended: forget it.
    SW_KEEPER_UNREGISTER = 2,
} sw_keeper_op;

/// The step of a start that failed, for the message.
typedef enum sw_spawn_step {
    SW_STEP_NONE = 0,
    SW_STEP_FORK,       ///< clone3/fork
    SW_STEP_SETSID,
    SW_STEP_DUP2,       ///< moving descriptors into place
    SW_STEP_CHDIR,
    SW_STEP_EXECVE,
    SW_STEP_PIPE,       ///< the parent's error pipe
    SW_STEP_CGROUP,     ///< moving into the run's cgroup
    SW_STEP_SETRLIMIT,
    SW_STEP_PIDFD,      ///< pidfd_open after a fork
    SW_STEP_PASS_FDS,   ///< more than SW_PASS_FDS_MAX descriptors to pass
    SW_STEP_TTY,        ///< making the pseudo-terminal the controlling terminal (TIOCSCTTY)
} sw_spawn_step;

/// How a child is created.
typedef enum sw_spawn_mode {
    /// clone3(CLONE_PIDFD): the pidfd comes with the child, atomically; fork + pidfd_open where clone3 is
    /// unavailable (ENOSYS before Linux 5.3, EPERM under seccomp profiles that refuse it).
    SW_SPAWN_AUTO = 0,
    /// fork + pidfd_open only (the fallback, forced for tests).
    SW_SPAWN_FORK = 1,
} sw_spawn_mode;

/// 1 when SW_SPAWN_AUTO creates children with clone3 here, 0 when it falls back to fork (the kernel lacks
/// clone3, or a seccomp filter such as a container runtime's refuses it).
int sw_clone3_available(void);

/// What `sw_spawn` needs to start one process in a new session.
/// Every pointer is owned by the caller and only read.
typedef struct sw_spawn_spec {
    const char *path;                   ///< absolute path of the program (the caller resolves PATH)
    char *_Nullable const *_Nonnull argv;  ///< NULL-terminated
    char *_Nullable const *_Nonnull envp;  ///< NULL-terminated; may hold one "LISTEN_PID=" with room for 20 digits
    const char *_Nullable cwd;          ///< NULL: inherit
    int stdin_fd;                       ///< becomes fd 0 (usually /dev/null)
    int stdout_fd;                      ///< becomes fd 1
    int stderr_fd;                      ///< becomes fd 2
    const int *_Nullable pass_fds;      ///< become fds 3, 4, ... in this order (NULL when pass_fd_count is 0)
    int pass_fd_count;                  ///< at most SW_PASS_FDS_MAX
    int keeper_fd;                      ///< -1, or the write end of the keeper pipe: the child registers its group
    int stop_signal;                    ///< told to the keeper
    int stop_timeout_ms;                ///< told to the keeper
    int cgroup_procs_fd;                ///< -1, or an open cgroup.procs: the child moves itself into that cgroup
    const char *_Nullable cgroup_name;  ///< NULL, or that cgroup's name under the keeper's parent (for the keeper)
    long long nofile_soft;              ///< -1, or the soft RLIMIT_NOFILE the program gets (superwatch raised its own)
    int controlling_tty;                ///< 1: stdin_fd is a pseudo-terminal's slave; make it the session's
                                        ///< controlling terminal (TIOCSCTTY) after setsid
    sw_spawn_mode mode;
} sw_spawn_spec;

/// What a start produced.
typedef struct sw_spawn_result {
    pid_t pid;
    int pidfd;             ///< close-on-exec
    int used_clone3;       ///< 1: clone3(CLONE_PIDFD); 0: fork + pidfd_open
    sw_spawn_step step;    ///< on failure, the step that failed
} sw_spawn_result;

/// clone3 (or fork) + setsid (+ move into a cgroup, register with the keeper) + dup2 + closefrom + chdir
/// (+ setrlimit) + execve. Returns the pid, or -errno with the failing step in result->step (exec failures come
/// back through a close-on-exec pipe, so a missing program is an error here and not an exit code 127 later).
/// Between the child's creation and execve only async-signal-safe calls run.
pid_t sw_spawn(const sw_spawn_spec *spec, sw_spawn_result *result);

/// The short name of a step ("execve"), for messages. Cannot fail.
const char *sw_spawn_step_name(sw_spawn_step step);

/// Starts the keeper: a child that outlives a SIGKILLed superwatch just long enough to stop every process group
/// registered with it. Returns its pid or -errno; stores its pidfd in *pidfd and the write end of its pipe in
/// *write_fd (both close-on-exec). When that pipe reaches end of file (superwatch exited, however), the keeper
/// sends each group still alive its stop signal (and every other member of its cgroup), waits for the longest
/// timeout, SIGKILLs what remains, kills `cgroup_parent` (when not NULL) with cgroup.kill, removes it with its
/// child cgroups and exits. It grows its table with mmap, never malloc.
pid_t sw_keeper_start(int *write_fd, int *pidfd, const char *_Nullable cgroup_parent, sw_spawn_mode mode);

/// Writes one record to the keeper; `cgroup_name` (may be NULL) is the group's cgroup under the keeper's parent,
/// at most SW_CGROUP_NAME_MAX - 1 bytes (-ENAMETOOLONG otherwise). Returns 0 or -errno.
int sw_keeper_send(int keeper_fd, sw_keeper_op op, pid_t pgid, int stop_signal, int stop_timeout_ms,
                   const char *_Nullable cgroup_name);

/// Sends `sig` to every process in cgroup `dir` (its cgroup.procs) whose process group is not `skip_pgid`
/// (<= 0: to all). A member that exited meanwhile is no failure. Returns 0 or -errno.
int sw_cgroup_signal(const char *dir, int sig, pid_t skip_pgid);

/// Whether cgroup `dir` or a descendant has a live process (cgroup.events): 1 or 0, or -errno.
int sw_cgroup_populated(const char *dir);

/// SIGKILLs everything in cgroup `dir` and its descendants: cgroup.kill (Linux 5.14), else a few rounds of
/// kill(2) over each cgroup.procs. Returns 0 or -errno.
int sw_cgroup_kill(const char *dir);

/// Removes cgroup `dir` and its child cgroups (they must be empty). Returns 0 or -errno of rmdir(dir).
int sw_cgroup_remove(const char *dir);

/// Forks a child that writes "0" into `procs_fd` (a cgroup.procs) and exits: whether superwatch's children
/// may move into that cgroup. Returns 0 or -errno (the child's).
int sw_cgroup_probe(int procs_fd);

/// prctl(PR_SET_CHILD_SUBREAPER, 1): orphaned descendants are re-parented to this process. 0 or -errno.
int sw_become_subreaper(void);

/// waitid(P_ALL, 0, WEXITED | WNOHANG | WNOWAIT): the pid of a child that has exited, left waitable (not
/// reaped); 0 when none has; -errno (-ECHILD: no children at all).
pid_t sw_next_zombie(void);

/// waitid(P_PID, pid, WEXITED | WNOHANG): reaps `pid` if it is a zombie. 1 when reaped, 0 when it still runs,
/// or -errno.
int sw_reap_pid(pid_t pid);

/// pidfd_open(2). The descriptor (close-on-exec) or -errno.
int sw_pidfd_open(pid_t pid);

/// waitid(P_PIDFD, ...) with WEXITED|WNOHANG. 1 when reaped (*code and *signal set, one of them meaningful:
/// signal is 0 for a normal exit), 0 when not yet exited, or -errno.
int sw_pidfd_reap(int pidfd, int *code, int *signal);

/// ioctl(FIONREAD): how many bytes a pipe holds now, or -errno.
int sw_bytes_available(int fd);

/// fcntl(F_SETPIPE_SZ). The new size or -errno.
int sw_set_pipe_size(int fd, int size);

/// memmem(3), a GNU extension Glibc's Swift module does not expose: whether `needle` occurs in `haystack`.
/// 1 or 0; cannot fail.
int sw_contains_bytes(const void *_Nullable haystack, size_t haystack_length, const void *_Nullable needle,
                      size_t needle_length);

/// A new pseudo-terminal (posix_openpt, grantpt, unlockpt, then its slave opened): *master and *slave are
/// close-on-exec, neither becomes superwatch's controlling terminal (O_NOCTTY), and the window is `rows` x
/// `cols`. 0 or -errno (nothing is left open on failure).
int sw_open_pty(int *master, int *slave, unsigned short rows, unsigned short cols);

/// ioctl(TIOCSWINSZ): sets a pseudo-terminal's window size (the kernel sends SIGWINCH to its foreground process
/// group when it changes). 0 or -errno.
int sw_set_window_size(int fd, unsigned short rows, unsigned short cols);

/// ioctl(TIOCGWINSZ): the window size of the terminal `fd` refers to. 0 or -errno (-ENOTTY: not a terminal).
int sw_get_window_size(int fd, unsigned short *rows, unsigned short *cols);

/// pipe2(fds, O_CLOEXEC). 0 or -errno.
int sw_pipe_cloexec(int fds[_Nonnull 2]);

#pragma clang assume_nonnull end

#endif
