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
