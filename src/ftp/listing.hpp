// Directory listings, generated in-process (never by running `ls` or globbing client input).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "auth/permissions.hpp"
#include "vfs/filesystem.hpp"
#include "vfs/listing.hpp"

namespace filegate::ftp {

// MLST facts a client may select with OPTS MLST.
struct FactSet {
  bool type = true, size = true, modify = true, perm = true, unique = true, unix_mode = true;
  // Parses "type;size;modify;" (unknown facts are ignored, RFC 3659 section 7.9).
  static FactSet parse(std::string_view list);
  // "type*;size*;..." for FEAT, or "type;size;" for the OPTS reply.
  std::string describe(bool with_stars) const;
};

// LIST lines: the `ls -l` line SFTP's READDIR sends too (vfs/listing.hpp).
using vfs::list_line;

// LIST/NLST/STAT name patterns, as classic clients send them for `mget *.csv` (they expand
// the pattern with NLST): '*' matches any run of bytes, '?' one byte, '[...]' one byte of a set
// (ranges such as a-z; a leading '!' or '^' negates it; a ']' right after the '[' is part of the
// set, and a '[' that is never closed is an ordinary byte). A name that starts with '.' only
// matches a pattern that starts with '.', as in the shell. Only a path's last component is a
// pattern. SECURITY: patterns are matched in-process against one directory's entries, never
// with glob(), and in O(pattern x name) steps at worst: no backtracking blow-up of the kind
// behind the FTP glob denial-of-service bugs (CVE-2010-2632, CVE-2011-0762).
bool has_wildcards(std::string_view name);
bool matches_pattern(std::string_view pattern, std::string_view name);

// One MLSD/MLST fact line without the leading space: "type=file;size=5;...; name".
// `permissions` are the user's effective letters at that path, for the perm fact. The name is
// shown with vfs::display_name.
std::string mlsx_line(const vfs::DirectoryEntry& entry, auth::PermissionSet permissions,
                      const FactSet& facts);

// "YYYYMMDDHHMMSS" in UTC (MDTM, MLSx modify).
std::string format_timeval(vfs::TimePoint time);
// Parses "YYYYMMDDHHMMSS" with an optional ".sss" fraction (MFMT). nullopt if malformed.
std::optional<vfs::TimePoint> parse_timeval(std::string_view text);

}  // namespace filegate::ftp
