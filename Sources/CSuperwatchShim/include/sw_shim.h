#ifndef SW_SHIM_H
#define SW_SHIM_H

#include <sys/types.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/vfs.h>

/// Longest path the cgroup helpers build.
#define SW_PATH_MAX 4096
/// Room for a run's cgroup name in a keeper record, terminating NUL included.
#define SW_CGROUP_NAME_MAX 48

/// What `sw_spawn` needs to start one process in a new session.
/// Every pointer is owned by the caller and only read.
typedef struct sw_spawn_spec {
    const char *path;          ///< absolute path of the program (the caller resolves PATH)
    char *const *argv;         ///< NULL-terminated
    char *const *envp;         ///< NULL-terminated; may contain one "LISTEN_PID=" entry with room for 20 digits
    const char *cwd;           ///< NULL: inherit
    int stdin_fd;              ///< becomes fd 0 (usually /dev/null)
    int stdout_fd;             ///< becomes fd 1
    int stderr_fd;             ///< becomes fd 2
    const int *pass_fds;       ///< become fds 3, 4, ... in this order
    int pass_fd_count;
    int keeper_fd;             ///< -1, or the write end of the keeper pipe: the child registers its group there
    int stop_signal;           ///< told to the keeper
    int stop_timeout_ms;       ///< told to the keeper
    int cgroup_procs_fd;       ///< -1, or an open cgroup.procs: the child moves itself into that cgroup first
    const char *cgroup_name;   ///< NULL, or that cgroup's name under the keeper's parent cgroup (told to the keeper)
    long long nofile_soft;     ///< -1, or the soft RLIMIT_NOFILE the program gets (superwatch raised its own)
} sw_spawn_spec;

/// fork + setsid (+ move into a cgroup, register with the keeper) + dup2 + closefrom + chdir (+ setrlimit) +
/// execve. Returns the pid, or -1 with the errno of the failing
/// step in *err (exec failures are reported through a close-on-exec pipe, so a missing program is an error
/// here and not an exit code 127 later). *step receives a short name of the failing step.
pid_t sw_spawn(const sw_spawn_spec *spec, int *err, const char **step);

/// Starts the keeper: a forked process that outlives a SIGKILLed superwatch just long enough to stop every
/// process group registered with it. Returns its pid (or -1, errno set) and stores the write end of its pipe
/// (close-on-exec) in *write_fd. When that pipe reaches end of file (superwatch exited, however), the keeper
/// sends each group still alive its stop signal (and every other member of its cgroup), waits for the
/// longest timeout, SIGKILLs what remains, kills `cgroup_parent` (when not NULL) with cgroup.kill, removes
/// it with its child cgroups and exits. It grows its table with mmap, never malloc.
pid_t sw_keeper_start(int *write_fd, const char *cgroup_parent);

/// Writes one register (op 1) or unregister (op 2) record to the keeper; `cgroup_name` (may be NULL) is the
/// group's cgroup under the keeper's parent, at most SW_CGROUP_NAME_MAX - 1 bytes. Returns 0 or an errno.
int sw_keeper_send(int keeper_fd, int op, pid_t pgid, int stop_signal, int stop_timeout_ms,
                   const char *cgroup_name);

/// Sends `sig` to every process in cgroup `dir` (its cgroup.procs) whose process group is not `skip_pgid`
/// (<= 0: to all). Returns 0 or an errno.
int sw_cgroup_signal(const char *dir, int sig, pid_t skip_pgid);

/// Whether cgroup `dir` or a descendant has a live process (cgroup.events). Returns 0 or an errno.
int sw_cgroup_populated(const char *dir, int *populated);

/// SIGKILLs everything in cgroup `dir` and its descendants: cgroup.kill (Linux 5.14), else a few rounds of
/// kill(2) over cgroup.procs. Returns 0 or an errno.
int sw_cgroup_kill(const char *dir);

/// Removes cgroup `dir` and its child cgroups (they must be empty). Returns 0 or the errno of rmdir(dir).
int sw_cgroup_remove(const char *dir);

/// Forks a child that writes "0" into `procs_fd` (a cgroup.procs) and exits: whether superwatch's children
/// may move into that cgroup. Returns 0 or the errno the child got.
int sw_cgroup_probe(int procs_fd);

/// prctl(PR_SET_CHILD_SUBREAPER, 1): orphaned descendants are re-parented to this process. 0 or an errno.
int sw_become_subreaper(void);

/// waitid(P_ALL, 0, WEXITED | WNOHANG | WNOWAIT): the pid of a child that has exited, left waitable (not
/// reaped); 0 when none has, -1 (errno set; ECHILD: no children at all).
pid_t sw_next_zombie(void);

/// waitid(P_PID, pid, WEXITED | WNOHANG): reaps `pid` if it is a zombie. Returns 1 when reaped, 0 when it
/// still runs, or -1 (errno set).
int sw_reap_pid(pid_t pid);

/// pidfd_open(2). Returns the fd or -1 (errno set).
int sw_pidfd_open(pid_t pid);

/// waitid(P_PIDFD, ...) with WEXITED|WNOHANG. Returns 1 when reaped (*code and *signal set, one of them
/// meaningful: signal is 0 for a normal exit), 0 when not yet exited, -1 on error (errno set).
int sw_pidfd_reap(int pidfd, int *code, int *signal);

/// ioctl(FIONREAD): how many bytes a pipe holds now, or -1.
int sw_bytes_available(int fd);

/// fcntl(F_SETPIPE_SZ). Returns the new size or -errno.
int sw_set_pipe_size(int fd, int size);

/// memmem(3), a GNU extension Glibc's Swift module does not expose: whether `needle` occurs in `haystack`.
/// Returns 1 or 0.
int sw_contains_bytes(const void *haystack, size_t haystack_length, const void *needle,
                      size_t needle_length);

/// pipe2(fds, O_CLOEXEC). Returns 0 or -errno.
int sw_pipe_cloexec(int fds[2]);

#endif
