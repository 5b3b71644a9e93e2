// SFTP protocol version 3 (draft-ietf-secsh-filexfer-02) as OpenSSH speaks it: message types,
// status codes and flag bits. Values only; the engine (engine.cpp) gives them meaning.
#pragma once

#include <cstdint>

namespace filegate::sftp {

inline constexpr std::uint32_t protocol_version = 3;

// Message types.
enum class Message : std::uint8_t {
  init = 1,
  version = 2,
  open = 3,
  close = 4,
  read = 5,
  write = 6,
  lstat = 7,
  fstat = 8,
  setstat = 9,
  fsetstat = 10,
  opendir = 11,
  readdir = 12,
  remove = 13,
  mkdir = 14,
  rmdir = 15,
  realpath = 16,
  stat = 17,
  rename = 18,
  readlink = 19,
  symlink = 20,
  status = 101,
  handle = 102,
  data = 103,
  name = 104,
  attrs = 105,
  extended = 200,
  extended_reply = 201,
};

// SSH_FX_* status codes (v3 defines 0 to 8).
enum class Status : std::uint32_t {
  ok = 0,
  eof = 1,
  no_such_file = 2,
  permission_denied = 3,
  failure = 4,
  bad_message = 5,
  no_connection = 6,
  connection_lost = 7,
  op_unsupported = 8,
};

// SSH_FILEXFER_ATTR_* bits of an attribute block.
namespace attr {
inline constexpr std::uint32_t size = 0x00000001;
inline constexpr std::uint32_t uidgid = 0x00000002;
inline constexpr std::uint32_t permissions = 0x00000004;
inline constexpr std::uint32_t acmodtime = 0x00000008;
inline constexpr std::uint32_t extended = 0x80000000;
}  // namespace attr

// SSH_FXF_* bits of OPEN's pflags.
namespace open_flag {
inline constexpr std::uint32_t read = 0x00000001;
inline constexpr std::uint32_t write = 0x00000002;
inline constexpr std::uint32_t append = 0x00000004;
inline constexpr std::uint32_t create = 0x00000008;
inline constexpr std::uint32_t truncate = 0x00000010;
inline constexpr std::uint32_t exclusive = 0x00000020;
}  // namespace open_flag

// statvfs@openssh.com f_flag bits (OpenSSH's PROTOCOL file).
namespace statvfs_flag {
inline constexpr std::uint64_t read_only = 0x1;
inline constexpr std::uint64_t no_suid = 0x2;
}  // namespace statvfs_flag

// Frame layout: uint32 length, then `length` bytes starting with the type byte.
inline constexpr std::size_t length_field_size = 4;
// type + request id: the shortest message that can be answered (INIT is type + version).
inline constexpr std::uint32_t min_message_size = 5;

}  // namespace filegate::sftp
