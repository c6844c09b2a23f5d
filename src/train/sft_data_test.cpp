// Fine-tuning data (sft_data.h) with the embedded Llama 3 tokenizer: which
// tokens are trained (decoded back to text, independently of how the masks
// were made), plain text, truncation and dropping, and errors naming the line.
#include "train/sft_data.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

namespace herd::train {
namespace {

const tokenizer::Tokenizer& tok() {
  static const tokenizer::Tokenizer t = *tokenizer::Tokenizer::llama3();
  return t;
}

// The trained tokens decoded, each maximal run of them as one string.
std::vector<std::string> trained_runs(const Example& ex) {
  std::vector<std::string> runs;
  std::vector<int32_t> cur;
  for (size_t i = 0; i <= ex.ids.size(); ++i) {
    if (i < ex.ids.size() && ex.trained[i]) {
      cur.push_back(ex.ids[i]);
    } else if (!cur.empty()) {
      runs.push_back(tok().decode(cur));
      cur.clear();
    }
  }
  return runs;
}

TEST(SftData, ConversationTrainsOnTheAssistantTurnsOnly) {
  const std::string line =
      R"({"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi!"},)"
      R"( {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "Bye."},)"
      R"( {"role": "assistant", "content": "Goodbye, see you."}]})";
  Result<Example> ex = parse_sft_line(line, "t:1", tok(), false);
  ASSERT_TRUE(ex.has_value()) << ex.error().to_string();
  EXPECT_EQ(trained_runs(*ex), (std::vector<std::string>{"Hello.<|eot_id|>", "Goodbye, see you.<|eot_id|>"}));
  EXPECT_EQ(ex->ids.front(), 128000);
  // The whole rendering is the 3.1 format of the conversation, system message verbatim.
  EXPECT_EQ(tok().decode(ex->ids),
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nBye.<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\nGoodbye, see you.<|eot_id|>");
  Result<Example> all = parse_sft_line(line, "t:1", tok(), true);
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(all->n_trained(), static_cast<int64_t>(all->ids.size()) - 1);
  EXPECT_FALSE(all->trained[0]);
}

TEST(SftData, ToolCallTurnsAreTrainedWithTheirEom) {
  const std::string line =
      R"({"messages": [{"role": "user", "content": "Weather in Paris?"}, {"role": "assistant", "content": null,)"
      R"( "tool_calls": [{"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},)"
      R"( {"role": "tool", "content": "18 C"}, {"role": "assistant", "content": "It is 18 C."}],)"
      R"( "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]})";
  Result<Example> ex = parse_sft_line(line, "t:1", tok(), false);
  ASSERT_TRUE(ex.has_value()) << ex.error().to_string();
  const std::vector<std::string> runs = trained_runs(*ex);
  ASSERT_EQ(runs.size(), 2u);
  // Meta's JSON call format, ended by <|eom_id|> (a result follows).
  EXPECT_EQ(runs[0], R"(<|python_tag|>{"type": "function", "name": "get_weather", "parameters": {"city": "Paris"}}<|eom_id|>)");
  EXPECT_EQ(runs[1], "It is 18 C.<|eot_id|>");
  EXPECT_EQ(tok().decode(ex->ids).find("18 C<|eot_id|>") != std::string::npos, true);  // the tool result, not trained
}

TEST(SftData, PlainText) {
  Result<Example> ex = parse_sft_line(R"({"text": "Once upon a time"})", "t:1", tok(), false);
  ASSERT_TRUE(ex.has_value());
  EXPECT_EQ(tok().decode(ex->ids), "<|begin_of_text|>Once upon a time<|end_of_text|>");
  EXPECT_EQ(trained_runs(*ex), (std::vector<std::string>{"Once upon a time<|end_of_text|>"}));
}

TEST(SftData, ErrorsNameTheLineAndField) {
  const std::string dir = ::testing::TempDir();
  const std::string path = dir + "/sft_bad.jsonl";
  struct Case {
    std::string body, want;
  };
  for (const Case& c : std::vector<Case>{
           {"{\"text\": \"ok\"}\n[1, 2]\n", "sft_bad.jsonl:2: each line must be a JSON object"},
           {"\n\n{\"messages\": 3}\n", "sft_bad.jsonl:3: field \"messages\""},
           {"{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}\n", "sft_bad.jsonl:1: field \"messages\": no assistant"},
           {"{\"text\": \"a\", \"messages\": []}\n", "sft_bad.jsonl:1: both"},
           {"{\"prompt\": \"a\"}\n", "sft_bad.jsonl:1: no \"messages\""},
           {"{\"text\": \"a\"\n", "sft_bad.jsonl:1: not JSON"},
           {"{\"text\": \"a\", \"x\": " + std::string(200, '[') + std::string(200, ']') + "}\n", "sft_bad.jsonl:1: nested deeper"},
       }) {
    std::ofstream(path) << c.body;
    Result<SftData> d = load_sft_jsonl(path, tok(), SftOptions{});
    ASSERT_FALSE(d.has_value()) << c.body;
    EXPECT_NE(d.error().message().find(c.want), std::string::npos) << d.error().message();
  }
  EXPECT_FALSE(load_sft_jsonl(dir + "/missing.jsonl", tok(), SftOptions{}).has_value());
  // A line past 16 MiB is refused by its length (not read whole, not parsed).
  std::ofstream(path) << "{\"text\": \"ok\"}\n{\"text\": \"" << std::string(size_t{17} << 20, 'a') << "\"}\n";
  Result<SftData> big = load_sft_jsonl(path, tok(), SftOptions{});
  ASSERT_FALSE(big.has_value());
  EXPECT_NE(big.error().message().find("sft_bad.jsonl:2: the line is longer than 16 MiB"), std::string::npos)
      << big.error().message();
}

TEST(SftData, LongExamplesAreCutAndEmptyOnesDroppedAndCounted) {
  const std::string path = ::testing::TempDir() + "/sft_cut.jsonl";
  std::ofstream(path) << R"({"messages": [{"role": "user", "content": "A long question with many words in it"},)"
                         R"( {"role": "assistant", "content": "Yes."}]})"
                      << "\n"
                      << R"({"text": "one two three four five six seven eight nine ten"})" << "\n";
  SftOptions o;
  o.max_tokens = 8;  // the chat's assistant turn starts past token 8: nothing left to train
  Result<SftData> d = load_sft_jsonl(path, tok(), o);
  ASSERT_TRUE(d.has_value()) << d.error().to_string();
  EXPECT_EQ(d->truncated, 2);
  EXPECT_EQ(d->dropped, 1);
  ASSERT_EQ(d->examples.size(), 1u);
  EXPECT_EQ(d->examples[0].ids.size(), 8u);
  EXPECT_EQ(d->examples[0].line, 2);
}

}  // namespace
}  // namespace herd::train
