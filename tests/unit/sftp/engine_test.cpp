// The engine called directly (no framing): the cases the framer never lets through, and the
// exactly-one-reply promise over a recording filesystem.
#include "sftp/engine.hpp"

#include <gtest/gtest.h>

#include "sftp/protocol.hpp"
#include "support/recording_fs.hpp"

namespace filegate::sftp {
namespace {

using Bytes = std::vector<std::byte>;

class SftpEngineTest : public ::testing::Test {
 protected:
  SftpEngineTest()
      : inner_(std::make_shared<testing::RecordingFilesystem>()),
        engine_(std::make_shared<auth::AuthorizedFilesystem>(inner_, auth::PermissionRules(auth::PermissionSet::all())),
                core::Limits{}, "alice", 1) {}

  // The body of a message (what follows the length field).
  static Bytes body(std::initializer_list<int> values) {
    Bytes out;
    for (int v : values) out.push_back(static_cast<std::byte>(v));
    return out;
  }

  std::optional<std::string_view> handle(const Bytes& message) { return engine_.handle(message, out_); }

  std::shared_ptr<testing::RecordingFilesystem> inner_;
  Engine engine_;
  Buffer out_;
};

TEST_F(SftpEngineTest, InitMustComeFirstCarryAVersionAndComeOnce) {
  EXPECT_EQ(handle(body({17, 0, 0, 0, 1})), "request before INIT");
  EXPECT_EQ(handle(body({1, 0, 0})), "malformed INIT");
  EXPECT_TRUE(out_.empty());
  EXPECT_EQ(handle(body({1, 0, 0, 0, 3})), std::nullopt);
  EXPECT_FALSE(out_.empty());
  const auto size = out_.size();
  EXPECT_EQ(handle(body({1, 0, 0, 0, 3})), "INIT received twice");
  EXPECT_EQ(out_.size(), size);
}

TEST_F(SftpEngineTest, AMessageWithoutARequestIdEndsTheStream) {
  handle(body({1, 0, 0, 0, 3}));
  out_.clear();
  EXPECT_TRUE(handle(body({})).has_value());
  EXPECT_TRUE(handle(body({17, 0, 0})).has_value());
  EXPECT_TRUE(out_.empty());
}

TEST_F(SftpEngineTest, EveryRequestTypeGetsExactlyOneReply) {
  handle(body({1, 0, 0, 0, 3}));
  for (int type = 0; type < 256; ++type) {
    if (type == 1) continue;
    out_.clear();
    // The type, an id, then a few zero bytes: parses as empty strings and zero numbers.
    ASSERT_EQ(handle(body({type, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0})), std::nullopt) << type;
    Reader r(out_.bytes());
    const auto length = r.u32();
    ASSERT_TRUE(length) << type;
    EXPECT_EQ(*length + 4, out_.size()) << type;
    r.u8();
    EXPECT_EQ(r.u32(), 9u) << type;
  }
}

TEST_F(SftpEngineTest, ReplySizeHintCoversReads) {
  const Bytes read = body({5, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0});
  EXPECT_GE(engine_.reply_size_hint(read), 32768u + 13u);
  EXPECT_LT(engine_.reply_size_hint(body({17, 0, 0, 0, 1})), 1024u);
}

}  // namespace
}  // namespace filegate::sftp
