// Buffer: a growable byte buffer for exposition text. Unlike std::string it
// never zero-fills on growth, and callers reserve once then write through a raw
// cursor, which is what keeps rendering near memcpy speed.
// Move-only; not thread-safe. Published Buffers are immutable.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string_view>
#include <utility>

namespace bpfex::metrics {

class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(size_t capacity) { reserve(capacity); }
  ~Buffer() { std::free(data_); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  Buffer(Buffer&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)),
        size_(std::exchange(o.size_, 0)),
        cap_(std::exchange(o.cap_, 0)) {}
  Buffer& operator=(Buffer&& o) noexcept {
    if (this != &o) {
      std::free(data_);
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
      cap_ = std::exchange(o.cap_, 0);
    }
    return *this;
  }

  const char* data() const { return data_; }
  char* data() { return data_; }
  size_t size() const { return size_; }
  size_t capacity() const { return cap_; }
  std::string_view view() const { return {data_, size_}; }
  void clear() { size_ = 0; }

  void reserve(size_t cap) {
    if (cap <= cap_) return;
    void* p = std::realloc(data_, cap);
    if (p == nullptr) throw std::bad_alloc();
    data_ = static_cast<char*>(p);
    cap_ = cap;
  }

  // Guarantees room for n more bytes and returns the write cursor; the caller
  // writes at most n bytes and then calls commit(bytes_written).
  char* ensure(size_t n) {
    if (cap_ - size_ < n) reserve(std::max(cap_ * 2, size_ + n + 4096));
    return data_ + size_;
  }
  void commit(size_t n) { size_ += n; }
  void commitTo(const char* end) { size_ = static_cast<size_t>(end - data_); }

  void append(std::string_view s) {
    char* p = ensure(s.size());
    std::memcpy(p, s.data(), s.size());
    size_ += s.size();
  }
  void push(char c) {
    *ensure(1) = c;
    ++size_;
  }

  // Releases spare capacity (used before a buffer is published, so a long-lived
  // snapshot does not pin the headroom).
  void shrinkToFit() {
    if (size_ == cap_ || size_ == 0) return;
    void* p = std::realloc(data_, size_);
    if (p != nullptr) {
      data_ = static_cast<char*>(p);
      cap_ = size_;
    }
  }

 private:
  char* data_ = nullptr;
  size_t size_ = 0;
  size_t cap_ = 0;
};

}  // namespace bpfex::metrics
