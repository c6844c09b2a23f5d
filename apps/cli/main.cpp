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
    {"finetune", herd::cli::cmd_finetune, "train a LoRA adapter on your data (JSONL chats or text)"},
    {"dpo", herd::cli::cmd_dpo, "train a LoRA adapter on preference pairs (DPO, IPO)"},
    {"distill", herd::cli::cmd_distill, "train a student's LoRA adapter on a teacher's distributions"},
    {"synth", herd::cli::cmd_synth, "sample completions, judge them, keep the best (rejection sampling) and pairs"},
    {"posttrain", herd::cli::cmd_posttrain, "rounds of synth -> finetune -> dpo from a recipe, with a manifest"},
    {"convert", herd::cli::cmd_convert, "convert a Hugging Face directory to GGUF, or a GGUF to a Hugging Face directory"},
    {"export-lora", herd::cli::cmd_export_lora, "merge LoRA adapters into a base model (GGUF or HF)"},
    {"imatrix", herd::cli::cmd_imatrix, "an importance matrix from calibration text (llama-imatrix's statistics and file)"},
    {"perplexity", herd::cli::cmd_perplexity, "a model's perplexity on a text file, by llama-perplexity's method"},
    {"guard", herd::cli::cmd_guard, "classify a conversation's last message with Llama Guard 3 (JSON verdict and score)"},
    {"quantize", herd::cli::cmd_quantize, "rewrite a GGUF in another type (Q4_K_M, Q8_0, ...) as llama-quantize does"},
};

void usage(FILE* out) {
  std::fprintf(out, "usage: herd COMMAND [options]\n\ncommands:\n");
  for (const auto& c : kCommands) std::fprintf(out, "  %-12s %s\n", c.name, c.help);
  std::fprintf(out, "\n'herd help COMMAND' (or 'herd COMMAND --help') describes a command's options; "
                    "'herd --version' prints the version. Exit status: 0 success, 2 a wrong command line, "
                    "1 a failure while running.\n");
}

const Command* find_command(const char* name) {
  for (const auto& c : kCommands)
    if (!std::strcmp(name, c.name)) return &c;
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (!std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") || (!std::strcmp(argv[1], "help") && argc == 2)) {
    usage(stdout);
    return 0;
  }
  if (!std::strcmp(argv[1], "help")) {  // herd help COMMAND: the command's own --help
    const Command* c = find_command(argv[2]);
    if (!c) {
      std::fprintf(stderr, "herd help: unknown command '%s'\n", argv[2]);
      usage(stderr);
      return 2;
    }
    char help_flag[] = "--help";
    char* args[] = {argv[2], help_flag, nullptr};
    return c->fn(2, args);
  }
  if (!std::strcmp(argv[1], "--version") || !std::strcmp(argv[1], "version")) {
    std::printf("herd %s\n", herd::kVersion);
    return 0;
  }
  if (const Command* c = find_command(argv[1])) return c->fn(argc - 1, argv + 1);
  std::fprintf(stderr, "herd: unknown command '%s'\n", argv[1]);
  usage(stderr);
  return 2;
}
