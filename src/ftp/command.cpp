#include "ftp/command.hpp"

namespace filegate::ftp {

ParseResult parse_command(std::string_view line) {
  if (line.empty()) return {ParseStatus::empty, {}};
  const auto space = line.find(' ');
  const std::string_view verb = line.substr(0, space);
  if (verb.size() < 3 || verb.size() > 4) return {ParseStatus::bad_verb, {}};
  Command command;
  for (char c : verb) {
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))) return {ParseStatus::bad_verb, {}};
    command.verb.push_back(static_cast<char>(c & ~0x20));
  }
  if (space != std::string_view::npos) command.argument = line.substr(space + 1);
  return {ParseStatus::ok, std::move(command)};
}

}  // namespace filegate::ftp
