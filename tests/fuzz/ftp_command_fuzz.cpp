// Fuzzes the FTP control-line path after framing: Telnet stripping, then verb/argument split.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/line_reader.hpp"
#include "ftp/command.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using filegate::ftp::ParseStatus;
  const std::string_view raw(reinterpret_cast<const char*>(data), size);
  const std::string line = filegate::core::strip_telnet(raw);
  if (line.size() > raw.size()) std::abort();

  const auto parsed = filegate::ftp::parse_command(line);
  const auto& command = parsed.command;
  switch (parsed.status) {
    case ParseStatus::empty:
      if (!line.empty()) std::abort();
      break;
    case ParseStatus::bad_verb:
      if (line.empty()) std::abort();
      break;
    case ParseStatus::ok: {
      // The verb is 3 or 4 upper-case ASCII letters ...
      if (command.verb.size() < 3 || command.verb.size() > 4) std::abort();
      for (char c : command.verb) {
        if (c < 'A' || c > 'Z') std::abort();
      }
      // ... spelled like the start of the line, whatever the case.
      for (std::size_t i = 0; i < command.verb.size(); ++i) {
        if ((line[i] & ~0x20) != command.verb[i]) std::abort();
      }
      // The argument is a suffix of the line, after exactly the verb and one space.
      if (command.argument.size() > line.size()) std::abort();
      if (!std::string_view(line).ends_with(command.argument)) std::abort();
      if (line.size() == command.verb.size()) {
        if (!command.argument.empty()) std::abort();
      } else if (line[command.verb.size()] != ' ' ||
                 command.argument.size() != line.size() - command.verb.size() - 1) {
        std::abort();
      }
      break;
    }
  }
  if (parsed.status != ParseStatus::ok && (!command.verb.empty() || !command.argument.empty())) std::abort();
  // Parsing is a pure function of its input.
  const auto again = filegate::ftp::parse_command(line);
  if (again.status != parsed.status || again.command.verb != command.verb ||
      again.command.argument != command.argument) {
    std::abort();
  }
  return 0;
}
