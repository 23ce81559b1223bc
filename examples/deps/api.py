"""An HTTP API that asks the database for its schema version on every request; /health answers 200."""
import http.server
import json
import os
import socket


def schema_version():
    with socket.create_connection(("127.0.0.1", int(os.environ.get("DB_PORT", "7432"))), timeout=2) as db:
        stream = db.makefile("rw")
        stream.write("VERSION\n")
        stream.flush()
        return int(stream.readline())


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/health":
            body = b"ok\n"
        else:
            body = (json.dumps({"schema": schema_version()}) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass


if __name__ == "__main__":
    port = int(os.environ.get("API_PORT", "7480"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"api: serving on http://127.0.0.1:{port} (schema {schema_version()})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
