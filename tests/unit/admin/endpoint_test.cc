// The admin endpoint without sockets: routes, ZooKeeper's command JSON, the tree view's paging and
// what it refuses to show (docs/operations.md, "Admin endpoint and metrics").
#include "daemon/admin/endpoint.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "tests/unit/tree/tree_fixture.h"

namespace quorumfs::admin {
namespace {

using nlohmann::json;
using quorumfs::testing::dir_op;
using quorumfs::testing::file_op;
using quorumfs::testing::set_acl_op;

class EndpointTest : public ::testing::Test {
 protected:
  EndpointTest() : endpoint_([this]() -> const DataTree& { return tree_; }, sources()) {}

  Sources sources() {
    Sources sources;
    sources.member = [this] { return member_; };
    sources.peers = [this] { return peers_; };
    sources.client_port = []() -> const zk::ClientPort* { return nullptr; };
    sources.conf = [] { return json{{"tick_time", 2000}, {"server_id", 2}}; };
    return sources;
  }

  void apply(const proto::Op& op) {
    proto::Txn txn;
    *txn.add_ops() = op;
    txn.set_time_ns(1);
    const ApplyResult result = tree_.apply((Zxid{1} << 32) | ++counter_, txn);
    ASSERT_EQ(result.code, Code::kOk) << code_name(result.code);
  }

  json get_json(const std::string& target, unsigned status = 200) {
    const Reply reply = endpoint_.handle("GET", target);
    EXPECT_EQ(reply.status, status) << target << ": " << reply.body;
    EXPECT_EQ(reply.content_type, "application/json");
    return json::parse(reply.body);
  }

  DataTree tree_;
  uint64_t counter_ = 0;
  MemberView member_;
  std::vector<PeerView> peers_;
  Endpoint endpoint_;
};

TEST_F(EndpointTest, Ruok_IsZooKeepersEmptyResponse) {
  EXPECT_EQ(get_json("/commands/ruok"), (json{{"command", "ruok"}, {"error", nullptr}}));
}

TEST_F(EndpointTest, UnknownCommand_404WithZooKeepersError) {
  const json reply = get_json("/commands/nosuch", 404);
  EXPECT_EQ(reply["command"], "nosuch");
  EXPECT_EQ(reply["error"], "Unknown command: nosuch");
}

TEST_F(EndpointTest, CommandList_NamesTheNine) {
  const json reply = get_json("/commands");
  EXPECT_EQ(reply["commands"], (json{"ruok", "srvr", "stat", "mntr", "conf", "cons", "wchs", "leader", "voting_view"}));
}

TEST_F(EndpointTest, Aliases_AnswerUnderThePrimaryName) {
  EXPECT_EQ(get_json("/commands/server_stats")["command"], "srvr");
  EXPECT_EQ(get_json("/commands/monitor")["command"], "mntr");
  EXPECT_EQ(get_json("/commands/configuration")["command"], "conf");
  EXPECT_EQ(get_json("/commands/lead")["command"], "leader");
}

TEST_F(EndpointTest, Mntr_CountsZnodesOfTheTree) {
  member_.report.mode = "standalone";
  const size_t before = get_json("/commands/mntr")["znode_count"].get<size_t>();
  apply(dir_op("/a"));
  apply(file_op("/a/f", "x"));
  const json reply = get_json("/commands/mntr");
  EXPECT_EQ(reply["znode_count"].get<size_t>(), before + 2);
  EXPECT_EQ(reply["server_state"], "standalone");
  EXPECT_EQ(reply["num_alive_connections"], 0);  // the client port is closed
  EXPECT_EQ(reply["last_zxid"], "0x0");
}

TEST_F(EndpointTest, Mntr_CountsEphemeralNodesNotTheirSessions) {
  proto::Op session;
  session.mutable_create_session()->set_session_id((uint64_t{1} << 56) | 5);
  apply(session);
  for (const char* path : {"/e1", "/e2"}) {
    proto::Op ephemeral = file_op(path);
    ephemeral.mutable_create()->set_ephemeral_owner((uint64_t{1} << 56) | 5);
    apply(ephemeral);
  }
  const json reply = get_json("/commands/mntr");
  EXPECT_EQ(reply["ephemerals_count"], 2);  // ZooKeeper's getEphemeralsCount: one session owns both
  EXPECT_EQ(reply["open_sessions"], 1);
}

TEST_F(EndpointTest, Srvr_HasServerStatsAndNodeCount) {
  member_.report = zk::MemberReport{};
  member_.report.mode = "follower";
  member_.report.epoch = 3;
  member_.report.last_zxid = (int64_t{3} << 32) | 7;
  member_.synced = true;
  const json reply = get_json("/commands/srvr");
  EXPECT_EQ(reply["read_only"], false);
  EXPECT_EQ(reply["server_stats"]["server_state"], "follower");
  EXPECT_EQ(reply["server_stats"]["last_processed_zxid"], (int64_t{3} << 32) | 7);
  EXPECT_EQ(reply["node_count"], tree_.node_count());
  EXPECT_TRUE(get_json("/commands/stat")["connections"].is_array());
}

TEST_F(EndpointTest, Leader_SaysWhoLeads) {
  member_.server_id = 2;
  member_.leader_id = 2;
  member_.leader_host = "10.0.0.2";
  EXPECT_EQ(get_json("/commands/leader"),
            (json{{"command", "leader"}, {"error", nullptr}, {"is_leader", true}, {"leader_id", 2}, {"leader_ip", "10.0.0.2"}}));
  member_.leader_id = 1;
  EXPECT_EQ(get_json("/commands/leader")["is_leader"], false);
}

TEST_F(EndpointTest, VotingView_VotersInCurrentConfigAndEveryMemberWithLag) {
  peers_ = {
      PeerView{1, "127.0.0.1", 2881, 3881, false, true, "leader", int64_t{0x100000005}, 0},
      PeerView{2, "127.0.0.1", 2882, 3882, false, false, "follower", int64_t{0x100000003}, 2},
      PeerView{3, "127.0.0.1", 2883, 3883, true, false, "observer", std::nullopt, std::nullopt},
  };
  const json reply = get_json("/commands/voting_view");
  EXPECT_EQ(reply["current_config"],
            (json{{"1", "127.0.0.1:2881:3881:participant"}, {"2", "127.0.0.1:2882:3882:participant"}}));
  ASSERT_EQ(reply["members"].size(), 3u);
  EXPECT_EQ(reply["members"][1]["role"], "follower");
  EXPECT_EQ(reply["members"][1]["acked_zxid"], "0x100000003");
  EXPECT_EQ(reply["members"][1]["lag_txns"], 2);
  EXPECT_EQ(reply["members"][2]["type"], "observer");
  EXPECT_TRUE(reply["members"][2]["lag_txns"].is_null());
}

TEST_F(EndpointTest, Conf_TakesTheServersFields) {
  const json reply = get_json("/commands/conf");
  EXPECT_EQ(reply["tick_time"], 2000);
  EXPECT_EQ(reply["server_id"], 2);
  EXPECT_EQ(reply["error"], nullptr);
}

TEST_F(EndpointTest, Root_IsTheWebViewReadingTheJsonRoutes) {
  const Reply page = endpoint_.handle("GET", "/");
  EXPECT_EQ(page.status, 200u);
  EXPECT_EQ(page.content_type, "text/html; charset=utf-8");
  for (const char* route : {"/commands/srvr", "/commands/voting_view", "/tree?path="}) {
    EXPECT_NE(page.body.find(route), std::string::npos) << route;
  }
  EXPECT_EQ(endpoint_.handle("GET", "/index.html").body, page.body);
}

TEST_F(EndpointTest, OnlyGetAndHead_405Otherwise) {
  for (const char* method : {"POST", "PUT", "DELETE", "OPTIONS"}) {
    const Reply reply = endpoint_.handle(method, "/commands/ruok");
    EXPECT_EQ(reply.status, 405u) << method;
    EXPECT_TRUE(json::parse(reply.body).contains("error"));
  }
  EXPECT_EQ(endpoint_.handle("HEAD", "/commands/ruok").status, 200u);
}

TEST_F(EndpointTest, BadTargets_400_414_404) {
  EXPECT_EQ(endpoint_.handle("GET", "commands").status, 400u);
  EXPECT_EQ(endpoint_.handle("GET", "/" + std::string(kTargetBytesMax, 'a')).status, 414u);
  EXPECT_EQ(get_json("/nosuch", 404)["error"].get<std::string>().substr(0, 12), "no such page");
  EXPECT_EQ(endpoint_.handle("GET", "/tree?path=%zz").status, 400u);
  EXPECT_EQ(endpoint_.handle("GET", "/tree?path=/a/").status, 400u);
  EXPECT_EQ(endpoint_.handle("GET", "/tree?path=/nosuch").status, 404u);
  EXPECT_EQ(endpoint_.handle("GET", "/tree?path=/&limit=0").status, 400u);
  EXPECT_EQ(endpoint_.handle("GET", "/tree?path=/&limit=x").status, 400u);
}

TEST_F(EndpointTest, Tree_NodeStatDataAndChildren) {
  apply(dir_op("/app"));
  apply(file_op("/app/config.json", "{\"v\":1}"));
  apply(dir_op("/app/members"));
  const json reply = get_json("/tree?path=%2Fapp");
  EXPECT_EQ(reply["path"], "/app");
  EXPECT_EQ(reply["directory"], true);
  EXPECT_EQ(reply["stat"]["numChildren"], 2);
  ASSERT_EQ(reply["children"].size(), 2u);
  EXPECT_EQ(reply["children"][0]["name"], "config.json");
  EXPECT_EQ(reply["children"][0]["dataLength"], 7);
  EXPECT_EQ(reply["children"][1]["name"], "members");
  EXPECT_TRUE(reply["next_after"].is_null());
  const json file = get_json("/tree?path=/app/config.json");
  EXPECT_EQ(file["data"], "{\"v\":1}");
  EXPECT_EQ(file["data_truncated"], false);
  EXPECT_EQ(file["mode"], "0644");
}

TEST_F(EndpointTest, Tree_PagesOfChildren) {
  apply(dir_op("/q"));
  for (int i = 0; i < 5; ++i) apply(file_op("/q/item-" + std::to_string(i)));
  json page = get_json("/tree?path=/q&limit=2");
  ASSERT_EQ(page["children"].size(), 2u);
  EXPECT_EQ(page["next_after"], "item-1");
  page = get_json("/tree?path=/q&limit=2&after=item-1");
  EXPECT_EQ(page["children"][0]["name"], "item-2");
  EXPECT_EQ(page["next_after"], "item-3");
  page = get_json("/tree?path=/q&limit=2&after=item-3");
  EXPECT_EQ(page["children"].size(), 1u);
  EXPECT_TRUE(page["next_after"].is_null());
}

TEST_F(EndpointTest, Tree_LongDataIsCut) {
  apply(file_op("/big", std::string(kTreeDataPreviewBytesMax + 10, 'x')));
  const json reply = get_json("/tree?path=/big");
  EXPECT_EQ(reply["data"].get<std::string>().size(), kTreeDataPreviewBytesMax);
  EXPECT_EQ(reply["data_truncated"], true);
  EXPECT_EQ(reply["stat"]["dataLength"], kTreeDataPreviewBytesMax + 10);
}

TEST_F(EndpointTest, Tree_BinaryNamesAndDataStayValidJson) {
  apply(file_op("/bin\xff", std::string("\x80\x00\xfe", 3)));
  const json reply = get_json("/tree?path=/");
  bool found = false;
  for (const json& child : reply["children"]) found |= child["name"] == "bin\xef\xbf\xbd";
  EXPECT_TRUE(found) << reply.dump();
}

TEST_F(EndpointTest, Tree_NotShownWithoutWorldRead) {
  apply(file_op("/secret", "password"));
  apply(set_acl_op("/secret", "digest:bob:aGFzaGhhc2hoYXNoaGFzaGhhc2g=:cdrwa"));
  const Reply refused = endpoint_.handle("GET", "/tree?path=/secret");
  EXPECT_EQ(refused.status, 403u);
  EXPECT_EQ(refused.body.find("password"), std::string::npos);
  const json root = get_json("/tree?path=/");
  for (const json& child : root["children"]) {
    if (child["name"] == "secret") {
      EXPECT_EQ(child["readable"], false);
    }
  }
}

TEST_F(EndpointTest, Tree_NotShownWithoutOthersReadBit) {
  proto::Op op = file_op("/private", "mine");
  op.mutable_create()->mutable_meta()->set_mode(0600);
  apply(op);
  EXPECT_EQ(endpoint_.handle("GET", "/tree?path=/private").status, 403u);
  proto::Op dir = dir_op("/closed");
  dir.mutable_create()->mutable_meta()->set_mode(0750);
  apply(dir);
  apply(file_op("/closed/open", "x"));
  EXPECT_EQ(endpoint_.handle("GET", "/tree?path=/closed/open").status, 403u);
}

TEST(QueryTest, PercentDecodingAndValues) {
  std::string out;
  EXPECT_TRUE(percent_decode("a%2Fb+c%41", &out));
  EXPECT_EQ(out, "a/b cA");
  EXPECT_FALSE(percent_decode("a%2", &out));
  EXPECT_FALSE(percent_decode("%", &out));
  EXPECT_FALSE(percent_decode("%g0", &out));
  bool bad = false;
  EXPECT_EQ(query_value("path=/a&after=x%20y", "after", &bad), "x y");
  EXPECT_EQ(query_value("path=/a", "after", &bad), std::nullopt);
  EXPECT_EQ(query_value("pathx=1&path=2", "path", &bad), "2");
  EXPECT_FALSE(bad);
  EXPECT_EQ(query_value("path=%", "path", &bad), std::nullopt);
  EXPECT_TRUE(bad);
}

}  // namespace
}  // namespace quorumfs::admin
