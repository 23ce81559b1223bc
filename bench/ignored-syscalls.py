#!/usr/bin/env python3
"""Counts system-call results that superwatch's sources ignore (issue 10's measure "syscall results ignored").

A site is a call of a system call or a C shim function (the names below) whose result nothing looks at:
  - `_ = CALL(...)`, and in C `(void)CALL(...)`;
  - `try?` in front of a call that wraps a system call (`retryingEINTR`, `shimCall`, `closeDescriptor`, a
    syscall name, `Launcher.makePipe`, `OwnedPipe(`);
  - a call in statement position: at the start of a line, after `{`, `;` or `else`, e.g. `defer { close(fd) }`.
Calls of the shim's own functions that return nothing are not sites. A site counts as justified when a comment
containing "ignored:" says why: on its line, or above it in the same paragraph (no blank line in between).
Usage: bench/ignored-syscalls.py [DIR] (default Sources). Prints the sites, then `total N, justified J`.
"""
import pathlib
import re
import sys

CALLS = (
    "close|fcntl|epoll_ctl|setsockopt|write|pwrite|kill|killpg|waitpid|waitid|unlink|rmdir|mkdir|dup2|ftruncate|"
    "flock|inotify_rm_watch|inotify_add_watch|shutdown|sigaction|signal|sigprocmask|pthread_sigmask|prctl|"
    "setrlimit|chmod|listen|bind|utimensat|eventfd_write|read|pread|nanosleep|closedir|"
    r"sw_(?!contains_bytes|child_fail|reset_signals|closefrom|wait_child|sleep_ms|keeper_finish|keeper_main|"
    r"keeper_report_unregistered|utoa|spawn_child)\w+"
)
IGNORED = [
    re.compile(rf"\b_\s*=\s*(?:Glibc\.)?(?:{CALLS})\s*\("),
    re.compile(rf"\(void\)\s*(?:{CALLS})\s*\("),
    re.compile(rf"\btry\?\s*(?:retryingEINTR|shimCall|closeDescriptor|Launcher\.makePipe|OwnedPipe\(|(?:Glibc\.)?(?:{CALLS})\s*\()"),
]
# In statement position; not when the call is the value of a closure whose result is used (the text before it
# assigns, returns, or passes the closure to the wrapper or a `with...` accessor).
STATEMENT = re.compile(rf"(?:^|[{{;]|\belse)\s*(?:Glibc\.)?(?:{CALLS})\s*\(")
USED = re.compile(r"(?<![=!<>])=(?!=)|\breturn\b|retryingEINTR|shimCall|\bwith\w*\s*[({]|\.map\s*\{")


# The result compared right after the call (`{ sw_x(...) > 0 }`).
COMPARED = re.compile(r"\)\s*(?:[<>]=?|[!=]=)")
# The line above opens the closure the wrapper runs (`try retryingEINTR("x") {`).
WRAPPER_OPENS = re.compile(r"(?:retryingEINTR|shimCall)\(.*\{\s*$")


def ignored(code, previous):
    if any(p.search(code) for p in IGNORED):
        return True
    match = STATEMENT.search(code)
    if not match or USED.search(code[: match.end()]) or COMPARED.search(code[match.end():]):
        return False
    return not WRAPPER_OPENS.search(previous)


def sites(root):
    for path in sorted(pathlib.Path(root).rglob("*")):
        if path.suffix not in (".swift", ".c", ".h"):
            continue
        lines = path.read_text().splitlines()
        justifying = False
        for number, line in enumerate(lines, 1):
            if not line.strip():
                justifying = False
            if "ignored:" in line:
                justifying = True
            code = line.split("//", 1)[0]
            if code.lstrip().startswith(("///", "*", "/*")) or not code.strip():
                continue
            if path.suffix == ".h":
                continue  # declarations only
            if ignored(code, lines[number - 2].split("//", 1)[0] if number > 1 else ""):
                justified = justifying
                yield path, number, line.strip(), justified


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "Sources"
    total = justified = 0
    for path, number, text, ok in sites(root):
        total += 1
        justified += ok
        print(f"{path}:{number}: {'justified ' if ok else ''}{text}")
    print(f"total {total}, justified {justified}, unjustified {total - justified}")


main()
