// Result<T>: the one error idiom at every OS boundary (libbpf, the kernel,
// libmicrohttpd, curl, files). An Error carries an errno-style code (0 when the
// failure has no errno), a message that names the operation and the object, and
// optional context added by callers as the error travels up.
//
// Contract: a Result is [[nodiscard]]; check it right after the call. Accessing
// value() of a failed Result is a programmer error and aborts.
#pragma once

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace bpfex::base {

class Error {
 public:
  Error() = default;
  Error(int code, std::string message) : code_(code), message_(std::move(message)) {}

  // "open pinned map /sys/fs/bpf/x" + ENOENT -> "open pinned map /sys/fs/bpf/x: No such file or directory"
  static Error fromErrno(int err, std::string_view what) {
    if (err < 0) err = -err;
    std::string m(what);
    m += ": ";
    m += std::strerror(err);
    return Error(err, std::move(m));
  }
  static Error msg(std::string message) { return Error(0, std::move(message)); }

  int code() const { return code_; }
  const std::string& message() const { return message_; }

  // Prefixes context: err.context("load rules/a.lua") -> "load rules/a.lua: <message>".
  Error context(std::string_view ctx) && {
    std::string m(ctx);
    m += ": ";
    m += message_;
    message_ = std::move(m);
    return std::move(*this);
  }

 private:
  int code_ = 0;
  std::string message_;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Error err) : v_(std::in_place_index<1>, std::move(err)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { check(); return std::get<0>(v_); }
  const T& value() const& { check(); return std::get<0>(v_); }
  T&& value() && { check(); return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }

  const Error& error() const& { return std::get<1>(v_); }
  Error&& error() && { return std::get<1>(std::move(v_)); }

 private:
  void check() const {
    if (v_.index() != 0) std::abort();
  }
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error err) : err_(std::move(err)), ok_(false) {}  // NOLINT

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const& { return err_; }
  Error&& error() && { return std::move(err_); }

 private:
  Error err_;
  bool ok_ = true;
};

using Status = Result<void>;

inline Status okStatus() { return Status(); }

}  // namespace bpfex::base
