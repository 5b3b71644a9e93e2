#include "core/log.hpp"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace filegate::core::log {
namespace {

std::atomic<Level> g_level{Level::info};
std::mutex g_write_mutex;

const char* level_name(Level l) {
  switch (l) {
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warn: return "warn";
    case Level::error: return "error";
  }
  return "info";
}

// Length of the valid UTF-8 sequence starting at s[i], or 0 if it is not valid. Strict
// (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF.
std::size_t utf8_length(std::string_view s, std::size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) return 1;
  std::size_t n = 0;
  unsigned char low = 0x80, high = 0xBF;  // allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) low = 0xA0;
    if (c == 0xED) high = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) low = 0x90;
    if (c == 0xF4) high = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  const auto second = static_cast<unsigned char>(s[i + 1]);
  if (second < low || second > high) return 0;
  for (std::size_t k = 2; k < n; ++k) {
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 0;
  }
  return n;
}

}  // namespace

void set_level(Level l) { g_level.store(l); }
Level level() { return g_level.load(); }

bool parse_level(std::string_view text, Level& out) {
  for (Level l : {Level::debug, Level::info, Level::warn, Level::error}) {
    if (text == level_name(l)) {
      out = l;
      return true;
    }
  }
  return false;
}

void append_json_escaped(std::string& out, std::string_view text) {
  static constexpr char hex[] = "0123456789abcdef";
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
      ++i;
    } else if (c < 0x20 || c == 0x7f) {
      out += "\\u00";
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 0xF]);
      ++i;
    } else if (c < 0x80) {
      out.push_back(static_cast<char>(c));
      ++i;
    } else if (const std::size_t n = utf8_length(text, i); n > 0) {
      out.append(text.substr(i, n));
      i += n;
    } else {
      out += "\\ufffd";  // an invalid byte: replaced, never passed through raw
      ++i;
    }
  }
}

Event::Event(Level l, std::string_view name) : enabled_(l >= g_level.load()) {
  if (!enabled_) return;
  using namespace std::chrono;
  const auto now = system_clock::now();
  const std::time_t secs = system_clock::to_time_t(now);
  const auto millis = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char stamp[64];
  std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(millis));
  line_.reserve(256);
  line_ += "{\"ts\":\"";
  line_ += stamp;
  line_ += "\",\"level\":\"";
  line_ += level_name(l);
  line_ += "\",\"event\":\"";
  append_json_escaped(line_, name);
  line_ += '"';
}

Event::~Event() {
  if (!enabled_) return;
  line_ += "}\n";
  std::lock_guard lock(g_write_mutex);
  std::size_t done = 0;
  while (done < line_.size()) {
    const ssize_t n = ::write(STDERR_FILENO, line_.data() + done, line_.size() - done);
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
}

void Event::key(std::string_view k) {
  line_ += ",\"";
  append_json_escaped(line_, k);
  line_ += "\":";
}

Event& Event::str(std::string_view k, std::string_view value) {
  if (!enabled_) return *this;
  key(k);
  line_ += '"';
  append_json_escaped(line_, value);
  line_ += '"';
  return *this;
}

Event& Event::num(std::string_view k, std::int64_t value) {
  if (!enabled_) return *this;
  key(k);
  line_ += std::to_string(value);
  return *this;
}

Event& Event::unum(std::string_view k, std::uint64_t value) {
  if (!enabled_) return *this;
  key(k);
  line_ += std::to_string(value);
  return *this;
}

Event& Event::real(std::string_view k, double value) {
  if (!enabled_) return *this;
  key(k);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", value);
  line_ += buf;
  return *this;
}

Event& Event::flag(std::string_view k, bool value) {
  if (!enabled_) return *this;
  key(k);
  line_ += value ? "true" : "false";
  return *this;
}

}  // namespace filegate::core::log
