"""A stand-in database for the network example: accepts connections on 127.0.0.1 and answers PING with PONG.

usage: python3 server.py [PORT]      (prints the port; then run the example with --env DB_PORT=<port>)
"""
import socketserver
import sys


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            self.wfile.write(b"PONG\n" if line.strip() == b"PING" else b"ERR\n")


with socketserver.ThreadingTCPServer(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 0), Handler) as server:
    print(server.server_address[1], flush=True)
    server.serve_forever()
