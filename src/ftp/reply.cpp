#include "ftp/reply.hpp"

namespace filegate::ftp {
namespace {

void append_clean(std::string& out, std::string_view text) {
  for (char c : text) out.push_back(c == '\r' || c == '\n' || c == '\0' ? ' ' : c);
}

void append_code(std::string& out, int code, char separator) {
  out += std::to_string(code);
  out.push_back(separator);
}

}  // namespace

std::string format_reply(int code, std::string_view text) {
  std::string out;
  out.reserve(text.size() + 6);
  append_code(out, code, ' ');
  append_clean(out, text);
  out += "\r\n";
  return out;
}

std::string format_multiline(int code, std::string_view first, std::span<const std::string> body,
                             std::string_view last) {
  std::string out;
  append_code(out, code, '-');
  append_clean(out, first);
  out += "\r\n";
  for (const auto& line : body) {
    // A leading space keeps body lines from being mistaken for the closing "CODE " line.
    out.push_back(' ');
    append_clean(out, line);
    out += "\r\n";
  }
  append_code(out, code, ' ');
  append_clean(out, last);
  out += "\r\n";
  return out;
}

std::string quote_path(std::string_view path) {
  std::string out = "\"";
  for (char c : path) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

}  // namespace filegate::ftp
