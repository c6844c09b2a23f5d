// herd::Result<T> and herd::Error: how fallible operations report failure.
//
// Files, requests and configs are validated at the edges and report problems
// as a Result; hot loops assert instead (see check.h). Result is shaped like
// C++23 std::expected<T, Error> (has_value, value, error, operator*, ->) so a
// later move to C++23 is an alias change. herd code does not throw.
//
// An Error carries a code, a message that names what, where, expected and
// found, and a chain of context strings added as it propagates outwards
// ("loading model /x.gguf" -> "reading tensor info 3" -> message).
//
// Thread safety: values; no shared state.
#pragma once

#include <cstdio>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "base/check.h"

namespace herd {

enum class ErrorCode {
  kInvalidArgument,  // the caller asked for something malformed
  kNotFound,         // a file, key or tensor that should exist does not
  kCorrupt,          // a file's bytes contradict its own format
  kUnsupported,      // well-formed, but a feature herd does not implement
  kIo,               // the operating system refused (open, mmap, write)
  kOutOfRange,       // a size or index beyond a documented limit
  kInternal,
  kCancelled,        // the user interrupted (Ctrl-C) a long job
};

const char* error_code_name(ErrorCode code);

class Error {
 public:
  Error(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  const std::vector<std::string>& context() const { return context_; }

  // Adds an outer context line ("while loading x"); returns *this for chaining.
  Error& with_context(std::string ctx) {
    context_.push_back(std::move(ctx));
    return *this;
  }

  // "outer: inner: message", outermost context first.
  std::string to_string() const;

 private:
  ErrorCode code_;
  std::string message_;
  std::vector<std::string> context_;  // innermost first
};

// printf-style formatting into a std::string (GCC 12 has no <format>).
std::string str_printf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT

  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & {
    HERD_CHECK(has_value(), "Result::value() on error: %s", std::get<1>(v_).to_string().c_str());
    return std::get<0>(v_);
  }
  const T& value() const& {
    HERD_CHECK(has_value(), "Result::value() on error: %s", std::get<1>(v_).to_string().c_str());
    return std::get<0>(v_);
  }
  T&& value() && {
    HERD_CHECK(has_value(), "Result::value() on error: %s", std::get<1>(v_).to_string().c_str());
    return std::get<0>(std::move(v_));
  }
  Error& error() & { return std::get<1>(v_); }
  const Error& error() const& { return std::get<1>(v_); }
  Error&& error() && { return std::get<1>(std::move(v_)); }

  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Error> v_;
};

// Result<void>: success or an Error.
struct Ok {};
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Ok) {}  // NOLINT
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT

  bool has_value() const { return ok_; }
  explicit operator bool() const { return ok_; }
  void value() const { HERD_CHECK(ok_, "Result::value() on error: %s", error_.to_string().c_str()); }
  Error& error() & { return error_; }
  const Error& error() const& { return error_; }
  Error&& error() && { return std::move(error_); }

 private:
  Error error_{ErrorCode::kInternal, ""};
  bool ok_ = true;
};
using Status = Result<void>;

// Shorthand constructors: return herd::err(ErrorCode::kCorrupt, "fmt", ...).
Error err(ErrorCode code, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

}  // namespace herd

#define HERD_CONCAT_INNER(a, b) a##b
#define HERD_CONCAT(a, b) HERD_CONCAT_INNER(a, b)

// HERD_TRY(expr): evaluate a Result-returning expr; on error return the error.
#define HERD_TRY(expr)                                        \
  do {                                                        \
    auto herd_try_result_ = (expr);                           \
    if (!herd_try_result_.has_value()) {                      \
      return std::move(herd_try_result_).error();             \
    }                                                         \
  } while (0)

// HERD_ASSIGN_OR_RETURN(lhs, expr): `lhs = std::move(*expr)` or return the error.
// lhs may be a declaration: HERD_ASSIGN_OR_RETURN(auto file, open(path));
#define HERD_ASSIGN_OR_RETURN(lhs, expr) \
  HERD_ASSIGN_OR_RETURN_IMPL(HERD_CONCAT(herd_aor_, __LINE__), lhs, expr)
#define HERD_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.has_value()) {                          \
    return std::move(tmp).error();                 \
  }                                                \
  lhs = std::move(tmp).value()
