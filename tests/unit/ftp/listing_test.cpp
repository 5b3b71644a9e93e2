// Listings generated in-process: `ls -l` lines, MLSx fact lines, and the YYYYMMDDHHMMSS
// time values of MDTM / MFMT / modify.
#include "ftp/listing.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <string_view>

namespace filegate::ftp {
namespace {

using namespace std::chrono;
using namespace std::chrono_literals;
using auth::Permission;
using auth::PermissionSet;

vfs::TimePoint at(year_month_day date, hours h = 0h, minutes m = 0min, seconds s = 0s) {
  return vfs::TimePoint(sys_days(date)) + h + m + s;
}

vfs::DirectoryEntry entry(std::string name, vfs::FileType type, std::uint32_t mode, std::uint64_t size,
                          vfs::TimePoint modified) {
  vfs::DirectoryEntry e;
  e.name = std::move(name);
  e.attributes.type = type;
  e.attributes.permissions = mode;
  e.attributes.size = size;
  e.attributes.modify_time = modified;
  e.attributes.links = 1;
  e.attributes.uid = 4242;
  e.attributes.gid = 4343;
  return e;
}

const vfs::TimePoint now = at(2023y / December / 1, 12h);

PermissionSet perms(std::string_view letters) {
  auto p = PermissionSet::parse(letters);
  EXPECT_TRUE(p) << letters;
  return p ? *p : PermissionSet();
}

// --- list_line -----------------------------------------------------------------------------

TEST(ListLine, RegularFileRecent) {
  const auto e = entry("report.txt", vfs::FileType::regular, 0644, 1234, at(2023y / November / 21, 6h, 40min));
  EXPECT_EQ(list_line(e, now), "-rw-r--r--   1 ftp      ftp              1234 Nov 21 06:40 report.txt");
}

TEST(ListLine, DirectoryOld) {
  auto e = entry("docs", vfs::FileType::directory, 0755, 4096, at(2020y / March / 5, 23h, 59min));
  e.attributes.links = 12;
  EXPECT_EQ(list_line(e, now), "drwxr-xr-x  12 ftp      ftp              4096 Mar  5  2020 docs");
}

TEST(ListLine, SymlinkShowsTarget) {
  auto e = entry("latest", vfs::FileType::symlink, 0777, 11, at(2023y / November / 30, 1h, 2min));
  e.link_target = "release-1.2";
  EXPECT_EQ(list_line(e, now), "lrwxrwxrwx   1 ftp      ftp                11 Nov 30 01:02 latest -> release-1.2");
  e.link_target.clear();
  EXPECT_EQ(list_line(e, now), "lrwxrwxrwx   1 ftp      ftp                11 Nov 30 01:02 latest");
  // A target on anything but a symlink is not shown.
  auto file = entry("f", vfs::FileType::regular, 0644, 0, at(2023y / November / 30));
  file.link_target = "elsewhere";
  EXPECT_EQ(list_line(file, now).find("->"), std::string::npos);
}

TEST(ListLine, ControlCharactersInNamesAreShownAsQuestionMarks) {
  // A name holding CRLF would otherwise end the line early and forge an entry of its own.
  auto e = entry("a\r\n-rw-r--r-- 1 ftp ftp 1 Jan  1  2020 forged\x1b[2J\x7f", vfs::FileType::symlink, 0777,
                 5, at(2023y / November / 30, 1h, 2min));
  e.link_target = "t\n\tx";
  const std::string line = list_line(e, now);
  EXPECT_EQ(line,
            "lrwxrwxrwx   1 ftp      ftp                 5 Nov 30 01:02 a?" "?-rw-r--r-- 1 ftp ftp 1 Jan  1  2020 "
            "forged?[2J? -> t??x");
  // Everything else, UTF-8 included, is shown as it is.
  EXPECT_EQ(vfs::display_name("r\xc3\xa9sum\xc3\xa9 ~!\"*.txt"), "r\xc3\xa9sum\xc3\xa9 ~!\"*.txt");
  EXPECT_EQ(vfs::display_name(std::string("a\0b", 3)), "a?b");
}

TEST(ListLine, OtherTypes) {
  const auto e = entry("fifo", vfs::FileType::other, 0600, 0, at(2023y / November / 30));
  EXPECT_EQ(list_line(e, now).substr(0, 10), "?rw-------");
}

TEST(ListLine, SpecialModeBits) {
  const auto mode = [](vfs::FileType type, std::uint32_t bits) {
    return list_line(entry("x", type, bits, 0, at(2023y / November / 30)), now).substr(0, 10);
  };
  EXPECT_EQ(mode(vfs::FileType::regular, 04755), "-rwsr-xr-x");
  EXPECT_EQ(mode(vfs::FileType::regular, 04644), "-rwSr--r--");
  EXPECT_EQ(mode(vfs::FileType::regular, 02755), "-rwxr-sr-x");
  EXPECT_EQ(mode(vfs::FileType::regular, 02745), "-rwxr-Sr-x");
  EXPECT_EQ(mode(vfs::FileType::directory, 01777), "drwxrwxrwt");
  EXPECT_EQ(mode(vfs::FileType::directory, 01776), "drwxrwxrwT");
  EXPECT_EQ(mode(vfs::FileType::regular, 07777), "-rwsrwsrwt");
  EXPECT_EQ(mode(vfs::FileType::regular, 07000), "---S--S--T");
  EXPECT_EQ(mode(vfs::FileType::regular, 0), "----------");
  EXPECT_EQ(mode(vfs::FileType::regular, 0421), "-r---w---x");
}

TEST(ListLine, RecentVersusOldDates) {
  const auto when = [](vfs::TimePoint t) {
    const auto line = list_line(entry("x", vfs::FileType::regular, 0644, 0, t), now);
    // "Mmm dd HH:MM" or "Mmm dd  YYYY" before the final " x".
    return line.substr(line.size() - 2 - 12, 12);
  };
  EXPECT_EQ(when(at(2023y / December / 1, 11h, 59min)), "Dec  1 11:59");
  EXPECT_EQ(when(now), "Dec  1 12:00");
  // Up to an hour in the future still counts as recent (clock skew).
  EXPECT_EQ(when(now + 59min), "Dec  1 12:59");
  EXPECT_EQ(when(now + 2h), "Dec  1  2023");
  EXPECT_EQ(when(at(2024y / June / 1)), "Jun  1  2024");
  // Less than about six months old: time of day; older: the year.
  EXPECT_EQ(when(at(2023y / June / 10, 8h, 5min)), "Jun 10 08:05");
  EXPECT_EQ(when(at(2023y / May / 1, 8h, 5min)), "May  1  2023");
  EXPECT_EQ(when(at(1999y / December / 31, 23h, 59min, 59s)), "Dec 31  1999");
  EXPECT_EQ(when(vfs::TimePoint{}), "Jan  1  1970");
}

TEST(ListLine, HostOwnerNamesNeverAppear) {
  auto e = entry("secret", vfs::FileType::regular, 0600, 7, at(2023y / November / 30));
  e.attributes.uid = 0;
  e.attributes.gid = 0;
  const auto line = list_line(e, now);
  EXPECT_NE(line.find(" ftp      ftp "), std::string::npos) << line;
  EXPECT_EQ(line.find("root"), std::string::npos) << line;
  EXPECT_EQ(line.find(" 0 "), std::string::npos) << line;
  e.attributes.uid = 4242;
  EXPECT_EQ(list_line(e, now).find("4242"), std::string::npos);
}

TEST(ListLine, LargeSizesAndLinkCounts) {
  auto e = entry("big", vfs::FileType::regular, 0644, 18446744073709551615ull, at(2023y / November / 30));
  e.attributes.links = 123456;
  const auto line = list_line(e, now);
  EXPECT_NE(line.find(" 123456 ftp      ftp      18446744073709551615 Nov 30 00:00 big"), std::string::npos)
      << line;
}

TEST(ListLine, NameIsLastAndVerbatim) {
  const auto e = entry("a name  with spaces", vfs::FileType::regular, 0644, 1, at(2023y / November / 30));
  const auto line = list_line(e, now);
  EXPECT_EQ(line.substr(line.size() - 20), " a name  with spaces");
}

// --- FactSet -------------------------------------------------------------------------------

TEST(FactSet, DefaultHasEveryFact) {
  const FactSet all;
  EXPECT_EQ(all.describe(true), "type*;size*;modify*;perm*;unique*;UNIX.mode*;");
  EXPECT_EQ(all.describe(false), "type;size;modify;perm;unique;UNIX.mode;");
}

TEST(FactSet, ParseSelectsFactsCaseInsensitively) {
  const auto f = FactSet::parse("Size;TYPE;unix.MODE;");
  EXPECT_TRUE(f.type);
  EXPECT_TRUE(f.size);
  EXPECT_TRUE(f.unix_mode);
  EXPECT_FALSE(f.modify);
  EXPECT_FALSE(f.perm);
  EXPECT_FALSE(f.unique);
  // describe keeps the canonical order, whatever order the client used.
  EXPECT_EQ(f.describe(false), "type;size;UNIX.mode;");
  EXPECT_EQ(f.describe(true), "type*;size*;modify;perm;unique;UNIX.mode*;");
}

TEST(FactSet, UnknownAndEmptyFactsAreIgnored) {
  const auto f = FactSet::parse("media-type;;charset;modify;x;");
  EXPECT_EQ(f.describe(false), "modify;");
  EXPECT_EQ(FactSet::parse("").describe(false), "");
  EXPECT_EQ(FactSet::parse(";;;").describe(false), "");
  EXPECT_EQ(FactSet::parse("perm").describe(false), "perm;");  // no trailing ';' needed
  EXPECT_EQ(FactSet::parse("type ;size").describe(false), "size;");  // no trimming
  EXPECT_EQ(FactSet::parse("unique;unique;UNIQUE").describe(false), "unique;");
}

// --- mlsx_line -----------------------------------------------------------------------------

TEST(MlsxLine, FileWithAllFacts) {
  auto e = entry("data.bin", vfs::FileType::regular, 0640, 5, at(2023y / November / 21, 6h, 40min, 7s));
  e.attributes.device = 0x803;
  e.attributes.inode = 0x1a2b;
  EXPECT_EQ(mlsx_line(e, PermissionSet::all(), FactSet{}),
            "type=file;size=5;modify=20231121064007;perm=adfrw;unique=803g1a2b;UNIX.mode=0640; data.bin");
}

TEST(MlsxLine, ControlCharactersInNamesAreShownAsQuestionMarks) {
  auto e = entry("x\r\ntype=file;size=1; forged", vfs::FileType::regular, 0644, 1, at(2023y / November / 21));
  FactSet facts = FactSet::parse("type;");
  EXPECT_EQ(mlsx_line(e, PermissionSet::all(), facts), "type=file; x??type=file;size=1; forged");
}

TEST(MlsxLine, DirectoryHasNoSizeAndDirectoryPermLetters) {
  auto e = entry("sub", vfs::FileType::directory, 0755, 4096, at(2023y / November / 21));
  e.attributes.device = 1;
  e.attributes.inode = 2;
  EXPECT_EQ(mlsx_line(e, PermissionSet::all(), FactSet{}),
            "type=dir;modify=20231121000000;perm=cdeflmp;unique=1g2;UNIX.mode=0755; sub");
}

TEST(MlsxLine, PermLettersFollowThePermissionSet) {
  const auto file = entry("f", vfs::FileType::regular, 0644, 0, at(2023y / November / 21));
  const auto dir = entry("d", vfs::FileType::directory, 0755, 0, at(2023y / November / 21));
  const auto perm_only = FactSet::parse("perm");
  EXPECT_EQ(mlsx_line(file, perms("elr"), perm_only), "perm=r; f");
  EXPECT_EQ(mlsx_line(dir, perms("elr"), perm_only), "perm=el; d");
  EXPECT_EQ(mlsx_line(file, PermissionSet(), perm_only), "perm=; f");
  EXPECT_EQ(mlsx_line(dir, PermissionSet(), perm_only), "perm=; d");
  EXPECT_EQ(mlsx_line(file, perms("w"), perm_only), "perm=w; f");
  EXPECT_EQ(mlsx_line(dir, perms("w"), perm_only), "perm=c; d");  // create files in it
  EXPECT_EQ(mlsx_line(file, perms("a"), perm_only), "perm=a; f");
  EXPECT_EQ(mlsx_line(dir, perms("d"), perm_only), "perm=dp; d");
  EXPECT_EQ(mlsx_line(dir, perms("m"), perm_only), "perm=m; d");
  EXPECT_EQ(mlsx_line(file, perms("f"), perm_only), "perm=f; f");
  // M and T have no MLSx letter.
  EXPECT_EQ(mlsx_line(file, perms("MT"), perm_only), "perm=; f");
}

TEST(MlsxLine, FactSelection) {
  auto e = entry("f.txt", vfs::FileType::regular, 0600, 42, at(2023y / November / 21));
  e.attributes.device = 0;
  e.attributes.inode = 255;
  EXPECT_EQ(mlsx_line(e, PermissionSet::all(), FactSet::parse("size")), "size=42; f.txt");
  EXPECT_EQ(mlsx_line(e, PermissionSet::all(), FactSet::parse("unique")), "unique=0gff; f.txt");
  EXPECT_EQ(mlsx_line(e, PermissionSet::all(), FactSet::parse("UNIX.mode")), "UNIX.mode=0600; f.txt");
  EXPECT_EQ(mlsx_line(e, PermissionSet::all(), FactSet::parse("type;modify")),
            "type=file;modify=20231121000000; f.txt");
  // No facts at all: still the separating space before the name.
  EXPECT_EQ(mlsx_line(e, PermissionSet::all(), FactSet::parse("")), " f.txt");
}

TEST(MlsxLine, UnixModeKeepsSpecialBitsOnly) {
  auto e = entry("s", vfs::FileType::regular, 0104755, 0, at(2023y / November / 21));
  EXPECT_EQ(mlsx_line(e, PermissionSet(), FactSet::parse("unix.mode")), "UNIX.mode=4755; s");
  e.attributes.permissions = 01777;
  EXPECT_EQ(mlsx_line(e, PermissionSet(), FactSet::parse("unix.mode")), "UNIX.mode=1777; s");
  e.attributes.permissions = 0;
  EXPECT_EQ(mlsx_line(e, PermissionSet(), FactSet::parse("unix.mode")), "UNIX.mode=0000; s");
}

TEST(MlsxLine, SymlinkAndOtherTypes) {
  const auto facts = FactSet::parse("type");
  EXPECT_EQ(mlsx_line(entry("l", vfs::FileType::symlink, 0777, 3, {}), PermissionSet(), facts),
            "type=OS.unix=symlink; l");
  EXPECT_EQ(mlsx_line(entry("o", vfs::FileType::other, 0600, 0, {}), PermissionSet(), facts),
            "type=OS.unix=other; o");
}

// --- format_timeval / parse_timeval --------------------------------------------------------

TEST(Timeval, Format) {
  EXPECT_EQ(format_timeval(vfs::TimePoint{}), "19700101000000");
  EXPECT_EQ(format_timeval(at(2023y / November / 21, 6h, 40min, 7s)), "20231121064007");
  // Fractions are truncated, not rounded.
  EXPECT_EQ(format_timeval(at(2023y / November / 21, 23h, 59min, 59s) + 999ms), "20231121235959");
  EXPECT_EQ(format_timeval(at(1999y / December / 31, 23h, 59min, 59s)), "19991231235959");
  EXPECT_EQ(format_timeval(at(2038y / January / 19, 3h, 14min, 8s)), "20380119031408");
}

TEST(Timeval, ParseWholeSeconds) {
  auto t = parse_timeval("20231121064007");
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, at(2023y / November / 21, 6h, 40min, 7s));
  t = parse_timeval("19700101000000");
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, vfs::TimePoint{});
  t = parse_timeval("20240229120000");  // leap year
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, at(2024y / February / 29, 12h));
  t = parse_timeval("20000229000000");  // divisible by 400: leap
  ASSERT_TRUE(t);
}

TEST(Timeval, BeforeTheEpoch) {
  // One second before 1970 is a valid time even though timegm() reports it as -1.
  auto t = parse_timeval("19691231235959");
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, vfs::TimePoint{} - 1s);
  t = parse_timeval("19000101000000");
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, at(1900y / January / 1));
}

TEST(Timeval, ParseFractions) {
  const auto base = at(2023y / November / 21, 6h, 40min, 7s);
  auto t = parse_timeval("20231121064007.5");
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, base + 500ms);
  t = parse_timeval("20231121064007.123");
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, base + 123ms);
  t = parse_timeval("20231121064007.000000001");
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, base + 1ns);
  t = parse_timeval("20231121064007.999999999");
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, base + 999999999ns);
  for (std::string_view bad : {"20231121064007.", "20231121064007.1234567890", "20231121064007.1a",
                               "20231121064007.-1", "20231121064007. 1", "20231121064007.1.2",
                               "20231121064007.+5"}) {
    EXPECT_FALSE(parse_timeval(bad)) << bad;
  }
}

TEST(Timeval, RoundTrip) {
  for (const auto t : {vfs::TimePoint{}, at(2023y / November / 21, 6h, 40min, 7s),
                       at(2100y / December / 31, 23h, 59min, 59s), at(1980y / January / 1)}) {
    const auto parsed = parse_timeval(format_timeval(t));
    ASSERT_TRUE(parsed) << format_timeval(t);
    EXPECT_EQ(*parsed, t);
  }
}

TEST(Timeval, WrongLengths) {
  for (std::string_view bad : {"", "2023", "2023112106400", "202311210640071", "2023-11-21T06:40:07",
                               ".5", "2023112106400.5", "20231121064007 ", " 20231121064007"}) {
    EXPECT_FALSE(parse_timeval(bad)) << bad;
  }
}

TEST(Timeval, NonDigits) {
  for (std::string_view bad : {"2023112106400a", "+2023112106400", "-2023112106400", "2023 121064007"}) {
    EXPECT_FALSE(parse_timeval(bad)) << bad;
  }
  EXPECT_FALSE(parse_timeval(std::string_view("20231121\0" "64007", 14)));
}

TEST(Timeval, BadDates) {
  for (std::string_view bad :
       {"20230001000000",   // month 0
        "20231301000000",   // month 13
        "20231100000000",   // day 0
        "20231132000000",   // day 32
        "20231121240000",   // hour 24
        "20231121236000",   // minute 60
        "20231121235961",   // second 61
        "20231131000000",   // 31 November
        "20230230000000",   // 30 February
        "20230229000000",   // 29 February, not a leap year
        "21000229000000",   // 2100 is not a leap year
        "99999999999999"}) {
    EXPECT_FALSE(parse_timeval(bad)) << bad;
  }
}

TEST(Timeval, YearsOutsideTheClockRangeAreRefused) {
  // vfs::TimePoint counts nanoseconds in 64 bits: about 1678 to 2261. Beyond that the
  // conversion would overflow (undefined behaviour), so such dates are malformed.
  for (std::string_view bad : {"00000101000000", "16000101000000", "99991231235959", "23000101000000"}) {
    EXPECT_FALSE(parse_timeval(bad)) << bad;
  }
  EXPECT_TRUE(parse_timeval("17000101000000"));
  EXPECT_TRUE(parse_timeval("22000101000000"));
}

// --- name patterns -------------------------------------------------------------------------

TEST(NamePattern, StarQuestionMarkAndSets) {
  EXPECT_TRUE(matches_pattern("*.csv", "a.csv"));
  EXPECT_TRUE(matches_pattern("*.csv", ".csv.csv") == false);  // a leading '.' needs a '.'
  EXPECT_FALSE(matches_pattern("*.csv", "a.csv.bak"));
  EXPECT_TRUE(matches_pattern("*", "anything at all"));
  EXPECT_TRUE(matches_pattern("*", ""));
  EXPECT_TRUE(matches_pattern("a*b*c", "abc"));
  EXPECT_TRUE(matches_pattern("a*b*c", "a-b-b-c"));
  EXPECT_FALSE(matches_pattern("a*b*c", "a-b-b-cd"));
  EXPECT_TRUE(matches_pattern("report-????.pdf", "report-2026.pdf"));
  EXPECT_FALSE(matches_pattern("report-????.pdf", "report-26.pdf"));
  EXPECT_TRUE(matches_pattern("[ab].csv", "b.csv"));
  EXPECT_FALSE(matches_pattern("[ab].csv", "c.csv"));
  EXPECT_TRUE(matches_pattern("file[0-9]", "file7"));
  EXPECT_FALSE(matches_pattern("file[0-9]", "filex"));
  EXPECT_TRUE(matches_pattern("[!0-9]*", "x1"));
  EXPECT_TRUE(matches_pattern("[^0-9]*", "x1"));
  EXPECT_FALSE(matches_pattern("[!0-9]*", "1x"));
  EXPECT_TRUE(matches_pattern("[]x]", "]"));   // ']' first is part of the set
  EXPECT_TRUE(matches_pattern("[a-]", "-"));   // a '-' at the end is itself
  EXPECT_TRUE(matches_pattern("a[b", "a[b"));  // never closed: an ordinary '['
  EXPECT_FALSE(matches_pattern("a[b", "ab"));
}

TEST(NamePattern, HiddenNamesNeedAnExplicitDot) {
  EXPECT_FALSE(matches_pattern("*", ".profile"));
  EXPECT_FALSE(matches_pattern("?profile", ".profile"));
  EXPECT_TRUE(matches_pattern(".*", ".profile"));
  EXPECT_TRUE(matches_pattern(".p*", ".profile"));
}

TEST(NamePattern, WithoutWildcardsOnlyTheNameItself) {
  EXPECT_FALSE(has_wildcards("plain-name.txt"));
  EXPECT_TRUE(has_wildcards("*.txt"));
  EXPECT_TRUE(has_wildcards("a?"));
  EXPECT_TRUE(has_wildcards("[ab]"));
  EXPECT_TRUE(matches_pattern("plain-name.txt", "plain-name.txt"));
  EXPECT_FALSE(matches_pattern("plain-name.txt", "plain-name.txt2"));
  EXPECT_FALSE(matches_pattern("", "x"));
}

TEST(NamePattern, ManyStarsDoNotBacktrackWithoutEnd) {
  // A backtracking matcher tries every way to split the name among the stars here, which does
  // not finish in any useful time (the FTP glob denial-of-service class); this one does at most
  // pattern x name steps.
  const std::string name(255, 'a');
  EXPECT_FALSE(matches_pattern("*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", name));
  EXPECT_TRUE(matches_pattern("*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a", name));
}

}  // namespace
}  // namespace filegate::ftp
