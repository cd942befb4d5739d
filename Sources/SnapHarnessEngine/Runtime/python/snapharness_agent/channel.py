"""The control channel's runtime side (docs/control-protocol.md), shared by the built-in agent and the Runtime API
server: JSON lines over the supervisor's Unix socket."""
import json
import os
import socket


class Channel:
    """JSON lines over the supervisor's Unix socket. The address arrives on stdin, one line per connection:
    a restored copy cannot know where the (possibly different) restoring supervisor listens.

    A process forked from the agent by Python code (os.fork, multiprocessing, ...) must not hold the socket: the
    supervisor waits for its EOF before a checkpoint, and a daemon holding it would never let that come. The fork hook
    below closes the socket in every such child at once and leaves the child's copy of the channel `detached`: it
    never sends, and reads as if the supervisor hung up, so a child that returns into the agent exits quietly."""

    current = None  # the open channel, if any; what the fork hook closes in a child

    def __init__(self, sock=None):
        """Connects to the address on stdin; `sock`: an already connected socket instead (tests)."""
        if sock is None:
            address = read_line(0)
            if not address:
                raise SystemExit("snapharness agent: no control socket address on stdin")
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            # "@name": an abstract address of the environment's own network namespace.
            sock.connect("\0" + address[1:] if address.startswith("@") else address)
        self.detached = False
        self.sock = sock
        self.reader = self.sock.makefile("rb")
        Channel.current = self

    def send(self, message):
        if self.detached:
            return
        self.sock.sendall(json.dumps(message, separators=(",", ":")).encode() + b"\n")

    def receive(self):
        if self.detached:
            return None
        line = self.reader.readline()
        if not line:
            return None
        return json.loads(line)

    def close(self):
        if Channel.current is self:
            Channel.current = None
        if self.detached:
            return
        self.reader.close()
        self.sock.close()

    def detach_in_child(self):
        """In a forked child: close the socket's fd here only (the parent's stays open). detach() first, so the
        socket object no longer owns the fd number and can never close whatever the child opens under it later."""
        self.detached = True
        Channel.current = None
        try:
            os.close(self.sock.detach())
        except OSError:
            pass


def _close_channel_in_child():
    channel = Channel.current
    if channel is not None:
        channel.detach_in_child()


os.register_at_fork(after_in_child=_close_channel_in_child)


def read_line(fd):
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(fd, 1)
        if not chunk:
            break
        data += chunk
    return data.decode().strip()
