// A RequestHandler over a real DataTree, without sockets: requests go in, reply frames and watch
// event frames come out in the order a connection would write them (docs/architecture.md, "The
// service core": a front end submits through the Service and fires its watches from the feed).
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "daemon/zk/requests.h"
#include "tests/unit/service/tree_replication.h"

namespace quorumfs::zk::testing {

// One frame a connection would write: a reply or an event, and to whom.
struct Sent {
  WatcherId watcher;
  std::string frame;
  bool close_after = false;
};

class HandlerHarness {
 public:
  explicit HandlerHarness(HandlerOptions options = {})
      : service_(replication_, 1, std::chrono::seconds(10)), handler_(service_, watches_, options) {
    replication_.attach(&service_);
    // What ClientPort::on_applied does with the change feed.
    service_.feed().subscribe([this](const service::Applied& applied) {
      std::vector<FiredEvent> fired;
      handler_.fire_watches(applied.result, &fired);
      for (const FiredEvent& event : fired) {
        sent_.push_back({event.watcher, RequestHandler::event_frame(event.type, event.path)});
      }
    });
  }

  // A session opened as the client port opens one (a CreateSession txn), its connection's
  // watcher id and the client's address.
  SessionContext open_session(uint64_t session_id, WatcherId watcher, std::string peer_ip = "127.0.0.1") {
    proto::Txn txn;
    proto::CreateSessionOp* create = txn.add_ops()->mutable_create_session();
    create->set_session_id(session_id);
    create->set_timeout_ms(4000);
    EXPECT_EQ(Code::kOk, replication_.apply(std::move(txn)).code);
    SessionContext session;
    session.session_id = session_id;
    session.watcher = watcher;
    session.peer_ip = std::move(peer_ip);
    session.send_event = [this, watcher](std::string frame) { sent_.push_back({watcher, std::move(frame)}); };
    return session;
  }

  // Handles request and returns its reply frame (the replication answers at once).
  std::string handle(const Request& request, SessionContext& session, bool* close_after = nullptr) {
    bool answered = false;
    std::string reply;
    handler_.handle(request, session, [&](std::string frame, bool close) {
      answered = true;
      reply = frame;
      if (close_after != nullptr) *close_after = close;
      sent_.push_back({session.watcher, std::move(frame), close});
    });
    EXPECT_TRUE(answered) << "request " << op_name(request.op) << " was not answered";
    return reply;
  }

  // The event frames sent to watcher so far, in order (replies left out).
  std::vector<std::string> events_of(WatcherId watcher) const {
    std::vector<std::string> events;
    for (const Sent& sent : sent_) {
      if (sent.watcher == watcher && sent.frame.size() >= 8 && sent.frame.compare(4, 4, "\xff\xff\xff\xff") == 0) {
        events.push_back(sent.frame);
      }
    }
    return events;
  }

  const DataTree& tree() const { return replication_.tree(); }
  service::TreeReplication& replication() { return replication_; }
  service::Service& service() { return service_; }
  WatchTable& watches() { return watches_; }
  RequestHandler& handler() { return handler_; }
  const std::vector<Sent>& sent() const { return sent_; }

 private:
  service::TreeReplication replication_;
  service::Service service_;
  WatchTable watches_;
  RequestHandler handler_;
  std::vector<Sent> sent_;
};

}  // namespace quorumfs::zk::testing
