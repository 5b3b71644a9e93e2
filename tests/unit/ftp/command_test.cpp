// parse_command: the verb/argument split of one control line (RFC 959 section 4.1).
#include "ftp/command.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace filegate::ftp {
namespace {

using namespace std::string_view_literals;

TEST(ParseCommand, VerbIsCaseInsensitiveAndUpperCased) {
  for (std::string_view line : {"noop", "NOOP", "NoOp", "nOoP"}) {
    const auto r = parse_command(line);
    ASSERT_EQ(r.status, ParseStatus::ok) << line;
    EXPECT_EQ(r.command.verb, "NOOP") << line;
    EXPECT_EQ(r.command.argument, "") << line;
  }
  const auto r = parse_command("retr File.TXT");
  ASSERT_EQ(r.status, ParseStatus::ok);
  EXPECT_EQ(r.command.verb, "RETR");
  EXPECT_EQ(r.command.argument, "File.TXT");  // the argument keeps its case
}

TEST(ParseCommand, ThreeAndFourLetterVerbs) {
  auto three = parse_command("PWD");
  ASSERT_EQ(three.status, ParseStatus::ok);
  EXPECT_EQ(three.command.verb, "PWD");
  auto four = parse_command("mkd dir");
  ASSERT_EQ(four.status, ParseStatus::ok);
  EXPECT_EQ(four.command.verb, "MKD");
  EXPECT_EQ(four.command.argument, "dir");
}

TEST(ParseCommand, RejectsVerbsOfOtherLengths) {
  for (std::string_view line : {"A", "AB", "AB x", "ABCDE", "ABCDE x", "STORE file", "X"}) {
    EXPECT_EQ(parse_command(line).status, ParseStatus::bad_verb) << line;
  }
}

TEST(ParseCommand, RejectsDigitsAndPunctuationInVerb) {
  for (std::string_view line :
       {"US3R bob", "123", "1234", "NO-P", "NOO.", "R@TR x", "S_TE", "PW!", "NO\tP", "\tNOOP",
        "N\xc3\x96P", "NOO\xff", "[]{}", "noop\r", "a`z{"}) {
    EXPECT_EQ(parse_command(line).status, ParseStatus::bad_verb) << line;
  }
  // The bytes on either side of the letter ranges ('@' '[' '`' '{') are not letters.
  EXPECT_EQ(parse_command("@BC").status, ParseStatus::bad_verb);
  EXPECT_EQ(parse_command("AB[").status, ParseStatus::bad_verb);
  EXPECT_EQ(parse_command("`bc").status, ParseStatus::bad_verb);
  EXPECT_EQ(parse_command("ab{").status, ParseStatus::bad_verb);
}

TEST(ParseCommand, NulInVerbIsRejected) {
  EXPECT_EQ(parse_command("NO\0P"sv).status, ParseStatus::bad_verb);
}

TEST(ParseCommand, EmptyLine) {
  const auto r = parse_command("");
  EXPECT_EQ(r.status, ParseStatus::empty);
  EXPECT_TRUE(r.command.verb.empty());
  EXPECT_TRUE(r.command.argument.empty());
}

TEST(ParseCommand, LeadingSpaceIsNotAVerb) {
  EXPECT_EQ(parse_command(" NOOP").status, ParseStatus::bad_verb);
  EXPECT_EQ(parse_command(" ").status, ParseStatus::bad_verb);
  EXPECT_EQ(parse_command("   ").status, ParseStatus::bad_verb);
}

TEST(ParseCommand, VerbOnly) {
  const auto r = parse_command("QUIT");
  ASSERT_EQ(r.status, ParseStatus::ok);
  EXPECT_EQ(r.command.verb, "QUIT");
  EXPECT_TRUE(r.command.argument.empty());
  // A single trailing space gives an empty argument.
  const auto spaced = parse_command("QUIT ");
  ASSERT_EQ(spaced.status, ParseStatus::ok);
  EXPECT_EQ(spaced.command.verb, "QUIT");
  EXPECT_EQ(spaced.command.argument, "");
}

TEST(ParseCommand, ArgumentIsVerbatimAfterTheFirstSpace) {
  struct Case {
    std::string_view line;
    std::string_view argument;
  };
  for (const auto& c : {Case{"STOR my file.txt", "my file.txt"},
                        Case{"STOR  leading", " leading"},
                        Case{"STOR trailing  ", "trailing  "},
                        Case{"STOR   ", "  "},
                        Case{"CWD a  b", "a  b"},
                        Case{"SITE CHMOD 755 x", "CHMOD 755 x"},
                        Case{"RETR \t tab", "\t tab"},
                        Case{"RETR caf\xc3\xa9", "caf\xc3\xa9"},
                        Case{"PASS p@ss word!;|", "p@ss word!;|"}}) {
    const auto r = parse_command(c.line);
    ASSERT_EQ(r.status, ParseStatus::ok) << c.line;
    EXPECT_EQ(r.command.argument, c.argument) << c.line;
  }
}

TEST(ParseCommand, ArgumentMayContainAnyByte) {
  const auto r = parse_command("RETR a\0b\xff"sv);
  ASSERT_EQ(r.status, ParseStatus::ok);
  EXPECT_EQ(r.command.argument, "a\0b\xff"sv);
}

}  // namespace
}  // namespace filegate::ftp
