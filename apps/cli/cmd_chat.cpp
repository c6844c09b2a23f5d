// herd chat: an interactive multi-turn chat in the terminal, streamed.
//
//   herd chat -m MODEL [--system TEXT] [--allow-tools] [--guard GUARD] [--prompt-guard DIR] [sampling options]
//
// Turns come from turn_reader.h: on a terminal, libedit line editing with a history file,
// `"""` blocks and `\` continuation for multi-line turns, a paste as one turn; from a pipe,
// plain lines (the same multi-line rules). -p sends a first turn before reading. The conversation is rendered in Meta's Llama 3.1 format and kept in the KV
// cache across turns, so each turn prefills only its own tokens (chat_session.h).
// Commands: /system TEXT, /reset, /save FILE, /load FILE, /tools FILE, /help, /quit.
// Ctrl-C stops the current generation (or running tool code); at the prompt a second
// Ctrl-C, /quit or end of input (Ctrl-D) exits. With --allow-tools the built-in
// code_interpreter runs model-written Python in a sandbox (sandbox.h); without it
// nothing is ever executed. With --prompt-guard, Prompt Guard screens user turns
// (jailbreak) and tool output (injection) before the model reads them; with --guard,
// Llama Guard judges user turns before and replies after generation (chat_session.h).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>

#include "args.h"
#include "base/mapped_file.h"
#include "chat_session.h"
#include "guard_model.h"
#include "prompt_guard_model.h"
#include "turn_reader.h"
#include "commands.h"
#include "lora_option.h"
#include "kernels/kernel_table.h"
#include "model/llama_context.h"
#include "model/runtime.h"
#include "model/model_tokenizer.h"

namespace herd::cli {
namespace {

std::atomic<bool> g_interrupt{false};
int g_wake[2] = {-1, -1};  // self-pipe: the SIGINT handler writes a byte to wake poll()

void on_sigint(int) {
  g_interrupt.store(true);
  const int saved = errno;
  if (g_wake[1] >= 0) (void)!write(g_wake[1], "x", 1);
  errno = saved;
}

void drain_wake() {
  char tmp[64];
  while (read(g_wake[0], tmp, sizeof tmp) > 0) {
  }
}

const char kHelp[] =
    "commands:\n"
    "  /system TEXT   set the system prompt (empty clears it); the conversation is re-prefilled\n"
    "  /reset         start a new conversation (keeps the system prompt and tools)\n"
    "  /save FILE     write the conversation as JSON (OpenAI-shaped messages)\n"
    "  /load FILE     replace the conversation with FILE's messages and prefill them\n"
    "  /tools FILE    use the tools in FILE (JSON: function definitions and/or built-in names)\n"
    "  /help          this text\n"
    "  /quit          exit (also Ctrl-D, or Ctrl-C twice at the prompt)\n"
    "multi-line turns: start with \"\"\" and end with \"\"\", or end a line with \\ to continue it;\n"
    "a paste is one turn. Up/down and Ctrl-R recall earlier turns.\n"
    "Ctrl-C stops the reply being generated.\n";

// Runs one /command; false means quit.
bool command(ChatSession& s, const std::string& line, bool color) {
  const size_t sp = line.find(' ');
  const std::string cmd = line.substr(0, sp);
  std::string arg = sp == std::string::npos ? "" : line.substr(sp + 1);
  while (!arg.empty() && arg.front() == ' ') arg.erase(0, 1);
  while (!arg.empty() && arg.back() == ' ') arg.pop_back();
  auto note = [color](const std::string& t) { print_note(color, "[" + t + "]"); };
  if (cmd == "/quit" || cmd == "/exit") return false;
  if (cmd == "/help") {
    std::fputs(kHelp, stdout);
  } else if (cmd == "/reset") {
    s.reset();
    note("new conversation");
  } else if (cmd == "/system") {
    s.set_system(arg);
    note(arg.empty() ? "system prompt cleared" : "system prompt set; applies from the next turn");
  } else if (cmd == "/save" || cmd == "/load" || cmd == "/tools") {
    if (arg.empty()) {
      note("usage: " + cmd + " FILE");
    } else if (cmd == "/save") {
      const std::string json = chat::messages_to_json(s.messages()) + "\n";
      Status w = write_file(arg, json.data(), json.size());
      note(w.has_value() ? "saved " + std::to_string(s.messages().size()) + " messages to " + arg
                         : "cannot save: " + w.error().to_string());
    } else {
      Result<std::string> text = read_text_file(arg, size_t{64} << 20);
      if (!text.has_value()) {
        note("cannot read: " + text.error().to_string());
      } else if (cmd == "/tools") {
        Result<chat::ToolSet> tools = chat::parse_tools_json(*text);
        if (!tools.has_value()) {
          note(arg + ": " + tools.error().to_string());
        } else {
          const size_t n = tools->builtin.size() + tools->custom.size();
          s.set_tools(std::move(*tools));
          note(std::to_string(n) + " tools set; the conversation is re-prefilled on the next turn");
        }
      } else {
        Result<std::vector<chat::Message>> msgs = chat::parse_messages_json(*text);
        if (!msgs.has_value()) {
          note(arg + ": " + msgs.error().to_string());
        } else {
          const size_t n = msgs->size();
          note("loading " + std::to_string(n) + " messages from " + arg);
          Status l = s.load(std::move(*msgs));
          if (!l.has_value()) note("load failed: " + l.error().to_string());
          else note("loaded; context " + std::to_string(s.n_past()) + "/" + std::to_string(s.n_ctx()));
        }
      }
    }
  } else {
    note("unknown command " + cmd + "; /help lists them");
  }
  std::fflush(stdout);
  return true;
}

}  // namespace

int cmd_chat(int argc, char** argv) {
  ArgParser p("chat", "-m MODEL [options]");
  p.add("-m,--model", "PATH", "model: a .gguf file or a Hugging Face directory (Llama 3.1 Instruct)");
  p.add("--lora", "PATH[:SCALE]", kLoraOptionHelp);
  p.add("-sys,--system", "TEXT", "system prompt");
  p.add("-p,--prompt", "TEXT", "a first user turn, sent before reading input");
  p.add("--color", "[auto|on|off]", "color the prompt and notes (default auto: when stdout is a terminal and NO_COLOR is unset)");
  p.add("--history", "FILE", "keep the input history in FILE (default $XDG_STATE_HOME/herd/chat_history or ~/.local/state/herd/chat_history; HERD_HISTORY too)");
  p.add("--no-history", "", "keep no history file");
  add_guard_options(p, "a Llama Guard 3 model (GGUF or HF directory): user turns it flags are not sent, replies it "
        "flags are replaced by a refusal (with the output shield, replies show when complete; docs/guard.md)");
  add_prompt_guard_options(p, "Prompt Guard directory: user turns flagged as jailbreaks are not sent, tool output "
        "flagged as an injection is withheld (docs/guard.md)");
  p.add("--allow-tools", "", "run the model's code_interpreter calls (sandboxed python3); off by default");
  p.add("--tool-cpu", "S", "with --allow-tools: CPU seconds a code run may use (default 10; wall clock 3x)");
  p.add("-n,--n-predict", "N", "most tokens per reply (default 1024)");
  p.add("-c,--ctx-size", "N", "context size (default: the model's trained context, at most 8192)");
  p.add("-b,--batch-size", "N", "prompt tokens evaluated per forward pass (default 64)");
  p.add("-t,--threads", "N", "threads (default: all cores)");
  p.add("--temp", "T", "temperature (default 0.6; 0 = greedy)");
  p.add("--top-k", "K", "keep the K most likely tokens (default 0 = off)");
  p.add("--top-p", "P", "nucleus sampling mass (default 0.9)");
  p.add("--seed", "N", "sampling seed (default: random)");
  p.add("--date", "DATE", "the 'Today Date:' of the system lines, e.g. \"26 July 2024\" (default: today)");
  p.add("--stop", "TEXT", "end a reply when it produces TEXT (not shown); more with --stop-file");
  p.add("--stop-file", "FILE", "stop strings, one per line");
  p.add("--ignore-eos", "", "keep generating past end tokens (testing: only -n or Ctrl-C stops a reply)");
  p.add("-v,--verbose", "", "print per-turn statistics (tokens prefilled, speed) on stderr");
  add_isa_option(p);
  add_cache_type_options(p);
  add_fp8_activation_option(p);
  add_llama_cpp_compat_options(p);
  int code = 0;
  if (!p.parse(argc, argv, &code)) return code;
  note_ignored_options(p, "chat");
  if (!p.has("--model") || !p.positionals().empty()) {
    std::fprintf(stderr, "herd chat: -m MODEL is required (and no positional arguments)\n");
    p.print_usage(stderr);
    return 2;
  }
  auto n_predict = p.get_int("--n-predict", 1024, 1, 1 << 30);
  auto threads = p.get_int("--threads", default_threads(), 1, 1024);
  auto batch = p.get_int("--batch-size", 64, 1, 1 << 16);
  auto ctx_arg = p.get_int("--ctx-size", 0, 0, 1 << 30);
  auto top_k = p.get_int("--top-k", 0, 0, 1 << 30);
  auto temp = p.get_double("--temp", 0.6);
  auto top_p = p.get_double("--top-p", 0.9);
  auto seed_arg = p.get_int("--seed", -1, -1, INT64_MAX);
  auto tool_cpu = p.get_int("--tool-cpu", 10, 1, 3600);
  auto cache_types = get_cache_types(p);
  if (const Error* e = first_error(tool_cpu, n_predict, threads, batch, ctx_arg, top_k, temp, top_p, seed_arg, cache_types))
    return fail_usage("chat", *e);

  ChatOptions o;
  o.sampling.temperature = static_cast<float>(*temp);
  o.sampling.top_k = static_cast<int32_t>(*top_k);
  o.sampling.top_p = static_cast<float>(*top_p);
  o.sampling.seed = *seed_arg >= 0 ? static_cast<uint64_t>(*seed_arg) : std::random_device{}();
  if (Status s = o.sampling.validate(); !s.has_value()) return fail_usage("chat", s.error());
  o.n_predict = *n_predict;
  o.allow_tools = p.has("--allow-tools");
  std::unique_ptr<PromptGuardModel> prompt_guard;
  {
    Result<std::unique_ptr<PromptGuardModel>> pg = open_prompt_guard_option(p, static_cast<int>(*threads));
    if (!pg) return pg.error().code() == ErrorCode::kInvalidArgument ? fail_usage("chat", pg.error()) : fail_run("chat", pg.error());
    prompt_guard = std::move(*pg);
  }
  if (prompt_guard) {
    o.prompt_guard = prompt_guard.get();
  }
  o.tool_cpu_seconds = static_cast<int>(*tool_cpu);
  o.verbose = p.has("--verbose");
  o.ignore_eos = p.has("--ignore-eos");
  if (p.has("--stop")) o.stop_strings.push_back(p.get("--stop"));
  if (p.has("--stop-file")) {
    Result<std::string> text = read_text_file(p.get("--stop-file"), 1u << 20);
    if (!text.has_value()) {
      std::fprintf(stderr, "herd chat: %s\n", text.error().to_string().c_str());
      return 2;
    }
    size_t start = 0;
    while (start <= text->size()) {
      size_t nl = text->find('\n', start);
      std::string line = text->substr(start, nl == std::string::npos ? std::string::npos : nl - start);
      if (!line.empty()) o.stop_strings.push_back(line);
      if (nl == std::string::npos) break;
      start = nl + 1;
    }
  }
  o.format.today = p.get("--date");
  const std::string color = p.get("--color", "auto");
  if (color == "on" || color == "always" || (p.has("--color") && color.empty())) {
    o.color = true;
  } else if (color == "auto") {
    const char* term = std::getenv("TERM");
    o.color = isatty(1) && !std::getenv("NO_COLOR") && !(term && std::string(term) == "dumb");
  } else if (color != "off" && color != "never") {
    return fail_usage("chat", err(ErrorCode::kInvalidArgument, "--color takes auto, on or off, not '%s'", color.c_str()));
  }
  TurnReaderOptions input;
  input.terminal = isatty(0);
  input.color = o.color;
  if (!p.has("--no-history")) {
    const char* env = std::getenv("HERD_HISTORY");
    input.history_path = p.has("--history") ? p.get("--history") : env ? std::string(env) : default_history_path();
  }

  Result<std::unique_ptr<model::Runtime>> rt =
      model::Runtime::open(runtime_options(p, *threads, stderr));
  if (!rt.has_value()) return fail_run("chat", rt.error());
  model::LlamaModel* model = &(*rt)->model();
  Result<std::vector<std::unique_ptr<train::LoraSet>>> loras = attach_lora_options(p.get_all("--lora"), *model);
  if (!loras.has_value()) return fail_run("chat", loras.error());
  const kernels::KernelTable* table = &(*rt)->table();
  Result<tokenizer::Tokenizer> tok = model::load_model_tokenizer(*model);
  if (!tok.has_value()) return fail_run("chat", tok.error().with_context("herd chat needs the model's tokenizer"));
  if (tok->special_id("<|eot_id|>") < 0 || tok->special_id("<|start_header_id|>") < 0)
    return fail_run("chat", err(ErrorCode::kUnsupported, "the model's vocabulary lacks the Llama 3.1 chat tokens"));
  const model::LlamaConfig& cfg = model->config();
  if (Status s = cache_types_fit(*cache_types, cfg.head_dim); !s.has_value()) return fail_usage("chat", s.error());
  const int64_t n_ctx = *ctx_arg > 0 ? *ctx_arg : std::min<int64_t>(std::max<int64_t>(cfg.n_ctx_train, 16), 8192);

  // --guard: Llama Guard on its own runtime and engine; a check holds the
  // guard's prompt and the conversation, at most the chat's context.
  Result<GuardOption> guard = open_guard_option(p, static_cast<int>(*threads), n_ctx + 512);
  if (!guard) return guard.error().code() == ErrorCode::kInvalidArgument ? fail_usage("chat", guard.error())
                                                                        : fail_run("chat", guard.error());
  if (guard->model) {
    o.guard = guard->model->shield.get();
    o.guard_input = guard->input;
    o.guard_output = guard->output;
  }

  ThreadPool& pool = (*rt)->pool();
  model::LlamaContext ctx(*model, n_ctx, std::min<int64_t>(*batch, n_ctx), (*rt)->exec(), cache_types->k,
                          cache_types->v);
  ChatSession session(ctx, *tok, o, &g_interrupt);
  if (p.has("--system")) session.set_system(p.get("--system"));

  if (pipe(g_wake) != 0) return fail_run("chat", err(ErrorCode::kIo, "pipe failed"));
  for (int fd : g_wake) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  struct sigaction sa{};
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: a read at the prompt returns EINTR
  sigaction(SIGINT, &sa, nullptr);

  const bool tty = input.terminal;
  if (!tty) input.history_path.clear();  // a script's input is not the user's history
  std::fprintf(stderr, "herd chat: %s, ctx %lld, %d threads, kernels %s, tools %s. /help for commands.\n",
               cfg.name.c_str(), static_cast<long long>(n_ctx), pool.size(), table->isa,
               o.allow_tools ? "allowed (code_interpreter, sandboxed)" : "shown, never run");
  TurnReader reader(input, &g_interrupt, g_wake[0]);
  auto send = [&](const std::string& turn) {
    Status s = session.user_turn(turn);
    if (!s.has_value()) print_note(o.color, "[error: " + s.error().to_string() + "]");
    std::fflush(stdout);
  };
  if (p.has("--prompt")) {
    if (tty) std::printf("> %s\n", p.get("--prompt").c_str());
    send(p.get("--prompt"));
  }
  bool warned = false;  // a Ctrl-C at the prompt; a second one exits
  for (;;) {
    g_interrupt.store(false);  // before anything the user may answer with a Ctrl-C
    drain_wake();
    if (warned) print_note(o.color, "\n[Ctrl-C again, /quit or Ctrl-D to exit]");
    std::string turn;
    bool single_line = false;
    const TurnReader::Got got = reader.next(&turn, &single_line);
    if (got == TurnReader::Got::kEof) break;
    if (got == TurnReader::Got::kInterrupted) {
      if (warned) break;
      warned = true;  // the note is printed at the loop's top, after the flag is cleared
      continue;
    }
    warned = false;
    if (turn.find_first_not_of(" \t\n") == std::string::npos) continue;
    reader.remember(turn);
    if (single_line && turn[0] == '/') {
      if (!command(session, turn, o.color)) break;
      continue;
    }
    send(turn);
  }
  if (tty) std::fputs("\n", stdout);
  return 0;
}

}  // namespace herd::cli
