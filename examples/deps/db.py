"""A tiny line-based "database" on TCP: PING, MIGRATE <version>, VERSION. It keeps the schema version in
memory, so a restart of the migration step shows in the API without restarting the API."""
import os
import socketserver
import time

STATE = {"version": 0}


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        for raw in self.rfile:
            words = raw.decode().split()
            if not words:
                continue
            if words[0] == "PING":
                answer = "PONG"
            elif words[0] == "MIGRATE" and len(words) == 2 and words[1].isdigit():
                STATE["version"] = int(words[1])
                answer = "OK"
            elif words[0] == "VERSION":
                answer = str(STATE["version"])
            else:
                answer = "ERROR unknown command"
            self.wfile.write((answer + "\n").encode())


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


if __name__ == "__main__":
    port = int(os.environ.get("DB_PORT", "7432"))
    print("db: opening the data files", flush=True)
    time.sleep(1)
    with Server(("127.0.0.1", port), Handler) as server:
        print(f"db: accepting connections on 127.0.0.1:{port}", flush=True)
        server.serve_forever()
