#include "sftp/wire.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <utility>

#include "sftp/protocol.hpp"
#include "vfs/errors.hpp"

namespace filegate::sftp {

Buffer::Buffer(Buffer&& other) noexcept
    : data_(std::move(other.data_)),
      size_(std::exchange(other.size_, 0)),
      capacity_(std::exchange(other.capacity_, 0)) {}

Buffer& Buffer::operator=(Buffer&& other) noexcept {
  if (this != &other) {
    data_ = std::move(other.data_);
    size_ = std::exchange(other.size_, 0);
    capacity_ = std::exchange(other.capacity_, 0);
  }
  return *this;
}

void Buffer::reserve(std::size_t extra) {
  const std::size_t needed = size_ + extra;
  if (needed <= capacity_) return;
  // Geometric growth keeps appends amortised O(1); callers that know the final size reserve
  // it up front so nothing is copied twice.
  const std::size_t capacity = std::max({needed, capacity_ * 2, std::size_t{256}});
  auto grown = std::make_unique_for_overwrite<std::byte[]>(capacity);
  if (size_ > 0) std::memcpy(grown.get(), data_.get(), size_);
  data_ = std::move(grown);
  capacity_ = capacity;
}

std::span<std::byte> Buffer::extend(std::size_t count) {
  reserve(count);
  std::span<std::byte> out(data_.get() + size_, count);
  size_ += count;
  return out;
}

void Buffer::append(std::span<const std::byte> bytes) {
  if (bytes.empty()) return;
  auto out = extend(bytes.size());
  std::memcpy(out.data(), bytes.data(), bytes.size());
}

void Buffer::release() {
  data_.reset();
  size_ = 0;
  capacity_ = 0;
}

void Buffer::shrink_to_fit() {
  if (size_ == capacity_) return;
  if (size_ == 0) return release();
  auto exact = std::make_unique_for_overwrite<std::byte[]>(size_);
  std::memcpy(exact.get(), data_.get(), size_);
  data_ = std::move(exact);
  capacity_ = size_;
}

void Buffer::consume(std::size_t count) {
  count = std::min(count, size_);
  if (count < size_) std::memmove(data_.get(), data_.get() + count, size_ - count);
  size_ -= count;
}

std::uint32_t load_u32(const std::byte* p) {
  return (std::to_integer<std::uint32_t>(p[0]) << 24) | (std::to_integer<std::uint32_t>(p[1]) << 16) |
         (std::to_integer<std::uint32_t>(p[2]) << 8) | std::to_integer<std::uint32_t>(p[3]);
}

void store_u32(std::byte* p, std::uint32_t value) {
  p[0] = static_cast<std::byte>(value >> 24);
  p[1] = static_cast<std::byte>(value >> 16);
  p[2] = static_cast<std::byte>(value >> 8);
  p[3] = static_cast<std::byte>(value);
}

// --- Reader ---------------------------------------------------------------------------------

std::optional<std::span<const std::byte>> Reader::take(std::size_t count) {
  if (count > remaining()) {
    position_ = bytes_.size();
    return std::nullopt;
  }
  auto out = bytes_.subspan(position_, count);
  position_ += count;
  return out;
}

std::optional<std::uint8_t> Reader::u8() {
  auto b = take(1);
  if (!b) return std::nullopt;
  return std::to_integer<std::uint8_t>((*b)[0]);
}

std::optional<std::uint32_t> Reader::u32() {
  auto b = take(4);
  if (!b) return std::nullopt;
  return load_u32(b->data());
}

std::optional<std::uint64_t> Reader::u64() {
  auto b = take(8);
  if (!b) return std::nullopt;
  return (std::uint64_t{load_u32(b->data())} << 32) | load_u32(b->data() + 4);
}

std::optional<std::span<const std::byte>> Reader::bytes() {
  auto length = u32();
  if (!length) return std::nullopt;
  return take(*length);
}

std::optional<std::string_view> Reader::string() {
  auto b = bytes();
  if (!b) return std::nullopt;
  return std::string_view(reinterpret_cast<const char*>(b->data()), b->size());
}

// --- Writer ---------------------------------------------------------------------------------

void Writer::u8(std::uint8_t value) { out_.extend(1)[0] = static_cast<std::byte>(value); }

void Writer::u32(std::uint32_t value) { store_u32(out_.extend(4).data(), value); }

void Writer::u64(std::uint64_t value) {
  auto out = out_.extend(8);
  store_u32(out.data(), static_cast<std::uint32_t>(value >> 32));
  store_u32(out.data() + 4, static_cast<std::uint32_t>(value));
}

void Writer::string(std::string_view text) {
  bytes(std::as_bytes(std::span<const char>(text.data(), text.size())));
}

void Writer::bytes(std::span<const std::byte> data) {
  u32(static_cast<std::uint32_t>(data.size()));
  out_.append(data);
}

void Writer::raw(std::span<const std::byte> data) { out_.append(data); }

std::size_t Writer::begin_frame(std::uint8_t type) {
  const std::size_t start = out_.size();
  u32(0);
  u8(type);
  return start;
}

void Writer::end_frame(std::size_t start) {
  assert(out_.size() >= start + length_field_size + 1);
  patch_u32(start, static_cast<std::uint32_t>(out_.size() - start - length_field_size));
}

void Writer::patch_u32(std::size_t offset, std::uint32_t value) {
  assert(offset + 4 <= out_.size());
  store_u32(out_.data() + offset, value);
}

// --- Framer ---------------------------------------------------------------------------------

Result<void> Framer::feed(std::span<const std::byte> bytes) {
  if (failed_) return vfs::make_error_code(vfs::Errc::invalid_argument);
  while (!bytes.empty()) {
    const std::size_t held = buffer_.size() - complete_;  // bytes of the partial frame
    if (held < length_field_size) {
      const std::size_t n = std::min(length_field_size - held, bytes.size());
      buffer_.append(bytes.first(n));
      bytes = bytes.subspan(n);
      if (held + n < length_field_size) break;
      const std::uint32_t length = load_u32(buffer_.data() + complete_);
      // SECURITY: the announced length is checked before any of the body is buffered, so a
      // client cannot make the server hold more than one maximal frame per session.
      if (length > max_frame_ || length < min_message_size) {
        failed_ = true;
        buffer_.truncate(complete_);
        return vfs::make_error_code(vfs::Errc::invalid_argument);
      }
      frame_length_ = length;
      // Room for the whole body at once: a 255 KiB WRITE arriving in small pieces would
      // otherwise grow (and copy) the buffer several times.
      buffer_.reserve(length);
      continue;
    }
    const std::size_t missing = length_field_size + frame_length_ - held;
    const std::size_t n = std::min(missing, bytes.size());
    buffer_.append(bytes.first(n));
    bytes = bytes.subspan(n);
    if (n == missing) complete_ = buffer_.size();
  }
  return {};
}

void Framer::take_frames(Buffer& out) {
  out.clear();
  // The partial frame (at most one frame) moves to the other buffer; the complete frames stay
  // where they are and change owner, so a large batch is never copied.
  out.append(std::span<const std::byte>(buffer_.data() + complete_, buffer_.size() - complete_));
  buffer_.truncate(complete_);
  std::swap(buffer_, out);
  complete_ = 0;
}

void Framer::trim() { buffer_.shrink_to_fit(); }

std::span<const std::byte> next_frame(std::span<const std::byte> frames, std::size_t& offset) {
  assert(offset + length_field_size <= frames.size());
  const std::uint32_t length = load_u32(frames.data() + offset);
  assert(offset + length_field_size + length <= frames.size());
  auto body = frames.subspan(offset + length_field_size, length);
  offset += length_field_size + length;
  return body;
}

}  // namespace filegate::sftp
