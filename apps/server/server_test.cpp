// The HTTP layer against a scripted fake engine (no model): schema errors with
// field paths, SSE framing, stop strings, tool calls, n>1, auth, Host check,
// context overflow, 429 on a full queue, body limit, cancellation on disconnect.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "auth.h"
#include "engine/scripted_engine.h"
#include "generation.h"
#include "server.h"

namespace herd::server {
namespace {

using Json = nlohmann::json;

const tokenizer::Tokenizer& tok() {
  static const tokenizer::Tokenizer* t = new tokenizer::Tokenizer(std::move(*tokenizer::Tokenizer::llama3()));
  return *t;
}

// Replies with a scripted text chosen by the prompt (and the seed), one token per 2 ms.
std::string scripted_reply(const std::string& prompt, const engine::GenerationRequest& r) {
  if (prompt.find("get_weather") != std::string::npos && prompt.find("<|start_header_id|>ipython") == std::string::npos)
    return "<|python_tag|>{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}";
  if (prompt.find("forever") != std::string::npos) return std::string(2000, 'a');
  return "Hello world! Seed " + std::to_string(r.sampling.seed % 100) + ".";
}

class FakeEngine : public engine::ScriptedEngine {
 public:
  FakeEngine() : ScriptedEngine(tok(), scripted_reply) {}
};

class ServerTest : public ::testing::Test {
 protected:
  void start(ServerOptions o = {}) {
    o.port = 0;
    o.log_requests = false;
    o.model_id = "tiny";
    o.max_seq_len = 256;
    o.max_body_bytes = 64 * 1024;
    server_ = std::make_unique<Server>(engine_, tok(), o);
    port_ = *server_->bind();
    thread_ = std::thread([this] { (void)server_->listen(); });
    client_ = std::make_unique<httplib::Client>("127.0.0.1", port_);
    client_->set_read_timeout(10, 0);
  }
  void TearDown() override {
    if (server_) server_->stop();
    if (thread_.joinable()) thread_.join();
  }
  httplib::Result post(const std::string& path, const Json& body, httplib::Headers h = {}) {
    return client_->Post(path.c_str(), h, body.dump(), "application/json");
  }
  static Json ollama_chat(std::string user, Json extra = Json::object()) {
    Json b = {{"model", "tiny"}, {"messages", {{{"role", "user"}, {"content", user}}}}, {"options", {{"seed", 7}}}};
    b.update(extra);
    return b;
  }
  static Json chat(std::string user, Json extra = Json::object()) {
    Json b = {{"model", "tiny"}, {"messages", {{{"role", "user"}, {"content", user}}}}, {"seed", 7}};
    b.update(extra);
    return b;
  }
  FakeEngine engine_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<httplib::Client> client_;
  std::thread thread_;
  int port_ = 0;
};

// The data: payloads of an SSE body.
std::vector<std::string> sse_events(const std::string& body) {
  std::vector<std::string> out;
  size_t pos = 0;
  while ((pos = body.find("data: ", pos)) != std::string::npos) {
    const size_t end = body.find("\n\n", pos);
    out.push_back(body.substr(pos + 6, end - pos - 6));
    pos = end;
  }
  return out;
}

// A tool call cut off by max_tokens (partial arguments) was reported as
// finish_reason "tool_calls"; OpenAI says "length" (found by test_serve_load).
TEST(OpenAiFinishReason, ToolCallCutByMaxTokensIsLength) {
  using engine::FinishReason;
  EXPECT_STREQ(openai_finish_reason(FinishReason::kLength, false, true), "length");
  EXPECT_STREQ(openai_finish_reason(FinishReason::kContextFull, false, true), "length");
  EXPECT_STREQ(openai_finish_reason(FinishReason::kStop, false, true), "tool_calls");
  EXPECT_STREQ(openai_finish_reason(FinishReason::kCancelled, true, true), "tool_calls");
  EXPECT_STREQ(openai_finish_reason(FinishReason::kCancelled, true, false), "stop");
  EXPECT_STREQ(openai_finish_reason(FinishReason::kLength, false, false), "length");
  EXPECT_STREQ(openai_finish_reason(FinishReason::kStop, false, false), "stop");
  EXPECT_STREQ(openai_finish_reason(FinishReason::kError, false, false), "error");
}

TEST(Auth, ConstantTimeEqualAndBearer) {
  EXPECT_TRUE(constant_time_equal("secret", "secret"));
  EXPECT_FALSE(constant_time_equal("secret", "secreT"));
  EXPECT_FALSE(constant_time_equal("secret", "secret2"));
  EXPECT_FALSE(constant_time_equal("", "x"));
  EXPECT_EQ(bearer_token("Bearer abc"), "abc");
  EXPECT_EQ(bearer_token("bearer  abc "), "abc");
  EXPECT_EQ(bearer_token("Basic abc"), "");
  EXPECT_TRUE(host_allowed("localhost:8080", "127.0.0.1", {}));
  EXPECT_TRUE(host_allowed("127.0.0.1:1", "127.0.0.1", {}));
  EXPECT_TRUE(host_allowed("[::1]:80", "127.0.0.1", {}));
  EXPECT_FALSE(host_allowed("evil.example:8080", "127.0.0.1", {}));
  EXPECT_TRUE(host_allowed("myhost:8080", "127.0.0.1", {"myhost"}));
  EXPECT_TRUE(host_allowed("anything", "0.0.0.0", {}));
  // DNS rebinding through names that merely start like a loopback literal.
  for (const char* evil : {"127.0.0.1.evil.example", "127.0.0.1.nip.io:8080", "[::1].evil.example",
                           "[::1]evil:80", "127.0.0.1:80:evil", "127.1", "0x7f.0.0.1", "[::1", "localhost.evil.example",
                           "evil.localhost@x", "127.0.0.1:99999999", ""}) {
    EXPECT_FALSE(host_allowed(evil, "127.0.0.1", {})) << evil;
  }
  EXPECT_TRUE(host_allowed("127.45.6.7:8080", "127.0.0.1", {}));
  EXPECT_TRUE(host_allowed("LOCALHOST.", "127.0.0.1", {}));
  EXPECT_TRUE(host_allowed("app.localhost:3000", "127.0.0.1", {}));
  EXPECT_TRUE(host_allowed("[::ffff:127.0.0.1]:80", "::1", {}));
  EXPECT_TRUE(host_allowed("[::1]", "localhost", {}));
}

TEST_F(ServerTest, ChatNonStreaming) {
  start();
  auto r = post("/v1/chat/completions", chat("hi"));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  Json j = Json::parse(r->body);
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["choices"][0]["message"]["content"], "Hello world! Seed 7.");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  EXPECT_GT(j["usage"]["prompt_tokens"].get<int>(), 5);
  EXPECT_EQ(j["usage"]["completion_tokens"].get<int>(), static_cast<int>(tok().encode("Hello world! Seed 7.", false).size()));
}

TEST_F(ServerTest, ChatStreamingWithUsageAndDone) {
  start();
  auto r = post("/v1/chat/completions", chat("hi", {{"stream", true}, {"stream_options", {{"include_usage", true}}}}));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/event-stream");
  auto ev = sse_events(r->body);
  ASSERT_GE(ev.size(), 3u);
  EXPECT_EQ(ev.back(), "[DONE]");
  std::string text, finish;
  for (size_t i = 0; i + 2 < ev.size(); ++i) {
    Json c = Json::parse(ev[i]);
    EXPECT_EQ(c["object"], "chat.completion.chunk");
    if (i == 0) {
      EXPECT_EQ(c["choices"][0]["delta"]["role"], "assistant");
    }
    if (c["choices"][0]["delta"].contains("content")) text += c["choices"][0]["delta"]["content"].get<std::string>();
    if (!c["choices"][0]["finish_reason"].is_null()) finish = c["choices"][0]["finish_reason"];
  }
  EXPECT_EQ(text, "Hello world! Seed 7.");
  EXPECT_EQ(finish, "stop");
  Json u = Json::parse(ev[ev.size() - 2]);
  EXPECT_TRUE(u["choices"].empty());
  EXPECT_GT(u["usage"]["total_tokens"].get<int>(), 0);
}

TEST_F(ServerTest, StopStringIsHeldBackAndCut) {
  start();
  auto r = post("/v1/chat/completions", chat("hi", {{"stop", {"world!"}}, {"stream", true}}));
  ASSERT_TRUE(r);
  std::string text;
  for (auto& e : sse_events(r->body)) {
    if (e == "[DONE]") continue;
    Json c = Json::parse(e);
    if (c["choices"][0]["delta"].contains("content")) text += c["choices"][0]["delta"]["content"].get<std::string>();
  }
  EXPECT_EQ(text, "Hello ");
  auto r2 = post("/v1/chat/completions", chat("hi", {{"stop", "Seed"}}));
  EXPECT_EQ(Json::parse(r2->body)["choices"][0]["message"]["content"], "Hello world! ");
  EXPECT_EQ(Json::parse(r2->body)["choices"][0]["finish_reason"], "stop");
}

TEST_F(ServerTest, NChoicesUseConsecutiveSeeds) {
  start();
  auto r = post("/v1/chat/completions", chat("hi", {{"n", 3}, {"seed", 10}}));
  ASSERT_EQ(r->status, 200) << r->body;
  Json j = Json::parse(r->body);
  ASSERT_EQ(j["choices"].size(), 3u);
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(j["choices"][i]["message"]["content"], "Hello world! Seed " + std::to_string(10 + i) + ".");
}

TEST_F(ServerTest, Logprobs) {
  start();
  auto r = post("/v1/chat/completions", chat("hi", {{"logprobs", true}, {"top_logprobs", 2}, {"max_tokens", 3}}));
  ASSERT_EQ(r->status, 200) << r->body;
  Json j = Json::parse(r->body);
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  Json c = j["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[0]["token"], "Hello");
  EXPECT_EQ(c[0]["top_logprobs"].size(), 2u);
}

TEST_F(ServerTest, ToolCallRoundTrip) {
  start();
  Json tools = {{{"type", "function"},
                 {"function", {{"name", "get_weather"}, {"description", "Weather"},
                               {"parameters", {{"type", "object"}, {"properties", {{"city", {{"type", "string"}}}}}}}}}}};
  auto r = post("/v1/chat/completions", chat("weather in Paris?", {{"tools", tools}}));
  ASSERT_EQ(r->status, 200) << r->body;
  Json m = Json::parse(r->body)["choices"][0];
  EXPECT_EQ(m["finish_reason"], "tool_calls");
  ASSERT_EQ(m["message"]["tool_calls"].size(), 1u);
  EXPECT_EQ(m["message"]["tool_calls"][0]["function"]["name"], "get_weather");
  EXPECT_EQ(Json::parse(m["message"]["tool_calls"][0]["function"]["arguments"].get<std::string>())["city"], "Paris");
  EXPECT_TRUE(m["message"]["content"].is_null());
  // Streamed: the call arrives as a tool_calls delta, no python_tag text leaks.
  auto s = post("/v1/chat/completions", chat("weather in Paris?", {{"tools", tools}, {"stream", true}}));
  EXPECT_EQ(s->body.find("python_tag"), std::string::npos);
  EXPECT_NE(s->body.find("\"tool_calls\""), std::string::npos);
  // tool_choice none: no tools rendered, plain text.
  auto n = post("/v1/chat/completions", chat("weather?", {{"tools", tools}, {"tool_choice", "none"}}));
  EXPECT_EQ(Json::parse(n->body)["choices"][0]["finish_reason"], "stop");
  // A named function that is not in tools: 400 naming the field.
  auto q = post("/v1/chat/completions",
                chat("weather?", {{"tools", tools}, {"tool_choice", {{"type", "function"}, {"function", {{"name", "nope"}}}}}}));
  EXPECT_EQ(q->status, 400);
  EXPECT_EQ(Json::parse(q->body)["error"]["param"], "tool_choice.function.name");
}

TEST_F(ServerTest, ValidationErrorsNameTheField) {
  start();
  struct Case {
    Json body;
    std::string param;
  } cases[] = {
      {chat("hi", {{"temperature", "hot"}}), "temperature"},
      {chat("hi", {{"temperature", 3}}), "temperature"},
      {chat("hi", {{"stream_options", {{"include_usage", 1}}}}), "stream_options.include_usage"},
      {chat("hi", {{"stop", {"a", 5}}}), "stop[1]"},
      {chat("hi", {{"n", 0}}), "n"},
      {chat("hi", {{"logit_bias", {{"abc", 1}}}}), "logit_bias.abc"},
      {{{"messages", {{{"role", 5}, {"content", "x"}}}}}, "messages[0].role"},
      {{{"messages", {{{"role", "user"}, {"content", 5}}}}}, "messages[0].content"},
      {{{"model", "tiny"}}, "messages"},
  };
  for (const Case& c : cases) {
    auto r = post("/v1/chat/completions", c.body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << c.body.dump();
    Json e = Json::parse(r->body)["error"];
    EXPECT_EQ(e["param"], c.param) << r->body;
    EXPECT_EQ(e["type"], "invalid_request_error");
  }
  auto bad = client_->Post("/v1/chat/completions", "{not json", "application/json");
  EXPECT_EQ(bad->status, 400);
  // Any model name reaches the served model unless the server is strict (ModelNames).
  EXPECT_EQ(post("/v1/chat/completions", chat("hi", {{"model", "gpt-9"}}))->status, 200);
  auto big = client_->Post("/v1/chat/completions", std::string(100 * 1024, ' '), "application/json");
  EXPECT_EQ(big->status, 413);
  EXPECT_TRUE(Json::parse(big->body).contains("error"));
  auto none = client_->Get("/nope");
  EXPECT_EQ(none->status, 404);
  EXPECT_TRUE(Json::parse(none->body).contains("error"));
}

TEST_F(ServerTest, ContextOverflowNamesBothNumbers) {
  start();
  auto r = post("/v1/chat/completions", chat("hi", {{"max_tokens", 1000}}));
  ASSERT_EQ(r->status, 400);
  Json e = Json::parse(r->body)["error"];
  EXPECT_EQ(e["code"], "context_length_exceeded");
  const std::string msg = e["message"];
  EXPECT_NE(msg.find("256"), std::string::npos) << msg;
  EXPECT_NE(msg.find("1000"), std::string::npos) << msg;
}

TEST_F(ServerTest, QueueFullIs429) {
  engine_.max_jobs = 1;
  start();
  std::thread t([&] {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(5, 0);
    c.Post("/v1/chat/completions", chat("forever", {{"max_tokens", 200}}).dump(), "application/json");
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto r = post("/v1/chat/completions", chat("hi"));
  EXPECT_EQ(r->status, 429);
  EXPECT_EQ(Json::parse(r->body)["error"]["type"], "rate_limit_error");
  t.join();
}

TEST_F(ServerTest, ApiKeyHostAndPublicRoutes) {
  ServerOptions o;
  o.api_key = "sekrit";
  start(o);
  EXPECT_EQ(post("/v1/chat/completions", chat("hi"))->status, 401);
  EXPECT_EQ(post("/v1/chat/completions", chat("hi"), {{"Authorization", "Bearer wrong"}})->status, 401);
  EXPECT_EQ(post("/v1/chat/completions", chat("hi"), {{"Authorization", "Bearer sekrit"}})->status, 200);
  EXPECT_EQ(client_->Get("/health")->status, 200);
  EXPECT_EQ(client_->Get("/")->status, 200);
  EXPECT_EQ(client_->Get("/v1/models")->status, 401);
  auto evil = client_->Get("/health", {{"Host", "evil.example:8080"}});
  EXPECT_EQ(evil->status, 403);
  // No CORS headers unless --cors.
  auto pre = client_->Options("/v1/chat/completions", {{"Origin", "http://evil.example"}});
  EXPECT_EQ(pre->get_header_value("Access-Control-Allow-Origin"), "");
}

// The server records a request in /metrics after its last byte is written (the
// HTTP logger hook), so a client can read /metrics before that; poll for up to
// 5 s instead of assuming an order between connections.
std::string metrics_with(httplib::Client& client, const std::string& needle) {
  std::string body;
  for (int i = 0; i < 250; ++i) {
    auto m = client.Get("/metrics");
    if (m) body = m->body;
    if (body.find(needle) != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return body;
}

TEST_F(ServerTest, DisconnectCancels) {
  start();
  const std::string body = chat("forever", {{"stream", true}, {"max_tokens", 200}}).dump();
  const std::string req = "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                          "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port_));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
  char buf[512];
  ASSERT_GT(recv(fd, buf, sizeof buf, 0), 0);  // the stream started
  close(fd);
  for (int i = 0; i < 200 && engine_.stats().running > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(engine_.stats().running, 0);
  EXPECT_GE(engine_.cancels.load(), 1);
  const std::string m = metrics_with(*client_, "herd_http_generations_in_flight 0");
  EXPECT_NE(m.find("herd_http_generations_in_flight 0"), std::string::npos) << m;
}

TEST_F(ServerTest, MetricsModelsTokenize) {
  start();
  ASSERT_EQ(post("/v1/chat/completions", chat("hi"))->status, 200);
  const std::string m =
      metrics_with(*client_, "herd_requests_total{route=\"/v1/chat/completions\",status=\"200\"} 1");
  EXPECT_NE(m.find("herd_requests_total{route=\"/v1/chat/completions\",status=\"200\"} 1"), std::string::npos) << m;
  EXPECT_NE(m.find("herd_time_to_first_token_seconds_bucket"), std::string::npos);
  Json models = Json::parse(client_->Get("/v1/models")->body);
  EXPECT_EQ(models["data"][0]["id"], "tiny");
  Json t = Json::parse(post("/tokenize", {{"content", "Hello world"}})->body);
  // Meta's Llama 3 ids for "Hello" and " world" (the tokenizer peers agree), not the
  // route's own encode() call, which would pass whatever it returned.
  EXPECT_EQ(t["tokens"], Json::array({9906, 1917}));
  Json ts = Json::parse(post("/tokenize", {{"content", "Hello world"}, {"add_special", true}, {"with_pieces", true}})->body);
  EXPECT_EQ(ts["tokens"], Json::parse(R"([{"id":128000,"piece":"<|begin_of_text|>"},{"id":9906,"piece":"Hello"},{"id":1917,"piece":" world"}])"))
      << ts.dump();
  Json d = Json::parse(post("/detokenize", {{"tokens", t["tokens"]}})->body);
  EXPECT_EQ(d["content"], "Hello world");
  EXPECT_EQ(post("/tokenize", {{"content", 3}})->status, 400);
  auto c = post("/v1/completions", {{"prompt", "Once"}, {"max_tokens", 4}, {"seed", 1}});
  ASSERT_EQ(c->status, 200) << c->body;
  EXPECT_EQ(Json::parse(c->body)["choices"][0]["text"], "Hello world! Seed");
  EXPECT_NE(client_->Get("/")->body.find("<title>herd chat</title>"), std::string::npos);
}

TEST_F(ServerTest, StrictModelNames) {
  ServerOptions o;
  o.strict_model_names = true;
  o.model_aliases = {"tiny.gguf"};
  start(o);
  auto model = post("/v1/chat/completions", chat("hi", {{"model", "gpt-9"}}));
  EXPECT_EQ(model->status, 404);
  EXPECT_EQ(Json::parse(model->body)["error"]["code"], "model_not_found");
  EXPECT_EQ(post("/v1/chat/completions", chat("hi", {{"model", "tiny.gguf"}}))->status, 200);
  // Ollama's clients add ":latest" to names without a tag.
  EXPECT_EQ(post("/api/chat", ollama_chat("hi", {{"model", "tiny:latest"}}))->status, 200);
  auto o404 = post("/api/chat", ollama_chat("hi", {{"model", "llama3.1:8b"}}));
  EXPECT_EQ(o404->status, 404);
  EXPECT_EQ(Json::parse(o404->body)["error"], "model 'llama3.1:8b' not found");
}

// --lora-module adapters: a request names one as "NAME" or "BASE+NAME" (OpenAI and
// Ollama routes alike) and the engine gets its set; other names keep set 0; an unknown
// "X+NAME" is a 404; /v1/models lists the adapters with the base as parent.
TEST_F(ServerTest, LoraModulesChosenPerRequest) {
  ServerOptions o;
  o.model_id = "tiny";
  o.lora_modules = {"sql", "poet"};
  start(o);
  const std::pair<const char*, int32_t> cases[] = {{"sql", 1}, {"tiny+poet", 2}, {"poet:latest", 2}, {"tiny", 0},
                                                   {"gpt-4o", 0}, {"", 0}};
  for (const auto& [name, set] : cases) {
    ASSERT_EQ(post("/v1/chat/completions", chat("hi", {{"model", name}}))->status, 200) << name;
    EXPECT_EQ(engine_.last_request().adapter, set) << name;
  }
  ASSERT_EQ(post("/api/chat", ollama_chat("hi", {{"model", "tiny+sql"}, {"stream", false}}))->status, 200);
  EXPECT_EQ(engine_.last_request().adapter, 1);
  ASSERT_EQ(post("/v1/completions", Json{{"prompt", "hi"}, {"model", "poet"}, {"max_tokens", 2}})->status, 200);
  EXPECT_EQ(engine_.last_request().adapter, 2);
  auto unknown = post("/v1/chat/completions", chat("hi", {{"model", "tiny+prose"}}));
  EXPECT_EQ(unknown->status, 404);
  EXPECT_EQ(Json::parse(unknown->body)["error"]["code"], "model_not_found");
  Json models = Json::parse(client_->Get("/v1/models")->body)["data"];
  ASSERT_EQ(models.size(), 3u);
  EXPECT_EQ(models[1]["id"], "sql");
  EXPECT_EQ(models[2]["parent"], "tiny");
}

// --lora adapters' weights per request, as llama-server takes them: "lora":
// [{"id", "scale"}] gives the engine one weight per adapter (unlisted 0); without
// it a request gets none (the loaded scales) until POST /lora-adapters sets them;
// GET /lora-adapters lists them; malformed lists are 400s naming the element.
TEST_F(ServerTest, LoraWeightsPerRequestAndLoraAdaptersRoutes) {
  ServerOptions o;
  o.model_id = "tiny";
  o.loras = {{"a.gguf", 1.0f}, {"b-peft", 0.5f}};
  start(o);
  ASSERT_EQ(post("/v1/chat/completions", chat("hi"))->status, 200);
  EXPECT_TRUE(engine_.last_request().lora_weights.empty());
  ASSERT_EQ(post("/v1/chat/completions", chat("hi", {{"lora", Json::array({{{"id", 1}, {"scale", 0.25}}})}}))->status, 200);
  EXPECT_EQ(engine_.last_request().lora_weights, (std::vector<float>{0.0f, 0.25f}));
  ASSERT_EQ(post("/v1/completions", Json{{"prompt", "hi"}, {"max_tokens", 2}, {"lora", Json::array()}})->status, 200);
  EXPECT_EQ(engine_.last_request().lora_weights, (std::vector<float>{0.0f, 0.0f}));
  const std::pair<Json, const char*> bad[] = {
      {Json::object(), "lora"},
      {Json::array({1}), "lora[0]"},
      {Json::array({{{"id", 2}, {"scale", 1}}}), "lora[0].id"},
      {Json::array({{{"id", -1}, {"scale", 1}}}), "lora[0].id"},
      {Json::array({{{"id", 0}}}), "lora[0].scale"},
      {Json::array({{{"id", 0}, {"scale", "1"}}}), "lora[0].scale"},
      {Json::array({{{"id", 0}, {"scale", 1e9}}}), "lora[0].scale"},
      {Json::array({{{"id", 0}, {"scale", 1}}, {{"id", 0}, {"scale", 2}}}), "lora[1].id"},
      {Json::array({{{"id", 0}, {"scale", 1}}, {{"id", 1}, {"scale", 2}}, {{"id", 1}, {"scale", 2}}}), "lora"},
  };
  for (const auto& [list, param] : bad) {
    auto r = post("/v1/chat/completions", chat("hi", {{"lora", list}}));
    ASSERT_EQ(r->status, 400) << list.dump();
    EXPECT_EQ(Json::parse(r->body)["error"]["param"], param) << list.dump();
  }
  Json listed = Json::parse(client_->Get("/lora-adapters")->body);
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[1]["id"], 1);
  EXPECT_EQ(listed[1]["path"], "b-peft");
  EXPECT_EQ(listed[1]["scale"], 0.5);
  auto set = client_->Post("/lora-adapters", Json::array({{{"id", 0}, {"scale", 2}}}).dump(), "application/json");
  ASSERT_EQ(set->status, 200) << set->body;
  EXPECT_EQ(Json::parse(client_->Get("/lora-adapters")->body)[0]["scale"], 2.0);
  ASSERT_EQ(post("/v1/chat/completions", chat("hi"))->status, 200);
  EXPECT_EQ(engine_.last_request().lora_weights, (std::vector<float>{2.0f, 0.0f}));
  EXPECT_EQ(client_->Post("/lora-adapters", Json{{"id", 0}}.dump(), "application/json")->status, 400);
}

// A server without --lora adapters refuses a non-empty "lora" list.
TEST_F(ServerTest, LoraWeightsWithoutAdaptersRefused) {
  start();
  auto r = post("/v1/chat/completions", chat("hi", {{"lora", Json::array({{{"id", 0}, {"scale", 1}}})}}));
  ASSERT_EQ(r->status, 400);
  EXPECT_EQ(Json::parse(r->body)["error"]["param"], "lora");
  EXPECT_EQ(post("/v1/chat/completions", chat("hi", {{"lora", Json::array()}}))->status, 200);
}

// The NDJSON records of an Ollama stream.
std::vector<Json> ndjson(const std::string& body) {
  std::vector<Json> out;
  size_t pos = 0;
  while (pos < body.size()) {
    const size_t end = body.find('\n', pos);
    const std::string line = body.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    if (line.find_first_not_of(' ') != std::string::npos) out.push_back(Json::parse(line));
    if (end == std::string::npos) break;
    pos = end + 1;
  }
  return out;
}

TEST_F(ServerTest, OllamaChatStreamsNdjsonByDefault) {
  start();
  auto r = post("/api/chat", ollama_chat("hi"));
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/x-ndjson");
  std::vector<Json> recs = ndjson(r->body);
  ASSERT_GE(recs.size(), 3u) << r->body;
  std::string text;
  for (size_t i = 0; i + 1 < recs.size(); ++i) {
    EXPECT_FALSE(recs[i]["done"].get<bool>());
    EXPECT_EQ(recs[i]["model"], "tiny:latest");
    EXPECT_EQ(recs[i]["message"]["role"], "assistant");
    text += recs[i]["message"]["content"].get<std::string>();
  }
  EXPECT_EQ(text, "Hello world! Seed 7.");
  const Json& last = recs.back();
  EXPECT_TRUE(last["done"].get<bool>());
  EXPECT_EQ(last["done_reason"], "stop");
  EXPECT_EQ(last["eval_count"].get<int>(), static_cast<int>(tok().encode("Hello world! Seed 7.", false).size()));
  EXPECT_EQ(last["prompt_eval_count"].get<size_t>(), engine_.last_request().prompt.size());
  EXPECT_GE(last["total_duration"].get<int64_t>(), last["eval_duration"].get<int64_t>());

  auto one = post("/api/chat", ollama_chat("hi", {{"stream", false}}));
  ASSERT_EQ(one->status, 200);
  EXPECT_EQ(one->get_header_value("Content-Type"), "application/json");
  Json j = Json::parse(one->body);
  EXPECT_EQ(j["message"]["content"], "Hello world! Seed 7.");
  EXPECT_TRUE(j["done"].get<bool>());
  // The prompt is the OpenAI route's for the same conversation.
  ASSERT_EQ(post("/v1/chat/completions", chat("hi"))->status, 200);
  const std::vector<int32_t> openai_prompt = engine_.last_request().prompt;
  ASSERT_EQ(post("/api/chat", ollama_chat("hi", {{"stream", false}}))->status, 200);
  EXPECT_EQ(engine_.last_request().prompt, openai_prompt);
}

TEST_F(ServerTest, OllamaToolCallsCarryObjectArguments) {
  start();
  Json tools = Json::parse(R"([{"type": "function", "function": {"name": "get_weather", "parameters":
      {"type": "object", "properties": {"city": {"type": "string"}}}}}])");
  auto r = post("/api/chat", ollama_chat("weather?", {{"tools", tools}, {"stream", false}}));
  ASSERT_EQ(r->status, 200) << r->body;
  Json msg = Json::parse(r->body)["message"];
  EXPECT_EQ(msg["content"], "");
  ASSERT_EQ(msg["tool_calls"].size(), 1u) << msg.dump();
  EXPECT_EQ(msg["tool_calls"][0]["function"]["name"], "get_weather");
  EXPECT_EQ(msg["tool_calls"][0]["function"]["arguments"], Json({{"city", "Paris"}}));
  // Streamed: the call arrives whole in one record before the final one.
  std::vector<Json> recs = ndjson(post("/api/chat", ollama_chat("weather?", {{"tools", tools}}))->body);
  int with_calls = 0;
  for (const Json& rec : recs) with_calls += rec["message"].contains("tool_calls");
  EXPECT_EQ(with_calls, 1);
  // The round trip: Ollama's tool result names its function "tool_name".
  Json conv = {{{"role", "user"}, {"content", "weather?"}},
               {{"role", "assistant"}, {"content", ""}, {"tool_calls", msg["tool_calls"]}},
               {{"role", "tool"}, {"content", "{\"temp\": 21}"}, {"tool_name", "get_weather"}}};
  auto back = post("/api/chat", {{"model", "tiny"}, {"messages", conv}, {"tools", tools}, {"stream", false}});
  ASSERT_EQ(back->status, 200) << back->body;
  const std::string prompt = tok().decode(engine_.last_request().prompt);
  EXPECT_NE(prompt.find("<|start_header_id|>ipython<|end_header_id|>\n\n{\"temp\": 21}<|eot_id|>"), std::string::npos) << prompt;
  // The call as the renderer writes an assistant's JSON call (llama3_format.h), arguments as sent back.
  EXPECT_NE(prompt.find("\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}"), std::string::npos) << prompt;
}

TEST_F(ServerTest, OllamaOptionsAndServerDefaultsReachTheSampler) {
  ServerOptions o;
  o.default_temperature = 0.25f;
  o.default_top_p = 0.5f;
  start(o);
  Json opts = {{"temperature", 0.7}, {"top_p", 0.8}, {"top_k", 20}, {"min_p", 0.05}, {"repeat_penalty", 1.2},
               {"repeat_last_n", 33}, {"presence_penalty", 0.5}, {"frequency_penalty", 0.25}, {"seed", 42},
               {"num_predict", 3}, {"stop", {"xyz"}}, {"num_ctx", 4096}, {"num_thread", 8}, {"mirostat", 0}};
  ASSERT_EQ(post("/api/chat", ollama_chat("hi", {{"options", opts}, {"stream", false}}))->status, 200);
  engine::GenerationRequest g = engine_.last_request();
  EXPECT_FLOAT_EQ(g.sampling.temperature, 0.7f);
  EXPECT_FLOAT_EQ(g.sampling.top_p, 0.8f);
  EXPECT_EQ(g.sampling.top_k, 20);
  EXPECT_FLOAT_EQ(g.sampling.min_p, 0.05f);
  EXPECT_FLOAT_EQ(g.sampling.repetition_penalty, 1.2f);
  EXPECT_EQ(g.sampling.penalty_last_n, 33);
  EXPECT_FLOAT_EQ(g.sampling.presence_penalty, 0.5f);
  EXPECT_FLOAT_EQ(g.sampling.frequency_penalty, 0.25f);
  EXPECT_EQ(g.sampling.seed, 42u);
  EXPECT_EQ(g.max_tokens, 3);
  // Neither API's request sets a temperature: the server's default (--temp, --top-p).
  ASSERT_EQ(post("/api/chat", ollama_chat("hi", {{"stream", false}}))->status, 200);
  EXPECT_FLOAT_EQ(engine_.last_request().sampling.temperature, 0.25f);
  EXPECT_FLOAT_EQ(engine_.last_request().sampling.top_p, 0.5f);
  EXPECT_EQ(engine_.last_request().max_tokens, 256 - static_cast<int>(engine_.last_request().prompt.size()));
  ASSERT_EQ(post("/v1/chat/completions", chat("hi"))->status, 200);
  EXPECT_FLOAT_EQ(engine_.last_request().sampling.temperature, 0.25f);
  // llama-server's extensions on the OpenAI route.
  ASSERT_EQ(post("/v1/chat/completions", chat("hi", {{"top_k", 5}, {"min_p", 0.1}, {"repeat_penalty", 1.3}}))->status, 200);
  EXPECT_EQ(engine_.last_request().sampling.top_k, 5);
  EXPECT_FLOAT_EQ(engine_.last_request().sampling.repetition_penalty, 1.3f);
  // A stop string from options cuts the reply ("Hello world! Seed 7." at " world").
  auto cut = post("/api/chat", ollama_chat("hi", {{"options", {{"stop", {" world"}}}}, {"stream", false}}));
  EXPECT_EQ(Json::parse(cut->body)["message"]["content"], "Hello");
  EXPECT_EQ(Json::parse(cut->body)["done_reason"], "stop");
}

TEST_F(ServerTest, OllamaGenerateTemplatedRawAndContext) {
  start();
  auto r = post("/api/generate", {{"model", "tiny"}, {"prompt", "Hello"}, {"system", "Be brief."}, {"stream", false},
                                  {"options", {{"seed", 7}}}});
  ASSERT_EQ(r->status, 200) << r->body;
  Json j = Json::parse(r->body);
  EXPECT_EQ(j["response"], "Hello world! Seed 7.");
  const std::vector<int32_t> prompt = engine_.last_request().prompt;
  const std::string text = tok().decode(prompt);
  EXPECT_NE(text.find("<|start_header_id|>system<|end_header_id|>"), std::string::npos);
  EXPECT_NE(text.find("Be brief.\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>"), std::string::npos) << text;
  // context = prompt + reply + the stop token, so the next turn resumes after it.
  std::vector<int32_t> want = prompt;
  for (int32_t id : tok().encode("Hello world! Seed 7.", false)) want.push_back(id);
  want.push_back(tok().special_id("<|eot_id|>"));
  EXPECT_EQ(j["context"].get<std::vector<int32_t>>(), want);
  ASSERT_EQ(post("/api/generate", {{"model", "tiny"}, {"prompt", "More"}, {"context", j["context"]}, {"stream", false}})->status, 200);
  const std::vector<int32_t> next = engine_.last_request().prompt;
  ASSERT_GT(next.size(), want.size());
  EXPECT_TRUE(std::equal(want.begin(), want.end(), next.begin()));
  EXPECT_NE(next[want.size()], tok().vocab().bos_id);  // the continued turn has no second BOS
  // raw: the prompt as written, special tokens parsed, BOS first; no context back.
  auto raw = post("/api/generate", {{"model", "tiny"}, {"prompt", "<|start_header_id|>x"}, {"raw", true}, {"stream", false}});
  ASSERT_EQ(raw->status, 200);
  EXPECT_EQ(engine_.last_request().prompt,
            (std::vector<int32_t>{tok().vocab().bos_id, tok().special_id("<|start_header_id|>"), tok().encode("x", false)[0]}));
  EXPECT_FALSE(Json::parse(raw->body).contains("context"));
  // No prompt: Ollama's "load the model" reply, nothing generated.
  Json load = Json::parse(post("/api/generate", {{"model", "tiny"}})->body);
  EXPECT_EQ(load["done_reason"], "load");
  EXPECT_EQ(load["response"], "");
}

TEST_F(ServerTest, OllamaErrorsTakeOllamasShape) {
  ServerOptions o;
  o.api_key = "k";
  start(o);
  httplib::Headers auth = {{"Authorization", "Bearer k"}};
  struct Case {
    std::string route;
    Json body;
    int status;
    std::string error;
  } cases[] = {
      {"/api/chat", ollama_chat("hi", {{"options", {{"temperature", "hot"}}}}), 400,
       "options.temperature: expected number, got string"},
      {"/api/chat", ollama_chat("hi", {{"options", {{"num_predict", 0}}}}), 400,
       "options.num_predict: must be -1 (to the end of the turn), -2 (fill the context) or >= 1"},
      {"/api/chat", ollama_chat("hi", {{"options", {{"mirostat", 2}}}}), 400,
       "options.mirostat: mirostat sampling is not supported by herd (only the neutral value 0)"},
      {"/api/chat", ollama_chat("hi", {{"format", "yaml"}}), 400,
       "format: expected \"json\" or a JSON schema object, got \"yaml\""},
      {"/api/chat", ollama_chat("hi", {{"think", true}}), 400, "think: this model does not support thinking"},
      {"/api/chat", {{"model", "tiny"}, {"messages", {{{"role", "user"}, {"content", "x"}, {"images", {"aGk="}}}}}}, 400,
       "messages[0].images: this model reads text only; images are not supported"},
      {"/api/chat", {{"model", "tiny"}, {"messages", {{{"role", "robot"}, {"content", "x"}}}}}, 400,
       "messages[0].role: expected one of system, user, assistant, tool, ipython; got \"robot\""},
      {"/api/chat", {{"messages", {{{"role", "user"}, {"content", "x"}}}}}, 400, "model: required"},
      {"/api/generate", {{"model", "tiny"}, {"prompt", "x"}, {"context", {1, -1}}}, 400,
       "context[1]: expected a token id in [0, 128256)"},
      {"/api/generate", {{"model", "tiny"}, {"prompt", "x"}, {"suffix", "y"}}, 400,
       "suffix: fill-in-the-middle is not supported by the Llama 3.1 models"},
      {"/api/chat", ollama_chat("hi", {{"format", {{"type", "object"}, {"properties", 3}}}}), 400, ""},
  };
  for (const Case& c : cases) {
    auto r = client_->Post(c.route.c_str(), auth, c.body.dump(), "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, c.status) << c.body.dump() << " -> " << r->body;
    Json e = Json::parse(r->body);
    ASSERT_TRUE(e["error"].is_string()) << r->body;
    if (!c.error.empty()) EXPECT_EQ(e["error"], c.error);
    else EXPECT_EQ(e["error"].get<std::string>().rfind("format", 0), 0u) << r->body;  // the schema's path leads
  }
  // The guards and the router answer /api/ in Ollama's shape and the rest in OpenAI's.
  auto noauth = post("/api/tags", Json::object());
  EXPECT_EQ(client_->Get("/api/tags")->status, 401);
  EXPECT_TRUE(Json::parse(client_->Get("/api/tags")->body)["error"].is_string());
  EXPECT_TRUE(Json::parse(client_->Get("/v1/models")->body)["error"].is_object());
  auto missing = client_->Get("/api/pull", auth);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(Json::parse(missing->body)["error"], "no route GET /api/pull");
  auto big = client_->Post("/api/chat", auth, std::string(100 * 1024, ' '), "application/json");
  EXPECT_EQ(big->status, 413);
  EXPECT_TRUE(Json::parse(big->body)["error"].is_string());
  auto text = client_->Post("/api/chat", auth, "{}", "text/plain");
  EXPECT_EQ(text->status, 415);
  EXPECT_TRUE(Json::parse(text->body)["error"].is_string());
}

TEST_F(ServerTest, OllamaListingRoutes) {
  ServerOptions o;
  o.card.size_bytes = 1234;
  o.card.memory_bytes = 5678;
  o.card.parameter_count = 8030261248;
  o.card.quantization = "Q4_K_M";
  o.card.digest = std::string(64, 'a');
  o.card.modified_unix = 1722000000;
  o.card.model_info = {{"llama.block_count", 32}};
  start(o);
  Json tags = Json::parse(client_->Get("/api/tags")->body);
  ASSERT_EQ(tags["models"].size(), 1u);
  const Json& m = tags["models"][0];
  EXPECT_EQ(m["name"], "tiny:latest");
  EXPECT_EQ(m["size"], 1234);
  EXPECT_EQ(m["modified_at"], "2024-07-26T13:20:00.000000000Z");
  EXPECT_EQ(m["details"]["parameter_size"], "8.0B");
  EXPECT_EQ(m["details"]["quantization_level"], "Q4_K_M");
  Json ps = Json::parse(client_->Get("/api/ps")->body)["models"][0];
  EXPECT_EQ(ps["size"], 5678);
  EXPECT_EQ(ps["context_length"], 256);
  Json show = Json::parse(post("/api/show", {{"model", "tiny"}})->body);
  EXPECT_EQ(show["model_info"]["llama.block_count"], 32);
  EXPECT_NE(show["parameters"].get<std::string>().find("stop \"<|eot_id|>\""), std::string::npos);
  EXPECT_NE(show["modelfile"].get<std::string>().find("PARAMETER temperature 0.6"), std::string::npos);
  EXPECT_EQ(post("/api/show", Json::object())->status, 400);
  Json v = Json::parse(client_->Get("/api/version")->body);
  EXPECT_TRUE(v["version"].is_string());
}

}  // namespace
}  // namespace herd::server
