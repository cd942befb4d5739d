"""The control channel (snapharness_agent/channel.py): JSON-lines framing, the address on stdin, and the fork hook that
keeps forked children from holding the socket."""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

from conftest import AGENT_FOLDER
from snapharness_agent.channel import Channel, read_line


def pair():
    ours, theirs = socket.socketpair()
    return Channel(ours), theirs


def test_send_writes_one_compact_line_per_message():
    channel, peer = pair()
    try:
        channel.send({"type": "hello", "protocol": 1, "phase": "init", "pid": 2})
        channel.send({"type": "restored"})
        reader = peer.makefile("rb")
        assert reader.readline() == b'{"type":"hello","protocol":1,"phase":"init","pid":2}\n'
        assert reader.readline() == b'{"type":"restored"}\n'
    finally:
        channel.close()
        peer.close()


def test_text_is_sent_as_ascii_escapes_lone_surrogates_included():
    channel, peer = pair()
    try:
        channel.send({"payload": "h\u00e9llo \u2603 \ud800\nnext"})
        line = peer.makefile("rb").readline()
        assert line == b'{"payload":"h\\u00e9llo \\u2603 \\ud800\\nnext"}\n'  # one line, whatever the text holds
        assert json.loads(line)["payload"] == "h\u00e9llo \u2603 \ud800\nnext"
    finally:
        channel.close()
        peer.close()


def test_receive_reads_lines_however_they_arrive_and_none_at_the_end():
    channel, peer = pair()
    try:
        data = b'{"type":"invoke","requestId":"r1"}\n{"type":"shutdown"}\n'
        peer.sendall(data[:10])
        time.sleep(0.05)
        peer.sendall(data[10:])
        peer.shutdown(socket.SHUT_WR)
        assert channel.receive() == {"type": "invoke", "requestId": "r1"}
        assert channel.receive() == {"type": "shutdown"}
        assert channel.receive() is None  # the supervisor hung up
    finally:
        channel.close()
        peer.close()


def test_read_line_takes_one_line_and_leaves_the_next_for_a_restored_copy():
    read_fd, write_fd = os.pipe()
    try:
        os.write(write_fd, b"@snapharness-control\n/run/snapharness/ctl-1/control.sock\n")
        os.close(write_fd)
        write_fd = None
        assert read_line(read_fd) == "@snapharness-control"
        assert read_line(read_fd) == "/run/snapharness/ctl-1/control.sock"
        assert read_line(read_fd) == ""  # end of stdin
    finally:
        os.close(read_fd)
        if write_fd is not None:
            os.close(write_fd)


CONNECT = """
import sys
sys.path.insert(0, sys.argv[1])
from snapharness_agent.channel import Channel
channel = Channel()
channel.send({"type": "hello", "phase": "init"})
print(channel.receive()["type"])
"""


def connect_from_stdin(address, listener):
    """A process that is given `address` on stdin, as the supervisor gives it, and dials it with Channel()."""
    process = subprocess.Popen([sys.executable, "-c", CONNECT, AGENT_FOLDER], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
    process.stdin.write(address.encode() + b"\n")
    process.stdin.flush()
    listener.settimeout(10)
    conn, _ = listener.accept()
    with conn:
        reader = conn.makefile("rb")
        assert json.loads(reader.readline()) == {"type": "hello", "phase": "init"}
        conn.sendall(b'{"type":"shutdown"}\n')
        out, _ = process.communicate(timeout=10)
    assert process.returncode == 0 and out == b"shutdown\n"


def test_connects_to_a_path_address_given_on_stdin():
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "control.sock")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
            listener.bind(path)
            listener.listen(1)
            connect_from_stdin(path, listener)


def test_connects_to_an_abstract_address_given_as_at_name():
    name = "snapharness-test-%d-%d" % (os.getpid(), time.monotonic_ns())
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind("\0" + name)
        listener.listen(1)
        connect_from_stdin("@" + name, listener)


def test_no_address_on_stdin_ends_the_agent_with_a_message():
    result = subprocess.run([sys.executable, "-c", CONNECT, AGENT_FOLDER], stdin=subprocess.DEVNULL,
                            capture_output=True, env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
    assert result.returncode == 1
    assert b"snapharness agent: no control socket address on stdin" in result.stderr


def test_a_forked_child_lets_go_of_the_socket_at_once():
    """The supervisor must see EOF once the agent closes its end, even while a child forked at Init lives on."""
    channel, peer = pair()
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: detached, sends nothing, reads as if the supervisor hung up
        try:
            ok = channel.detached and Channel.current is None and channel.receive() is None
            channel.send({"type": "from the child"})
            os.write(ready_w, b"x" if ok else b"n")
            time.sleep(5)  # still alive while the parent closes its end
        finally:
            os._exit(0)
    try:
        os.close(ready_w)
        assert os.read(ready_r, 1) == b"x"
        assert Channel.current is channel and not channel.detached
        channel.send({"type": "from the parent"})
        channel.close()
        peer.settimeout(3)
        reader = peer.makefile("rb")
        assert reader.readline() == b'{"type":"from the parent"}\n'
        assert reader.readline() == b""  # EOF although the child still runs
        assert os.waitpid(pid, os.WNOHANG) == (0, 0)
    finally:
        os.kill(pid, 9)
        _, status = os.waitpid(pid, 0)
        os.close(ready_r)
        peer.close()
    assert os.WIFSIGNALED(status)  # it lived until killed
