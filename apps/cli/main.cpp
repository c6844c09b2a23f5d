// herd: entry point; dispatches to one function per subcommand (see commands.h).
#include <cstdio>
#include <cstring>
#include <string>

#include "base/version.h"
#include "commands.h"

namespace {

struct Command {
  const char* name;
  int (*fn)(int argc, char** argv);
  const char* help;
};

const Command kCommands[] = {
    {"run", herd::cli::cmd_run, "generate text from a prompt"},
    {"inspect", herd::cli::cmd_inspect, "print a model's metadata, tensors and memory plan"},
    {"tokenize", herd::cli::cmd_tokenize, "print the token ids and pieces of a text"},
    {"make-model", herd::cli::cmd_make_model, "write a random-weight model in the real format"},
    {"bench", herd::cli::cmd_bench, "measure prompt and decode speed (like llama-bench)"},
    {"template", herd::cli::cmd_template, "print the chat prompt (or its token ids) for a conversation"},
    {"chat", herd::cli::cmd_chat, "chat with a Llama 3.1 Instruct model in the terminal"},
    {"serve", herd::cli::cmd_serve, "serve the OpenAI-compatible HTTP API and a web chat page"},
};

void usage() {
  std::fprintf(stderr, "usage: herd COMMAND [options]\n\ncommands:\n");
  for (const auto& c : kCommands) std::fprintf(stderr, "  %-12s %s\n", c.name, c.help);
  std::fprintf(stderr, "\n'herd COMMAND --help' describes a command's options; 'herd --version' prints the version.\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    usage();
    return argc < 2 ? 2 : 0;
  }
  if (!std::strcmp(argv[1], "--version") || !std::strcmp(argv[1], "version")) {
    std::printf("herd %s\n", herd::kVersion);
    return 0;
  }
  for (const auto& c : kCommands)
    if (!std::strcmp(argv[1], c.name)) return c.fn(argc - 1, argv + 1);
  std::fprintf(stderr, "herd: unknown command '%s'\n", argv[1]);
  usage();
  return 2;
}
