// Fast leader election (docs/zab.md §2, ZooKeeper's FastLeaderElection): votes ordered by
// (peerEpoch = currentEpoch, last logged zxid, id), rounds, a finalize wait after a quorum agrees,
// and peers that already follow or lead answering those still looking.
#include <algorithm>
#include <tuple>

#include "consensus/replica_state.h"

namespace quorumfs::consensus {

namespace {

bool beats(const Vote& a, const Vote& b) {
  return std::tie(a.epoch, a.zxid, a.leader) > std::tie(b.epoch, b.zxid, b.leader);
}

bool same_proposal(const Vote& a, const Vote& b) {
  return a.leader == b.leader && a.zxid == b.zxid && a.epoch == b.epoch;
}

}  // namespace

// Observers are never proposed: their vote only asks the voters who leads.
Vote Replica::State::initial_vote() const {
  NodeId candidate = observer ? 0 : config.my_id;
  return Vote{candidate, logged, hard.current_epoch, round, Role::kLooking};
}

void Replica::State::start_election() {
  role = Role::kLooking;
  leader = 0;
  phase = LearnerPhase::kDiscovery;
  ++round;
  vote = initial_vote();
  received.clear();
  out_of_election.clear();
  finalize_tick.reset();
  if (!observer) received[config.my_id] = vote;
  broadcast_vote();
  check_looking_quorum();
}

void Replica::State::broadcast_vote() {
  vote_heard_tick = now;
  resend_ticks = config.election_resend_ticks;
  for (NodeId voter : config.voters) {
    if (voter != config.my_id) reply_vote(voter);
  }
}

void Replica::State::reply_vote(NodeId to) {
  send(Message{.type = MessageType::kVote, .to = to, .state = role, .leader = vote.leader,
               .round = round, .epoch = vote.epoch, .zxid = vote.zxid});
}

void Replica::State::on_vote(const Message& message) {
  Vote theirs{message.leader, message.zxid, message.epoch, message.round, message.state};
  if (role != Role::kLooking) {
    if (message.state == Role::kLooking) reply_vote(message.from);
    // A learner whose leader is looking again (in a later round: votes get reordered) has lost
    // it: no need to wait for the timeout.
    if (message.from == leader && message.state == Role::kLooking && message.round > round) {
      go_looking();
    }
    return;
  }
  if (!is_voter(message.from)) {
    if (message.state == Role::kLooking) reply_vote(message.from);  // an observer asking who leads
    return;
  }
  vote_heard_tick = now;  // silence from voters is what makes me resend
  if (message.state == Role::kLooking) {
    if (!observer && is_voter(theirs.leader)) on_looking_vote(message.from, theirs);
  } else if (message.state != Role::kObserving) {
    on_settled_vote(message.from, theirs);
  }
}

void Replica::State::on_looking_vote(NodeId from, const Vote& theirs) {
  if (theirs.round > round) {
    round = theirs.round;
    received.clear();
    Vote mine = initial_vote();
    vote = beats(theirs, mine) ? theirs : mine;
    vote.round = round;
    received[config.my_id] = vote;
    broadcast_vote();
  } else if (theirs.round < round) {
    reply_vote(from);
    return;
  } else if (beats(theirs, vote)) {
    vote = Vote{theirs.leader, theirs.zxid, theirs.epoch, round, Role::kLooking};
    received[config.my_id] = vote;
    broadcast_vote();
  }
  received[from] = theirs;
  check_looking_quorum();
}

// A quorum agrees with my vote: wait election_finalize_ticks for a better vote (FLE's
// finalizeWait), unless every voter already agrees.
void Replica::State::check_looking_quorum() {
  if (observer) return;
  size_t agreeing = 0;
  for (const auto& [id, theirs] : received) agreeing += same_proposal(theirs, vote) ? 1 : 0;
  if (agreeing < quorum) {
    finalize_tick.reset();
  } else if (agreeing == config.voters.size() || config.election_finalize_ticks <= 0) {
    decide(vote.leader);
  } else if (!finalize_tick) {
    finalize_tick = now + config.election_finalize_ticks;
  }
}

void Replica::State::on_settled_vote(NodeId from, const Vote& theirs) {
  if (!observer && theirs.round == round) {
    received[from] = theirs;
    if (agrees(received, theirs.leader) && leader_confirmed(received, theirs)) {
      decide(theirs.leader);
      return;
    }
  }
  out_of_election[from] = theirs;
  if (agrees(out_of_election, theirs.leader) && leader_confirmed(out_of_election, theirs)) {
    round = theirs.round;
    decide(theirs.leader);
  }
}

bool Replica::State::agrees(const std::map<NodeId, Vote>& votes, NodeId candidate) const {
  size_t count = 0;
  for (const auto& [id, theirs] : votes) count += theirs.leader == candidate ? 1 : 0;
  return count >= quorum;
}

// FLE's checkLeader: follow a leader only if it says it leads (or it is me, in the same round).
bool Replica::State::leader_confirmed(const std::map<NodeId, Vote>& votes, const Vote& theirs) const {
  if (theirs.leader == config.my_id) return theirs.round == round && !observer;
  auto it = votes.find(theirs.leader);
  return it != votes.end() && it->second.state == Role::kLeading;
}

void Replica::State::decide(NodeId chosen) {
  finalize_tick.reset();
  received.clear();
  out_of_election.clear();
  leader = chosen;
  vote.leader = chosen;
  if (chosen == config.my_id) {
    become_leader();
  } else {
    become_learner();
  }
}

void Replica::State::election_tick() {
  if (finalize_tick && now >= *finalize_tick) {
    decide(vote.leader);
  } else if (now - vote_heard_tick >= static_cast<uint64_t>(resend_ticks)) {
    int backoff = resend_ticks * 2;
    broadcast_vote();
    resend_ticks = std::min(backoff, config.election_resend_ticks * 8);
  }
}

}  // namespace quorumfs::consensus
