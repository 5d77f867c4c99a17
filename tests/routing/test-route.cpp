// The routing table: every rule of route() as a data row (no server). A failing row reports its line.

#define BOOST_TEST_MODULE routing_rules
#include <boost/test/unit_test.hpp>
#include <boost/test/data/test_case.hpp>

#include "route.h"

#include <cstring>
#include <ostream>
#include <string>

using namespace soci_routing;

namespace
{

enum flag : unsigned
{
    none = 0,
    tx = 1u << 0,         // in a transaction
    pin = 1u << 1,        // pinned session
    fprim = 1u << 2,      // use_primary guard
    frep = 1u << 3,       // use_replica guard
    window = 1u << 4,     // inside the read-after-write window
    lob = 1u << 5,        // exchanges a blob / rowid
    proc = 1u << 6,       // soci::procedure
    norep = 1u << 7,      // no replica usable
    repfail = 1u << 8,    // the chosen replica failed
    nofallback = 1u << 9, // fallback = false
    all_flags = (1u << 10) - 1
};

route_state state_of(unsigned f)
{
    route_state s;
    s.in_transaction = f & tx;
    s.pinned = f & pin;
    s.forced_primary = f & fprim;
    s.forced_replica = f & frep;
    s.within_window = f & window;
    s.primary_only_exchange = f & lob;
    s.procedure = f & proc;
    s.replica_unavailable = f & norep;
    s.replica_failed = f & repfail;
    s.fallback = !(f & nofallback);
    return s;
}

classification read_of(reason why)
{
    classification c;
    c.where = target::replica;
    c.kind = statement_kind::read;
    c.why = why;
    return c;
}

classification primary_of(statement_kind kind, reason why)
{
    classification c;
    c.where = target::primary;
    c.kind = kind;
    c.why = why;
    c.is_write = kind == statement_kind::write;
    return c;
}

struct rule
{
    int line;
    char const* situation;
    classification c;
    unsigned flags;
    route_target target;
    char const* reason;
};

std::ostream& operator<<(std::ostream& os, rule const& r)
{
    return os << "line " << r.line << ": " << r.situation;
}

classification const select_ = read_of(reason::select);
classification const write_ = primary_of(statement_kind::write, reason::write);

rule const rules[] = {
    // known-safe reads
    {__LINE__, "a plain select goes to a replica", select_, none, route_target::replica, "select"},
    {__LINE__, "show goes to a replica", read_of(reason::show), none, route_target::replica, "show"},
    {__LINE__, "explain goes to a replica", read_of(reason::explain), none, route_target::replica, "explain"},
    {__LINE__, "a read-only CTE goes to a replica", read_of(reason::cte_read), none, route_target::replica,
     "cte_read"},
    // never a replica
    {__LINE__, "a write goes to the primary", write_, none, route_target::primary, "write"},
    {__LINE__, "an unknown statement goes to the primary", primary_of(statement_kind::unknown, reason::unknown),
     none, route_target::primary, "unknown"},
    {__LINE__, "a locking read goes to the primary", primary_of(statement_kind::read, reason::locking_read), none,
     route_target::primary, "locking_read"},
    {__LINE__, "a data-modifying CTE goes to the primary", primary_of(statement_kind::write, reason::cte_write),
     none, route_target::primary, "cte_write"},
    {__LINE__, "transaction control goes to the primary",
     primary_of(statement_kind::transaction_control, reason::transaction_control), none, route_target::primary,
     "transaction_control"},
    {__LINE__, "session state goes to the primary",
     primary_of(statement_kind::session_state, reason::session_state), none, route_target::primary,
     "session_state"},
    {__LINE__, "a write under use_replica still goes to the primary", write_, frep, route_target::primary,
     "write"},
    {__LINE__, "a write with no replica and fallback off still goes to the primary", write_,
     norep | nofallback, route_target::primary, "write"},
    {__LINE__, "a locking read under use_replica goes to the primary",
     primary_of(statement_kind::read, reason::locking_read), frep, route_target::primary, "locking_read"},
    {__LINE__, "a read the classifier sent to the primary is not a replica read",
     primary_of(statement_kind::read, reason::hint), frep, route_target::primary, "hint"},
    // state of the session and the scope
    {__LINE__, "a read exchanging a blob goes to the primary", select_, lob, route_target::primary,
     "large_object"},
    {__LINE__, "a procedure call goes to the primary", select_, proc, route_target::primary, "procedure"},
    {__LINE__, "a read inside a transaction goes to the primary", select_, tx, route_target::primary,
     "transaction"},
    {__LINE__, "use_replica does not move a read out of a transaction", select_, tx | frep,
     route_target::primary, "transaction"},
    {__LINE__, "a read of a pinned session goes to the primary", select_, pin, route_target::primary, "pinned"},
    {__LINE__, "use_replica does not unpin a session", select_, pin | frep, route_target::primary, "pinned"},
    {__LINE__, "use_primary forces a read to the primary", select_, fprim, route_target::primary,
     "forced_primary"},
    {__LINE__, "use_primary wins over use_replica", select_, fprim | frep, route_target::primary,
     "forced_primary"},
    {__LINE__, "a read inside the window goes to the primary", select_, window, route_target::primary, "sticky"},
    {__LINE__, "use_replica lets a read through the window", select_, window | frep, route_target::replica,
     "use_replica"},
    {__LINE__, "use_replica outside the window changes nothing", select_, frep, route_target::replica, "select"},
    // no replica / replica failure
    {__LINE__, "no usable replica: the primary, with fallback", select_, norep, route_target::primary,
     "no_replica"},
    {__LINE__, "no usable replica and fallback off: an error", select_, norep | nofallback, route_target::none,
     "no_replica"},
    {__LINE__, "a failed replica read is retried on the primary", select_, repfail, route_target::primary,
     "fallback"},
    {__LINE__, "a failed replica read with fallback off: an error", select_, repfail | nofallback,
     route_target::none, "replica_failed"},
    {__LINE__, "a transaction read never needs a replica", select_, tx | norep | nofallback,
     route_target::primary, "transaction"},
};

} // namespace

BOOST_DATA_TEST_CASE(routing_table_rule, boost::unit_test::data::make(rules), r)
{
    route_decision const d = route(r.c, state_of(r.flags));
    BOOST_TEST(to_string(d.target) == to_string(r.target));
    BOOST_TEST(std::string(d.reason) == std::string(r.reason));
}

BOOST_AUTO_TEST_CASE(a_write_is_never_sent_to_a_replica_whatever_the_state)
{
    classification const writes[] = {
        write_,
        primary_of(statement_kind::write, reason::cte_write),
        primary_of(statement_kind::write, reason::select_into),
        primary_of(statement_kind::write, reason::side_effect_function),
        primary_of(statement_kind::unknown, reason::unknown),
        primary_of(statement_kind::read, reason::locking_read),
        primary_of(statement_kind::transaction_control, reason::transaction_control),
        primary_of(statement_kind::session_state, reason::session_state),
        // Inconsistent input must not leak to a replica either: a write kind that says "replica".
        [] { classification c = read_of(reason::select); c.kind = statement_kind::write; return c; }(),
    };
    for (classification const& c : writes)
    {
        for (unsigned f = 0; f <= all_flags; ++f)
        {
            route_decision const d = route(c, state_of(f));
            BOOST_TEST_INFO("reason " << to_string(c.why) << ", flags " << f);
            BOOST_TEST(to_string(d.target) == "primary");
        }
    }
}

BOOST_AUTO_TEST_CASE(classified_sql_routes_by_the_table)
{
    struct row { char const* sql; dialect d; char const* target; };
    row const rows[] = {
        {"SELECT 1", dialect::postgresql, "replica"},
        {"SELECT * FROM t FOR UPDATE", dialect::postgresql, "primary"},
        {"INSERT INTO t VALUES (1)", dialect::postgresql, "primary"},
        {"WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x", dialect::postgresql, "primary"},
        {"BEGIN", dialect::postgresql, "primary"},
        {"SET search_path = x", dialect::postgresql, "primary"},
        {"SELECT @@port", dialect::mysql, "replica"},
        {"SELECT * FROM t LOCK IN SHARE MODE", dialect::mysql, "primary"},
    };
    for (row const& r : rows)
    {
        BOOST_TEST_INFO(r.sql);
        BOOST_TEST(to_string(route(classify(r.sql, r.d), route_state{}).target) == std::string(r.target));
    }
}
