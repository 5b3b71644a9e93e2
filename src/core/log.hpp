// Structured logging: one JSON object per line on stderr, easy to parse with jq or a log shipper.
//
//   log::info("transfer").str("user", name).num("bytes", n);   // emitted at the end of the statement
//
// SECURITY: never pass a password, a password hash or key material to a field.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace filegate::core::log {

enum class Level { debug, info, warn, error };

void set_level(Level level);
Level level();
bool parse_level(std::string_view text, Level& out);

class Event {
 public:
  Event(Level level, std::string_view name);
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  ~Event();

  Event& str(std::string_view key, std::string_view value);
  Event& num(std::string_view key, std::int64_t value);
  Event& unum(std::string_view key, std::uint64_t value);
  Event& real(std::string_view key, double value);
  Event& flag(std::string_view key, bool value);

 private:
  void key(std::string_view k);
  bool enabled_;
  std::string line_;
};

inline Event debug(std::string_view name) { return Event(Level::debug, name); }
inline Event info(std::string_view name) { return Event(Level::info, name); }
inline Event warn(std::string_view name) { return Event(Level::warn, name); }
inline Event error(std::string_view name) { return Event(Level::error, name); }

// Appends `text` to `out` as the body of a JSON string (no quotes added). Invalid UTF-8 and
// control bytes are escaped, so hostile file names cannot forge log lines.
void append_json_escaped(std::string& out, std::string_view text);

}  // namespace filegate::core::log
