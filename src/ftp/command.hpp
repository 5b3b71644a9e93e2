// FTP command-line parsing (RFC 959 section 4.1): a verb, optionally one space and an argument.
#pragma once

#include <string>
#include <string_view>

namespace filegate::ftp {

struct Command {
  std::string verb;      // upper-cased
  std::string argument;  // everything after the first space, verbatim (file names may have spaces)
};

enum class ParseStatus { ok, empty, bad_verb };

struct ParseResult {
  ParseStatus status;
  Command command;
};

// Verbs are 3 or 4 ASCII letters (case-insensitive). Telnet IAC sequences must already be
// stripped (core::strip_telnet).
ParseResult parse_command(std::string_view line);

}  // namespace filegate::ftp
