// The SFTP engine: answers one request message at a time against the user's
// permission-checked filesystem, appending the reply frame to an output buffer. Synchronous
// and blocking (it does the disk work): the subsystem (subsystem.cpp) runs it on the worker
// pool, one batch of requests at a time per session, so it needs no locking of its own.
//
// Protocol version 3 (draft-ietf-secsh-filexfer-02) with the extensions OpenSSH's
// sftp-server offers, plus copy-data, home-directory and check-file from
// draft-ietf-secsh-filexfer-extensions. Requests and extensions are dispatched from static
// tables (engine.cpp); the extension table also produces the VERSION advertisement.
//
// SECURITY: every filesystem operation goes through auth::AuthorizedFilesystem, which checks
// the user's letters; the engine never opens a path itself. Handles are slot index +
// generation, so a closed, stale or forged handle finds nothing (SSH_FX_FAILURE).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "auth/authorized_fs.hpp"
#include "core/limits.hpp"
#include "sftp/wire.hpp"

namespace filegate::sftp {

class Engine {
 public:
  Engine(std::shared_ptr<auth::AuthorizedFilesystem> fs, const core::Limits& limits, std::string user,
         std::uint64_t session_id);
  // Closes every handle still open (logging their transfers as cut short).
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Handles one message: a frame's body, from the type byte on. Appends exactly one reply
  // frame to `out` (none when unfinished()) and returns nullopt, or, when the stream cannot go on (a request before
  // INIT, INIT twice, a message too short to carry a request id), appends nothing and returns
  // the reason.
  std::optional<std::string_view> handle(std::span<const std::byte> message, Buffer& out);

  // Whether the last handle() stopped its request part-way: a copy-data or check-file that read
  // limits.sftp_request_slice bytes and gave its worker back so other sessions' work can run. It
  // appended no reply; hand the same message to handle() again to go on (nothing else first).
  bool unfinished() const;

  // Closes every open handle, logging the transfers of those that moved data, and drops an
  // unfinished request.
  void close_all();

  std::size_t open_handles() const;

  // A guess of the reply size of `message`, so a batch's reply buffer is reserved once
  // rather than grown (and copied) while READ data is written into it.
  std::size_t reply_size_hint(std::span<const std::byte> message) const;

  // The extensions the VERSION reply advertises, in order (name, version data).
  static std::vector<std::pair<std::string_view, std::string_view>> extensions();

  struct State;

 private:
  std::unique_ptr<State> state_;
};

}  // namespace filegate::sftp
