// The herd subcommands. Each takes argv starting at the command name and
// returns the process exit status (0 ok, 1 runtime error, 2 usage error).
#pragma once

namespace herd::cli {
int cmd_run(int argc, char** argv);
int cmd_inspect(int argc, char** argv);
int cmd_make_model(int argc, char** argv);
int cmd_tokenize(int argc, char** argv);
int cmd_bench(int argc, char** argv);
int cmd_template(int argc, char** argv);
int cmd_chat(int argc, char** argv);
int cmd_serve(int argc, char** argv);
int cmd_finetune(int argc, char** argv);
int cmd_dpo(int argc, char** argv);
int cmd_distill(int argc, char** argv);
int cmd_synth(int argc, char** argv);
int cmd_posttrain(int argc, char** argv);
int cmd_quantize(int argc, char** argv);
int cmd_convert(int argc, char** argv);
int cmd_export_lora(int argc, char** argv);
int cmd_guard(int argc, char** argv);
int cmd_prompt_guard(int argc, char** argv);  // herd guard --prompt-guard
int cmd_perplexity(int argc, char** argv);
int cmd_imatrix(int argc, char** argv);
}  // namespace herd::cli
