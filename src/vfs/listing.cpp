#include "vfs/listing.hpp"

#include <array>
#include <cstdio>

namespace filegate::vfs {
namespace {

char type_char(FileType type) {
  switch (type) {
    case FileType::directory: return 'd';
    case FileType::symlink: return 'l';
    case FileType::regular: return '-';
    case FileType::other: return '?';
  }
  return '?';
}

std::string mode_string(const Attributes& a) {
  std::string s(10, '-');
  s[0] = type_char(a.type);
  static constexpr char letters[] = "rwxrwxrwx";
  for (int i = 0; i < 9; ++i) {
    if (a.permissions & (0400u >> i)) s[static_cast<std::size_t>(i) + 1] = letters[i];
  }
  if (a.permissions & 04000) s[3] = (a.permissions & 0100) ? 's' : 'S';
  if (a.permissions & 02000) s[6] = (a.permissions & 0010) ? 's' : 'S';
  if (a.permissions & 01000) s[9] = (a.permissions & 0001) ? 't' : 'T';
  return s;
}

}  // namespace

std::tm to_utc(TimePoint time) {
  const auto secs = std::chrono::floor<std::chrono::seconds>(time).time_since_epoch().count();
  const std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return tm;
}

std::string list_line(const DirectoryEntry& entry, TimePoint now) {
  const auto& a = entry.attributes;
  static constexpr std::array<const char*, 12> months = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::tm tm = to_utc(a.modify_time);
  const auto six_months = std::chrono::hours(24 * 182);
  const bool recent = a.modify_time <= now + std::chrono::hours(1) && now - a.modify_time < six_months;
  char when[32];
  if (recent) {
    std::snprintf(when, sizeof when, "%s %2d %02d:%02d", months[static_cast<std::size_t>(tm.tm_mon) % 12],
                  tm.tm_mday, tm.tm_hour, tm.tm_min);
  } else {
    std::snprintf(when, sizeof when, "%s %2d  %04d", months[static_cast<std::size_t>(tm.tm_mon) % 12],
                  tm.tm_mday, tm.tm_year + 1900);
  }
  char head[96];
  // SECURITY: owner and group are not the host's account names (as vsftpd's hide_ids).
  std::snprintf(head, sizeof head, " %3llu ftp      ftp      %12llu ",
                static_cast<unsigned long long>(a.links), static_cast<unsigned long long>(a.size));
  std::string line = mode_string(a);
  line += head;
  line += when;
  line += ' ';
  line += display_name(entry.name);
  if (a.type == FileType::symlink && !entry.link_target.empty()) {
    line += " -> ";
    line += display_name(entry.link_target);
  }
  return line;
}

std::string display_name(std::string_view name) {
  std::string shown(name);
  for (char& c : shown) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) c = '?';
  }
  return shown;
}

}  // namespace filegate::vfs
