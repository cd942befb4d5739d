"""Facts about a function process for `snapharness check` (stdlib only; loaded only when check asks, by path, by the
built-in agent or by inspector/sitecustomize.py inside awslambdaric's interpreter: never through sys.path).

The supervisor compares these facts across restored copies and against a separate, never-snapshotted Init of the
same handler: a value that is identical in every copy but different in the independent Init was produced by
something random at Init and then frozen into the snapshot. Constants are equal everywhere and never flagged.
"""
import datetime
import glob
import hashlib
import os
import re
import sys
import types
import uuid

MAX_VALUES = 400
MAX_ITEMS = 50
TOKEN = re.compile(r"^[A-Za-z0-9_\-+/=.:]{16,}$")
HEXLIKE = re.compile(r"^[0-9a-fA-F-]{16,}$")
CREDENTIAL_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def digest(value):
    return hashlib.sha256(repr(value).encode("utf-8", "replace")).hexdigest()[:16]


def preview(value):
    text = str(value)
    return text[:8] + "..." if len(text) > 12 else text


def looks_like_token(s):
    if len(s) < 16 or len(s) > 4096 or " " in s:
        return False
    if HEXLIKE.match(s):
        return True
    return bool(TOKEN.match(s)) and any(c.isdigit() for c in s) and any(c.isalpha() for c in s)


WEEK = 7 * 86400


def generator_state(value):
    """(type name, state digest) of an object holding PRNG state (random.Random, numpy's Generator and RandomState),
    else None. random.SystemRandom draws from the OS and holds no state."""
    cls = type(value)
    module = getattr(cls, "__module__", "") or ""
    try:
        if module == "random" and hasattr(value, "getstate") and hasattr(value, "seed"):
            if cls.__name__ == "SystemRandom":
                return None
            return "random.Random", digest(value.getstate())
        if module.startswith("numpy.random") and cls.__name__ == "Generator":
            return "numpy.random.Generator", digest(sorted(value.bit_generator.state.items(), key=lambda kv: kv[0]))
        if module.startswith("numpy.random") and cls.__name__ == "RandomState":
            state = value.get_state()
            return "numpy.random.RandomState", hashlib.sha256(
                repr(state[0]).encode() + state[1].tobytes() + repr(state[2:]).encode()).hexdigest()[:16]
    except Exception:
        return None
    return None


def classify(value, window):
    """(kind, digest, preview) for values that may have been produced at Init, else None. Timestamps are numbers
    within a week of Init (deadlines such as time.time() + ttl included), in seconds or milliseconds."""
    start, end = window[0] - WEEK, (window[1] or window[0]) + WEEK
    if isinstance(value, bool):
        return None
    generator = generator_state(value)
    if generator:
        return "generator", generator[1], generator[0]
    if isinstance(value, uuid.UUID):
        return "uuid", digest(value), preview(value)
    if isinstance(value, (bytes, bytearray)) and len(value) >= 8:
        return "bytes", digest(bytes(value)), "%d bytes" % len(value)
    if isinstance(value, str) and looks_like_token(value):
        return "token", digest(value), preview(value)
    if isinstance(value, (int, float)) and start <= value <= end:
        return "timestamp", digest(value), "%.3f (epoch seconds)" % value
    if isinstance(value, (int, float)) and start * 1000 <= value <= end * 1000:
        return "timestamp", digest(value), "%d (epoch milliseconds)" % value
    if isinstance(value, int) and abs(value) >= 2 ** 32:
        return "number", digest(value), preview(value)
    if isinstance(value, datetime.datetime):
        try:
            ts = value.timestamp()
        except (OverflowError, OSError, ValueError):
            return None
        if start <= ts <= end:
            return "timestamp", digest(value), value.isoformat()
    return None


def user_modules(task_root):
    """Modules loaded from the function's folder, minus packages vendored into it (they have .dist-info). The agent's
    own modules (snapharness_agent.*, snapharness_ric) live in /var/runtime/snapharness, never in the function's
    folder."""
    root = os.path.realpath(task_root)
    vendored = set()
    for top_level in glob.glob(os.path.join(root, "*.dist-info", "top_level.txt")):
        with open(top_level) as f:
            vendored.update(line.strip() for line in f if line.strip())
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if not path or name.split(".")[0] in vendored or name.startswith("snapshot_restore_py"):
            continue
        if os.path.realpath(path).startswith(root + os.sep):
            yield name, module


def walk(path, value, window, out, credentials, depth, seen):
    if len(out) >= MAX_VALUES or id(value) in seen:
        return
    seen.add(id(value))
    found = classify(value, window)
    if found:
        out.append({"path": path, "kind": found[0], "digest": found[1], "preview": found[2]})
        return
    if depth >= 3:
        return
    if isinstance(value, dict):
        keys = [k for k in value.keys() if isinstance(k, (str, int))][:MAX_ITEMS]
        if "AccessKeyId" in value or "aws_access_key_id" in value:
            credentials.append(path)
        for k in keys:
            walk("%s[%r]" % (path, k), value[k], window, out, credentials, depth + 1, seen)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value[:MAX_ITEMS]):
            walk("%s[%d]" % (path, i), item, window, out, credentials, depth + 1, seen)
    elif hasattr(value, "__dict__") and not isinstance(value, (types.ModuleType, types.FunctionType, type)):
        cls = type(value)
        if cls.__name__ in ("Credentials", "RefreshableCredentials", "ReadOnlyCredentials") or \
                hasattr(value, "access_key") and hasattr(value, "secret_key"):
            credentials.append(path)
            return
        if depth < 2:
            for k, v in list(vars(value).items())[:MAX_ITEMS]:
                if not k.startswith("__"):
                    walk("%s.%s" % (path, k), v, window, out, credentials, depth + 1, seen)


# Module-level functions that draw from the library's global generator (what `check` reports for `random` / numpy).
GLOBAL_DRAWS = {
    "random": r"(random|randint|randrange|choice|choices|shuffle|sample|uniform|getrandbits|randbytes|gauss|"
              r"normalvariate|lognormvariate|expovariate|vonmisesvariate|gammavariate|triangular|betavariate|"
              r"paretovariate|weibullvariate|binomialvariate)",
    "numpy": r"random\.(?!default_rng\b|Generator\b|RandomState\b|SeedSequence\b|PCG64|MT19937|Philox|SFC64|"
             r"BitGenerator\b)\w+",
    # `ssl`: drawing from OpenSSL directly, or making a TLS context or connection of its own
    "ssl": r"(RAND_bytes|RAND_pseudo_bytes|create_default_context|SSLContext|wrap_socket|get_server_certificate)",
}


def draws_through(module, alias, library):
    """True if the module's source calls a global-generator function through `alias` (e.g. `random.choice(`).
    A module that imports `random` only for `random.Random` or `random.SystemRandom` does not use the global
    generator."""
    try:
        with open(module.__file__, encoding="utf-8", errors="replace") as f:
            source = f.read(500000)
    except (OSError, TypeError):
        return True  # cannot tell: assume it does
    return re.search(r"\b%s\.%s\s*\(" % (re.escape(alias), GLOBAL_DRAWS[library.__name__]), source) is not None


def used_by(modules, library):
    """True if a module of the function uses `library`'s global generator (calls one of its functions, or imported
    one): a generator some stdlib module imported, or a module imported only for its generator classes, is not the
    function's problem."""
    for _, module in modules:
        for alias, value in list(vars(module).items()):
            if value is library:
                if draws_through(module, alias, library):
                    return True
                continue
            function = isinstance(value, (types.FunctionType, types.BuiltinFunctionType, types.MethodType))
            if function and getattr(value, "__module__", None) == library.__name__ or \
                    (isinstance(value, types.ModuleType) and value.__name__.startswith(library.__name__ + ".")):
                return True
            owner = getattr(value, "__self__", None)  # bound methods such as `from random import random`
            if owner is not None and type(owner).__module__ == library.__name__:
                return True
    return False


def library_drawers(library, task_root):
    """Modules outside the function's folder and outside the standard library whose source draws from `library`'s
    global generator (Powertools' Logger sampling, for one): who drew from it during Init, when the function did not."""
    root = os.path.realpath(task_root) + os.sep
    stdlib = os.path.realpath(os.path.dirname(os.__file__)) + os.sep
    found = []
    for name, module in sorted(list(sys.modules.items()), key=lambda item: item[0]):
        path = getattr(module, "__file__", None)
        # snapharness's own modules (snapharness_agent.*, snapharness_ric) are never the culprit.
        if not path or name.startswith("snapharness") or not path.endswith(".py"):
            continue
        real = os.path.realpath(path)
        if real.startswith(root) or (real.startswith(stdlib) and "-packages" + os.sep not in real):
            continue
        for alias, value in list(vars(module).items()):
            if value is library and draws_through(module, alias, library):
                found.append(name)
                break
        if len(found) >= 3:
            break
    return found


def global_generator(prefix, library, state_digest, drawn, modules, task_root):
    """The facts check judges a module's global generator by: its state, whether the function draws from it,
    whether anything drew from it since it was seeded (at the reference: during Init), and which libraries do."""
    return {prefix + "State": state_digest, prefix + "Used": used_by(modules, library), prefix + "Drawn": drawn,
            prefix + "Drawers": library_drawers(library, task_root) if drawn else []}


def random_state(modules, task_root):
    """`random`'s global generator, if loaded. A Mersenne Twister right after seeding sits at the end of its block
    (as a fresh instance shows): any other position means numbers were drawn."""
    module = sys.modules.get("random")
    if module is None:
        return {}
    state = module.getstate()
    drawn = state[1][-1] != module.Random().getstate()[1][-1]
    return global_generator("random", module, digest(state), drawn, modules, task_root)


def numpy_state(modules, task_root):
    """numpy's legacy global generator (np.random.rand and friends), if numpy is loaded."""
    numpy = sys.modules.get("numpy")
    if numpy is None:
        return {}
    try:
        state = numpy.random.get_state()
        drawn = state[2] != numpy.random.RandomState().get_state()[2]
        state_digest = hashlib.sha256(repr(state[0]).encode() + state[1].tobytes() + repr(state[2:]).encode()).hexdigest()[:16]
    except Exception:
        return {}
    return global_generator("numpy", numpy, state_digest, drawn, modules, task_root)


def hooks(task_root):
    """Registered hooks still pending, and modules in the folder that register hooks but were never imported."""
    srp = sys.modules.get("snapshot_restore_py")
    pending_before = [getattr(f, "__qualname__", repr(f)) for f, _, _ in srp.get_before_snapshot()] if srp else []
    after = [getattr(f, "__qualname__", repr(f)) for f, _, _ in srp.get_after_restore()] if srp else []
    loaded = {os.path.realpath(getattr(m, "__file__", "") or "") for m in list(sys.modules.values())}
    root = os.path.realpath(task_root)
    unimported = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.endswith((".dist-info", ".egg-info")) and d != "__pycache__"
                       and not d.startswith("snapshot_restore_py")]
        for name in filenames:
            if not name.endswith(".py") or name.startswith("snapshot_restore_py"):
                continue
            path = os.path.join(dirpath, name)
            if os.path.realpath(path) in loaded:
                continue
            try:
                with open(path, encoding="utf-8", errors="replace") as f:
                    text = f.read(200000)
            except OSError:
                continue
            if "register_before_snapshot" in text or "register_after_restore" in text:
                module = os.path.relpath(path, root)[:-3].replace(os.sep, ".")
                unimported.append({"module": module.removesuffix(".__init__"), "file": path})
        if len(unimported) > 50:
            break
    return {"pendingBeforeSnapshot": pending_before, "afterRestore": after, "unimported": unimported}


def openssl_probes():
    """A draw from each OpenSSL generator the function loaded, as a digest. OpenSSL keeps its generator (a DRBG) in
    process memory and reseeds it on a new pid, which a restored copy does not get: copies that drew the same bytes
    share the state Init left. One that was never used before the snapshot is seeded in each copy and differs."""
    probes = {}
    if "_ssl" in sys.modules:  # Python's ssl module: the system's OpenSSL
        try:
            probes["ssl"] = digest(sys.modules["_ssl"].RAND_bytes(16))
        except Exception:
            pass
    if "cryptography.hazmat.bindings._rust" in sys.modules:  # pyca/cryptography: the OpenSSL its wheel bundles
        try:
            from cryptography.hazmat.primitives.asymmetric import ec
            key = ec.generate_private_key(ec.SECP256R1())
            probes["cryptography"] = digest(key.private_numbers().private_value)
        except Exception:
            pass
    return probes


# Clients whose behaviour with a connection that died in a restore is known (check explains it per client).
KNOWN_CLIENTS = ("psycopg", "psycopg2", "pymysql", "urllib3")


def connection_socket(obj):
    """(client, socket fd) of a known client's connection object, else None. http.client's class also underlies
    urllib3's connections: the module tells them apart."""
    cls = type(obj)
    module = getattr(cls, "__module__", "") or ""
    try:
        if module.startswith("urllib3.") and hasattr(obj, "sock") and hasattr(obj, "host"):
            return "urllib3", obj.sock and obj.sock.fileno()
        if module == "http.client" and cls.__name__ in ("HTTPConnection", "HTTPSConnection"):
            return "http.client", obj.sock and obj.sock.fileno()
        if module.startswith("psycopg.") and cls.__name__ in ("Connection", "AsyncConnection"):
            return "psycopg", None if obj.closed else obj.pgconn.socket
        if module.startswith("psycopg2") and cls.__name__ == "connection":
            return "psycopg2", None if obj.closed else obj.fileno()
        if module.startswith("pymysql.") and cls.__name__ == "Connection":
            return "pymysql", obj._sock and obj._sock.fileno()
    except Exception:
        return None
    return None


def connections():
    """Open TCP connections held by known clients' connection objects, with their peer ("10.0.0.1:5432"): check
    names the client of each connection open at the checkpoint by its owner, not by its port."""
    import gc
    import socket
    found = []
    wanted = ("urllib3.", "http.client", "psycopg", "pymysql.")
    if not any(name.startswith(wanted) for name in list(sys.modules)):
        return found
    for obj in gc.get_objects():
        module = getattr(type(obj), "__module__", None)
        if not isinstance(module, str) or not module.startswith(wanted):
            continue
        owned = connection_socket(obj)
        if not owned or owned[1] is None or owned[1] < 0:
            continue
        try:
            with socket.socket(fileno=os.dup(owned[1])) as sock:
                peer = sock.getpeername()
        except OSError:
            continue
        found.append({"client": owned[0], "peer": "%s:%d" % (peer[0], peer[1])})
        if len(found) >= 50:
            break
    return found


def guarded(probe, fallback):
    """A probe that walks library objects must not cost the whole inspection."""
    try:
        return probe()
    except Exception:
        return fallback


def gather(task_root, window, restored=True):
    """The facts check compares. `restored`: a restored copy draws once from OpenSSL's generators (before the
    snapshot a draw would seed them into it); a process not yet snapshotted reports the live connections its
    clients hold (in a copy they are dead and say nothing)."""
    values, credentials = [], []
    modules = sorted(user_modules(task_root), key=lambda item: item[0])
    for name, module in modules:
        seen = set()
        for attr, value in list(vars(module).items()):
            if attr.startswith("__") or isinstance(value, (types.ModuleType, types.FunctionType, type)):
                continue
            walk("%s.%s" % (name, attr), value, window, values, credentials, 0, seen)
    facts = {
        "values": values,
        "cachedCredentials": sorted(set(credentials)),
        "environmentCredentials": [k for k in CREDENTIAL_ENV if os.environ.get(k)],
        "hooks": hooks(task_root),
        "clients": [name for name in KNOWN_CLIENTS if name in sys.modules],
        "connections": [] if restored else guarded(connections, []),
        "openssl": openssl_probes() if restored else {},
        "sslUsed": "ssl" in sys.modules and used_by(modules, sys.modules["ssl"]),
    }
    facts.update(random_state(modules, task_root))
    facts.update(numpy_state(modules, task_root))
    return facts
