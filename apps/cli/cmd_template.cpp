// herd template: print exactly what the model sees for a conversation.
//
//   herd template [-m MODEL] --messages FILE.json [--tools FILE.json] [--ids]
//                 [--date "26 July 2024"] [--no-preamble] [--tool-format json|function_tag]
//                 [--tool-defs user|first-user|system] [--no-generation-prompt]
//
// FILE.json holds OpenAI-shaped messages (an array, or an object with "messages");
// --tools holds OpenAI function tools and/or built-in names ("brave_search"). The
// prompt is rendered in Meta's Llama 3.1 format (src/chat/llama3_format.h) and printed
// byte for byte, control tokens spelled out, with no newline added; --ids prints the
// token ids instead, control tokens inserted by id and message text encoded with
// special-token parsing off. MODEL (a .gguf, tokenizer.model, tokenizer.json or a
// directory) supplies the tokenizer; without -m the built-in Llama 3.1 tokenizer is used.
#include <cstdio>
#include <string>
#include <vector>

#include "args.h"
#include "base/mapped_file.h"
#include "base/result.h"
#include "chat/llama3_format.h"
#include "chat/messages.h"
#include "tokenizer/tokenizer.h"

namespace herd::cli {

// Defined in cmd_tokenize.cpp: a .gguf model, tokenizer.model, tokenizer.json or dir.
Result<tokenizer::Tokenizer> load_tokenizer_for_cli(const std::string& path);

int cmd_template(int argc, char** argv) {
  ArgParser p("template", "--messages FILE.json [options]");
  p.add("-m,--model", "PATH", "model or tokenizer whose vocabulary gives the ids (default: built-in Llama 3.1)");
  p.add("--messages", "FILE", "the conversation: a JSON array of OpenAI-shaped messages");
  p.add("--tools", "FILE", "tools: OpenAI function definitions and/or built-in names (brave_search, ...)");
  p.add("--ids", "", "print the token ids instead of the text");
  p.add("--date", "DATE", "the 'Today Date:' value, e.g. \"26 July 2024\" (default: today)");
  p.add("--no-preamble", "", "no Meta system lines (dates, Environment, Tools): system message verbatim");
  p.add("--tool-format", "FMT", "custom tool format: json (default, Meta) or function_tag");
  p.add("--tool-defs", "WHERE", "custom tool definitions in: user (default, Meta), first-user or system");
  p.add("--no-generation-prompt", "", "do not end with the assistant header");
  int code = 0;
  if (!p.parse(argc, argv, &code)) return code;
  if (!p.positionals().empty() || !p.has("--messages")) {
    std::fprintf(stderr, "herd template: give --messages FILE.json (and no positional arguments)\n");
    p.print_usage(stderr);
    return 2;
  }

  chat::FormatOptions opts;
  opts.today = p.get("--date");
  if (p.has("--no-preamble")) opts.preamble = chat::SystemPreamble::kNone;
  if (p.has("--no-generation-prompt")) opts.add_generation_prompt = false;
  const std::string fmt = p.get("--tool-format", "json");
  if (fmt == "function_tag") {
    opts.tool_format = chat::ToolFormat::kFunctionTag;
  } else if (fmt != "json") {
    std::fprintf(stderr, "herd template: --tool-format must be json or function_tag, got '%s'\n", fmt.c_str());
    return 2;
  }
  const std::string where = p.get("--tool-defs", "user");
  if (where == "first-user") {
    opts.tool_defs = chat::ToolDefsPlacement::kFirstUserMessage;
  } else if (where == "system") {
    opts.tool_defs = chat::ToolDefsPlacement::kSystemMessage;
  } else if (where != "user") {
    std::fprintf(stderr, "herd template: --tool-defs must be user, first-user or system, got '%s'\n", where.c_str());
    return 2;
  }

  auto text = read_text_file(p.get("--messages"), size_t{64} << 20);
  if (!text) {
    std::fprintf(stderr, "herd template: %s\n", text.error().to_string().c_str());
    return 1;
  }
  auto messages = chat::parse_messages_json(*text);
  if (!messages) {
    std::fprintf(stderr, "herd template: %s: %s\n", p.get("--messages").c_str(),
                 messages.error().to_string().c_str());
    return 1;
  }
  chat::ToolSet tools;
  if (p.has("--tools")) {
    auto tools_text = read_text_file(p.get("--tools"), size_t{64} << 20);
    if (!tools_text) {
      std::fprintf(stderr, "herd template: %s\n", tools_text.error().to_string().c_str());
      return 1;
    }
    auto parsed = chat::parse_tools_json(*tools_text);
    if (!parsed) {
      std::fprintf(stderr, "herd template: %s: %s\n", p.get("--tools").c_str(), parsed.error().to_string().c_str());
      return 1;
    }
    tools = std::move(*parsed);
  }
  auto prompt = chat::render_prompt(*messages, tools, opts);
  if (!prompt) {
    std::fprintf(stderr, "herd template: %s\n", prompt.error().to_string().c_str());
    return 1;
  }
  // The tokenizer is loaded even for text output, so a bad -m is reported either way.
  auto tok = p.has("--model") ? load_tokenizer_for_cli(p.get("--model")) : tokenizer::Tokenizer::llama3();
  if (!tok) {
    std::fprintf(stderr, "herd template: %s\n", tok.error().to_string().c_str());
    return 1;
  }
  if (!p.has("--ids")) {
    const std::string out = prompt->text();
    std::fwrite(out.data(), 1, out.size(), stdout);
    return 0;
  }
  auto ids = prompt->ids(*tok);
  if (!ids) {
    std::fprintf(stderr, "herd template: %s\n", ids.error().to_string().c_str());
    return 1;
  }
  std::string line;
  for (size_t i = 0; i < ids->size(); ++i) line += (i ? " " : "") + std::to_string((*ids)[i]);
  std::printf("%s\n", line.c_str());
  return 0;
}

}  // namespace herd::cli
