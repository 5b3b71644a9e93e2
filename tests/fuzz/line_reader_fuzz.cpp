// Fuzzes the bounded line reader and the Telnet stripper that the FTP control channel uses.
// The first byte picks the cap; the rest is fed in chunks whose sizes come from the data, so
// lines get split at every possible place.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>

#include "core/line_reader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using filegate::core::LineReader;
  if (size < 2) return 0;
  const std::size_t cap = 1 + data[0] % 64;
  const std::size_t chunk_seed = data[1];
  const std::span<const char> input(reinterpret_cast<const char*>(data + 2), size - 2);

  LineReader reader(cap);
  std::size_t pos = 0;
  std::size_t round = 0;
  std::size_t lines = 0;
  std::size_t newlines = 0;
  for (char c : input) newlines += c == '\n';
  while (pos < input.size()) {
    const std::size_t want = 1 + (chunk_seed + round * 7) % 17;
    const auto chunk = input.subspan(pos, std::min(want, input.size() - pos));
    const std::size_t used = reader.feed(chunk);
    if (used > chunk.size()) std::abort();
    // feed() stops right after a complete line: the last byte taken is then a '\n'.
    if (reader.has_line() && (used == 0 || chunk[used - 1] != '\n')) std::abort();
    if (!reader.has_line() && used != chunk.size()) std::abort();
    pos += used;
    ++round;
    if (auto line = reader.next()) {
      ++lines;
      // The cap counts the terminator, so text is at most cap - 1 bytes.
      if (line->text.size() + 1 > cap) std::abort();
      if (line->status != LineReader::Status::ok && !line->text.empty()) std::abort();
      if (line->text.find('\0') != std::string::npos) std::abort();
      if (line->text.find('\n') != std::string::npos) std::abort();
      (void)filegate::core::strip_telnet(line->text);
      if (reader.next()) std::abort();  // one line per feed
    } else if (used == 0) {
      std::abort();  // no line pending, so feed must have made progress
    }
  }
  // Every '\n' produced exactly one line.
  if (lines != newlines) std::abort();

  // strip_telnet only ever removes bytes.
  const std::string_view raw(input.data(), input.size());
  const auto stripped = filegate::core::strip_telnet(raw);
  if (stripped.size() > raw.size()) std::abort();
  return 0;
}
