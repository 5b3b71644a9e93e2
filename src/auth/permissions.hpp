// Permission letters (as pyftpdlib defines them) and per-directory rules.
//
//   e change directory   l list / stat   r download   a append   d delete   f rename
//   m make directory     w upload         M chmod      T set modification time
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "vfs/path.hpp"

namespace filegate::auth {

enum class Permission : std::uint16_t {
  change_directory = 1u << 0,  // e
  list = 1u << 1,              // l
  download = 1u << 2,          // r
  append = 1u << 3,            // a
  remove = 1u << 4,            // d
  rename = 1u << 5,            // f
  make_directory = 1u << 6,    // m
  upload = 1u << 7,            // w
  change_mode = 1u << 8,       // M
  set_time = 1u << 9,          // T
};

class PermissionSet {
 public:
  constexpr PermissionSet() = default;
  // Parses letters such as "elradfmwMT". Unknown or repeated letters are an error
  // (vfs::Errc::invalid_argument), so a typo in the config is caught at start-up.
  static Result<PermissionSet> parse(std::string_view letters);
  static PermissionSet all();

  bool has(Permission p) const { return (bits_ & static_cast<std::uint16_t>(p)) != 0; }
  PermissionSet with(Permission p) const;
  // The letters both sets have.
  PermissionSet intersect(PermissionSet other) const {
    PermissionSet out;
    out.bits_ = static_cast<std::uint16_t>(bits_ & other.bits_);
    return out;
  }
  // Canonical letters, in the order "elradfmwMT".
  std::string letters() const;
  bool empty() const { return bits_ == 0; }
  friend bool operator==(PermissionSet, PermissionSet) = default;

 private:
  std::uint16_t bits_ = 0;
};

struct DirectoryRule {
  vfs::Path path;
  PermissionSet permissions;
  // true: applies to the directory and everything below it; false: to the directory and its
  // direct children only.
  bool recursive = true;
};

// A user's base permissions plus per-directory overrides. The most specific (longest) rule
// that matches a path wins; with no match, the base set applies.
class PermissionRules {
 public:
  PermissionRules() = default;
  explicit PermissionRules(PermissionSet base, std::vector<DirectoryRule> rules = {});

  PermissionSet effective(const vfs::Path& path) const;
  bool allows(Permission p, const vfs::Path& path) const { return effective(path).has(p); }
  PermissionSet base() const { return base_; }
  const std::vector<DirectoryRule>& rules() const { return rules_; }

 private:
  PermissionSet base_;
  std::vector<DirectoryRule> rules_;  // sorted longest path first
};

}  // namespace filegate::auth
