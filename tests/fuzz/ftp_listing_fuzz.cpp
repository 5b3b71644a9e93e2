// Fuzzes the listing helpers that see client text: MFMT time values, OPTS MLST fact lists,
// LIST/NLST name patterns, and reply formatting of arbitrary text (file names end up in
// replies).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fnmatch.h>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ftp/listing.hpp"
#include "ftp/reply.hpp"

namespace {

// Every CR is followed by LF and every LF preceded by CR; returns the number of lines, each
// starting with "CODE" and the given separator (or a space for multi-line body lines).
std::size_t check_lines(const std::string& out, std::size_t expected_lines) {
  std::size_t lines = 0;
  std::size_t start = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (out[i] == '\0') std::abort();
    if (out[i] == '\r' && (i + 1 >= out.size() || out[i + 1] != '\n')) std::abort();
    if (out[i] == '\n') {
      if (i == 0 || out[i - 1] != '\r') std::abort();
      ++lines;
      start = i + 1;
    }
  }
  if (start != out.size()) std::abort();  // ends in CRLF
  if (lines != expected_lines) std::abort();
  return lines;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  // parse_timeval: anything accepted formats back to its first 14 characters.
  if (const auto t = filegate::ftp::parse_timeval(input)) {
    const auto text = filegate::ftp::format_timeval(*t);
    if (text.size() != 14) std::abort();
    // Leap seconds (":60") roll over into the next minute, so compare only then-valid inputs.
    if (input.substr(12, 2) != "60" && input.substr(0, 14) != text) std::abort();
    if (input.size() > 14 && (input[14] != '.' || input.size() > 24)) std::abort();
  }

  // FactSet: parse then describe gives a list that parses to the same set.
  const auto facts = filegate::ftp::FactSet::parse(input);
  const auto described = facts.describe(false);
  const auto reparsed = filegate::ftp::FactSet::parse(described);
  if (reparsed.describe(false) != described) std::abort();
  if (facts.describe(true).size() < described.size()) std::abort();

  // Name patterns: "PATTERN\nNAME". Without sets ('[') and escapes, the result is fnmatch's
  // with FNM_PERIOD (a leading '.' must be matched by a '.'); a pattern without wildcards
  // matches only itself. (A slow match shows up as a fuzzer time-out.)
  if (const auto newline = input.find('\n'); newline != std::string_view::npos) {
    const std::string pattern(input.substr(0, newline));
    const std::string name(input.substr(newline + 1));
    const bool matched = filegate::ftp::matches_pattern(pattern, name);
    if (pattern.find_first_of("[\\") == std::string::npos && pattern.find('\0') == std::string::npos &&
        name.find('\0') == std::string::npos) {
      if (matched != (::fnmatch(pattern.c_str(), name.c_str(), FNM_PERIOD) == 0)) std::abort();
    }
    if (!filegate::ftp::has_wildcards(pattern) && matched != (pattern == name)) std::abort();
  }

  // Replies: the input as text, and split at '\t' into multi-line body lines.
  const auto single = filegate::ftp::format_reply(550, input);
  if (single.size() != input.size() + 6 || single.compare(0, 4, "550 ") != 0) std::abort();
  check_lines(single, 1);

  std::vector<std::string> body;
  std::string_view rest = input;
  while (!rest.empty() && body.size() < 64) {
    const auto tab = rest.find('\t');
    body.emplace_back(rest.substr(0, tab));
    if (tab == std::string_view::npos) break;
    rest.remove_prefix(tab + 1);
  }
  const auto first = input.substr(0, input.size() / 2);
  const auto last = input.substr(input.size() / 2);
  const auto multi = filegate::ftp::format_multiline(211, first, body, last);
  check_lines(multi, body.size() + 2);
  // Only the last line starts "211 "; body lines start with a space.
  std::size_t pos = 0;
  for (std::size_t line = 0; line < body.size() + 2; ++line) {
    const auto end = multi.find("\r\n", pos);
    const std::string_view text(multi.data() + pos, end - pos);
    if (line == 0 && !text.starts_with("211-")) std::abort();
    if (line > 0 && line <= body.size() && !text.starts_with(" ")) std::abort();
    if (line == body.size() + 1 && !text.starts_with("211 ")) std::abort();
    pos = end + 2;
  }

  // A quoted path has balanced quotes once the doubling is undone.
  const auto quoted = filegate::ftp::quote_path(input);
  if (quoted.size() < input.size() + 2 || quoted.front() != '"' || quoted.back() != '"') std::abort();
  return 0;
}
