// herd inspect (placeholder while the layers below land).
#include <cstdio>
#include "commands.h"
namespace herd::cli {
int cmd_inspect(int, char**) { std::fprintf(stderr, "not yet\n"); return 1; }
}  // namespace herd::cli
