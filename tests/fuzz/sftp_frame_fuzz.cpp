// Fuzzes the SFTP framer: the first byte picks the frame cap, the second the chunk sizes; the
// rest is the byte stream from the client. Checked against a plain reference parse: the
// framer yields exactly the complete frames, fails exactly at the first length over the cap
// or under the minimum, and never holds more than one partial frame of at most the cap.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "sftp/protocol.hpp"
#include "sftp/wire.hpp"

using filegate::sftp::Buffer;
using filegate::sftp::Framer;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::uint32_t cap = 5 + data[0] * 4;
  const std::size_t chunk_seed = data[1];
  const std::span<const std::byte> input(reinterpret_cast<const std::byte*>(data + 2), size - 2);

  // Reference: complete frames, and whether (and where) the stream breaks the rules.
  std::size_t complete = 0;
  bool bad = false;
  for (std::size_t pos = 0; pos + 4 <= input.size();) {
    const std::uint32_t length = filegate::sftp::load_u32(input.data() + pos);
    if (length > cap || length < filegate::sftp::min_message_size) {
      bad = true;
      break;
    }
    if (pos + 4 + length > input.size()) break;
    pos += 4 + length;
    complete = pos;
  }

  Framer framer(cap);
  Buffer frames;
  std::vector<std::byte> collected;
  bool failed = false;
  std::size_t round = 0;
  for (std::size_t pos = 0; pos < input.size() && !failed; ++round) {
    const std::size_t want = 1 + (chunk_seed * 31 + round * 7) % 97;
    const auto chunk = input.subspan(pos, std::min(want, input.size() - pos));
    pos += chunk.size();
    failed = !framer.feed(chunk);
    // SECURITY property: never more than one partial frame (header included) beyond the
    // complete ones, and a partial frame never longer than the cap allows.
    if (framer.buffered() > input.size()) std::abort();
    if (round % 3 == 0 || failed || pos == input.size()) {
      framer.take_frames(frames);
      if (framer.buffered() > 4 + cap) std::abort();
      collected.insert(collected.end(), frames.bytes().begin(), frames.bytes().end());
      // Every taken buffer is a sequence of whole frames.
      std::size_t offset = 0;
      while (offset < frames.size()) (void)filegate::sftp::next_frame(frames.bytes(), offset);
      if (offset != frames.size()) std::abort();
    }
  }
  if (failed != bad) std::abort();
  if (collected.size() != complete) std::abort();
  if (!std::equal(collected.begin(), collected.end(), input.begin())) std::abort();
  if (failed && framer.feed(input.first(0))) std::abort();  // stays failed
  framer.trim();
  return 0;
}
