// Container and TTL nodes (ZooKeeper 3.8): persistent nodes marked in their ephemeralOwner, owned
// by no session, kept in an index of their own that snapshots do not store.
#include <gtest/gtest.h>

#include "daemon/tree/ephemeral_type.h"
#include "tests/unit/tree/tree_fixture.h"

namespace quorumfs::testing {
namespace {

constexpr uint64_t kHost1 = uint64_t{1} << 56;

proto::Op container_op(std::string_view path, bool directory = true) {
  proto::Op op = create_op(path, directory);
  op.mutable_create()->set_container(true);
  return op;
}

proto::Op ttl_op(std::string_view path, int64_t ttl_ms, bool directory = false) {
  proto::Op op = create_op(path, directory);
  op.mutable_create()->set_ttl_ms(ttl_ms);
  return op;
}

class ContainerTtlTest : public TreeTest {
 protected:
  std::vector<std::string> indexed() const {
    std::vector<std::string> paths;
    for (const Node* node : tree.containers_and_ttl_nodes()) paths.push_back(tree.path_of(*node));
    return paths;
  }
};

TEST_F(ContainerTtlTest, Container_CarriesZooKeepersMarkAndHoldsChildren) {
  must(container_op("/c"));
  EXPECT_EQ(node("/c").stat().ephemeral_owner, 0x8000000000000000u);
  EXPECT_EQ(node_type(node("/c").stat().ephemeral_owner), NodeType::kContainer);
  must(file_op("/c/child"));
  must(container_op("/c/inner"));
  EXPECT_TRUE(tree.sessions().empty()) << "no session owns a container";
  EXPECT_EQ(indexed(), (std::vector<std::string>{"/c", "/c/inner"}));
}

TEST_F(ContainerTtlTest, Ttl_CarriesItsTtlInTheMark_AndMayBeSequential) {
  must(ttl_op("/t", 5000));
  EXPECT_EQ(node("/t").stat().ephemeral_owner, 0xFF00000000001388u);
  EXPECT_EQ(ttl_ms_of(node("/t").stat().ephemeral_owner), 5000);
  proto::Op sequential = ttl_op("/q-", kTtlMsMax, true);
  sequential.mutable_create()->set_sequential(true);
  ApplyResult result = apply({sequential});
  ASSERT_EQ(result.code, Code::kOk);
  EXPECT_EQ(node(result.ops[0].path).stat().ephemeral_owner, 0xFF0000FFFFFFFFFFu);
  must(file_op(result.ops[0].path + "/child"));
  EXPECT_TRUE(tree.sessions().empty());
  EXPECT_EQ(indexed(), (std::vector<std::string>{"/t", result.ops[0].path}));
}

TEST_F(ContainerTtlTest, KindsZooKeeperRefuses_AreBadArguments) {
  must(create_session_op(kHost1 | 1));
  proto::Op sequential_container = container_op("/c");
  sequential_container.mutable_create()->set_sequential(true);
  proto::Op ephemeral_container = container_op("/c");
  ephemeral_container.mutable_create()->set_ephemeral_owner(kHost1 | 1);
  proto::Op container_with_ttl = container_op("/c");
  container_with_ttl.mutable_create()->set_ttl_ms(5000);
  proto::Op ephemeral_ttl = ttl_op("/t", 5000);
  ephemeral_ttl.mutable_create()->set_ephemeral_owner(kHost1 | 1);
  proto::Op owner_of_a_container = file_op("/e");
  owner_of_a_container.mutable_create()->set_ephemeral_owner(kContainerOwner);
  proto::Op owner_of_a_ttl = file_op("/e");
  owner_of_a_ttl.mutable_create()->set_ephemeral_owner(ttl_owner(5000));
  for (const proto::Op& op : {sequential_container, ephemeral_container, container_with_ttl, ephemeral_ttl,
                              ttl_op("/t", -1), ttl_op("/t", kTtlMsMax + 1), owner_of_a_container, owner_of_a_ttl}) {
    expect_failure(op, Code::kBadArguments);
  }
  EXPECT_TRUE(indexed().empty());
}

TEST_F(ContainerTtlTest, NoSessionTakesTheirMarks) {
  expect_failure(create_session_op(kContainerOwner), Code::kBadArguments);
  expect_failure(create_session_op(ttl_owner(5000)), Code::kBadArguments);
  must(container_op("/c"));
  must(ttl_op("/t", 5000));
  ApplyResult closed = apply({close_session_op(kContainerOwner), close_session_op(ttl_owner(5000))});
  ASSERT_EQ(closed.code, Code::kOk);
  EXPECT_TRUE(closed.changes.empty());
  EXPECT_TRUE(closed.closed_sessions.empty());
  EXPECT_NE(tree.find("/c"), nullptr);
  EXPECT_NE(tree.find("/t"), nullptr);
}

TEST_F(ContainerTtlTest, DeleteAndFailedMulti_KeepTheIndexExact) {
  must(container_op("/c"));
  must(ttl_op("/t", 5000));
  std::string before = dump(tree);
  ApplyResult failed = apply({container_op("/c2"), delete_op("/c"), ttl_op("/t2", 1), delete_op("/missing")});
  EXPECT_EQ(failed.code, Code::kNoNode);
  EXPECT_EQ(dump(tree), before);
  EXPECT_EQ(indexed(), (std::vector<std::string>{"/c", "/t"}));
  must(delete_op("/c"));
  EXPECT_EQ(indexed(), (std::vector<std::string>{"/t"}));
}

TEST_F(ContainerTtlTest, Snapshot_RebuildsTheIndexFromTheMarks) {
  must(container_op("/c"));
  must(file_op("/c/child"));
  must(ttl_op("/t", 5000));
  must(dir_op("/d"));
  std::unique_ptr<DataTree> loaded = reload(snapshot_of(tree));
  ASSERT_NE(loaded, nullptr);
  EXPECT_EQ(dump(*loaded), dump(tree));
  std::vector<std::string> paths;
  for (const Node* node : loaded->containers_and_ttl_nodes()) paths.push_back(loaded->path_of(*node));
  EXPECT_EQ(paths, (std::vector<std::string>{"/c", "/t"}));
  EXPECT_TRUE(loaded->sessions().empty());
  EXPECT_TRUE(loaded->open_sessions().empty());
}

}  // namespace
}  // namespace quorumfs::testing
