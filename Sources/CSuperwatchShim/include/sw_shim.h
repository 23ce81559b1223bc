#ifndef SW_SHIM_H
#define SW_SHIM_H

#include <sys/types.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/vfs.h>

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
} sw_spawn_spec;

/// fork + setsid + dup2 + closefrom + chdir + execve. Returns the pid, or -1 with the errno of the failing
/// step in *err (exec failures are reported through a close-on-exec pipe, so a missing program is an error
/// here and not an exit code 127 later). *step receives a short name of the failing step.
pid_t sw_spawn(const sw_spawn_spec *spec, int *err, const char **step);

/// Starts the keeper: a forked process that outlives a SIGKILLed superwatch just long enough to stop every
/// process group registered with it. Returns its pid and stores the write end of its pipe (close-on-exec) in
/// *write_fd. When that pipe reaches end of file (superwatch exited, however), the keeper sends each group
/// still alive its stop signal, waits for its timeout, SIGKILLs what remains and exits.
pid_t sw_keeper_start(int *write_fd);

/// Writes one register (op 1) or unregister (op 2) record to the keeper. Returns 0 or an errno.
int sw_keeper_send(int keeper_fd, int op, pid_t pgid, int stop_signal, int stop_timeout_ms);

/// pidfd_open(2). Returns the fd or -1 (errno set).
int sw_pidfd_open(pid_t pid);

/// waitid(P_PIDFD, ...) with WEXITED|WNOHANG. Returns 1 when reaped (*code and *signal set, one of them
/// meaningful: signal is 0 for a normal exit), 0 when not yet exited, -1 on error (errno set).
int sw_pidfd_reap(int pidfd, int *code, int *signal);

/// ioctl(FIONREAD): how many bytes a pipe holds now, or -1.
int sw_bytes_available(int fd);

/// fcntl(F_SETPIPE_SZ). Returns the new size or -1.
int sw_set_pipe_size(int fd, int size);

/// pipe2(fds, O_CLOEXEC). Returns 0 or -1 (errno set).
int sw_pipe_cloexec(int fds[2]);

#endif
