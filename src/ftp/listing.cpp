#include "ftp/listing.hpp"

#include <cstdio>
#include <ctime>

namespace filegate::ftp {
namespace {

using auth::Permission;

// Whether `pattern[p]` (a '?', a set or an ordinary byte) matches `c`; `next` is set to the
// position after it.
bool match_one(std::string_view pattern, std::size_t p, char c, std::size_t& next) {
  if (pattern[p] == '?') {
    next = p + 1;
    return true;
  }
  if (pattern[p] == '[') {
    std::size_t q = p + 1;
    const bool negated = q < pattern.size() && (pattern[q] == '!' || pattern[q] == '^');
    if (negated) ++q;
    const std::size_t first = q;
    bool found = false;
    while (q < pattern.size() && (pattern[q] != ']' || q == first)) {
      const auto low = static_cast<unsigned char>(pattern[q]);
      auto high = low;
      if (q + 2 < pattern.size() && pattern[q + 1] == '-' && pattern[q + 2] != ']') {
        high = static_cast<unsigned char>(pattern[q + 2]);
        q += 2;
      }
      const auto byte = static_cast<unsigned char>(c);
      if (byte >= low && byte <= high) found = true;
      ++q;
    }
    if (q < pattern.size()) {  // a closed set
      next = q + 1;
      return found != negated;
    }
    // Never closed: an ordinary '['.
  }
  next = p + 1;
  return pattern[p] == c;
}

}  // namespace

bool has_wildcards(std::string_view name) { return name.find_first_of("*?[") != std::string_view::npos; }

bool matches_pattern(std::string_view pattern, std::string_view name) {
  if (!name.empty() && name.front() == '.' && (pattern.empty() || pattern.front() != '.')) return false;
  // Greedy matching with one remembered '*': on a mismatch, that '*' takes one more byte. Each
  // byte of the name is retried against the pattern at most once per '*', so the work is
  // bounded by pattern x name.
  std::size_t p = 0;
  std::size_t n = 0;
  std::size_t star = std::string_view::npos;  // the pattern position after the last '*'
  std::size_t star_n = 0;                     // the name position that '*' was tried up to
  while (n < name.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = ++p;
      star_n = n;
      continue;
    }
    std::size_t next = 0;
    if (p < pattern.size() && match_one(pattern, p, name[n], next)) {
      p = next;
      ++n;
      continue;
    }
    if (star == std::string_view::npos) return false;
    p = star;
    n = ++star_n;
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

FactSet FactSet::parse(std::string_view list) {
  FactSet f{false, false, false, false, false, false};
  while (!list.empty()) {
    const auto semi = list.find(';');
    std::string fact(list.substr(0, semi));
    for (auto& c : fact) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (fact == "type") f.type = true;
    else if (fact == "size") f.size = true;
    else if (fact == "modify") f.modify = true;
    else if (fact == "perm") f.perm = true;
    else if (fact == "unique") f.unique = true;
    else if (fact == "unix.mode") f.unix_mode = true;
    if (semi == std::string_view::npos) break;
    list.remove_prefix(semi + 1);
  }
  return f;
}

std::string FactSet::describe(bool with_stars) const {
  std::string out;
  const auto add = [&](bool on, std::string_view name) {
    if (with_stars) {
      out += name;
      if (on) out += '*';
      out += ';';
    } else if (on) {
      out += name;
      out += ';';
    }
  };
  add(type, "type");
  add(size, "size");
  add(modify, "modify");
  add(perm, "perm");
  add(unique, "unique");
  add(unix_mode, "UNIX.mode");
  return out;
}

std::string mlsx_line(const vfs::DirectoryEntry& entry, auth::PermissionSet p, const FactSet& facts) {
  const auto& a = entry.attributes;
  std::string out;
  const bool dir = a.type == vfs::FileType::directory;
  if (facts.type) {
    out += "type=";
    out += dir ? "dir" : a.type == vfs::FileType::regular ? "file" : a.type == vfs::FileType::symlink
                                                                        ? "OS.unix=symlink"
                                                                        : "OS.unix=other";
    out += ';';
  }
  if (facts.size && !dir) {
    out += "size=" + std::to_string(a.size) + ';';
  }
  if (facts.modify) out += "modify=" + format_timeval(a.modify_time) + ';';
  if (facts.perm) {
    out += "perm=";
    if (dir) {
      if (p.has(Permission::upload)) out += 'c';
      if (p.has(Permission::remove)) out += 'd';
      if (p.has(Permission::change_directory)) out += 'e';
      if (p.has(Permission::rename)) out += 'f';
      if (p.has(Permission::list)) out += 'l';
      if (p.has(Permission::make_directory)) out += 'm';
      if (p.has(Permission::remove)) out += 'p';
    } else {
      if (p.has(Permission::append)) out += 'a';
      if (p.has(Permission::remove)) out += 'd';
      if (p.has(Permission::rename)) out += 'f';
      if (p.has(Permission::download)) out += 'r';
      if (p.has(Permission::upload)) out += 'w';
    }
    out += ';';
  }
  if (facts.unique) {
    char unique[48];
    std::snprintf(unique, sizeof unique, "%llxg%llx", static_cast<unsigned long long>(a.device),
                  static_cast<unsigned long long>(a.inode));
    out += "unique=";
    out += unique;
    out += ';';
  }
  if (facts.unix_mode) {
    char mode[16];
    std::snprintf(mode, sizeof mode, "%04o", a.permissions & 07777u);
    out += "UNIX.mode=";
    out += mode;
    out += ';';
  }
  out += ' ';
  out += vfs::display_name(entry.name);
  return out;
}

std::string format_timeval(vfs::TimePoint time) {
  const std::tm tm = vfs::to_utc(time);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d%02d%02d%02d%02d%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

std::optional<vfs::TimePoint> parse_timeval(std::string_view text) {
  std::string_view whole = text.substr(0, text.find('.'));
  if (whole.size() != 14) return std::nullopt;
  for (char c : whole) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  const auto num = [&](std::size_t pos, std::size_t len) {
    int v = 0;
    for (std::size_t i = pos; i < pos + len; ++i) v = v * 10 + (whole[i] - '0');
    return v;
  };
  // std::chrono's calendar rejects impossible days (30 February) that timegm() would roll
  // over into the next month, and has no -1 sentinel for the second before the epoch.
  const std::chrono::year_month_day date{std::chrono::year(num(0, 4)),
                                         std::chrono::month(static_cast<unsigned>(num(4, 2))),
                                         std::chrono::day(static_cast<unsigned>(num(6, 2)))};
  const int hour = num(8, 2), minute = num(10, 2), second = num(12, 2);
  // vfs::TimePoint counts nanoseconds in 64 bits (1677-09-21 to 2262-04-11): refuse years that
  // would overflow it.
  if (!date.ok() || date.year() < std::chrono::year(1678) || date.year() > std::chrono::year(2261) ||
      hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  std::int64_t nanos = 0;
  if (whole.size() < text.size()) {
    const auto fraction = text.substr(15);
    if (fraction.empty() || fraction.size() > 9) return std::nullopt;
    std::int64_t scale = 100000000;
    for (char c : fraction) {
      if (c < '0' || c > '9') return std::nullopt;
      nanos += (c - '0') * scale;
      scale /= 10;
    }
  }
  return vfs::TimePoint(std::chrono::sys_days(date)) + std::chrono::hours(hour) +
         std::chrono::minutes(minute) + std::chrono::seconds(second) + std::chrono::nanoseconds(nanos);
}

}  // namespace filegate::ftp
