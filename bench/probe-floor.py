#!/usr/bin/env python3
"""The kernel's share of what bench/probes.sh measures: the same attempts (25 tcp probes: connect and close;
25 http probes: connect, GET /, read the status line, close; each every 250 ms) made by the smallest loop there
is (non-blocking sockets, one epoll), against the same kind of Python HTTP server, for SECONDS. Prints this
process's CPU split into user (Python's own overhead, which a compiled prober does not pay in full) and system
(the kernel's work for the sockets, which any prober that opens a connection per attempt pays).

Usage: bench/probe-floor.py [SECONDS]   (default 30)
"""
import http.server
import os
import select
import socket
import sys
import threading
import time


class Quiet(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 30
    http.server.ThreadingHTTPServer.request_queue_size = 128  # 50 connections at once; listen() reads it
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    port = server.server_address[1]
    # The server runs in a child process so that its CPU is not counted here.
    pid = os.fork()
    if pid == 0:
        server.serve_forever()
        os._exit(0)
    server.socket.close()
    time.sleep(0.3)
    address = ("127.0.0.1", port)
    request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    poller = select.epoll()
    attempts = 0
    start_times = os.times()
    deadline = time.monotonic() + seconds
    tick = time.monotonic()
    while time.monotonic() < deadline:
        live = {}
        for index in range(50):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            try:
                sock.connect(address)
            except BlockingIOError:
                pass
            live[sock.fileno()] = (sock, index % 2 == 1, "connecting")
            poller.register(sock, select.EPOLLOUT)
        while live:
            for fd, _ in poller.poll(1.0):
                sock, is_http, state = live[fd]
                if state == "connecting" and is_http:
                    sock.send(request)
                    live[fd] = (sock, is_http, "reading")
                    poller.modify(fd, select.EPOLLIN)
                    continue
                if state == "reading":
                    sock.recv(4096)
                poller.unregister(fd)
                sock.close()
                del live[fd]
                attempts += 1
        tick += 0.25
        time.sleep(max(0, tick - time.monotonic()))
    end_times = os.times()
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    user = end_times.user - start_times.user
    system = end_times.system - start_times.system
    print(f"{attempts} attempts in {seconds:.0f} s: user {user:.2f} s, system {system:.2f} s")
    print(f"per attempt: user {1e6 * user / attempts:.0f} us, system {1e6 * system / attempts:.0f} us")
    print(f"share of a core: {100 * (user + system) / seconds:.2f} % (system alone {100 * system / seconds:.2f} %)")


if __name__ == "__main__":
    main()
