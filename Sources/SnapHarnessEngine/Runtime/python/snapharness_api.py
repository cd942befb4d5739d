"""snapharness Runtime API server: the entry point of pid 1 of an environment whose runtime speaks Lambda's Runtime
API (awslambdaric, a custom runtime's bootstrap, a container image). The server itself is snapharness_agent/api.py."""
import signal

# Blocked before anything else: the restore signal must wait for sigwait, never kill us. The runtime gets an empty mask.
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})

from snapharness_agent import api  # noqa: E402 (after the mask)

if __name__ == "__main__":
    api.main()
