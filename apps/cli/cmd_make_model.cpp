// herd make_model (placeholder while the layers below land).
#include <cstdio>
#include "commands.h"
namespace herd::cli {
int cmd_make_model(int, char**) { std::fprintf(stderr, "not yet\n"); return 1; }
}  // namespace herd::cli
