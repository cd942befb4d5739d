"""snapharness's side of the function's environment: the built-in runtime agent, the Runtime API server, the
inspector and the control protocol they speak to the supervisor (docs/control-protocol.md).

The entry scripts next to this package (snapharness_bootstrap.py, snapharness_api.py) import it while their folder
is still sys.path[0]; the agent then puts the function's folder there, so everything the package needs is imported
up front, and modules loaded later (the inspector) are loaded by path from FOLDER. The name is distinctive so that it
cannot collide with a function's own modules. Nothing is imported here: the function's process holds only what the
agent uses.
"""
import os

# The folder that holds this package and the entry scripts (/var/runtime/snapharness inside an environment).
FOLDER = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# This package's folder.
PACKAGE = os.path.dirname(os.path.abspath(__file__))
