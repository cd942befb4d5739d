"""The end-of-invocation mark as the built-in runtime and the Runtime API server write it: after everything the
invocation wrote, on fd 1 and on fd 2 (run in a child process, whose fds 1 and 2 are pipes)."""
import os
import subprocess
import sys

from conftest import AGENT_FOLDER, RUNTIME_LIB

AGENT = r"""
import os, sys
sys.path.insert(0, sys.argv[1])
from snapharness_agent import runtime
print("printed by the handler")
sys.stdout.write("a partial last line")
sys.stderr.write("an error line\n")
runtime.mark_end("req-1")
"""

API = r"""
import os, sys
sys.path.insert(0, sys.argv[1])
from snapharness_agent import api
os.write(1, b"the runtime's output\n")
api.mark_end("req-\udc80")
"""


def run(code):
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", SNAPHARNESS_RUNTIME_LIB=RUNTIME_LIB)
    result = subprocess.run([sys.executable, "-c", code, AGENT_FOLDER], capture_output=True, env=env, timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout, result.stderr


def test_agent_flushes_what_the_invocation_wrote_then_marks_both_streams():
    out, err = run(AGENT)
    # Python's own buffers are flushed first; a partial last line gets the mark appended.
    assert out == b"printed by the handler\na partial last line\x1esnapharness:end:req-1\n"
    assert err == b"an error line\n\x1esnapharness:end:req-1\n"


def test_api_server_marks_both_streams_with_the_request_id_as_sent():
    out, err = run(API)
    assert out == b"the runtime's output\n\x1esnapharness:end:req-\xed\xb2\x80\n"
    assert err == b"\x1esnapharness:end:req-\xed\xb2\x80\n"
