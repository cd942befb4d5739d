"""The inspector's pure pieces (snapharness_agent/inspector.py): how it classifies values and tells the function's
own modules from libraries and from snapharness's own."""
import datetime
import importlib.util
import os
import random
import sys
import uuid

import pytest

from conftest import AGENT_FOLDER
from snapharness_agent import inspector

NOW = 1733400000.0
WINDOW = [NOW, NOW + 2]


@pytest.mark.parametrize("text,expected", [
    ("3f2c9d0e8b7a6c5d4e3f2a1b", True),                  # hex
    ("123e4567-e89b-12d3-a456-426614174000", True),      # uuid text
    ("AKIAIOSFODNN7EXAMPLE", True),                      # letters and digits
    ("onlyletterswithoutdigits", False),
    ("short1", False),
    ("has a space 1234567890", False),
])
def test_looks_like_token(text, expected):
    assert inspector.looks_like_token(text) is expected


def test_classify_what_init_may_have_produced():
    assert inspector.classify(uuid.UUID(int=7), WINDOW)[0] == "uuid"
    assert inspector.classify(b"\x00" * 8, WINDOW) == ("bytes", inspector.digest(b"\x00" * 8), "8 bytes")
    assert inspector.classify("3f2c9d0e8b7a6c5d4e3f2a1b", WINDOW)[0] == "token"
    assert inspector.classify(NOW + 1, WINDOW)[2] == "%.3f (epoch seconds)" % (NOW + 1)
    assert inspector.classify(NOW + 3600, WINDOW)[0] == "timestamp"      # a deadline after Init
    assert inspector.classify(int(NOW * 1000), WINDOW)[2] == "%d (epoch milliseconds)" % int(NOW * 1000)
    assert inspector.classify(2 ** 40, WINDOW)[0] == "number"
    when = datetime.datetime.fromtimestamp(NOW + 1, tz=datetime.timezone.utc)
    assert inspector.classify(when, WINDOW) == ("timestamp", inspector.digest(when), when.isoformat())
    assert inspector.classify(random.Random(1), WINDOW)[::2] == ("generator", "random.Random")


@pytest.mark.parametrize("value", [True, 42, NOW - 30 * 86400, "hello", b"short", random.SystemRandom(), None])
def test_classify_leaves_constants_alone(value):
    assert inspector.classify(value, WINDOW) is None


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def modules():
    """Loads modules under chosen names; removes them from sys.modules afterwards."""
    loaded = []

    def _load(name, path):
        loaded.append(name)
        return load(name, path)
    yield _load
    for name in loaded:
        sys.modules.pop(name, None)


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    return path


def test_user_modules_are_the_function_folders_own(tmp_path, modules):
    task = tmp_path / "task"
    own = write(str(task / "handler_mod.py"), "X = 1\n")
    vendored = write(str(task / "vendored_lib" / "__init__.py"), "Y = 2\n")
    write(str(task / "vendored_lib-1.0.dist-info" / "top_level.txt"), "vendored_lib\n")
    modules("handler_mod", own)
    modules("vendored_lib", vendored)
    found = dict(inspector.user_modules(str(task)))
    assert set(found) == {"handler_mod"}


def test_the_agents_own_modules_are_never_the_functions(tmp_path):
    """The package is loaded in this process (as in the agent's); its modules are outside any function folder, even
    a task root next to the agent's folder."""
    import snapharness_agent.runtime  # noqa: F401 (loaded as the agent loads it)
    assert any(name.startswith("snapharness_agent.") for name in sys.modules)
    for task_root in (str(tmp_path), os.path.join(os.path.dirname(AGENT_FOLDER), "task")):
        assert not [n for n, _ in inspector.user_modules(task_root) if n.startswith("snapharness")]


def test_library_drawers_name_libraries_but_never_snapharness(tmp_path, modules):
    source = "import random\n\ndef sample():\n    return random.choice([1, 2])\n"
    library = write(str(tmp_path / "libs" / "drawing_lib.py"), source)
    ours = write(str(tmp_path / "libs" / "snapharness_agent_drawer.py"), source)
    modules("drawing_lib", library)
    modules("snapharness_agent_drawer", ours)
    drawers = inspector.library_drawers(random, str(tmp_path / "task"))
    assert "drawing_lib" in drawers and "snapharness_agent_drawer" not in drawers
    # A module in the function's folder is the function's, not a library.
    assert "drawing_lib" not in inspector.library_drawers(random, str(tmp_path / "libs"))


def test_draws_through_tells_the_global_generator_from_its_classes(tmp_path, modules):
    draws = modules("draws_mod", write(str(tmp_path / "draws_mod.py"), "import random\nV = random.random()\n"))
    own = modules("own_rng", write(str(tmp_path / "own_rng.py"), "import random\nR = random.Random(5)\n"))
    assert inspector.draws_through(draws, "random", random)
    assert not inspector.draws_through(own, "random", random)


def test_hooks_finds_modules_that_register_hooks_but_were_never_imported(tmp_path):
    task = tmp_path / "task"
    write(str(task / "jobs" / "warmup.py"), "from snapshot_restore_py import register_before_snapshot\n")
    write(str(task / "jobs" / "__pycache__" / "warmup.py"), "register_after_restore\n")
    write(str(task / "dep-1.0.dist-info" / "hooks.py"), "register_after_restore\n")
    write(str(task / "plain.py"), "X = 1\n")
    facts = inspector.hooks(str(task))
    assert facts["unimported"] == [{"module": "jobs.warmup", "file": os.path.join(str(task), "jobs", "warmup.py")}]


def test_gather_reports_every_field_the_supervisor_reads(tmp_path, modules):
    task = tmp_path / "task"
    modules("fn_state", write(str(task / "fn_state.py"), "import uuid\nID = uuid.UUID(int=99)\nN = 3\n"))
    facts = inspector.gather(str(task), WINDOW, restored=False)
    assert facts["values"] == [{"path": "fn_state.ID", "kind": "uuid", "digest": inspector.digest(uuid.UUID(int=99)),
                                "preview": "00000000..."}]
    assert {"values", "cachedCredentials", "environmentCredentials", "hooks", "clients", "connections", "openssl",
            "sslUsed"} <= set(facts)
    assert facts["openssl"] == {} and facts["connections"] == []  # before the snapshot: no draws
