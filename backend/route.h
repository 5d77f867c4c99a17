// soci-routing: the one decision point.
//
// route() holds every rule of where a statement goes. The statement proxy gathers the facts (the cached
// classification and the session's state) and asks it at every execute (a one-time statement's execution, and
// a prepared read's next execution on a replica, keep the last answer while those facts have not changed);
// balancing among replicas is the pools' job once route() has said "a replica".

#ifndef SOCI_ROUTING_ROUTE_H_INCLUDED
#define SOCI_ROUTING_ROUTE_H_INCLUDED

#include "classifier.h"

#include <cstdint>

namespace soci_routing
{

/// Where route() sends a statement.
enum class route_target : std::uint8_t
{
    primary,
    replica,
    none  ///< a replica was required and none could serve, and `fallback` is off: an error
};

/// The facts route() decides on, besides the statement's classification.
struct route_state
{
    bool in_transaction = false;       ///< begin(), soci::transaction, or a raw BEGIN until COMMIT/ROLLBACK
    bool pinned = false;               ///< a session-state statement ran in this session
    bool forced_primary = false;       ///< a use_primary guard is alive
    bool forced_replica = false;       ///< a use_replica guard is alive
    bool within_window = false;        ///< the scope wrote less than `sticky` seconds ago
    bool primary_only_exchange = false;///< the statement exchanges a blob or a rowid (primary objects)
    bool procedure = false;            ///< soci::procedure: a function call that may write
    bool replica_unavailable = false;  ///< no replica is configured or usable
    bool replica_failed = false;       ///< the chosen replica failed this read (connect or transient error)
    bool fallback = true;              ///< `[routing] fallback`
};

/// The decision, with a stable reason name for logs, stats and tests.
struct route_decision
{
    route_target target = route_target::primary;
    char const* reason = "unknown";
};

/// Decides where a statement goes. Pure: no I/O, no allocation.
route_decision route(classification const& c, route_state const& s) noexcept;

char const* to_string(route_target t) noexcept;

} // namespace soci_routing

#endif // SOCI_ROUTING_ROUTE_H_INCLUDED
