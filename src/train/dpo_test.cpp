// DPO (dpo.h) and preference data (pref_data.h): each loss's value and
// derivatives (central differences in double), ln 2 at the start, and which
// tokens of a pair count (decoded back to text), the three JSONL layouts,
// truncation, and errors naming the line and field.
#include "train/dpo.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "train/pref_data.h"

namespace herd::train {
namespace {

const tokenizer::Tokenizer& tok() {
  static const tokenizer::Tokenizer t = *tokenizer::Tokenizer::llama3();
  return t;
}

std::string counted_text(const Example& ex) {
  std::vector<int32_t> ids;
  for (size_t i = 0; i < ex.ids.size(); ++i)
    if (ex.trained[i]) ids.push_back(ex.ids[i]);
  return tok().decode(ids);
}

TEST(Dpo, StartsAtLn2WithZeroRewards) {
  for (double beta : {0.05, 0.1, 2.0}) {
    DpoOptions o;
    o.beta = beta;
    const PairLoss l = dpo_pair_loss(o, -41.5, -60.25, -41.5, -60.25, 7, 9);
    EXPECT_EQ(l.loss, std::log(2.0));
    EXPECT_EQ(l.reward_chosen, 0.0);
    EXPECT_EQ(l.reward_rejected, 0.0);
    // d/dpi_c = -beta sigma(0) = -beta / 2: raise the chosen, lower the rejected.
    EXPECT_DOUBLE_EQ(l.d_pi_c, -beta / 2);
    EXPECT_DOUBLE_EQ(l.d_pi_r, beta / 2);
  }
}

TEST(Dpo, LossesMatchTheirFormulasAndDerivatives) {
  struct Case {
    DpoLoss loss;
    double beta, eps, rpo;
  };
  const Case cases[] = {{DpoLoss::kSigmoid, 0.1, 0, 0},   {DpoLoss::kSigmoid, 0.5, 0.2, 0},
                        {DpoLoss::kSigmoid, 0.1, 0, 0.2}, {DpoLoss::kIpo, 0.1, 0, 0},
                        {DpoLoss::kIpo, 1.0, 0, 0.5},     {DpoLoss::kHinge, 0.3, 0, 0}};
  const double pc = -30.0, pr = -35.5, rc = -31.25, rr = -33.0;
  const int64_t nc = 6, nr = 8;
  for (const Case& c : cases) {
    DpoOptions o;
    o.loss = c.loss;
    o.beta = c.beta;
    o.label_smoothing = c.eps;
    o.rpo_alpha = c.rpo;
    const PairLoss l = dpo_pair_loss(o, pc, pr, rc, rr, nc, nr);
    // The formulas of spec/post-training-safety.md A2, written out here.
    double want = 0;
    if (c.loss == DpoLoss::kIpo) {
      const double h = (pc - rc) / nc - (pr - rr) / nr;
      want = (h - 1 / (2 * c.beta)) * (h - 1 / (2 * c.beta));
    } else {
      const double h = (pc - rc) - (pr - rr);
      if (c.loss == DpoLoss::kSigmoid)
        want = -(1 - c.eps) * std::log(1 / (1 + std::exp(-c.beta * h))) - c.eps * std::log(1 / (1 + std::exp(c.beta * h)));
      else
        want = std::max(0.0, 1 - c.beta * h);
    }
    want += c.rpo * (-pc / nc);
    EXPECT_NEAR(l.loss, want, 1e-12 * std::max(1.0, std::fabs(want))) << dpo_loss_name(c.loss);
    const double hstep = 1e-5;
    const double dc = (dpo_pair_loss(o, pc + hstep, pr, rc, rr, nc, nr).loss -
                       dpo_pair_loss(o, pc - hstep, pr, rc, rr, nc, nr).loss) / (2 * hstep);
    const double dr = (dpo_pair_loss(o, pc, pr + hstep, rc, rr, nc, nr).loss -
                       dpo_pair_loss(o, pc, pr - hstep, rc, rr, nc, nr).loss) / (2 * hstep);
    EXPECT_NEAR(l.d_pi_c, dc, 1e-8) << dpo_loss_name(c.loss);
    EXPECT_NEAR(l.d_pi_r, dr, 1e-8) << dpo_loss_name(c.loss);
    const double avg_c = c.loss == DpoLoss::kIpo ? 1.0 / nc : 1.0, avg_r = c.loss == DpoLoss::kIpo ? 1.0 / nr : 1.0;
    EXPECT_DOUBLE_EQ(l.reward_chosen, c.beta * (pc - rc) * avg_c);
    EXPECT_DOUBLE_EQ(l.reward_rejected, c.beta * (pr - rr) * avg_r);
  }
  EXPECT_FALSE(parse_dpo_loss("kto").has_value());
}

TEST(PrefData, CountsTheCompletionOnly) {
  const char* lines[] = {
      R"({"prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi!"}],)"
      R"( "chosen": [{"role": "assistant", "content": "Hello."}], "rejected": [{"role": "assistant", "content": "Go away."}]})",
      R"({"prompt": "Hi!", "chosen": "Hello.", "rejected": "Go away."})",
      // Implicit prompt: the shared first messages (history with an assistant turn included).
      R"({"chosen": [{"role": "user", "content": "One?"}, {"role": "assistant", "content": "1"}, {"role": "user", "content": "Hi!"},)"
      R"( {"role": "assistant", "content": "Hello."}], "rejected": [{"role": "user", "content": "One?"}, {"role": "assistant", "content": "1"},)"
      R"( {"role": "user", "content": "Hi!"}, {"role": "assistant", "content": "Go away."}]})",
  };
  for (const char* line : lines) {
    Result<PrefPair> p = parse_pref_line(line, "p:1", tok());
    ASSERT_TRUE(p.has_value()) << p.error().to_string();
    EXPECT_EQ(counted_text(p->chosen), "Hello.<|eot_id|>") << line;
    EXPECT_EQ(counted_text(p->rejected), "Go away.<|eot_id|>") << line;
    // The prompt is rendered once, the same on both sides.
    const size_t prompt_len = p->chosen.ids.size() - 3;  // "Hello." + <|eot_id|> are 3 tokens
    EXPECT_TRUE(std::equal(p->chosen.ids.begin(), p->chosen.ids.begin() + static_cast<std::ptrdiff_t>(prompt_len),
                           p->rejected.ids.begin()));
  }
}

TEST(PrefData, ErrorsNameTheLineAndField) {
  const std::pair<const char*, const char*> bad[] = {
      {R"({"prompt": "Hi", "chosen": "A"})", "\"chosen\" and \"rejected\""},
      {R"({"prompt": "Hi", "chosen": "A", "rejected": "A"})", "are the same"},
      {R"({"prompt": "Hi", "chosen": 3, "rejected": "A"})", "field \"chosen\""},
      {R"({"prompt": "Hi", "chosen": [{"role": "user", "content": "x"}], "rejected": "A"})", "no assistant message"},
      {R"({"prompt": "Hi", "chosen": [{"role": "wizard", "content": "x"}], "rejected": "A"})", "prompt + chosen"},
      {R"(not json)", "not JSON"},
  };
  for (const auto& [line, want] : bad) {
    Result<PrefPair> p = parse_pref_line(line, "prefs.jsonl:7", tok());
    ASSERT_FALSE(p.has_value()) << line;
    EXPECT_NE(p.error().message().find("prefs.jsonl:7"), std::string::npos) << p.error().message();
    EXPECT_NE(p.error().message().find(want), std::string::npos) << p.error().message();
  }
}

TEST(PrefData, FileTruncatesDropsAndNamesLines) {
  const std::string path = (std::filesystem::temp_directory_path() / "herd_pref_test.jsonl").string();
  {
    std::ofstream f(path);
    f << R"({"prompt": "Hi!", "chosen": "Hello.", "rejected": "Go away."})" << "\n\n";
    f << R"({"prompt": "A much longer question that fills the budget", "chosen": "Yes.", "rejected": "No."})" << "\n";
  }
  Result<PrefData> d = load_pref_jsonl(path, tok(), 18);
  ASSERT_TRUE(d.has_value()) << d.error().to_string();
  EXPECT_EQ(d->pairs.size(), 1u);
  EXPECT_EQ(d->pairs[0].line, 1);
  EXPECT_EQ(d->dropped, 1);  // the second pair's completions are cut away
  EXPECT_EQ(d->truncated, 1);
  {
    std::ofstream f(path);
    f << R"({"prompt": "Hi!", "chosen": "Hello.", "rejected": "Go away."})" << "\n\n";
    f << R"({"prompt": "Hi!", "chosen": "Hello."})" << "\n";
  }
  d = load_pref_jsonl(path, tok(), 2048);
  ASSERT_FALSE(d.has_value());
  EXPECT_NE(d.error().message().find(path + ":3"), std::string::npos) << d.error().message();
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace herd::train
