#include "daemon/config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace quorumfs {
namespace {

constexpr const char* kThreeMembers = R"(# a three-member ensemble and an observer
tickTime=500
initLimit=20
syncLimit=4
dataDir=/var/lib/quorumfs
server.1=10.0.0.1:2888:3888
server.2=10.0.0.2:2888:3888:participant
server.3=10.0.0.3:2888:3888;2181
server.4=10.0.0.4:2888:3888:observer
mountPoint=/mnt/q
peerSecretFile=/etc/quorumfs/secret
sessionTimeout=3000
writeTimeout=1500
snapCount=5000
snapSizeLimitInKb=2048
preAllocSize=128
extendedTypesEnabled=true
znode.container.checkIntervalMs=250
)";

TEST(Config, ZooCfgKeys_AreRead) {
  std::string error;
  auto config = parse_config(kThreeMembers, "zoo.cfg", &error);
  ASSERT_TRUE(config) << error;
  EXPECT_EQ(config->tick_time_ms, 500u);
  EXPECT_EQ(config->init_limit_ticks, 20u);
  EXPECT_EQ(config->sync_limit_ticks, 4u);
  EXPECT_EQ(config->data_dir, "/var/lib/quorumfs");
  EXPECT_EQ(config->mount_point, "/mnt/q");
  EXPECT_EQ(config->peer_secret_file, "/etc/quorumfs/secret");
  EXPECT_EQ(config->session_timeout_ms, 3000u);
  EXPECT_EQ(config->write_timeout_ms, 1500u);
  EXPECT_EQ(config->snap_count, 5000u);
  EXPECT_EQ(config->snap_size_limit_kb, 2048u);
  EXPECT_EQ(config->prealloc_kb, 128u);
  EXPECT_TRUE(config->extended_types_enabled);
  EXPECT_EQ(config->container_check_interval_ms, 250u);
  ASSERT_EQ(config->servers.size(), 4u);
  EXPECT_EQ(config->servers.at(3).host, "10.0.0.3");
  EXPECT_EQ(config->servers.at(3).election_port, 3888);
  EXPECT_TRUE(config->servers.at(4).observer);
  EXPECT_EQ(config->voter_count(), 3u);
  EXPECT_TRUE(config->warnings.empty());
}

TEST(Config, ZooKeeperNodeKindKeys_DefaultAsZooKeepers) {
  std::string error;
  auto config = parse_config("dataDir=/d\nserver.1=h:1:2\n", "zoo.cfg", &error);
  ASSERT_TRUE(config) << error;
  EXPECT_FALSE(config->extended_types_enabled);
  EXPECT_EQ(config->container_check_interval_ms, 60000u);
}

TEST(Config, UnknownKey_IsAWarningWithItsLine) {
  std::string error;
  auto config = parse_config("dataDir=/d\nglobalOutstandingLimit=1000\nserver.1=h:1:2\n", "zoo.cfg", &error);
  ASSERT_TRUE(config) << error;
  ASSERT_EQ(config->warnings.size(), 1u);
  EXPECT_EQ(config->warnings[0], "zoo.cfg:2: unknown key globalOutstandingLimit (ignored)");
}

TEST(Config, ClientPortKeys_AreTakenAndSessionTimeoutsDefaultToTicks) {
  std::string error;
  auto config = parse_config(
      "dataDir=/d\ntickTime=500\nclientPort=2181\nclientPortAddress=127.0.0.1\nmaxSessionTimeout=60000\n"
      "4lw.commands.whitelist=srvr, ruok\nmaxClientCnxns=0\nserver.1=h:1:2\n",
      "zoo.cfg", &error);
  ASSERT_TRUE(config) << error;
  EXPECT_TRUE(config->warnings.empty());
  EXPECT_EQ(config->client_port, 2181);
  EXPECT_EQ(config->client_port_address, "127.0.0.1");
  EXPECT_FALSE(config->min_session_timeout_ms.has_value());  // 2 ticks, decided by the daemon
  EXPECT_EQ(config->max_session_timeout_ms, 60000u);
  EXPECT_EQ(config->four_letter_words, "srvr, ruok");
  EXPECT_EQ(config->max_client_connections, 0u);
  EXPECT_EQ(config->settings.at("tickTime"), "500");
}

TEST(Config, AdminKeys_DefaultToLoopback8080AndAreTaken) {
  std::string error;
  auto defaults = parse_config("dataDir=/d\nserver.1=h:1:2\n", "zoo.cfg", &error);
  ASSERT_TRUE(defaults) << error;
  EXPECT_TRUE(defaults->admin_enabled);
  EXPECT_EQ(defaults->admin_address, "127.0.0.1");
  EXPECT_EQ(defaults->admin_port, 8080);
  auto config = parse_config(
      "dataDir=/d\nadmin.enableServer=false\nadmin.serverAddress=0.0.0.0\nadmin.serverPort=9090\nserver.1=h:1:2\n",
      "zoo.cfg", &error);
  ASSERT_TRUE(config) << error;
  EXPECT_TRUE(config->warnings.empty());
  EXPECT_FALSE(config->admin_enabled);
  EXPECT_EQ(config->admin_address, "0.0.0.0");
  EXPECT_EQ(config->admin_port, 9090);
}

struct BadConfig {
  const char* text;
  const char* error;
};

class ConfigRefusal : public ::testing::TestWithParam<BadConfig> {};

TEST_P(ConfigRefusal, BadValue_RefusedWithFileLineAndReason) {
  std::string error;
  EXPECT_FALSE(parse_config(GetParam().text, "zoo.cfg", &error));
  EXPECT_EQ(error, GetParam().error);
}

INSTANTIATE_TEST_SUITE_P(
    Refusals, ConfigRefusal,
    ::testing::Values(
        BadConfig{"dataDir=/d\ntickTime=fast\nserver.1=h:1:2\n", "zoo.cfg:2: tickTime must be 1..3600000 ms"},
        BadConfig{"dataDir=/d\nserver.1=h:1\n", "zoo.cfg:2: expected host:peerPort:electionPort[:participant|:observer]"},
        BadConfig{"dataDir=/d\nserver.1=h:99999:2\n", "zoo.cfg:2: bad peer port"},
        BadConfig{"dataDir=/d\nserver.1=h:1:2:leader\n", "zoo.cfg:2: role must be participant or observer"},
        BadConfig{"dataDir=/d\nserver.1=h:1:2\nserver.1=g:1:2\n", "zoo.cfg:3: server.1 is defined twice"},
        BadConfig{"dataDir=/d\nserver.0=h:1:2\n", "zoo.cfg:2: server id must be 1..254"},
        BadConfig{"dataDir=/d\nserver.255=h:1:2\n", "zoo.cfg:2: server id must be 1..254"},
        BadConfig{"dataDir=/d\nsessionTimeout=0\nserver.1=h:1:2\n", "zoo.cfg:2: sessionTimeout must be 1..3600000 ms"},
        BadConfig{"dataDir=/d\nextendedTypesEnabled=yes\nserver.1=h:1:2\n",
                  "zoo.cfg:2: extendedTypesEnabled must be true or false"},
        BadConfig{"dataDir=/d\nznode.container.checkIntervalMs=99\nserver.1=h:1:2\n",
                  "zoo.cfg:2: znode.container.checkIntervalMs must be 100..86400000 ms"},
        BadConfig{"dataDir=/d\nwriteTimeout=soon\nserver.1=h:1:2\n", "zoo.cfg:2: writeTimeout must be 1..3600000 ms"},
        BadConfig{"dataDir=/d\npreAllocSize=1\nserver.1=h:1:2\n", "zoo.cfg:2: preAllocSize must be 4..1048576 KiB"},
        BadConfig{"dataDir=/d\nsnapCount=0\nserver.1=h:1:2\n", "zoo.cfg:2: snapCount must be 1..2^32 txns"},
        BadConfig{"dataDir=/d\njust words\n", "zoo.cfg:2: expected key=value"},
        BadConfig{"server.1=h:1:2\n", "zoo.cfg: dataDir is missing"},
        BadConfig{"dataDir=/d\n", "zoo.cfg: no server.N line"},
        BadConfig{"dataDir=/d\nserver.1=h:1:2:observer\n",
                  "zoo.cfg: every server is an observer: the ensemble needs a participant"},
        BadConfig{"dataDir=/d\nserver.1=h:1:2\nserver.2=h:2:3\n", "zoo.cfg: server.2 reuses h:2"},
        BadConfig{"dataDir=/d\nclientPort=0\nserver.1=h:1:2\n", "zoo.cfg:2: clientPort must be 1..65535"},
        BadConfig{"dataDir=/d\nadmin.serverPort=0\nserver.1=h:1:2\n", "zoo.cfg:2: admin.serverPort must be 1..65535"},
        BadConfig{"dataDir=/d\nadmin.enableServer=yes\nserver.1=h:1:2\n",
                  "zoo.cfg:2: admin.enableServer must be true or false"},
        BadConfig{"dataDir=/d\nadmin.serverAddress=\nserver.1=h:1:2\n", "zoo.cfg:2: admin.serverAddress is empty"},
        BadConfig{"dataDir=/d\nmaxClientCnxns=-1\nserver.1=h:1:2\n", "zoo.cfg:2: maxClientCnxns must be 0..1000000"},
        BadConfig{"dataDir=/d\nminSessionTimeout=0\nserver.1=h:1:2\n",
                  "zoo.cfg:2: minSessionTimeout must be 1..3600000 ms"},
        BadConfig{"dataDir=/d\nminSessionTimeout=50000\nserver.1=h:1:2\n",
                  "zoo.cfg: minSessionTimeout (50000 ms) is above maxSessionTimeout (40000 ms)"}));

class ConfigFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("config_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_ / "data");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    std::ofstream((dir_ / name).string()) << text;
    return (dir_ / name).string();
  }
  std::string data_dir() const { return (dir_ / "data").string(); }
  std::filesystem::path dir_;
};

TEST_F(ConfigFile, MyId_IsReadFromTheDataDir) {
  std::string path = write("zoo.cfg", "dataDir=" + data_dir() + "\nserver.1=a:1:2\nserver.2=b:1:2\nserver.3=c:1:2\n");
  write("data/myid", "2\n");
  std::string error;
  auto config = load_config(path, &error);
  ASSERT_TRUE(config) << error;
  EXPECT_EQ(config->my_id, 2u);
}

TEST_F(ConfigFile, MyIdMissingOrUnknown_IsRefusedNamingTheFile) {
  std::string path = write("zoo.cfg", "dataDir=" + data_dir() + "\nserver.1=a:1:2\nserver.2=b:1:2\n");
  std::string error;
  EXPECT_FALSE(load_config(path, &error));
  EXPECT_NE(error.find(data_dir() + "/myid"), std::string::npos) << error;
  write("data/myid", "7\n");
  EXPECT_FALSE(load_config(path, &error));
  EXPECT_NE(error.find("'7' is not the id of a server.N line"), std::string::npos) << error;
}

TEST_F(ConfigFile, LoneServer_NeedsNoMyId) {
  std::string path = write("zoo.cfg", "dataDir=" + data_dir() + "\nserver.5=localhost:2888:3888\n");
  std::string error;
  auto config = load_config(path, &error);
  ASSERT_TRUE(config) << error;
  EXPECT_EQ(config->my_id, 5u);
}

}  // namespace
}  // namespace quorumfs
