// soci-routing: the routing table (see route.h). Every rule is a row of tests/routing/test-route.cpp.

#include "route.h"

namespace soci_routing
{

route_decision route(classification const& c, route_state const& s) noexcept
{
    // A write, an unknown statement, a locking read, transaction control, session state... anything that is
    // not a known-safe read goes to the primary. Checked first: no guard, scope or configuration can send a
    // write to a replica.
    if (c.where != target::replica || c.kind != statement_kind::read)
        return {route_target::primary, to_string(c.why)};

    // Blobs and rowids are objects of the primary's driver session (large objects live in its transaction).
    if (s.primary_only_exchange)
        return {route_target::primary, "large_object"};

    // soci::procedure calls a function: it may write whatever its text looks like.
    if (s.procedure)
        return {route_target::primary, "procedure"};

    // Inside a transaction every statement runs on the primary, where the transaction is.
    if (s.in_transaction)
        return {route_target::primary, "transaction"};

    // A session-state statement (SET, temporary table, LISTEN, ...) ran: only the primary has that state.
    if (s.pinned)
        return {route_target::primary, "pinned"};

    // use_primary guard: the application wants fresh data for this block.
    if (s.forced_primary)
        return {route_target::primary, "forced_primary"};

    // Read-your-writes: the scope wrote less than `sticky` seconds ago, and no use_replica guard accepts
    // staleness.
    if (s.within_window && !s.forced_replica)
        return {route_target::primary, "sticky"};

    // The replica chosen for this read failed it (connect, timeout, standby conflict): once on the primary.
    if (s.replica_failed)
        return s.fallback ? route_decision{route_target::primary, "fallback"}
                          : route_decision{route_target::none, "replica_failed"};

    // No replica configured, or every replica quarantined / lagging.
    if (s.replica_unavailable)
        return s.fallback ? route_decision{route_target::primary, "no_replica"}
                          : route_decision{route_target::none, "no_replica"};

    // A known-safe read: a replica, chosen by the balancing policy.
    if (s.within_window)
        return {route_target::replica, "use_replica"};
    return {route_target::replica, to_string(c.why)};
}

char const* to_string(route_target t) noexcept
{
    switch (t)
    {
    case route_target::primary: return "primary";
    case route_target::replica: return "replica";
    case route_target::none: return "none";
    }
    return "none";
}

} // namespace soci_routing
