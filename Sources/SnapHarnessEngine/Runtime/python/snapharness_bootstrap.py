"""snapharness runtime agent: the entry point of the function's process under the built-in runtime
(`python -u /var/runtime/snapharness/snapharness_bootstrap.py`). The agent itself is snapharness_agent/runtime.py;
this folder is sys.path[0] while it loads, then the agent puts the function's folder there."""
from snapharness_agent import runtime

if __name__ == "__main__":
    runtime.main()
