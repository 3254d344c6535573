#include "engine/version_vector.h"

#include <algorithm>
#include <map>

namespace syncr {
namespace {

std::map<std::string, uint64_t> ToMap(const VersionVector& vv) {
  std::map<std::string, uint64_t> m;
  for (const auto& e : vv.entries()) m[e.node()] = std::max(m[e.node()], e.counter());
  return m;
}

VersionVector FromMap(const std::map<std::string, uint64_t>& m) {
  VersionVector vv;
  for (const auto& [node, counter] : m) {
    if (counter == 0) continue;
    auto* e = vv.add_entries();
    e->set_node(node);
    e->set_counter(counter);
  }
  return vv;
}

}  // namespace

// Vectors from the wire may repeat a node: every function here reads a
// repeated node as its largest counter, so they agree with each other.
uint64_t Counter(const VersionVector& vv, const std::string& node) {
  uint64_t counter = 0;
  for (const auto& e : vv.entries()) {
    if (e.node() == node) counter = std::max(counter, e.counter());
  }
  return counter;
}

void SetCounter(VersionVector* vv, const std::string& node, uint64_t counter) {
  auto m = ToMap(*vv);
  m[node] = counter;
  *vv = FromMap(m);
}

void Bump(VersionVector* vv, const std::string& node) {
  SetCounter(vv, node, Counter(*vv, node) + 1);
}

VersionVector Merge(const VersionVector& a, const VersionVector& b) {
  auto m = ToMap(a);
  for (const auto& [node, counter] : ToMap(b)) m[node] = std::max(m[node], counter);
  return FromMap(m);
}

Order Compare(const VersionVector& a, const VersionVector& b) {
  auto ma = ToMap(a);
  auto mb = ToMap(b);
  bool a_ahead = false;
  bool b_ahead = false;
  for (const auto& [node, ca] : ma) {
    uint64_t cb = mb.count(node) ? mb[node] : 0;
    if (ca > cb) a_ahead = true;
    if (cb > ca) b_ahead = true;
  }
  for (const auto& [node, cb] : mb) {
    if (!ma.count(node) && cb > 0) b_ahead = true;
  }
  if (a_ahead && b_ahead) return Order::kConcurrent;
  if (a_ahead) return Order::kNewer;
  if (b_ahead) return Order::kOlder;
  return Order::kEqual;
}

bool Covers(const VersionVector& have, const VersionVector& want) {
  Order o = Compare(have, want);
  return o == Order::kEqual || o == Order::kNewer;
}

std::string ToString(const VersionVector& vv) {
  std::string out;
  for (const auto& e : vv.entries()) {
    if (!out.empty()) out += ",";
    out += e.node() + ":" + std::to_string(e.counter());
  }
  return out.empty() ? "-" : out;
}

}  // namespace syncr
