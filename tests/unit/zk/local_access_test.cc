// The control socket's checks (daemon/zk/local_access.h, docs/quorumctl.md): the POSIX check the
// kernel makes for the mount, and the ACL checked with the local caller's uid and gids.
#include "daemon/zk/local_access.h"

#include <gtest/gtest.h>

#include "daemon/tree/acl.h"
#include "daemon/zk/jute.h"
#include "tests/unit/zk/handler_harness.h"

namespace quorumfs::zk {
namespace {

class LocalAccessTest : public ::testing::Test {
 protected:
  void make(const std::string& path, bool directory, uint32_t uid, uint32_t gid, uint32_t mode,
            const std::string& acl = "world:anyone:cdrwa") {
    proto::Txn txn;
    proto::CreateOp* create = txn.add_ops()->mutable_create();
    create->set_path(path);
    create->set_directory(directory);
    create->set_acl(acl);
    create->mutable_meta()->set_uid(uid);
    create->mutable_meta()->set_gid(gid);
    create->mutable_meta()->set_mode(mode);
    ASSERT_EQ(Code::kOk, harness_.replication().apply(std::move(txn)).code) << path;
  }
  static Request op(int32_t code, const std::string& path) {
    Request request;
    request.op = code;
    request.path = path;
    return request;
  }
  int32_t check(int32_t code, const std::string& path, const LocalCaller& caller) {
    return posix_check(harness_.tree(), op(code, path), caller);
  }
  // The reply header's err of request, handled for a local caller.
  int32_t handle(Request request, const LocalCaller& local) {
    SessionContext session;
    proto::Caller caller;
    caller.set_uid(local.uid);
    caller.set_gid(local.gid);
    for (uint32_t group : local.groups) caller.add_groups(group);
    session.local_caller = caller;
    session.send_event = [](std::string) {};
    request.xid = 7;
    int32_t err = 1;
    harness_.handler().handle(request, session, [&](std::string frame, bool) {
      JuteReader in(std::string_view(frame).substr(4));
      in.read_int();
      in.read_long();
      err = in.read_int();
    });
    return err;
  }

  testing::HandlerHarness harness_;
  const LocalCaller root_{0, 0, {}};
  const LocalCaller owner_{1000, 1000, {}};
  const LocalCaller member_{2000, 2000, {1000}};
  const LocalCaller stranger_{3000, 3000, {}};
};

TEST_F(LocalAccessTest, ModeBitsArePickedAsTheKernelPicksThem) {
  const PosixAttrs attrs{1000, 1000, 0640, 0, 0, 0};
  EXPECT_TRUE(mode_permits(attrs, owner_, kMayRead | kMayWrite));
  EXPECT_TRUE(mode_permits(attrs, member_, kMayRead));
  EXPECT_FALSE(mode_permits(attrs, member_, kMayWrite));
  EXPECT_FALSE(mode_permits(attrs, stranger_, kMayRead));
  EXPECT_TRUE(mode_permits(attrs, root_, kMayRead | kMayWrite | kMaySearch));
  // The owner's bits win even when the group's would grant more.
  EXPECT_FALSE(mode_permits(PosixAttrs{1000, 1000, 0070, 0, 0, 0}, owner_, kMayRead));
}

TEST_F(LocalAccessTest, WriteAndSearchAsForTheMount) {
  make("/d", true, 1000, 1000, 0755);
  make("/d/f", false, 1000, 1000, 0644);
  make("/closed", true, 1000, 1000, 0700);
  make("/closed/f", false, 1000, 1000, 0666);
  EXPECT_EQ(kOk, check(kSetData, "/d/f", owner_));
  EXPECT_EQ(kNoAuth, check(kSetData, "/d/f", stranger_));
  EXPECT_EQ(kOk, check(kGetData, "/d/f", stranger_));
  EXPECT_EQ(kNoAuth, check(kCreate, "/d/g", stranger_));
  EXPECT_EQ(kOk, check(kCreate, "/d/g", owner_));
  EXPECT_EQ(kNoAuth, check(kDelete, "/d/f", stranger_));
  EXPECT_EQ(kOk, check(kDelete, "/d/f", owner_));
  // A 0666 file behind a 0700 directory: no search, no write.
  EXPECT_EQ(kNoAuth, check(kSetData, "/closed/f", stranger_));
  EXPECT_EQ(kNoAuth, check(kExists, "/closed/f", stranger_));
  EXPECT_EQ(kOk, check(kSetData, "/closed/f", root_));
  // A missing node is the tree's to answer (NoNode).
  EXPECT_EQ(kOk, check(kSetData, "/d/none", stranger_));
  EXPECT_EQ(kOk, check(kSetData, "/none/x", stranger_));
  // Anything the socket cannot check is refused.
  EXPECT_EQ(kNoAuth, check(kSetAcl, "/d/f", owner_));
}

TEST_F(LocalAccessTest, AStickyDirectoryLetsOnlyOwnersDelete) {
  make("/q", true, 0, 0, 01777);
  make("/q/mine", false, 1000, 1000, 0644);
  EXPECT_EQ(kOk, check(kDelete, "/q/mine", owner_));
  EXPECT_EQ(kNoAuth, check(kDelete, "/q/mine", stranger_));
  EXPECT_EQ(kOk, check(kDelete, "/q/mine", root_));
}

TEST_F(LocalAccessTest, TheAclGoesByTheLocalCallersUidAndGroups) {
  make("/f", false, 0, 0, 0666, "uid:1000:rw,gid:1000:r");
  Request set = op(kSetData, "/f");
  set.data = "x";
  EXPECT_EQ(kNoAuth, handle(set, stranger_));
  EXPECT_EQ(kNoAuth, handle(set, member_));  // gid:1000 grants READ only
  EXPECT_EQ(kOk, handle(set, owner_));
  EXPECT_EQ(kOk, handle(set, root_));  // the super user
  EXPECT_EQ("x", harness_.tree().find("/f")->data());
}

TEST_F(LocalAccessTest, ALocalCallersCreateIsItsOwnFileAndNeverEphemeral) {
  make("/d", true, 0, 0, 0777);
  Request create = op(kCreate, "/d/new");
  create.acl = {{31, "world", "anyone"}};
  EXPECT_EQ(kOk, handle(create, owner_));
  const Node* node = harness_.tree().find("/d/new");
  ASSERT_NE(nullptr, node);
  EXPECT_FALSE(node->is_directory());
  EXPECT_EQ(1000u, node->attrs().uid);
  EXPECT_EQ(1000u, node->attrs().gid);
  EXPECT_EQ(0644u, node->attrs().mode);
  Request ephemeral = op(kCreate, "/d/eph");
  ephemeral.acl = create.acl;
  ephemeral.flags = kEphemeral;
  EXPECT_EQ(kBadArguments, handle(ephemeral, owner_));
  EXPECT_EQ(nullptr, harness_.tree().find("/d/eph"));
}

// The parent's creation flags hold for a local caller's create as for the mount's (docs/mount.md):
// a sticky parent gives the sequential suffix; a set-gid parent would make the file ephemeral,
// which no session owns on the socket: refused (docs/quorumctl.md).
TEST_F(LocalAccessTest, ALocalCallersCreateKeepsItsParentsCreationFlags) {
  make("/q", true, 0, 0, 01777);
  make("/members", true, 0, 0, 02777);
  Request job = op(kCreate, "/q/job-");
  EXPECT_EQ(kOk, handle(job, owner_));
  EXPECT_NE(nullptr, harness_.tree().find("/q/job-0000000000"));
  EXPECT_EQ(nullptr, harness_.tree().find("/q/job-"));
  EXPECT_EQ(kBadArguments, handle(op(kCreate, "/members/m1"), owner_));
  EXPECT_EQ(nullptr, harness_.tree().find("/members/m1"));
  Request multi = op(kMulti, "");
  multi.ops = {op(kCreate, "/q/job-"), op(kCreate, "/members/m2")};
  handle(multi, owner_);  // a failed multi says so per op
  EXPECT_EQ(nullptr, harness_.tree().find("/members/m2"));
  EXPECT_EQ(nullptr, harness_.tree().find("/q/job-0000000001"));
}

// A local caller's create takes its parent's ACL, as on the mount, whatever ACL the request
// names: without ADMIN it chooses none (not even an open one under a closed parent).
TEST_F(LocalAccessTest, ALocalCallersCreateTakesItsParentsAcl) {
  make("/d", true, 0, 0, 0777, "uid:1000:cdrw,world:anyone:r");
  Request create = op(kCreate, "/d/mine");
  create.acl = {{31, "world", "anyone"}};
  EXPECT_EQ(kOk, handle(create, owner_));
  const Node* node = harness_.tree().find("/d/mine");
  ASSERT_NE(nullptr, node);
  EXPECT_EQ("uid:1000:cdrw,world:anyone:r", format_acl(node->acl()));
  Request empty = op(kCreate, "/d/empty");  // no ACL at all: still the parent's
  EXPECT_EQ(kOk, handle(empty, owner_));
  ASSERT_NE(nullptr, harness_.tree().find("/d/empty"));
  EXPECT_EQ("uid:1000:cdrw,world:anyone:r", format_acl(harness_.tree().find("/d/empty")->acl()));
  Request multi = op(kMulti, "");
  Request in_multi = op(kCreate, "/d/multi");
  in_multi.acl = {{31, "world", "anyone"}};
  multi.ops = {in_multi};
  EXPECT_EQ(kOk, handle(multi, owner_));
  ASSERT_NE(nullptr, harness_.tree().find("/d/multi"));
  EXPECT_EQ("uid:1000:cdrw,world:anyone:r", format_acl(harness_.tree().find("/d/multi")->acl()));
}

// A sticky directory's data (its user.zk.data xattr) is written by its owner or root only, as the
// kernel's xattr_permission allows on the mount, whatever its mode bits grant.
TEST_F(LocalAccessTest, AStickyDirectorysDataIsItsOwnersToWrite) {
  make("/q", true, 1000, 1000, 01777);
  make("/plain", true, 1000, 1000, 0777);
  EXPECT_EQ(kNoAuth, check(kSetData, "/q", stranger_));
  EXPECT_EQ(kNoAuth, check(kSetData, "/q", member_));
  EXPECT_EQ(kOk, check(kSetData, "/q", owner_));
  EXPECT_EQ(kOk, check(kSetData, "/q", root_));
  EXPECT_EQ(kOk, check(kSetData, "/plain", stranger_));
}

}  // namespace
}  // namespace quorumfs::zk
