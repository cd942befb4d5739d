"""A stand-in HTTP API for the requests example: HTTP/1.1 keep-alive on 127.0.0.1; every reply says which of the
server's connections carried it.

usage: python3 server.py [PORT]      (prints the port; then run the example with --env API_PORT=<port>)
"""
import http.server
import itertools
import json
import sys

CONNECTIONS = itertools.count(1)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the client's pool keeps the connection

    def setup(self):
        super().setup()
        self.connection_number = next(CONNECTIONS)

    def do_GET(self):
        body = json.dumps({"connection": self.connection_number}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


with http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 0), Handler) as server:
    print(server.server_address[1], flush=True)
    server.serve_forever()
