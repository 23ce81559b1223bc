"""A tiny JSON API on the standard library's WSGI server, listening on $PORT."""
import json
import os
from wsgiref.simple_server import WSGIRequestHandler, make_server

# Change it and request http://127.0.0.1:5000/ again: superwatch restarts this process on a change to a *.py file.
VERSION = 1


def app(environ, start_response):
    body = json.dumps({"greeting": os.environ.get("GREETING", "hi"), "version": VERSION,
                       "path": environ["PATH_INFO"]}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):
        print("request:", format % args)


port = int(os.environ.get("PORT", "5000"))
with make_server("127.0.0.1", port, app, handler_class=QuietHandler) as server:
    print(f"serving on http://127.0.0.1:{port}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopping")
