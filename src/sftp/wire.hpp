// SFTP wire encoding: a growable byte buffer, a bounded reader over untrusted bytes, a writer
// for replies, and the framer that cuts the channel's byte stream into frames.
//
// SECURITY: client bytes only pass through Reader (every read is bounds-checked and returns
// nullopt past the end, never reads out of range) and Framer (a frame's announced length is
// checked against the cap before a single byte of its body is buffered).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

#include "core/result.hpp"

namespace filegate::sftp {

// A byte buffer that can grow without zero-filling, so READ data can be read from the disk
// straight into a reply (extend, read in place, truncate to what was read).
class Buffer {
 public:
  Buffer() = default;
  Buffer(Buffer&& other) noexcept;
  Buffer& operator=(Buffer&& other) noexcept;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  std::byte* data() { return data_.get(); }
  const std::byte* data() const { return data_.get(); }
  std::size_t size() const { return size_; }
  std::size_t capacity() const { return capacity_; }
  bool empty() const { return size_ == 0; }
  std::span<const std::byte> bytes() const { return {data_.get(), size_}; }

  // Makes room for `extra` more bytes without changing size().
  void reserve(std::size_t extra);
  // Adds `count` uninitialised bytes at the end and returns them.
  std::span<std::byte> extend(std::size_t count);
  void append(std::span<const std::byte> bytes);
  // Drops everything from `size` on (size <= size()).
  void truncate(std::size_t size) { size_ = size < size_ ? size : size_; }
  void clear() { size_ = 0; }
  // Frees the memory (an idle session keeps no large buffers).
  void release();
  // Reallocates to exactly size() bytes (nothing when empty).
  void shrink_to_fit();
  // Removes the first `count` bytes, moving the rest to the front.
  void consume(std::size_t count);

 private:
  std::unique_ptr<std::byte[]> data_;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

// Reads SSH wire types (big-endian integers, uint32-length-prefixed strings) from untrusted
// bytes. Each read returns nullopt when the input is too short, and leaves the reader at the
// end, so a failed read makes every later one fail too.
class Reader {
 public:
  explicit Reader(std::span<const std::byte> bytes) : bytes_(bytes) {}

  std::optional<std::uint8_t> u8();
  std::optional<std::uint32_t> u32();
  std::optional<std::uint64_t> u64();
  // A string's bytes (they point into the input).
  std::optional<std::span<const std::byte>> bytes();
  // The same, as text (file names are byte strings; no encoding is checked here).
  std::optional<std::string_view> string();

  std::size_t remaining() const { return bytes_.size() - position_; }

 private:
  std::optional<std::span<const std::byte>> take(std::size_t count);
  std::span<const std::byte> bytes_;
  std::size_t position_ = 0;
};

// Appends SSH wire types to a Buffer.
class Writer {
 public:
  explicit Writer(Buffer& out) : out_(out) {}

  void u8(std::uint8_t value);
  void u32(std::uint32_t value);
  void u64(std::uint64_t value);
  void string(std::string_view text);
  void bytes(std::span<const std::byte> data);  // uint32 length + data
  void raw(std::span<const std::byte> data);    // data only

  // Starts a frame (a length placeholder and the type byte); returns its offset for
  // end_frame, which writes the length once the body is complete.
  std::size_t begin_frame(std::uint8_t type);
  void end_frame(std::size_t start);
  // Overwrites a big-endian uint32 written earlier (a length known only afterwards).
  void patch_u32(std::size_t offset, std::uint32_t value);

  Buffer& buffer() { return out_; }

 private:
  Buffer& out_;
};

std::uint32_t load_u32(const std::byte* p);
void store_u32(std::byte* p, std::uint32_t value);

// Cuts the channel's byte stream into frames (uint32 length + body). Complete frames collect
// at the front of the buffer, followed by at most one partial frame.
class Framer {
 public:
  explicit Framer(std::uint32_t max_frame) : max_frame_(max_frame) {}

  // Takes the bytes. Fails (vfs::Errc::invalid_argument, the stream cannot continue) as soon
  // as a frame announces a length over the cap or too short to hold a type and a request id;
  // nothing of that frame's body is buffered and the framer accepts nothing afterwards.
  Result<void> feed(std::span<const std::byte> bytes);

  // Bytes held: complete frames plus the partial one.
  std::size_t buffered() const { return buffer_.size(); }
  bool has_frames() const { return complete_ > 0; }
  // Memory held, for the idle-session bound.
  std::size_t capacity() const { return buffer_.capacity(); }
  // Moves the complete frames into `out` (whose previous content is dropped; its memory is
  // kept for reuse), leaving the partial frame here.
  void take_frames(Buffer& out);
  // For an idle session: frees the buffer's memory, or shrinks it to the partial frame it
  // holds (the buffer may have served a large batch before).
  void trim();

 private:
  std::uint32_t max_frame_;
  Buffer buffer_;
  std::size_t complete_ = 0;     // bytes of complete frames at the front of buffer_
  std::size_t frame_length_ = 0; // the partial frame's announced body length, once known
  bool failed_ = false;
};

// The next frame in a buffer of complete frames (as Framer produces): its body, without the
// length field. `offset` advances past it.
std::span<const std::byte> next_frame(std::span<const std::byte> frames, std::size_t& offset);

}  // namespace filegate::sftp
