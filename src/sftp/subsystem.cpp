// The asynchronous side of the SFTP engine (the interface is in subsystem.hpp).
//
// Requests run in batches: every complete frame received so far is handed to the worker pool
// at once, the engine answers them in order into one reply buffer, and the replies go back to
// the transport with one `send` on the strand. One batch is in flight per session at a time,
// which keeps the requests of a session in order (a WRITE is done before the READ behind it)
// and makes 64 pipelined READs cost one thread hand-off, not 64. A long request (copy-data,
// check-file) ends its batch after one slice and continues in the next, so it never holds a
// worker for longer than one slice takes.
#include "sftp/subsystem.hpp"

#include <algorithm>
#include <optional>
#include <utility>

#include "sftp/engine.hpp"
#include "sftp/protocol.hpp"
#include "sftp/wire.hpp"

namespace filegate::sftp {
namespace {

class SftpSubsystem final : public Subsystem, public std::enable_shared_from_this<SftpSubsystem> {
 public:
  SftpSubsystem(const SubsystemContext& context, std::shared_ptr<auth::AuthorizedFilesystem> fs, std::string user,
                std::uint64_t session_id, Callbacks callbacks)
      : strand_(context.strand),
        workers_(context.workers),
        // The queue cap must hold two maximal frames, or a client could stall with a full
        // frame queued behind a partial one and the transport no longer reading.
        max_queued_(std::max(context.limits.sftp_max_queued_bytes,
                             2 * (std::size_t{context.limits.sftp_max_packet} + length_field_size))),
        max_batch_reply_(context.limits.sftp_max_batch_reply),
        callbacks_(std::move(callbacks)),
        engine_(std::move(fs), context.limits, std::move(user), session_id),
        framer_(context.limits.sftp_max_packet) {}

  void receive(std::span<const std::byte> bytes) override {
    if (failed_ || closing_) return;
    if (auto fed = framer_.feed(bytes); !fed) {
      fail("SFTP frame length over the limit or too short");
      return;
    }
    if (!accepting()) paused_ = true;
    start_batch();
  }

  bool accepting() const override { return framer_.buffered() + taken_bytes_ <= max_queued_; }

  void output_drained() override {
    if (!output_waiting_) return;
    output_waiting_ = false;
    start_batch();
  }

  void close(std::function<void()> done) override {
    if (closed_) {
      asio::post(strand_, std::move(done));
      return;
    }
    if (closing_) {
      // A second close: both callers hear about the one close.
      on_closed_ = [first = std::move(on_closed_), second = std::move(done)] {
        first();
        second();
      };
      return;
    }
    closing_ = true;
    on_closed_ = std::move(done);
    if (!in_flight_) begin_close();
  }

 private:
  // Strand: hands the queued frames to a worker unless a batch is already running.
  void start_batch() {
    if (in_flight_ || failed_ || closing_) return;
    // SECURITY: the requests already queued may ask for far more reply bytes than they take
    // (a 29-byte READ asks for 255 KiB): while the client does not read, answering them all
    // would pile every reply up in the transport.
    if (callbacks_.output_full && callbacks_.output_full()) {
      output_waiting_ = true;
      return;
    }
    if (batch_offset_ == batch_.size()) {
      if (!framer_.has_frames()) {
        trim();
        return;
      }
      framer_.take_frames(batch_);
      batch_offset_ = 0;
    }
    taken_bytes_ = batch_.size() - batch_offset_;
    in_flight_ = true;
    asio::post(workers_, [self = shared_from_this()] { self->run_batch(); });
  }

  // Worker: answers the batch in order, up to the reply cap (a flood of READs waits for the
  // next batch rather than pinning gigabytes of replies).
  void run_batch() {
    const auto frames = batch_.bytes();
    std::size_t hint = 0;
    for (std::size_t offset = batch_offset_; offset < frames.size() && hint < max_batch_reply_;) {
      hint += engine_.reply_size_hint(next_frame(frames, offset));
    }
    replies_.reserve(hint);
    while (batch_offset_ < frames.size() && replies_.size() < max_batch_reply_) {
      const std::size_t at = batch_offset_;
      if (auto fatal = engine_.handle(next_frame(frames, batch_offset_), replies_)) {
        fatal_ = fatal;
        break;
      }
      if (engine_.unfinished()) {
        // A long request gave its worker back part-way: the next batch starts with it again,
        // after whatever other sessions queued on the pool meanwhile.
        batch_offset_ = at;
        break;
      }
    }
    asio::post(strand_, [self = shared_from_this()] { self->finish_batch(); });
  }

  // Strand: delivers the replies, then starts the next batch.
  void finish_batch() {
    // in_flight_ stays set through the callbacks: one of them may call receive() or close(),
    // which must not start a batch on buffers that are still being handed out.
    if (!failed_ && !replies_.empty()) callbacks_.send(replies_.bytes());
    replies_.clear();
    if (fatal_) fail(*fatal_);
    fatal_.reset();
    in_flight_ = false;
    taken_bytes_ = batch_.size() - batch_offset_;
    if (closing_) {
      begin_close();
      return;
    }
    if (failed_) {
      trim();
      return;
    }
    start_batch();
    if (paused_ && accepting()) {
      paused_ = false;
      if (callbacks_.resume) callbacks_.resume();
    }
  }

  void fail(std::string_view reason) {
    if (failed_) return;
    failed_ = true;
    if (callbacks_.fail) callbacks_.fail(reason);
  }

  // Strand, nothing in flight: an idle session keeps no large buffers.
  void trim() {
    if (batch_offset_ == batch_.size()) {
      batch_.release();
      batch_offset_ = 0;
    }
    replies_.release();
    framer_.trim();
  }

  void begin_close() {
    in_flight_ = true;  // nothing else runs from now on
    asio::post(workers_, [self = shared_from_this()] {
      self->engine_.close_all();
      asio::post(self->strand_, [self] {
        self->closed_ = true;
        self->batch_.release();
        self->batch_offset_ = 0;
        self->replies_.release();
        // The callbacks may hold the transport, which holds us: let go of them.
        self->callbacks_ = Callbacks{};
        auto done = std::move(self->on_closed_);
        self->on_closed_ = nullptr;
        if (done) done();
      });
    });
  }

  Executor strand_;
  asio::thread_pool& workers_;
  const std::size_t max_queued_;
  const std::size_t max_batch_reply_;
  Callbacks callbacks_;
  // Used by the one worker running a batch (or the close), never by two threads at once.
  Engine engine_;

  // Strand only.
  Framer framer_;
  std::size_t taken_bytes_ = 0;  // request bytes taken from the framer and not yet answered
  bool in_flight_ = false;
  bool failed_ = false;
  bool closing_ = false;
  bool closed_ = false;
  bool paused_ = false;  // accepting() went false; `resume` is owed
  bool output_waiting_ = false;  // a batch waits for output_drained()
  std::function<void()> on_closed_;

  // The batch: the strand fills these, the worker owns them while in_flight_, and the posts
  // between the two order every access.
  Buffer batch_;
  std::size_t batch_offset_ = 0;
  Buffer replies_;
  std::optional<std::string_view> fatal_;  // points at a string literal of the engine's
};

}  // namespace

std::shared_ptr<Subsystem> make_subsystem(const SubsystemContext& context,
                                          std::shared_ptr<auth::AuthorizedFilesystem> fs, std::string user,
                                          std::uint64_t session_id, Subsystem::Callbacks callbacks) {
  return std::make_shared<SftpSubsystem>(context, std::move(fs), std::move(user), session_id,
                                         std::move(callbacks));
}

}  // namespace filegate::sftp
