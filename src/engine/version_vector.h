// Version vectors over the wire type syncr::wire::VersionVector: node name ->
// counter, kept sorted by node with no zero entries so that equal vectors
// serialise to equal bytes. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include "net/proto/syncr.pb.h"

namespace syncr {

using wire::VersionVector;

enum class Order {
  kEqual,       ///< the same history
  kNewer,       ///< a has seen everything b has, and more
  kOlder,       ///< b has seen everything a has, and more
  kConcurrent,  ///< each has changes the other has not seen: a conflict
};

uint64_t Counter(const VersionVector& vv, const std::string& node);
void SetCounter(VersionVector* vv, const std::string& node, uint64_t counter);
/// vv[node] += 1: what a local real change does.
void Bump(VersionVector* vv, const std::string& node);
/// Pointwise maximum.
VersionVector Merge(const VersionVector& a, const VersionVector& b);
Order Compare(const VersionVector& a, const VersionVector& b);
/// True when `have` already contains everything in `want` (equal or newer).
bool Covers(const VersionVector& have, const VersionVector& want);
/// "a:3,b:1" for logs and tables.
std::string ToString(const VersionVector& vv);

}  // namespace syncr
