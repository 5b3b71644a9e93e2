// The bounded wire types: Reader, Writer, Buffer and the Framer.
#include "sftp/wire.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "sftp/protocol.hpp"

namespace filegate::sftp {
namespace {

using Bytes = std::vector<std::byte>;

Bytes bytes(std::initializer_list<int> values) {
  Bytes out;
  for (int v : values) out.push_back(static_cast<std::byte>(v));
  return out;
}

TEST(SftpReader, ReadsBigEndianIntegersAndStrings) {
  const Bytes in = bytes({1, 0, 0, 1, 2, 0, 0, 0, 0, 0, 0, 1, 3, 0, 0, 0, 2, 'h', 'i'});
  Reader r(in);
  EXPECT_EQ(r.u8(), 1u);
  EXPECT_EQ(r.u32(), 0x00000102u);
  EXPECT_EQ(r.remaining(), 14u);
}

TEST(SftpReader, ExactValues) {
  const Bytes in = bytes({0x12, 0x34, 0x56, 0x78, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 'a', 'b', 'c'});
  Reader r(in);
  EXPECT_EQ(r.u32(), 0x12345678u);
  EXPECT_EQ(r.u64(), 0x0000000100000002ull);
  EXPECT_EQ(r.string(), "abc");
  EXPECT_EQ(r.remaining(), 0u);
  EXPECT_FALSE(r.u8());
}

TEST(SftpReader, ShortInputFailsAndStaysFailed) {
  const Bytes in = bytes({0, 0, 0, 9, 'a', 'b', 0, 0, 0, 1});
  Reader r(in);
  EXPECT_FALSE(r.string());  // announces 9 bytes, has 6
  EXPECT_EQ(r.remaining(), 0u);
  EXPECT_FALSE(r.u32());     // the next read fails too: the reader is at its end
  Reader empty(std::span<const std::byte>{});
  EXPECT_FALSE(empty.u8());
  EXPECT_FALSE(empty.u64());
  EXPECT_FALSE(empty.bytes());
}

TEST(SftpReader, HugeStringLengthDoesNotOverflow) {
  const Bytes in = bytes({0xff, 0xff, 0xff, 0xff, 'x'});
  Reader r(in);
  EXPECT_FALSE(r.bytes());
}

TEST(SftpWriter, FramesWithPatchedLength) {
  Buffer b;
  Writer w(b);
  const auto start = w.begin_frame(101);
  w.u32(7);
  w.string("ok");
  w.u64(0x0102030405060708ull);
  w.end_frame(start);
  const Bytes expected = bytes({0, 0, 0, 19, 101, 0, 0, 0, 7, 0, 0, 0, 2, 'o', 'k', 1, 2, 3, 4, 5, 6, 7, 8});
  EXPECT_EQ(Bytes(b.bytes().begin(), b.bytes().end()), expected);
}

TEST(SftpBuffer, ExtendsWithoutLosingContentAndReleases) {
  Buffer b;
  b.append(bytes({1, 2, 3}));
  auto space = b.extend(100000);
  EXPECT_EQ(space.size(), 100000u);
  EXPECT_EQ(b.size(), 100003u);
  EXPECT_EQ(std::to_integer<int>(b.data()[2]), 3);
  b.truncate(2);
  EXPECT_EQ(b.size(), 2u);
  b.truncate(50);  // never grows
  EXPECT_EQ(b.size(), 2u);
  b.consume(1);
  EXPECT_EQ(std::to_integer<int>(b.data()[0]), 2);
  b.release();
  EXPECT_EQ(b.capacity(), 0u);
  EXPECT_TRUE(b.empty());
  Buffer moved = std::move(b);
  EXPECT_EQ(moved.size(), 0u);
}

Bytes frame_of(std::uint32_t length, std::byte fill = std::byte{7}) {
  Bytes out(4 + length, fill);
  store_u32(out.data(), length);
  return out;
}

TEST(SftpFramer, CollectsCompleteFramesAndKeepsThePartialOne) {
  Framer f(1000);
  Bytes stream = frame_of(5);
  const Bytes second = frame_of(10);
  stream.insert(stream.end(), second.begin(), second.end());
  stream.insert(stream.end(), {std::byte{0}, std::byte{0}});  // half a length field
  ASSERT_TRUE(f.feed(stream));
  EXPECT_TRUE(f.has_frames());
  EXPECT_EQ(f.buffered(), stream.size());
  Buffer out;
  f.take_frames(out);
  EXPECT_EQ(out.size(), 9u + 14u);
  EXPECT_EQ(f.buffered(), 2u);
  EXPECT_FALSE(f.has_frames());
  std::size_t offset = 0;
  EXPECT_EQ(next_frame(out.bytes(), offset).size(), 5u);
  EXPECT_EQ(next_frame(out.bytes(), offset).size(), 10u);
  EXPECT_EQ(offset, out.size());
  // The rest of the partial frame.
  ASSERT_TRUE(f.feed(bytes({0, 6, 1, 2, 3, 4, 5})));
  EXPECT_FALSE(f.has_frames());
  ASSERT_TRUE(f.feed(bytes({6})));
  EXPECT_TRUE(f.has_frames());
  f.take_frames(out);
  EXPECT_EQ(out.size(), 10u);
  EXPECT_EQ(f.buffered(), 0u);
}

TEST(SftpFramer, ByteByByteEqualsAllAtOnce) {
  Bytes stream;
  for (std::uint32_t n : {5u, 6u, 300u, 5u}) {
    const auto f = frame_of(n, static_cast<std::byte>(n));
    stream.insert(stream.end(), f.begin(), f.end());
  }
  Framer f(1000);
  for (std::byte b : stream) ASSERT_TRUE(f.feed(Bytes{b}));
  Buffer out;
  f.take_frames(out);
  EXPECT_EQ(Bytes(out.bytes().begin(), out.bytes().end()), stream);
}

TEST(SftpFramer, RejectsAnOversizeFrameFromItsLengthAlone) {
  Framer f(1000);
  ASSERT_TRUE(f.feed(frame_of(1000)));
  // 1001: refused as soon as the four length bytes are in, nothing of the body is kept.
  EXPECT_FALSE(f.feed(bytes({0, 0, 3, 0xe9})));
  EXPECT_EQ(f.buffered(), 1004u);
  // A failed framer takes nothing more.
  EXPECT_FALSE(f.feed(frame_of(5)));
  EXPECT_EQ(f.buffered(), 1004u);
}

TEST(SftpFramer, RejectsFramesTooShortForARequest) {
  for (std::uint32_t length : {0u, 1u, 4u}) {
    Framer f(1000);
    EXPECT_FALSE(f.feed(frame_of(length))) << length;
  }
  Framer f(1000);
  EXPECT_TRUE(f.feed(frame_of(min_message_size)));
}

TEST(SftpFramer, TrimKeepsOnlyThePartialFrame) {
  Framer f(100000);
  // A large batch taken, then a partial frame left in the buffer that served it.
  Buffer big;
  ASSERT_TRUE(f.feed(frame_of(90000)));
  f.take_frames(big);
  ASSERT_TRUE(f.feed(frame_of(90000)));
  ASSERT_TRUE(f.feed(bytes({0, 0})));
  f.take_frames(big);
  EXPECT_GE(f.capacity(), 90000u);
  f.trim();
  EXPECT_EQ(f.buffered(), 2u);
  EXPECT_EQ(f.capacity(), 2u);
  ASSERT_TRUE(f.feed(bytes({0, 5, 1, 2, 3, 4})));
  f.trim();
  EXPECT_EQ(f.buffered(), 8u);
  ASSERT_TRUE(f.feed(bytes({5})));
  Buffer out;
  f.take_frames(out);
  EXPECT_EQ(out.size(), 9u);
  f.trim();
  EXPECT_EQ(f.buffered(), 0u);
  EXPECT_EQ(f.capacity(), 0u);
}

}  // namespace
}  // namespace filegate::sftp
