// Integration tests of the routing backend against the real clusters (ci/clusters): every rule of the routing
// table and every SOCI feature, asserted by where the statement actually ran. Reads return the port of the
// server that ran them; writes succeed only on the primary (standbys refuse them), so a misrouted write fails.

#define BOOST_TEST_MODULE routing_integration
#include <boost/test/unit_test.hpp>

#include "routing-fixture.h"

#include <soci/routing/soci-routing.h>
#include <soci/routing/testing.h>
#include <soci/callbacks.h>
#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace routing_test;
namespace utf = boost::unit_test;

int port_of_primary_cache();

namespace
{

/// A write that reports where it ran: on PostgreSQL the INSERT itself returns the server's port.
int insert_row(soci::session& sql, std::string const& table, int id, int v = 0)
{
    if (is_pg())
    {
        int port = 0;
        sql << "insert into " + table + " (id, v) values (:id, :v) returning inet_server_port()", soci::use(id),
            soci::use(v), soci::into(port);
        return port;
    }
    sql << "insert into " + table + " (id, v) values (:id, :v)", soci::use(id), soci::use(v);
    return soci::routing.last_endpoint(sql) == "primary" ? port_of_primary_cache() : -1;
}

/// An integer column of a row, whatever integer type the driver described it as.
long long as_integer(soci::row const& r, std::size_t i)
{
    switch (r.get_properties(i).get_data_type())
    {
    case soci::dt_integer: return r.get<int>(i);
    case soci::dt_long_long: return r.get<long long>(i);
    case soci::dt_unsigned_long_long: return static_cast<long long>(r.get<unsigned long long>(i));
    case soci::dt_double: return static_cast<long long>(r.get<double>(i));
    default: return std::stoll(r.get<std::string>(i));
    }
}

} // namespace

/// An ORM-mapped type: soci::values through the routing proxies (named binds, row describe).
struct person
{
    int id = 0;
    std::string name;
};

namespace soci
{
template <>
struct type_conversion<person>
{
    typedef values base_type;
    static void from_base(values const& v, indicator, person& p)
    {
        p.id = v.get<int>("id");
        p.name = v.get<std::string>("s", std::string());
    }
    static void to_base(person const& p, values& v, indicator& ind)
    {
        v.set("id", p.id);
        v.set("s", p.name);
        ind = i_ok;
    }
};
} // namespace soci

/// A value whose conversion for a use element writes a row through a session first: application code that
/// runs between a one-time statement's prepare and its execution (SOCI converts use elements at execute).
struct writes_when_used
{
    soci::session* sql = nullptr;
    std::string table;
    int value = 1;
};

namespace soci
{
template <>
struct type_conversion<writes_when_used>
{
    typedef int base_type;
    static void from_base(int, indicator, writes_when_used&) {}
    static void to_base(writes_when_used const& w, int& v, indicator& ind)
    {
        if (w.sql != nullptr)
            insert_row(*w.sql, w.table, 1, 0);
        v = w.value;
        ind = i_ok;
    }
};
} // namespace soci

// insert_row() needs the primary's port on MySQL; defined after the fixture type below.
struct routing_fixture
{
    routing_fixture() : sql(soci::routing, routing_cs()) {}
    servers srv;
    soci::session sql;
};

int port_of_primary_cache()
{
    static int const port = [] { servers s; return s.primary_port; }();
    return port;
}

BOOST_FIXTURE_TEST_SUITE(routing, routing_fixture)

// ---- the session ------------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(backend_name_is_the_primary_driver_and_the_session_is_routed)
{
    BOOST_TEST(sql.get_backend_name() == profile().driver);
    BOOST_TEST(soci::routing.is_routed(sql));
    BOOST_TEST(!soci::routing.is_routed(srv.primary));
    BOOST_CHECK_THROW(soci::routing.last_endpoint(srv.primary), soci::soci_error);
    BOOST_TEST(soci::routing.last_endpoint(sql).empty());
}

BOOST_AUTO_TEST_CASE(all_connect_string_forms_open_a_routing_session)
{
    soci::session by_url("routing://" + routing_cs());
    soci::session by_name("routing", routing_cs());
    soci::session by_factory(soci::routing, routing_cs());
    soci::session opened_later;
    opened_later.open("routing://" + routing_cs());
    for (soci::session* s : {&by_url, &by_name, &by_factory, &opened_later})
    {
        BOOST_TEST(soci::routing.is_routed(*s));
        BOOST_TEST(srv.is_replica_port(port_of(*s)));
    }
}

BOOST_AUTO_TEST_CASE(unreachable_primary_fails_open_naming_the_endpoint_without_password)
{
    std::string const secret = "s3cret-never-shown";
    std::string const cs = routing_cs("primary='host=127.0.0.1 port=1 dbname=routing user=routing password=" +
                                      secret + "'");
    try
    {
        soci::session bad(soci::routing, cs);
        BOOST_FAIL("open succeeded against a closed port");
    }
    catch (soci::soci_error const& e)
    {
        std::string const what = e.what();
        BOOST_TEST_MESSAGE("open failed with: " << what);
        BOOST_TEST(what.find("primary") != std::string::npos);
        BOOST_TEST(what.find("127.0.0.1:1") != std::string::npos);
        BOOST_TEST(what.find(secret) == std::string::npos);
    }
}

// ---- the routing table, on the live cluster ------------------------------------------------------------

BOOST_AUTO_TEST_CASE(plain_read_runs_on_a_replica)
{
    int const port = port_of(sql);
    BOOST_TEST(srv.is_replica_port(port), "the read ran on port " << port);
    SOCI_ROUTING_CHECK_LAST_RAN_ON(sql, "replica");
    BOOST_TEST(soci::routing.last_reason(sql) == "select");
}

BOOST_AUTO_TEST_CASE(with_rebalance_0_reads_spread_over_every_replica)
{
    soci::session s(soci::routing, routing_cs("sticky=0 rebalance=0"));
    std::set<int> seen;
    for (int i = 0; i != 12; ++i)
        seen.insert(port_of(s));
    BOOST_TEST(seen == srv.replica_ports, "reads ran on " << seen.size() << " distinct servers");
}

BOOST_AUTO_TEST_CASE(a_session_reads_from_one_replica_until_rebalance_runs_out)
{
    soci::session s(soci::routing, routing_cs("sticky=0 rebalance=0.5"));
    std::set<int> first;
    for (int i = 0; i != 12; ++i)
        first.insert(port_of(s));
    BOOST_TEST(first.size() == 1u, "reads within rebalance ran on " << first.size() << " servers");
    if (srv.replica_ports.size() < 2)
        return;  // MariaDB's test cluster has one replica: nothing to move to
    // Round robin gives the session the next replica once its time is up.
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
    std::set<int> second;
    for (int i = 0; i != 12; ++i)
        second.insert(port_of(s));
    BOOST_TEST(second.size() == 1u);
    BOOST_TEST(second != first, "the session kept replica port " << *first.begin() << " past rebalance");
}

BOOST_AUTO_TEST_CASE(sessions_spread_over_every_replica)
{
    // Each session's replica comes from `balance`: round robin gives the sessions every replica in turn.
    std::vector<std::unique_ptr<soci::session>> sessions;
    std::set<int> seen;
    for (std::size_t i = 0; i != 2 * srv.replica_ports.size(); ++i)
    {
        sessions.push_back(std::make_unique<soci::session>(soci::routing, routing_cs("sticky=0 rebalance=3600")));
        seen.insert(port_of(*sessions.back()));
    }
    BOOST_TEST(seen == srv.replica_ports, "sessions read from " << seen.size() << " distinct servers");
}

BOOST_AUTO_TEST_CASE(a_session_whose_replica_cannot_be_reached_reads_from_another_and_keeps_it)
{
    // The unreachable replica first: a new cluster's round robin gives it to the session's first read.
    std::string replicas = "replica='host=127.0.0.1 port=1 name=dead timeout=1'";
    for (int port : srv.replica_ports)
        replicas += " replica='host=127.0.0.1 port=" + std::to_string(port) + "'";
    soci::session s(soci::routing, routing_cs("sticky=0 rebalance=3600 " + replicas));
    std::set<int> seen;
    for (int i = 0; i != 2 * static_cast<int>(srv.replica_ports.size()) + 4; ++i)
    {
        int const port = port_of(s);
        BOOST_TEST(srv.is_replica_port(port), "read " << i << " ran on port " << port);
        seen.insert(port);
    }
    BOOST_TEST(seen.size() == 1u, "the session's reads moved between " << seen.size() << " replicas");
}

BOOST_AUTO_TEST_CASE(insert_runs_on_the_primary)
{
    scratch_table t(srv, "insert");
    int const port = insert_row(sql, t.name, 1);
    BOOST_TEST(port == srv.primary_port);
    SOCI_ROUTING_CHECK_LAST_RAN_ON(sql, "primary");
    BOOST_TEST(soci::routing.last_reason(sql) == "write");
    SOCI_ROUTING_CHECK_RAN_ON(sql, "primary", sql << "update " + t.name + " set v = 2 where id = 1");
    SOCI_ROUTING_CHECK_RAN_ON(sql, "primary", sql << "delete from " + t.name + " where id = 1");
}

BOOST_AUTO_TEST_CASE(read_your_write_inside_the_window_then_replica_after_it)
{
    scratch_table t(srv, "ryw");
    soci::session s(soci::routing, routing_cs("sticky=1.0"));
    BOOST_TEST(srv.is_replica_port(port_of(s)));
    BOOST_TEST(insert_row(s, t.name, 1) == srv.primary_port);

    // Inside the window the new row is visible: the read ran on the primary.
    int n = 0;
    s << "select count(*) from " + t.name, soci::into(n);
    BOOST_TEST(n == 1);
    BOOST_TEST(port_of(s) == srv.primary_port);
    BOOST_TEST(soci::routing.last_reason(s) == "sticky");

    sleep_seconds(1.2);
    BOOST_TEST(srv.is_replica_port(port_of(s)));
    BOOST_TEST(soci::routing.last_reason(s) == "select");
}

BOOST_AUTO_TEST_CASE(prepared_read_is_rerouted_by_a_write_between_two_executes_and_back)
{
    scratch_table t(srv, "reroute");
    soci::session s(soci::routing, routing_cs("sticky=1.0"));
    int port = 0;
    soci::statement st = (s.prepare << profile().port_query, soci::into(port));
    st.execute(true);
    BOOST_TEST(srv.is_replica_port(port));

    BOOST_TEST(insert_row(s, t.name, 1) == srv.primary_port);
    port = 0;
    st.execute(true);
    BOOST_TEST(port == srv.primary_port);
    BOOST_TEST(soci::routing.last_reason(s) == "sticky");

    sleep_seconds(1.2);
    port = 0;
    st.execute(true);
    BOOST_TEST(srv.is_replica_port(port));
}

BOOST_AUTO_TEST_CASE(a_write_made_between_a_one_time_reads_prepare_and_its_execution_sends_the_read_to_the_primary)
{
    // SOCI runs a one-time statement's prepare and execution back to back, but converts its use elements in
    // between: a conversion that writes through the session makes the read one of read-your-writes.
    scratch_table t(srv, "between");
    soci::session s(soci::routing, routing_cs("sticky=30"));
    BOOST_TEST(srv.is_replica_port(port_of(s)));
    writes_when_used w;
    w.sql = &s;
    w.table = t.name;
    int port = 0;
    s << (is_pg() ? "select inet_server_port() where 1 = :x" : "select @@port from dual where 1 = :x"), soci::use(w),
        soci::into(port);
    BOOST_TEST(port == srv.primary_port);
    BOOST_TEST(soci::routing.last_reason(s) == "sticky");

    // The same without a write: the read stays on its replica.
    soci::session fresh(soci::routing, routing_cs("sticky=30"));
    writes_when_used quiet;
    port = 0;
    fresh << (is_pg() ? "select inet_server_port() where 1 = :x" : "select @@port from dual where 1 = :x"),
        soci::use(quiet), soci::into(port);
    BOOST_TEST(srv.is_replica_port(port));
}

BOOST_AUTO_TEST_CASE(a_prepared_read_on_a_replica_is_decided_again_after_a_scopes_write_a_guard_or_a_transaction)
{
    // Between two executions of a prepared read, whatever the application does that the route depends on is
    // seen by the next execution, though no statement of the session ran in between.
    scratch_table t(srv, "prepagain");
    soci::session writer(soci::routing, routing_cs("sticky=30"));
    soci::session s(soci::routing, routing_cs("sticky=30"));
    auto scope = std::make_shared<soci::routing_scope>();
    soci::routing.set_scope(writer, scope);
    soci::routing.set_scope(s, scope);
    int port = 0;
    soci::statement st = (s.prepare << profile().port_query, soci::into(port));
    auto const run = [&] {
        port = 0;
        st.execute(true);
        return port;
    };
    BOOST_TEST(srv.is_replica_port(run()));
    BOOST_TEST(srv.is_replica_port(run()));

    // Another session's write in the shared scope.
    BOOST_TEST(insert_row(writer, t.name, 1) == srv.primary_port);
    BOOST_TEST(run() == srv.primary_port);
    BOOST_TEST(soci::routing.last_reason(s) == "sticky");
    scope->reset();
    BOOST_TEST(srv.is_replica_port(run()));
    BOOST_TEST(srv.is_replica_port(run()));

    // A use_primary guard, then its end.
    {
        auto guard = soci::routing.use_primary(s);
        BOOST_TEST(run() == srv.primary_port);
        BOOST_TEST(soci::routing.last_reason(s) == "forced_primary");
    }
    BOOST_TEST(srv.is_replica_port(run()));
    BOOST_TEST(srv.is_replica_port(run()));

    // A transaction, then its end.
    {
        soci::transaction tr(s);
        BOOST_TEST(run() == srv.primary_port);
        BOOST_TEST(soci::routing.last_reason(s) == "transaction");
        tr.commit();
    }
    BOOST_TEST(srv.is_replica_port(run()));
}

BOOST_AUTO_TEST_CASE(a_statement_moved_between_endpoints_is_counted_where_it_lands_with_its_time)
{
    soci::session s(soci::routing, routing_cs("sticky=0"));
    struct totals
    {
        std::uint64_t primary_placements = 0, primary_moves = 0, replica_placements = 0, replica_moves = 0;
        double primary_prepare = 0, replica_prepare = 0, lease = 0, replay = 0;
    };
    auto now = [&] {
        totals t;
        for (auto const& e : soci::routing.stats(s).endpoints)
        {
            bool const primary = e.role == "primary";
            (primary ? t.primary_placements : t.replica_placements) += e.placements;
            (primary ? t.primary_moves : t.replica_moves) += e.moves;
            (primary ? t.primary_prepare : t.replica_prepare) += e.placement_prepare_seconds;
            t.lease += e.placement_lease_seconds;
            t.replay += e.placement_replay_seconds;
        }
        return t;
    };
    totals const before = now();
    int port = 0;
    int x = 7;
    int y = 0;
    soci::statement st = (s.prepare << profile().port_query, soci::into(port));
    st.execute(true);
    BOOST_TEST(srv.is_replica_port(port));
    totals const placed = now();
    BOOST_TEST(placed.replica_placements - before.replica_placements == 1u);
    BOOST_TEST(placed.replica_moves - before.replica_moves == 0u);
    {
        auto guard = soci::routing.use_primary(s);
        st.execute(true);
        BOOST_TEST(port == srv.primary_port);
    }
    totals const moved = now();
    BOOST_TEST(moved.primary_placements - placed.primary_placements == 1u);
    BOOST_TEST(moved.primary_moves - placed.primary_moves == 1u);
    BOOST_TEST(moved.primary_prepare > placed.primary_prepare);
    st.execute(true);
    BOOST_TEST(srv.is_replica_port(port));
    totals const back = now();
    BOOST_TEST(back.replica_moves - moved.replica_moves == 1u);
    BOOST_TEST(back.replica_prepare > moved.replica_prepare);
    BOOST_TEST(back.lease > before.lease);
    // A statement with bindings: defined on its first placement as plain SOCI defines them (nothing replayed,
    // nothing timed); replayed, and timed, when it moves.
    soci::statement with_use = (s.prepare << "SELECT :x", soci::use(x), soci::into(y));
    with_use.execute(true);
    BOOST_TEST(y == 7);
    totals const first = now();
    BOOST_TEST(first.replay == back.replay);
    {
        auto guard = soci::routing.use_primary(s);
        x = 8;
        with_use.execute(true);
        BOOST_TEST(y == 8);
    }
    BOOST_TEST(now().replay > first.replay);
}

BOOST_AUTO_TEST_CASE(raw_begin_commit_keeps_every_statement_on_the_primary_until_commit)
{
    scratch_table t(srv, "rawtx");
    soci::session s(soci::routing, routing_cs("sticky=1.0"));
    s << "BEGIN";
    SOCI_ROUTING_CHECK_LAST_RAN_ON(s, "primary");
    BOOST_TEST(port_of(s) == srv.primary_port);
    BOOST_TEST(soci::routing.last_reason(s) == "transaction");
    BOOST_TEST(insert_row(s, t.name, 1) == srv.primary_port);
    sleep_seconds(1.2);  // past the window: only the transaction keeps reads on the primary now
    BOOST_TEST(port_of(s) == srv.primary_port);
    BOOST_TEST(soci::routing.last_reason(s) == "transaction");
    s << "COMMIT";
    // The commit restarts the window; after it, reads go back to a replica.
    BOOST_TEST(port_of(s) == srv.primary_port);
    sleep_seconds(1.2);
    BOOST_TEST(srv.is_replica_port(port_of(s)));

    int n = 0;
    srv.primary << "select count(*) from " + t.name, soci::into(n);
    BOOST_TEST(n == 1);
}

BOOST_AUTO_TEST_CASE(raw_rollback_ends_the_transaction_routing)
{
    soci::session s(soci::routing, routing_cs("sticky=0"));
    s << "START TRANSACTION";
    BOOST_TEST(port_of(s) == srv.primary_port);
    s << "ROLLBACK";
    BOOST_TEST(srv.is_replica_port(port_of(s)));
}

BOOST_AUTO_TEST_CASE(soci_transaction_keeps_statements_on_the_primary)
{
    scratch_table t(srv, "tx");
    soci::session s(soci::routing, routing_cs("sticky=0"));
    {
        soci::transaction tr(s);
        BOOST_TEST(port_of(s) == srv.primary_port);
        BOOST_TEST(soci::routing.last_reason(s) == "transaction");
        BOOST_TEST(insert_row(s, t.name, 1) == srv.primary_port);
        int n = 0;
        s << "select count(*) from " + t.name, soci::into(n);  // sees its own uncommitted row
        BOOST_TEST(n == 1);
        tr.commit();
    }
    BOOST_TEST(srv.is_replica_port(port_of(s)));
    {
        soci::transaction tr(s);
        BOOST_TEST(insert_row(s, t.name, 2) == srv.primary_port);
        // the destructor rolls back
    }
    BOOST_TEST(srv.is_replica_port(port_of(s)));
    int n = 0;
    srv.primary << "select count(*) from " + t.name, soci::into(n);
    BOOST_TEST(n == 1);
}

BOOST_AUTO_TEST_CASE(set_runs_on_the_primary_and_follows_the_session_to_the_replicas)
{
    soci::session s(soci::routing, routing_cs("sticky=0"));
    BOOST_TEST(srv.is_replica_port(port_of(s)));
    std::string const set = is_pg() ? "SET application_name = 'routing-test'" : "SET @routing_test = 'routing-test'";
    std::string const get = is_pg() ? "select current_setting('application_name')" : "select @routing_test";
    s << set;
    SOCI_ROUTING_CHECK_LAST_RAN_ON(s, "primary");
    // Not pinned: reads go to the replicas, where the setting was replayed.
    for (int i = 0; i != 3; ++i)
    {
        std::string value;
        s << get, soci::into(value);
        BOOST_TEST(soci::routing.last_endpoint(s) != "primary");
        BOOST_TEST(value == "routing-test");
    }
    // Another session does not have it.
    soci::session other(soci::routing, routing_cs("sticky=0"));
    std::string value;
    soci::indicator ind = soci::i_ok;
    other << get, soci::into(value, ind);
    BOOST_TEST(!(ind == soci::i_ok && value == "routing-test"));
}

BOOST_AUTO_TEST_CASE(use_primary_guard_forces_the_block_to_the_primary)
{
    {
        auto guard = soci::routing.use_primary(sql);
        BOOST_TEST(port_of(sql) == srv.primary_port);
        BOOST_TEST(soci::routing.last_reason(sql) == "forced_primary");
        {
            soci::routing_use_primary nested(sql);
            BOOST_TEST(port_of(sql) == srv.primary_port);
        }
        BOOST_TEST(port_of(sql) == srv.primary_port);  // the outer guard still holds
    }
    BOOST_TEST(srv.is_replica_port(port_of(sql)));
}

BOOST_AUTO_TEST_CASE(use_replica_guard_lets_reads_through_the_window_but_not_writes_locks_or_transactions)
{
    scratch_table t(srv, "usereplica");
    soci::session s(soci::routing, routing_cs("sticky=30"));
    BOOST_TEST(insert_row(s, t.name, 1) == srv.primary_port);
    BOOST_TEST(port_of(s) == srv.primary_port);  // the window
    {
        auto guard = soci::routing.use_replica(s);
        BOOST_TEST(srv.is_replica_port(port_of(s)));
        BOOST_TEST(soci::routing.last_reason(s) == "use_replica");
        // writes, locking reads and transactions are unaffected
        BOOST_TEST(insert_row(s, t.name, 2) == srv.primary_port);
        int id = 0;
        s << "select id from " + t.name + " where id = 1 for update", soci::into(id);
        SOCI_ROUTING_CHECK_LAST_RAN_ON(s, "primary");
        BOOST_TEST(id == 1);
        {
            soci::transaction tr(s);
            BOOST_TEST(port_of(s) == srv.primary_port);
            tr.commit();
        }
    }
    BOOST_TEST(port_of(s) == srv.primary_port);  // the window again
}

BOOST_AUTO_TEST_CASE(a_shared_scope_carries_the_window_across_sessions)
{
    scratch_table t(srv, "scope");
    soci::session a(soci::routing, routing_cs("sticky=30"));
    soci::session b(soci::routing, routing_cs("sticky=30"));
    soci::session c(soci::routing, routing_cs("sticky=30"));
    auto scope = std::make_shared<soci::routing_scope>();
    soci::routing.set_scope(a, scope);
    soci::routing.set_scope(b, scope);
    BOOST_TEST(soci::routing.get_scope(b) == scope);
    BOOST_TEST(soci::routing.get_scope(c) != scope);

    BOOST_TEST(srv.is_replica_port(port_of(b)));
    BOOST_TEST(insert_row(a, t.name, 1) == srv.primary_port);
    BOOST_TEST(port_of(b) == srv.primary_port);
    BOOST_TEST(soci::routing.last_reason(b) == "sticky");
    BOOST_TEST(srv.is_replica_port(port_of(c)));  // its own scope saw no write

    scope->reset();
    BOOST_TEST(srv.is_replica_port(port_of(b)));
}

BOOST_AUTO_TEST_CASE(a_shared_scope_is_usable_from_several_threads)
{
    scratch_table t(srv, "scopethreads");
    auto scope = std::make_shared<soci::routing_scope>();
    std::vector<std::thread> threads;
    for (int i = 0; i != 4; ++i)
    {
        threads.emplace_back([&, i] {
            soci::session s(soci::routing, routing_cs("sticky=30"));
            soci::routing.set_scope(s, scope);
            if (i == 0)
                insert_row(s, t.name, 1);
            for (int k = 0; k != 20; ++k)
                port_of(s);
        });
    }
    for (auto& th : threads)
        th.join();
    soci::session s(soci::routing, routing_cs("sticky=30"));
    soci::routing.set_scope(s, scope);
    BOOST_TEST(port_of(s) == srv.primary_port);
}

BOOST_AUTO_TEST_CASE(no_usable_replica_falls_back_to_the_primary)
{
    soci::session s(soci::routing, routing_cs("sticky=0 replica='host=127.0.0.1 port=1 name=dead'"));
    BOOST_TEST(port_of(s) == srv.primary_port);
    std::string const reason = soci::routing.last_reason(s);
    BOOST_TEST((reason == "fallback" || reason == "no_replica"), "reason " << reason);
}

BOOST_AUTO_TEST_CASE(no_usable_replica_with_fallback_off_is_an_error_naming_the_replica)
{
    soci::session s(soci::routing, routing_cs("sticky=0 fallback=false replica='host=127.0.0.1 port=1 name=dead'"));
    try
    {
        port_of(s);
        BOOST_FAIL("a read succeeded with its only replica down and fallback off");
    }
    catch (soci::soci_error const& e)
    {
        std::string const what = e.what();
        BOOST_TEST_MESSAGE(what);
        BOOST_TEST((what.find("dead") != std::string::npos || what.find("no_replica") != std::string::npos ||
                    what.find("No replica") != std::string::npos));
    }
    // Writes are unaffected.
    SOCI_ROUTING_CHECK_RAN_ON(s, "primary", s << "create temporary table rt_tmp_fallback (id int)");
}

// ---- the failure policy on a replica -----------------------------------------------------------------

namespace
{

/// A function that fails with `sqlstate` on a standby and returns the port on the primary: a read the
/// classifier sends to a replica, failing there only.
struct failing_on_standby
{
    failing_on_standby(servers& s, std::string const& sqlstate) : srv(s), name(table_name("fail_" + sqlstate))
    {
        srv.primary << "create or replace function " + name + "() returns integer language plpgsql as $$ begin "
                       "if pg_is_in_recovery() then raise exception 'refused on a standby (test)' using errcode = '" +
                           sqlstate + "'; end if; return inet_server_port(); end $$";
        srv.wait_replicated("select count(*) from pg_proc where proname = '" + name + "'");
    }
    ~failing_on_standby()
    {
        try
        {
            srv.primary << "drop function if exists " + name + "()";
        }
        catch (...)
        {
        }
    }
    std::string call() const { return "select " + name + "()"; }

    servers& srv;
    std::string name;
};

std::uint64_t fallbacks(soci::session& s)
{
    std::uint64_t n = 0;
    for (auto const& e : soci::routing.stats(s).endpoints)
        if (e.role == "replica")
            n += e.fallbacks;
    return n;
}

} // namespace

BOOST_AUTO_TEST_CASE(read_failing_transiently_on_a_replica_is_retried_once_on_the_primary,
                     *utf::precondition(pg_only()))
{
    failing_on_standby f(srv, "40001");  // a hot-standby conflict
    soci::session s(soci::routing, routing_cs("sticky=0"));
    std::uint64_t const before = fallbacks(s);
    int port = 0;
    s << f.call(), soci::into(port);
    BOOST_TEST(port == srv.primary_port);
    BOOST_TEST(soci::routing.last_reason(s) == "fallback");
    BOOST_TEST(fallbacks(s) == before + 1);

    // A prepared read too, at each execute.
    soci::statement st = (s.prepare << f.call(), soci::into(port));
    for (int i = 0; i != 3; ++i)
    {
        port = 0;
        st.execute(true);
        BOOST_TEST(port == srv.primary_port);
    }
    // The session is fine afterwards: plain reads go to replicas again.
    BOOST_TEST(srv.is_replica_port(port_of(s)));
}

BOOST_AUTO_TEST_CASE(read_failing_on_a_replica_with_fallback_off_reaches_the_application_naming_the_replica,
                     *utf::precondition(pg_only()))
{
    failing_on_standby f(srv, "40001");
    soci::session s(soci::routing, routing_cs("sticky=0 fallback=false"));
    int port = 0;
    try
    {
        s << f.call(), soci::into(port);
        BOOST_FAIL("the read succeeded although it fails on every standby and fallback is off");
    }
    catch (soci::postgresql_soci_error const& e)
    {
        std::string const what = e.what();
        BOOST_TEST_MESSAGE(what);
        BOOST_TEST(e.sqlstate() == "40001");
        BOOST_TEST(what.find("refused on a standby") != std::string::npos);
        BOOST_TEST(what.find("replica") != std::string::npos);
    }
}

BOOST_AUTO_TEST_CASE(statement_error_on_a_replica_is_not_retried, *utf::precondition(pg_only()))
{
    failing_on_standby f(srv, "22012");  // division by zero: the primary would give it too
    soci::session s(soci::routing, routing_cs("sticky=0"));
    std::uint64_t const before = fallbacks(s);
    int port = 0;
    try
    {
        s << f.call(), soci::into(port);
        BOOST_FAIL("the read succeeded: it was retried on the primary");
    }
    catch (soci::postgresql_soci_error const& e)
    {
        BOOST_TEST(e.sqlstate() == "22012");
    }
    BOOST_TEST(fallbacks(s) == before);
}

BOOST_AUTO_TEST_CASE(unreachable_replica_is_skipped_for_a_live_one)
{
    int const live = *srv.replica_ports.begin();
    soci::session s(soci::routing, routing_cs("sticky=0 replica='host=127.0.0.1 port=1 name=dead' "
                                              "replica='host=127.0.0.1 port=" + std::to_string(live) +
                                              " name=live'"));
    for (int i = 0; i != 4; ++i)
    {
        BOOST_TEST(port_of(s) == live);
        BOOST_TEST(soci::routing.last_endpoint(s) == "live");
    }
}

BOOST_AUTO_TEST_CASE(replica_connection_lost_between_executes_is_retried_on_the_primary,
                     *utf::precondition(pg_only()))
{
    soci::session s(soci::routing, routing_cs("sticky=0"));
    // The marker finds this statement's server process in pg_stat_activity (other suites share the cluster).
    std::string const marker = "rt-kill-" + std::to_string(::getpid());
    int port = 0;
    soci::statement st = (s.prepare << "select inet_server_port() /* " + marker + " */", soci::into(port));
    st.execute(true);
    BOOST_REQUIRE(srv.is_replica_port(port));
    std::size_t i = 0;
    for (; i != srv.replicas.size(); ++i)
        if (port_of(*srv.replicas[i]) == port)
            break;
    BOOST_REQUIRE(i < srv.replicas.size());
    int killed = 0;
    *srv.replicas[i] << "select count(pg_terminate_backend(pid))::int from pg_stat_activity "
                        "where query like '%" + marker + "%' and pid <> pg_backend_pid()",
        soci::into(killed);
    BOOST_REQUIRE(killed == 1);
    sleep_seconds(0.2);

    port = 0;
    st.execute(true);  // the replica's connection is gone: once on the primary
    BOOST_TEST(port == srv.primary_port);
    BOOST_TEST(soci::routing.last_reason(s) == "fallback");

    // The broken connection was discarded: reads go to replicas again, on fresh connections.
    port = 0;
    st.execute(true);
    BOOST_TEST(srv.is_replica_port(port));
    BOOST_TEST(srv.is_replica_port(port_of(s)));
}

namespace
{

struct counting_failover_callback : soci::failover_callback
{
    void started() override { ++started_count; }
    void failed(bool& retry, std::string&) override
    {
        ++failed_count;
        retry = false;
    }
    void aborted() override { ++aborted_count; }
    int started_count = 0;
    int failed_count = 0;
    int aborted_count = 0;
};

} // namespace

BOOST_AUTO_TEST_CASE(failover_callback_reaches_the_primary_connection_and_reconnect_recovers,
                     *utf::precondition(pg_only()))
{
    soci::session s(soci::routing, routing_cs("sticky=0"));
    counting_failover_callback cb;
    s.set_failover_callback(cb);
    std::string const marker = "rt-primary-kill-" + std::to_string(::getpid());
    int port = 0;
    {
        auto guard = soci::routing.use_primary(s);
        s << "select inet_server_port() /* " + marker + " */", soci::into(port);
    }
    BOOST_REQUIRE(port == srv.primary_port);
    int killed = 0;
    srv.primary << "select count(pg_terminate_backend(pid))::int from pg_stat_activity "
                   "where query like '%" + marker + "%' and pid <> pg_backend_pid()",
        soci::into(killed);
    BOOST_REQUIRE(killed == 1);
    sleep_seconds(0.2);

    std::string const table = table_name("failover_cb");
    BOOST_CHECK_THROW(s << "create table " + table + " (id integer)", soci::soci_error);
    BOOST_TEST(cb.started_count >= 1);  // the primary's driver saw the broken connection and told us

    s.reconnect();
    s << "create table " + table + " (id integer)";
    SOCI_ROUTING_CHECK_LAST_RAN_ON(s, "primary");
    s << "drop table " + table;
}

// ---- SOCI features through routing ----------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(once_with_into_use_and_indicators)
{
    scratch_table t(srv, "once");
    soci::session s(soci::routing, routing_cs("sticky=0"));
    int id = 1;
    std::string text = "hello";
    soci::indicator ind = soci::i_ok;
    s << "insert into " + t.name + " (id, v, s) values (:id, null, :s)", soci::use(id), soci::use(text, ind);
    SOCI_ROUTING_CHECK_LAST_RAN_ON(s, "primary");
    id = 2;
    ind = soci::i_null;
    s << "insert into " + t.name + " (id, v, s) values (:id, 7, :s)", soci::use(id), soci::use(text, ind);
    t.wait_replicated();

    int v = -1;
    soci::indicator vind = soci::i_ok;
    std::string got;
    soci::indicator sind = soci::i_null;
    id = 1;
    s << "select v, s from " + t.name + " where id = :id", soci::use(id), soci::into(v, vind), soci::into(got, sind);
    SOCI_ROUTING_CHECK_LAST_RAN_ON(s, "replica");
    BOOST_TEST(vind == soci::i_null);
    BOOST_TEST(sind == soci::i_ok);
    BOOST_TEST(got == "hello");
    id = 2;
    s << "select v, s from " + t.name + " where id = :id", soci::use(id), soci::into(v, vind), soci::into(got, sind);
    BOOST_TEST(vind == soci::i_ok);
    BOOST_TEST(v == 7);
    BOOST_TEST(sind == soci::i_null);
}

BOOST_AUTO_TEST_CASE(prepared_statements_execute_many_times)
{
    scratch_table t(srv, "prepared");
    soci::session s(soci::routing, routing_cs("sticky=0"));
    int id = 0, v = 0;
    soci::statement ins = (s.prepare << "insert into " + t.name + " (id, v) values (:id, :v)", soci::use(id),
                           soci::use(v));
    for (id = 1; id <= 50; ++id)
    {
        v = id * 10;
        ins.execute(true);
        BOOST_REQUIRE(soci::routing.last_endpoint(s) == "primary");
    }
    t.wait_replicated();

    int got = 0;
    soci::statement sel = (s.prepare << "select v from " + t.name + " where id = :id", soci::use(id),
                           soci::into(got));
    int wrong = 0;
    for (id = 1; id <= 50; ++id)
    {
        sel.execute(true);
        if (got != id * 10)
            ++wrong;
    }
    BOOST_TEST(wrong == 0);
    SOCI_ROUTING_CHECK_LAST_RAN_ON(s, "replica");
}

BOOST_AUTO_TEST_CASE(orm_values_through_use_and_into)
{
    scratch_table t(srv, "orm");
    soci::session s(soci::routing, routing_cs("sticky=0"));
    person p;
    p.id = 1;
    p.name = "ada";
    s << "insert into " + t.name + " (id, s) values (:id, :s)", soci::use(p);
    SOCI_ROUTING_CHECK_LAST_RAN_ON(s, "primary");
    t.wait_replicated();

    person got;
    s << "select id, s from " + t.name + " where id = 1", soci::into(got);
    SOCI_ROUTING_CHECK_LAST_RAN_ON(s, "replica");
    BOOST_TEST(got.id == 1);
    BOOST_TEST(got.name == "ada");
}

BOOST_AUTO_TEST_CASE(bulk_vector_into_and_use)
{
    scratch_table t(srv, "bulk");
    soci::session s(soci::routing, routing_cs("sticky=0"));
    std::vector<int> ids, vs;
    for (int i = 1; i <= 100; ++i)
    {
        ids.push_back(i);
        vs.push_back(i * 2);
    }
    s << "insert into " + t.name + " (id, v) values (:id, :v)", soci::use(ids), soci::use(vs);
    SOCI_ROUTING_CHECK_LAST_RAN_ON(s, "primary");
    t.wait_replicated();

    std::vector<int> got_ids(30), got_vs(30);
    soci::statement st = (s.prepare << "select id, v from " + t.name + " order by id", soci::into(got_ids),
                          soci::into(got_vs));
    st.execute();
    int rows = 0, sum = 0;
    while (st.fetch())
    {
        for (std::size_t i = 0; i != got_ids.size(); ++i)
        {
            ++rows;
            sum += got_vs[i] - 2 * got_ids[i];
        }
        got_ids.resize(30);
        got_vs.resize(30);
    }
    SOCI_ROUTING_CHECK_LAST_RAN_ON(s, "replica");
    BOOST_TEST(rows == 100);
    BOOST_TEST(sum == 0);

    // A bulk select executed with data exchange delivers the first rows at once.
    std::vector<int> first(10);
    s << "select id from " + t.name + " order by id", soci::into(first);
    BOOST_TEST(first.size() == 10u);
    BOOST_TEST(first.front() == 1);
}

BOOST_AUTO_TEST_CASE(rowset_of_rows_and_row_describe)
{
    scratch_table t(srv, "rowset");
    soci::session s(soci::routing, routing_cs("sticky=0"));
    for (int i = 1; i <= 5; ++i)
        insert_row(s, t.name, i, i * i);
    t.wait_replicated();

    soci::rowset<soci::row> rs = (s.prepare << "select id, v, s from " + t.name + " order by id");
    int n = 0, sum = 0;
    for (soci::row const& r : rs)
    {
        ++n;
        BOOST_TEST(r.size() == 3u);
        BOOST_TEST(r.get_properties(0).get_name() == "id");
        BOOST_TEST(r.get_properties(1).get_name() == "v");
        BOOST_TEST(r.get_indicator(2) == soci::i_null);
        sum += static_cast<int>(as_integer(r, 1));
    }
    SOCI_ROUTING_CHECK_LAST_RAN_ON(s, "replica");
    BOOST_TEST(n == 5);
    BOOST_TEST(sum == 1 + 4 + 9 + 16 + 25);

    soci::row r;
    s << profile().port_query + " as port", soci::into(r);
    BOOST_TEST(srv.is_replica_port(static_cast<int>(as_integer(r, 0))));
    BOOST_TEST(r.get_properties(0).get_name() == "port");

    // A row read inside the window runs on the primary, describe included.
    insert_row(s, t.name, 6, 36);
    soci::session w(soci::routing, routing_cs("sticky=30"));
    insert_row(w, t.name, 7, 49);
    soci::row r2;
    w << "select count(*) as n, " + std::string(is_pg() ? "inet_server_port()" : "@@port") + " as port from " +
             t.name,
        soci::into(r2);
    BOOST_TEST(as_integer(r2, 0) == 7);
    BOOST_TEST(as_integer(r2, 1) == srv.primary_port);
}

BOOST_AUTO_TEST_CASE(get_affected_rows_and_got_data)
{
    scratch_table t(srv, "affected");
    soci::session s(soci::routing, routing_cs("sticky=0"));
    for (int i = 1; i <= 4; ++i)
        insert_row(s, t.name, i, 1);
    soci::statement up = (s.prepare << "update " + t.name + " set v = 2 where id <= 3");
    up.execute(true);
    BOOST_TEST(up.get_affected_rows() == 3);
    t.wait_replicated();

    int v = 0;
    s << "select v from " + t.name + " where id = 99", soci::into(v);
    BOOST_TEST(!s.got_data());
    s << "select v from " + t.name + " where id = 1", soci::into(v);
    BOOST_TEST(s.got_data());
    SOCI_ROUTING_CHECK_LAST_RAN_ON(s, "replica");
}

BOOST_AUTO_TEST_CASE(get_next_sequence_value_runs_on_the_primary, *utf::precondition(pg_only()))
{
    std::string const seq = table_name("seq");
    srv.primary << "drop sequence if exists " + seq;
    srv.primary << "create sequence " + seq;
    srv.wait_replicated("select count(*) from pg_class where relname = '" + seq + "'");
    long long a = 0, b = 0;
    BOOST_TEST(sql.get_next_sequence_value(seq, a));  // nextval() on a standby fails: 25006
    BOOST_TEST(sql.get_next_sequence_value(seq, b));
    BOOST_TEST(b == a + 1);
    srv.primary << "drop sequence " + seq;
}

BOOST_AUTO_TEST_CASE(get_last_insert_id_is_the_primary_connections, *utf::precondition(mysql_only()))
{
    std::string const table = table_name("autoinc");
    srv.primary << "drop table if exists " + table;
    srv.primary << "create table " + table + " (id integer auto_increment primary key, v integer)";
    srv.primary << "insert into " + table + " (v) values (1), (2)";
    soci::session s(soci::routing, routing_cs("sticky=0"));
    s << "insert into " + table + " (v) values (3)";
    long long id = 0;
    BOOST_TEST(s.get_last_insert_id(table, id));
    BOOST_TEST(id == 3);
    srv.primary << "drop table " + table;
}

BOOST_AUTO_TEST_CASE(session_helpers_are_the_primarys)
{
    BOOST_TEST(sql.is_connected());
    BOOST_TEST(sql.get_dummy_from_table() == srv.primary.get_dummy_from_table());
    BOOST_TEST(sql.nvl() == srv.primary.nvl());
    BOOST_TEST(sql.empty_blob() == srv.primary.empty_blob());
    // get_table_names() is a read: it runs where reads run, and lists what the primary has.
    scratch_table t(srv, "names");
    std::vector<std::string> names(1000);
    sql.get_table_names(), soci::into(names);
    BOOST_TEST((std::find(names.begin(), names.end(), t.name) != names.end()));
}

BOOST_AUTO_TEST_CASE(blobs_run_on_the_primary, *utf::precondition(pg_only()))
{
    std::string const table = table_name("blob");
    srv.primary << "drop table if exists " + table;
    srv.primary << "create table " + table + " (id integer, img oid)";
    soci::session s(soci::routing, routing_cs("sticky=0"));
    char const data[] = "routing blob";
    {
        // SOCI 4.0's PostgreSQL blobs: create the large object, select it into a blob, write.
        soci::transaction tr(s);
        s << "insert into " + table + " (id, img) values (1, lo_creat(-1))";
        soci::blob b(s);
        s << "select img from " + table + " where id = 1", soci::into(b);
        SOCI_ROUTING_CHECK_LAST_RAN_ON(s, "primary");
        b.write(0, data, sizeof data);
        tr.commit();
    }
    srv.wait_replicated("select count(*) from " + table);
    {
        soci::transaction tr(s);
        soci::blob b(s);
        s << "select img from " + table + " where id = 1", soci::into(b);
        SOCI_ROUTING_CHECK_LAST_RAN_ON(s, "primary");
        BOOST_TEST(b.get_len() == sizeof data);
        char buf[64] = {};
        b.read(0, buf, b.get_len());
        BOOST_TEST(std::string(buf) == "routing blob");
        tr.commit();
    }
    {
        // Outside a transaction a read exchanging a blob still goes to the primary: the blob is its object.
        soci::blob b(s);
        s << "select img from " + table + " where id = 1", soci::into(b);
        SOCI_ROUTING_CHECK_LAST_RAN_ON(s, "primary");
        BOOST_TEST(soci::routing.last_reason(s) == "large_object");
    }
    srv.primary << "select lo_unlink(img) from " + table;
    srv.primary << "drop table " + table;
}

// A blob is an object of the connection it was made on: when that primary connection breaks and the session
// moves on to a fresh one, the blob still has its own (dead) connection to talk to and to close (ci/test-asan
// runs this under AddressSanitizer: a freed connection would be a use-after-free).
BOOST_AUTO_TEST_CASE(blob_outlives_its_broken_primary_connection, *utf::precondition(pg_only()))
{
    scratch_table t(srv, "blobgone");
    soci::session s(soci::routing, routing_cs("sticky=0"));
    {
        soci::blob b(s);
        int pid = 0;
        s << "select pg_backend_pid()", soci::into(pid);  // the blob's connection: the session stays on it
        SOCI_ROUTING_CHECK_LAST_RAN_ON(s, "primary");
        srv.primary << "select pg_terminate_backend(" + std::to_string(pid) + ")";
        BOOST_CHECK_THROW(s << "insert into " + t.name + " (id) values (1)", soci::soci_error);
        s << "insert into " + t.name + " (id) values (2)";  // a fresh primary connection
        SOCI_ROUTING_CHECK_LAST_RAN_ON(s, "primary");
        char buf[4];
        BOOST_CHECK_THROW(b.read(0, buf, sizeof buf), soci::soci_error);  // its connection is gone
    }
    int n = 0;
    srv.primary << "select count(*) from " + t.name, soci::into(n);
    BOOST_TEST(n == 1);
}

BOOST_AUTO_TEST_CASE(procedure_runs_on_the_primary, *utf::precondition(pg_only()))
{
    scratch_table t(srv, "proc");
    std::string const fn = table_name("fn");
    srv.primary << "create or replace function " + fn + "(x integer) returns integer as $$ insert into " + t.name +
                       " (id, v) values (x, x); select inet_server_port(); $$ language sql";
    soci::session s(soci::routing, routing_cs("sticky=0"));
    int x = 5, port = 0;
    soci::procedure proc = (s.prepare << fn + "(:x)", soci::use(x), soci::into(port));
    proc.execute(true);
    BOOST_TEST(port == srv.primary_port);
    BOOST_TEST(soci::routing.last_reason(s) == "procedure");
    srv.primary << "drop function " + fn + "(integer)";
}

BOOST_AUTO_TEST_CASE(statements_stay_alive_across_route_changes)
{
    scratch_table t(srv, "alive");
    soci::session s(soci::routing, routing_cs("sticky=1.0"));
    int port = 0, id = 0, count = 0;
    soci::statement read_port = (s.prepare << profile().port_query, soci::into(port));
    soci::statement count_rows = (s.prepare << "select count(*) from " + t.name, soci::into(count));
    soci::statement ins = (s.prepare << "insert into " + t.name + " (id, v) values (:id, 0)", soci::use(id));
    for (int round = 1; round <= 3; ++round)
    {
        read_port.execute(true);
        BOOST_TEST(srv.is_replica_port(port));
        id = round;
        ins.execute(true);
        SOCI_ROUTING_CHECK_LAST_RAN_ON(s, "primary");
        read_port.execute(true);
        BOOST_TEST(port == srv.primary_port);
        count_rows.execute(true);
        BOOST_TEST(count == round);  // read-your-write
        sleep_seconds(1.2);
        t.wait_replicated();
    }
}

BOOST_AUTO_TEST_CASE(reconnect_keeps_routing_and_live_statements)
{
    scratch_table t(srv, "reconnect");
    soci::session s(soci::routing, routing_cs("sticky=0"));
    int port = 0;
    soci::statement before = (s.prepare << profile().port_query, soci::into(port));
    before.execute(true);
    BOOST_TEST(srv.is_replica_port(port));

    s.reconnect();
    BOOST_TEST(soci::routing.is_routed(s));
    BOOST_TEST(srv.is_replica_port(port_of(s)));
    BOOST_TEST(insert_row(s, t.name, 1) == srv.primary_port);
    port = 0;
    before.execute(true);  // prepared before reconnect: still works
    BOOST_TEST(srv.is_replica_port(port));
}

BOOST_AUTO_TEST_CASE(connection_pool_of_eight_routing_sessions_used_by_four_threads)
{
    scratch_table t(srv, "pool");
    std::size_t const size = 8;
    soci::connection_pool pool(size);
    for (std::size_t i = 0; i != size; ++i)
        pool.at(i).open("routing://" + routing_cs("sticky=0"));

    std::atomic<int> wrong_write{0}, wrong_read{0}, reads_on_replica{0};
    std::vector<std::thread> threads;
    for (int th = 0; th != 4; ++th)
    {
        threads.emplace_back([&, th] {
            try
            {
                for (int k = 0; k != 25; ++k)
                {
                    soci::session s(pool);
                    int const id = th * 1000 + k;
                    int const wport = insert_row(s, t.name, id);
                    if (wport != srv.primary_port)
                        ++wrong_write;
                    int const rport = port_of(s);
                    std::string const where = soci::routing.last_endpoint(s);
                    bool const on_primary = where == "primary";
                    if (on_primary ? rport != srv.primary_port : !srv.is_replica_port(rport))
                        ++wrong_read;
                    if (!on_primary)
                        ++reads_on_replica;
                }
            }
            catch (std::exception const& e)
            {
                BOOST_TEST_MESSAGE("thread failed: " << e.what());
                wrong_write += 1000;
            }
        });
    }
    for (auto& th : threads)
        th.join();
    BOOST_TEST(wrong_write == 0);
    BOOST_TEST(wrong_read == 0);
    BOOST_TEST(reads_on_replica > 0);
    int n = 0;
    srv.primary << "select count(*) from " + t.name, soci::into(n);
    BOOST_TEST(n == 100);
}

BOOST_AUTO_TEST_CASE(statement_errors_reach_the_application_with_their_type)
{
    soci::session s(soci::routing, routing_cs("sticky=0"));
    int x = 0;
    if (is_pg())
    {
        try
        {
            s << "select no_such_column from no_such_table_rt", soci::into(x);
            BOOST_FAIL("the bad read succeeded");
        }
        catch (soci::postgresql_soci_error const& e)
        {
            BOOST_TEST(e.sqlstate() == "42P01");
        }
    }
    else
    {
        BOOST_CHECK_THROW((s << "select no_such_column from no_such_table_rt", soci::into(x)), soci::soci_error);
    }
    BOOST_TEST(srv.is_replica_port(port_of(s)));  // the session is still usable
}

BOOST_AUTO_TEST_CASE(stats_count_statements_per_endpoint)
{
    soci::session s(soci::routing, routing_cs("sticky=0"));
    auto count = [&](std::string const& name) {
        for (auto const& e : soci::routing.stats(s).endpoints)
            if (e.name == name)
                return e.statements;
        return std::uint64_t(0);
    };
    port_of(s);
    std::string const where = soci::routing.last_endpoint(s);
    std::uint64_t const before = count(where);
    port_of(s);
    port_of(s);
    std::uint64_t total_after = 0;
    for (auto const& e : soci::routing.stats(s).endpoints)
        if (e.role == "replica")
            total_after += e.statements;
    BOOST_TEST(before >= 1u);
    BOOST_TEST(total_after >= before + 2);
}

BOOST_AUTO_TEST_SUITE_END()
