// The SFTP subsystem as the SSH transport sees it: bytes from the channel in, bytes for the
// channel out. Frames the byte stream (rejecting a frame over the cap before buffering it),
// runs the requests through the SFTP engine on the worker pool (the event loop never touches
// the disk) and hands every reply back on the session's strand.
//
// No libssh here: the transport (ssh_server.cpp) owns the SSH channel, and tests drive this
// class over an in-memory pipe.
//
// Threading: every public member is called on `strand`; the callbacks are invoked on it too.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "auth/authorized_fs.hpp"
#include "core/asio.hpp"
#include "core/limits.hpp"

namespace filegate::sftp {

class Subsystem {
 public:
  struct Callbacks {
    // Bytes for the client: whole SFTP frames, in order. The transport queues what the
    // channel window does not take yet.
    std::function<void(std::span<const std::byte>)> send;
    // The client broke the protocol (frame over the cap, malformed INIT ...): the transport
    // closes the channel. Called at most once; nothing is sent after it.
    std::function<void(std::string_view reason)> fail;
    // accepting() turned true again after being false: the transport resumes reading.
    std::function<void()> resume;
    // True while the transport's queued output for this channel is over its cap: no further
    // batch starts (its replies would only pile up there) until output_drained(). Unset: never.
    std::function<bool()> output_full;
  };

  virtual ~Subsystem() = default;

  // Bytes received from the client. The subsystem takes all of them (it buffers at most one
  // partial frame plus the requests it has not started yet).
  virtual void receive(std::span<const std::byte> bytes) = 0;
  // False while enough requests are queued or in flight: the transport should stop reading
  // the channel (so the SSH window closes and the client stops sending) until `resume`.
  virtual bool accepting() const = 0;
  // The transport's output went back under its cap: batches that waited for it start.
  virtual void output_drained() = 0;
  // The channel is closing (EOF, close, disconnect): closes every open handle on a worker,
  // then calls `done` on the strand. No callback fires after `done`.
  virtual void close(std::function<void()> done) = 0;
};

struct SubsystemContext {
  Executor strand;
  asio::thread_pool& workers;
  const core::Limits& limits;
};

// `user` and `session_id` appear in log lines. `fs` is the user's permission-checked home.
std::shared_ptr<Subsystem> make_subsystem(const SubsystemContext& context,
                                          std::shared_ptr<auth::AuthorizedFilesystem> fs,
                                          std::string user, std::uint64_t session_id,
                                          Subsystem::Callbacks callbacks);

}  // namespace filegate::sftp
