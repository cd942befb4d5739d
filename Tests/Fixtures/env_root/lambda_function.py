"""Test fixture: what an environment sees of its own root and of the host."""
import os
import pwd
import socket


def lambda_handler(event, context):
    def exists(path):
        try:
            os.stat(path)
            return True
        except OSError:
            return False

    def writable(path):
        try:
            with open(path, "w"):
                return "ok"
        except OSError as e:
            return os.strerror(e.errno)

    mounts = [line.split()[1] for line in open("/proc/self/mounts")]
    try:
        sandbox = socket.gethostbyname("sandbox.localdomain")
    except OSError as e:
        sandbox = "unresolved: %s" % e
    return {
        "mounts": mounts,
        "host_file": exists(event["host_file"]),
        "host_file_folder": exists(os.path.dirname(event["host_file"])),
        "home": exists("/home"), "run": exists("/run"), "srv": exists("/srv"), "mnt": exists("/mnt"),
        "users": sorted(p.pw_name for p in pwd.getpwall()),
        "me": pwd.getpwuid(os.getuid()).pw_name,
        "hostname": socket.gethostname(),
        "sandbox": sandbox,
        "hosts": open("/etc/hosts").read(),
        "dev": sorted(os.listdir("/dev")),
        "write_root": writable("/x"),
        "dev_null": writable("/dev/null"),
        "urandom": len(open("/dev/urandom", "rb").read(16)),
    }
