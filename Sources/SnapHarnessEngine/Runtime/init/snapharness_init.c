/* pid 1 of a built-in runtime's environment, as Lambda's own init is: the runtime runs as its child, so the function
 * is not pid 1 (a signal it sends itself acts, its orphans are reaped here), as under awslambdaric.
 *
 *   snapharness-init PROGRAM ARG...
 *
 * SIGUSR1 (the supervisor's restore signal), SIGTERM and SIGINT are passed on to the runtime. The environment ends
 * with the runtime and with its status: its exit code, or, when a signal killed it, 128 + the signal after a line
 * "\x1esnapharness:exit:signal:N" on stderr, which the supervisor strips and reports as that signal (pid 1 cannot
 * be killed by a signal it sends itself). Built by `make deps` (scripts/deps.sh) into the runtime library folder. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile pid_t runtime_pid;

static void pass_on(int sig) {
    if (runtime_pid > 0) kill(runtime_pid, sig);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fputs("usage: snapharness-init PROGRAM ARG...\n", stderr);
        return 127;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = pass_on;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    pid_t pid = fork();
    if (pid < 0) {
        perror("snapharness-init: fork");
        return 127;
    }
    if (pid == 0) {
        execv(argv[1], argv + 1); /* handlers go back to their defaults across exec */
        fprintf(stderr, "snapharness-init: cannot run %s: %s\n", argv[1], strerror(errno));
        _exit(127);
    }
    runtime_pid = pid;
    for (;;) {
        int status;
        pid_t done = waitpid(-1, &status, 0);
        if (done < 0) {
            if (errno == EINTR) continue;
            return 127;
        }
        if (done != pid) continue; /* an orphan of the function: reaped */
        if (WIFEXITED(status)) return WEXITSTATUS(status);
        if (WIFSIGNALED(status)) {
            char line[48];
            int n = snprintf(line, sizeof line, "\x1esnapharness:exit:signal:%d\n", WTERMSIG(status));
            if (write(2, line, (size_t)n) < 0) { /* nothing left to tell it on */ }
            return 128 + WTERMSIG(status);
        }
    }
}
