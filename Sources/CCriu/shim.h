/* libcriu, found through pkg-config (criu.pc of the CRIU that scripts/deps.sh provisions). */
#include <criu.h>
#include <version.h>
#include <rpc.pb-c.h>
#include <stdbool.h>

/* libcriu has no setter for a lazy (userfaultfd) restore, though its RPC has the field: its options object starts
 * with the RPC message (lib/c/criu.c, CRIU 4.x, the version `make deps` builds). */
static inline void sh_criu_set_lazy_pages(criu_opts *opts, bool on) {
    CriuOpts *rpc = *(CriuOpts **)opts;
    rpc->has_lazy_pages = on;
    rpc->lazy_pages = on;
}
