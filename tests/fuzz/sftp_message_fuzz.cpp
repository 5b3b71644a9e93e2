// Fuzzes the SFTP engine with client messages after the version exchange: the input is the
// byte stream of frames (uint32 length + message) a client would send. The filesystem is a
// recording fake behind the real permission gate, so every request type, handle and extension
// path runs without touching the disk. Checked: every request gets exactly one well-formed
// reply frame carrying its id (after as many turns as it takes, if it stops part-way), a
// stream error appends nothing, and the engine survives.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <span>

#include "auth/authorized_fs.hpp"
#include "core/limits.hpp"
#include "core/log.hpp"
#include "sftp/engine.hpp"
#include "sftp/protocol.hpp"
#include "sftp/wire.hpp"
#include "support/recording_fs.hpp"

namespace sftp = filegate::sftp;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto permissions = [] {
    filegate::core::log::set_level(filegate::core::log::Level::error);
    // Half the letters, so both allowed and refused paths run.
    auto set = filegate::auth::PermissionSet::parse("lrwdm");
    if (!set) std::abort();
    return *set;
  }();
  auto inner = std::make_shared<filegate::testing::RecordingFilesystem>();
  auto fs = std::make_shared<filegate::auth::AuthorizedFilesystem>(
      inner, filegate::auth::PermissionRules(permissions));
  filegate::core::Limits limits;
  limits.sftp_max_handles = 4;
  sftp::Engine engine(fs, limits, "fuzz", 1);
  sftp::Buffer out;

  const std::byte init[] = {std::byte{1}, std::byte{0}, std::byte{0}, std::byte{0}, std::byte{3}};
  if (engine.handle(init, out)) std::abort();

  sftp::Framer framer(limits.sftp_max_packet);
  const bool framed = static_cast<bool>(framer.feed({reinterpret_cast<const std::byte*>(data), size}));
  sftp::Buffer frames;
  framer.take_frames(frames);
  (void)framed;

  std::size_t offset = 0;
  while (offset < frames.size()) {
    const auto message = sftp::next_frame(frames.bytes(), offset);
    out.clear();
    if (engine.handle(message, out)) {
      if (!out.empty()) std::abort();  // a stream error answers nothing
      break;
    }
    // A long request that stopped part-way answers nothing yet and goes on when handed back.
    while (engine.unfinished()) {
      if (!out.empty() || engine.handle(message, out)) std::abort();
    }
    // Exactly one frame, whose length field matches, carrying the request's id.
    if (out.size() < 9) std::abort();
    if (sftp::load_u32(out.data()) + 4 != out.size()) std::abort();
    if (sftp::load_u32(out.data() + 5) != sftp::load_u32(message.data() + 1)) std::abort();
    if (out.size() > limits.sftp_max_packet + 4) std::abort();
    if (engine.open_handles() > limits.sftp_max_handles) std::abort();
  }
  engine.close_all();
  if (engine.open_handles() != 0) std::abort();
  return 0;
}
