#include "vfs/path.hpp"

#include <gtest/gtest.h>

#include <string>

#include "vfs/errors.hpp"

namespace filegate::vfs {
namespace {

std::string parse_str(std::string_view input) {
  auto p = Path::parse(input);
  if (!p) return "ERROR:" + p.error().message();
  return p->str();
}

std::string resolve_str(std::string_view cwd, std::string_view input) {
  auto c = Path::parse(cwd);
  EXPECT_TRUE(c);
  auto p = Path::resolve(*c, input);
  if (!p) return "ERROR:" + p.error().message();
  return p->str();
}

TEST(Path, DefaultIsRoot) {
  Path p;
  EXPECT_EQ(p.str(), "/");
  EXPECT_TRUE(p.is_root());
  EXPECT_EQ(p.relative(), "");
  EXPECT_EQ(p.name(), "");
  EXPECT_EQ(p.parent(), p);
}

TEST(Path, NormalisesAbsolute) {
  EXPECT_EQ(parse_str("/"), "/");
  EXPECT_EQ(parse_str("//"), "/");
  EXPECT_EQ(parse_str("/a"), "/a");
  EXPECT_EQ(parse_str("/a/"), "/a");
  EXPECT_EQ(parse_str("/a//b///c/"), "/a/b/c");
  EXPECT_EQ(parse_str("/./a/./b/."), "/a/b");
  EXPECT_EQ(parse_str("/a/b/../c"), "/a/c");
  EXPECT_EQ(parse_str("/a/b/.."), "/a");
  EXPECT_EQ(parse_str("/a/b/../.."), "/");
  EXPECT_EQ(parse_str("."), "/");
  EXPECT_EQ(parse_str("a/b"), "/a/b");
}

TEST(Path, DotDotAtRootStaysAtRoot) {
  EXPECT_EQ(parse_str(".."), "/");
  EXPECT_EQ(parse_str("/.."), "/");
  EXPECT_EQ(parse_str("/../../.."), "/");
  EXPECT_EQ(parse_str("/../etc/passwd"), "/etc/passwd");
  EXPECT_EQ(parse_str("/a/../../b"), "/b");
  EXPECT_EQ(resolve_str("/a", "../../../../x"), "/x");
}

TEST(Path, ThreeDotsAndDotPrefixesAreNames) {
  EXPECT_EQ(parse_str("/..."), "/...");
  EXPECT_EQ(parse_str("/..a"), "/..a");
  EXPECT_EQ(parse_str("/.hidden"), "/.hidden");
  EXPECT_EQ(parse_str("/a/.../.."), "/a");
}

TEST(Path, ResolvesRelativeToCwd) {
  EXPECT_EQ(resolve_str("/home/u", "file"), "/home/u/file");
  EXPECT_EQ(resolve_str("/home/u", "./x/../y"), "/home/u/y");
  EXPECT_EQ(resolve_str("/home/u", ".."), "/home");
  EXPECT_EQ(resolve_str("/home/u", "/abs"), "/abs");
  EXPECT_EQ(resolve_str("/", "x"), "/x");
  EXPECT_EQ(resolve_str("/home/u", "."), "/home/u");
}

TEST(Path, RejectsEmptyAndNul) {
  auto empty = Path::parse("");
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error(), Errc::invalid_name);
  auto nul = Path::parse(std::string_view("/a\0b", 4));
  ASSERT_FALSE(nul);
  EXPECT_EQ(nul.error(), Errc::invalid_name);
  auto nul_end = Path::resolve(Path(), std::string_view("x\0", 2));
  ASSERT_FALSE(nul_end);
  EXPECT_EQ(nul_end.error(), Errc::invalid_name);
}

TEST(Path, ComponentLengthLimit) {
  const std::string ok(255, 'a');
  const std::string over(256, 'a');
  EXPECT_TRUE(Path::parse("/" + ok));
  auto r = Path::parse("/" + over);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Errc::name_too_long);
  // A long component is refused even if a later '..' would remove it.
  auto removed = Path::parse("/" + over + "/..");
  ASSERT_FALSE(removed);
  EXPECT_EQ(removed.error(), Errc::name_too_long);
}

TEST(Path, TotalLengthLimit) {
  // 16 components of "/" + 255 chars = 4096 bytes exactly.
  std::string exact;
  for (int i = 0; i < 16; ++i) exact += "/" + std::string(255, 'a' + i);
  ASSERT_EQ(exact.size(), 4096u);
  auto ok = Path::parse(exact);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->str().size(), 4096u);
  auto over = Path::parse(exact + "/b");
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error(), Errc::name_too_long);
  // Long input that normalises to something short is fine.
  std::string dots;
  for (int i = 0; i < 2000; ++i) dots += "/.";
  EXPECT_EQ(parse_str(dots + "/x"), "/x");
}

TEST(Path, NameAndParent) {
  auto p = Path::parse("/a/b/c");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->name(), "c");
  EXPECT_EQ(p->parent().str(), "/a/b");
  EXPECT_EQ(p->parent().parent().str(), "/a");
  EXPECT_EQ(p->parent().parent().parent().str(), "/");
  EXPECT_EQ(p->relative(), "a/b/c");
  auto top = Path::parse("/x");
  ASSERT_TRUE(top);
  EXPECT_EQ(top->parent(), Path());
  EXPECT_EQ(top->name(), "x");
}

TEST(Path, Child) {
  Path root;
  auto a = root.child("a");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->str(), "/a");
  auto ab = a->child("b c");
  ASSERT_TRUE(ab);
  EXPECT_EQ(ab->str(), "/a/b c");
  for (std::string_view bad : {"", ".", "..", "a/b", "/", "x/"}) {
    auto r = a->child(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error(), Errc::invalid_name) << bad;
  }
  auto nul = a->child(std::string_view("a\0b", 3));
  ASSERT_FALSE(nul);
  EXPECT_EQ(nul.error(), Errc::invalid_name);
  auto longname = a->child(std::string(256, 'x'));
  ASSERT_FALSE(longname);
  EXPECT_EQ(longname.error(), Errc::name_too_long);
  EXPECT_TRUE(a->child("..."));
}

TEST(Path, ChildRespectsTotalLength) {
  std::string text;
  for (int i = 0; i < 16; ++i) text += "/" + std::string(255, 'a');
  auto full = Path::parse(text);
  ASSERT_TRUE(full);
  auto r = full->child("x");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Errc::name_too_long);
}

TEST(Path, Within) {
  auto a = *Path::parse("/a");
  auto ab = *Path::parse("/a/b");
  auto abc = *Path::parse("/abc");
  EXPECT_TRUE(ab.within(a));
  EXPECT_TRUE(a.within(a));
  EXPECT_FALSE(abc.within(a));
  EXPECT_FALSE(a.within(ab));
  EXPECT_TRUE(a.within(Path()));
  EXPECT_TRUE(Path().within(Path()));
  EXPECT_FALSE(Path().within(a));
}

TEST(Path, Ordering) {
  EXPECT_EQ(*Path::parse("/a/./b"), *Path::parse("/a/b/"));
  EXPECT_LT(*Path::parse("/a"), *Path::parse("/b"));
}

TEST(Path, NonAsciiBytesAreKept) {
  EXPECT_EQ(parse_str("/\xc3\xa9t\xc3\xa9"), "/\xc3\xa9t\xc3\xa9");
  EXPECT_EQ(parse_str("/\xff\xfe"), "/\xff\xfe");
  EXPECT_EQ(parse_str("/a\\b"), "/a\\b");
}

}  // namespace
}  // namespace filegate::vfs
