/* libcriu, found through pkg-config (criu.pc of the CRIU that scripts/deps.sh provisions). */
#include <criu.h>
#include <version.h>
