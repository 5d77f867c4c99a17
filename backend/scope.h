// soci-routing: what the backend reads and writes inside a routing_scope (the public class keeps its state
// private): the causal positions of consistency = "causal", per cluster.

#ifndef SOCI_ROUTING_SCOPE_H_INCLUDED
#define SOCI_ROUTING_SCOPE_H_INCLUDED

#include "causal.h"

#include <soci/routing/soci-routing.h>

#include <cstdint>

namespace soci_routing
{

/// What a read of a scope needs on one cluster.
struct causal_need
{
    causal_position position;  ///< the merged position of the scope's writes and required tokens
    std::uint64_t writes = 0;  ///< the scope's write counter when this was read
    bool pending = false;      ///< writes committed since the position was last read from the primary
    std::uint64_t version = 0; ///< changes whenever the scope's state for the cluster changes
    bool copied = false;       ///< `position` was filled (the caller's version was another)
};

/// The backend's access to a scope's causal state. `cluster` is any address that stands for one cluster
/// (positions of different clusters never mix). Thread-safe.
struct scope_access
{
    /// A write committed on `cluster`: until the primary's position is read again, the scope's position is
    /// pending.
    static void note_write(soci::routing_scope& s, void const* cluster) noexcept;
    /// A write committed on `cluster` at position `p` (reported with the commit): merged in; nothing pending
    /// unless earlier writes were.
    static void note_write_at(soci::routing_scope& s, void const* cluster, causal_position const& p) noexcept;
    /// False (fast, no lock) when the scope requires nothing of `cluster`; else fills `out`, copying the
    /// position only when the state's version is not `known` (a caller's cached copy is then still good).
    static bool need(soci::routing_scope const& s, void const* cluster, causal_need& out, std::uint64_t known = 0);
    /// A number no other scope of the process has had.
    static std::uint64_t id(soci::routing_scope const& s) noexcept;
    /// The scope's last write (window mode), as a number that changes with every write; 0: none yet.
    static std::int64_t last_write(soci::routing_scope const& s) noexcept;
    /// The primary's position `p` was read after the scope's write counter was `writes`: merged in, and the
    /// writes up to `writes` are no longer pending.
    static void settle(soci::routing_scope& s, void const* cluster, causal_position const& p, std::uint64_t writes);
    /// The scope's position belongs to another history than the primary's (a promotion): replaced by `p`, the
    /// primary's position now (which covers everything of the old history that the new primary has).
    static void replace(soci::routing_scope& s, void const* cluster, causal_position const& p, std::uint64_t writes);
    /// A token's position: merged in (routing.require()).
    static void require(soci::routing_scope& s, void const* cluster, causal_position const& p);
};

} // namespace soci_routing

#endif // SOCI_ROUTING_SCOPE_H_INCLUDED
