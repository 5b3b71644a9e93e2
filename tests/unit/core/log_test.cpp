#include "core/log.hpp"

#include <gtest/gtest.h>

#include <string>

namespace filegate::core::log {
namespace {

std::string escaped(std::string_view text) {
  std::string out;
  append_json_escaped(out, text);
  return out;
}

TEST(JsonEscape, PlainAsciiPasses) {
  EXPECT_EQ(escaped("hello world/ok"), "hello world/ok");
  EXPECT_EQ(escaped(""), "");
}

TEST(JsonEscape, AppendsToExisting) {
  std::string out = "prefix:";
  append_json_escaped(out, "x");
  EXPECT_EQ(out, "prefix:x");
}

TEST(JsonEscape, QuotesAndBackslashes) {
  EXPECT_EQ(escaped("a\"b"), "a\\\"b");
  EXPECT_EQ(escaped("a\\b"), "a\\\\b");
  EXPECT_EQ(escaped("\"},{\"event\":\"forged"), "\\\"},{\\\"event\\\":\\\"forged");
}

TEST(JsonEscape, ControlCharacters) {
  EXPECT_EQ(escaped("a\nb"), "a\\u000ab");
  EXPECT_EQ(escaped("\r"), "\\u000d");
  EXPECT_EQ(escaped("\t"), "\\u0009");
  EXPECT_EQ(escaped(std::string_view("\0", 1)), "\\u0000");
  EXPECT_EQ(escaped("\x1f"), "\\u001f");
  EXPECT_EQ(escaped("\x7f"), "\\u007f");
  EXPECT_EQ(escaped("\x1b[31m"), "\\u001b[31m");
}

TEST(JsonEscape, ValidMultibytePasses) {
  EXPECT_EQ(escaped("caf\xc3\xa9"), "caf\xc3\xa9");                    // 2 bytes
  EXPECT_EQ(escaped("\xe2\x82\xac"), "\xe2\x82\xac");                  // 3 bytes (euro)
  EXPECT_EQ(escaped("\xf0\x9f\x98\x80"), "\xf0\x9f\x98\x80");          // 4 bytes (emoji)
  EXPECT_EQ(escaped("\xf4\x8f\xbf\xbf"), "\xf4\x8f\xbf\xbf");          // U+10FFFF
}

TEST(JsonEscape, InvalidUtf8IsReplaced) {
  EXPECT_EQ(escaped("\xff"), "\\ufffd");
  EXPECT_EQ(escaped("\x80"), "\\ufffd");                               // lone continuation
  EXPECT_EQ(escaped("\xc3"), "\\ufffd");                               // truncated at end
  EXPECT_EQ(escaped("\xc3(x"), "\\ufffd(x");                           // bad continuation
  EXPECT_EQ(escaped("\xc0\xa2"), "\\ufffd\\ufffd");                    // overlong '"'
  EXPECT_EQ(escaped("\xc1\xbf"), "\\ufffd\\ufffd");
  EXPECT_EQ(escaped("\xe2\x82"), "\\ufffd\\ufffd");                    // truncated 3-byte
  EXPECT_EQ(escaped("\xf5\x80\x80\x80"), "\\ufffd\\ufffd\\ufffd\\ufffd");  // > U+10FFFF lead
  EXPECT_EQ(escaped("\xf8\x88\x80\x80\x80"), "\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd");
  // Each invalid byte is replaced on its own; valid text around it survives.
  EXPECT_EQ(escaped("a\xfe" "b\xc3\xa9"), "a\\ufffdb\xc3\xa9");
}

// Known gap in core/log.cpp (reported, not ours to change): utf8_length() checks lead and
// continuation bytes but not the second byte's range, so 3- and 4-byte overlong forms,
// UTF-16 surrogates and F4 9x (> U+10FFFF) pass through raw. Enable once that is fixed.
TEST(JsonEscape, OverlongAndSurrogatesAreReplaced) {
  EXPECT_EQ(escaped("\xe0\x80\xa2"), "\\ufffd\\ufffd\\ufffd");      // overlong '"'
  EXPECT_EQ(escaped("\xed\xa0\x80"), "\\ufffd\\ufffd\\ufffd");      // surrogate D800
  EXPECT_EQ(escaped("\xf0\x80\x80\xa2"), "\\ufffd\\ufffd\\ufffd\\ufffd");
  EXPECT_EQ(escaped("\xf4\x90\x80\x80"), "\\ufffd\\ufffd\\ufffd\\ufffd");
}

// Never emits a raw byte below 0x20 or a raw quote, whatever the input.
TEST(JsonEscape, OutputNeverContainsRawControlOrQuote) {
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  const auto out = escaped(all);
  for (std::size_t i = 0; i < out.size(); ++i) {
    const auto c = static_cast<unsigned char>(out[i]);
    EXPECT_GE(c, 0x20u) << i;
    if (c == '"') {
      ASSERT_GT(i, 0u);
      EXPECT_EQ(out[i - 1], '\\');
    }
  }
}

TEST(LogLevel, Parse) {
  Level l = Level::info;
  EXPECT_TRUE(parse_level("debug", l));
  EXPECT_EQ(l, Level::debug);
  EXPECT_TRUE(parse_level("error", l));
  EXPECT_EQ(l, Level::error);
  EXPECT_FALSE(parse_level("verbose", l));
  EXPECT_EQ(l, Level::error);
}

}  // namespace
}  // namespace filegate::core::log
