// Bounded line assembly for text protocols: the only path untrusted control bytes take.
//
// Bytes are fed in as they arrive; complete lines come out one at a time. A line longer than
// the cap is never buffered in full: the reader keeps discarding until the next line feed and
// then reports one `too_long` line, so the session can answer and carry on.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace filegate::core {

class LineReader {
 public:
  enum class Status { ok, too_long, has_nul };
  struct Line {
    Status status;
    std::string text;  // without the terminator; empty unless status == ok
  };

  explicit LineReader(std::size_t max_line) : max_line_(max_line) {}

  // Consumes as many bytes as fit; returns how many were taken. Stops after a complete line
  // so that the caller can act on it (for example, throw away anything pipelined after a
  // command that changes the stream, such as AUTH TLS).
  std::size_t feed(std::span<const char> bytes);

  // The next complete line, if any.
  std::optional<Line> next();

  // Drops any partial line (used after a stream upgrade).
  void reset();

  bool has_line() const { return ready_.has_value(); }

 private:
  std::size_t max_line_;
  std::string partial_;
  bool discarding_ = false;
  std::optional<Line> ready_;
};

// Removes Telnet commands (IAC sequences, RFC 854) that FTP clients send in front of urgent
// commands such as ABOR, and collapses IAC IAC to a single 0xFF byte.
std::string strip_telnet(std::string_view line);

}  // namespace filegate::core
