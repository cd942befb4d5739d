"""Shared set-up of the Python tests: the agent's folder on sys.path (as the entry scripts have it while the agent
loads) and no bytecode written into it (the folder is bound into every environment)."""
import os
import sys

sys.dont_write_bytecode = True

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
AGENT_FOLDER = os.path.join(ROOT, "Sources", "SnapHarnessEngine", "Runtime", "python")
FIXTURES = os.path.join(ROOT, "Tests", "Fixtures", "protocol")
RUNTIME_LIB = os.path.join(ROOT, ".deps", "python")  # `make deps`: snapshot-restore-py, simplejson

if AGENT_FOLDER not in sys.path:
    sys.path.insert(0, AGENT_FOLDER)
