// Connection hygiene, on the live clusters: a pooled connection never carries one routing session's state
// (an open transaction, settings, temporary tables, session locks) into another; a connection the server closed
// while idle is replaced without a failure; the primary is leased per statement, so sessions are not capped by
// the primary's pool.max; a session's transaction flag follows the server's. Each case runs on PostgreSQL and,
// with SOCI_ROUTING_TEST_DRIVER=mysql, on MariaDB.

#define BOOST_TEST_MODULE routing_hygiene
#include <boost/test/unit_test.hpp>

#include "routing-fixture.h"

#include <soci/routing/soci-routing.h>
#include <soci/soci.h>

#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <vector>

using namespace routing_test;
namespace utf = boost::unit_test;

namespace
{

/// This test's own cluster (see own_cluster_cs) with pools of `pool_max` connections.
std::string pooled_cs(int pool_max, std::string const& tag, std::string const& extra = "sticky=0")
{
    return own_cluster_cs(tag, pool_max, extra);
}

std::string begin_text()
{
    return is_pg() ? "begin" : "start transaction";
}

/// The server's id of the connection that runs this statement through `sql` (inside a transaction, so on the
/// primary).
long long primary_connection_id(soci::session& sql)
{
    long long id = -1;
    soci::transaction tr(sql);
    sql << (is_pg() ? "select pg_backend_pid()" : "select connection_id()"), soci::into(id);
    tr.commit();
    return id;
}

void kill_connection(soci::session& direct, long long id)
{
    if (is_pg())
        direct << "select pg_terminate_backend(" + std::to_string(id) + ")";
    else
        direct << "kill " + std::to_string(id);
    // Wait (bounded) until the server has really closed it.
    std::string const alive = is_pg() ? "select count(*) from pg_stat_activity where pid = " + std::to_string(id)
                                      : "select count(*) from information_schema.processlist where id = " +
                                            std::to_string(id);
    for (int i = 0; i != 200; ++i)
    {
        long long n = -1;
        direct << alive, soci::into(n);
        if (n == 0)
            return;
        sleep_seconds(0.01);
    }
    BOOST_FAIL("connection " << id << " was not closed by the server");
}

long long count_rows(servers& srv, std::string const& table)
{
    long long n = -1;
    srv.primary << "select count(*) from " + table, soci::into(n);
    return n;
}

/// A counter of `sql`'s cluster, summed over the endpoints of `role`.
template <typename Count>
std::uint64_t sum_of(soci::session& sql, std::string const& role, Count count)
{
    std::uint64_t n = 0;
    for (auto const& e : soci::routing.stats(sql).endpoints)
        if (e.role == role)
            n += count(e);
    return n;
}

std::uint64_t failures_of(soci::session& sql, std::string const& role)
{
    return sum_of(sql, role, [](auto const& e) { return e.failures + e.quarantines; });
}

std::uint64_t replaced_of(soci::session& sql, std::string const& role)
{
    return sum_of(sql, role, [](auto const& e) { return e.connections_replaced; });
}

std::uint64_t resets_of(soci::session& sql, std::string const& role)
{
    return sum_of(sql, role, [](auto const& e) { return e.connections_reset; });
}

/// True while the server still has connection `id` (pg_backend_pid() / connection_id()).
bool server_has_connection(soci::session& direct, long long id)
{
    int n = -1;
    direct << (is_pg() ? "select count(*) from pg_stat_activity where pid = :id"
                       : "select count(*) from information_schema.processlist where id = :id"),
        soci::use(id), soci::into(n);
    return n == 1;
}

} // namespace

// Sessions opened one after another (per request, as SOCI's own tests do) find the pools of the previous one:
// the cluster outlives its last session by `linger` seconds.
BOOST_AUTO_TEST_CASE(the_next_session_finds_the_pools_warm_within_linger)
{
    servers srv;
    std::string const cs = pooled_cs(4, "linger_warm", "sticky=0 linger=30");
    long long first = -1;
    {
        soci::session a(soci::routing, cs);
        first = primary_connection_id(a);
    }
    BOOST_TEST(server_has_connection(srv.primary, first));
    soci::session b(soci::routing, cs);
    BOOST_TEST(primary_connection_id(b) == first);  // the same server connection: no connect
}

// linger = 0 closes the pools with the last session; past `linger`, the kept pools close too.
BOOST_AUTO_TEST_CASE(pools_close_with_the_last_session_or_after_linger)
{
    servers srv;
    for (std::string const linger : {"0", "0.2"})
    {
        std::string const cs = pooled_cs(4, "linger_close_" + std::string(linger == "0" ? "0" : "1"),
                                         "sticky=0 linger=" + linger);
        long long first = -1;
        {
            soci::session a(soci::routing, cs);
            first = primary_connection_id(a);
        }
        if (linger != "0")
            sleep_seconds(0.8);
        bool gone = false;
        for (int i = 0; i != 50 && !gone; ++i)  // the server notices the closed socket at once, or nearly
        {
            gone = !server_has_connection(srv.primary, first);
            if (!gone)
                sleep_seconds(0.02);
        }
        BOOST_TEST(gone, "linger=" << linger << ": connection " << first << " still open");
        soci::session b(soci::routing, cs);
        BOOST_TEST(primary_connection_id(b) != first);
    }
}

BOOST_AUTO_TEST_CASE(abandoned_raw_transaction_is_rolled_back_before_the_connection_is_lent_again)
{
    servers srv;
    scratch_table t(srv, "hyg_abandoned");
    std::string const cs = pooled_cs(2, "abandoned");
    soci::session keeper(soci::routing, cs);  // keeps the cluster and its pools alive, as an application does
    {
        soci::session a(soci::routing, cs);
        a << begin_text();
        a << "insert into " + t.name + " (id, v) values (1, 1)";
    }  // an exception unwound the request: no COMMIT, no ROLLBACK
    soci::session b(soci::routing, cs);
    for (int id = 2; id <= 5; ++id)
        b << "insert into " + t.name + " (id, v) values (" + std::to_string(id) + ", 0)";
    BOOST_TEST(count_rows(srv, t.name) == 4);  // b's four writes, committed; a's one, rolled back
    BOOST_TEST(resets_of(b, "primary") >= 1u);
}

BOOST_AUTO_TEST_CASE(abandoned_soci_transaction_is_rolled_back_before_the_connection_is_lent_again)
{
    servers srv;
    scratch_table t(srv, "hyg_abandoned_tr");
    std::string const cs = pooled_cs(2, "abandoned_tr");
    soci::session keeper(soci::routing, cs);  // keeps the cluster and its pools alive, as an application does
    {
        soci::session a(soci::routing, cs);
        a.begin();
        a << "insert into " + t.name + " (id, v) values (1, 1)";
    }
    soci::session b(soci::routing, cs);
    b << "insert into " + t.name + " (id, v) values (2, 0)";
    BOOST_TEST(count_rows(srv, t.name) == 1);
}

BOOST_AUTO_TEST_CASE(session_settings_do_not_reach_the_next_session)
{
    servers srv;
    std::string const cs = pooled_cs(2, "settings");
    soci::session keeper(soci::routing, cs);  // keeps the cluster and its pools alive, as an application does
    std::string const setting = is_pg() ? "select current_setting('statement_timeout')" : "select @@session.sql_mode";
    std::string fresh;
    srv.primary << setting, soci::into(fresh);
    long long a_connection = -1;
    {
        soci::session a(soci::routing, cs);
        a << (is_pg() ? "set statement_timeout = '1234ms'" : "set session sql_mode = 'ANSI_QUOTES'");
        std::string changed;
        soci::transaction tr(a);
        a << setting, soci::into(changed);
        tr.commit();
        BOOST_TEST(changed != fresh);  // the SET did take (else this test could not fail)
        a_connection = primary_connection_id(a);
    }
    soci::session b(soci::routing, cs);
    BOOST_TEST(primary_connection_id(b) == a_connection);  // the same server connection, lent again
    std::string seen;
    soci::transaction tr(b);
    b << setting, soci::into(seen);
    tr.commit();
    BOOST_TEST(seen == fresh);
}

// mysql_reset_connection() keeps the current database: a USE must not send the next borrower's statements to
// another database.
BOOST_AUTO_TEST_CASE(use_of_another_database_does_not_reach_the_next_session, *utf::precondition(mysql_only()))
{
    servers srv;
    std::string const cs = pooled_cs(2, "use");
    soci::session keeper(soci::routing, cs);  // keeps the cluster and its pools alive, as an application does
    std::string home;
    srv.primary << "select database()", soci::into(home);
    long long a_connection = -1;
    {
        soci::session a(soci::routing, cs);
        a << "use information_schema";
        std::string now;
        soci::transaction tr(a);
        a << "select database()", soci::into(now);
        tr.commit();
        BOOST_TEST(now == "information_schema");  // the USE did take (else this test could not fail)
        a_connection = primary_connection_id(a);
    }
    soci::session b(soci::routing, cs);
    BOOST_TEST(primary_connection_id(b) == a_connection);  // the same server connection, lent again
    std::string seen;
    soci::transaction tr(b);
    b << "select database()", soci::into(seen);
    tr.commit();
    BOOST_TEST(seen == home);
}

BOOST_AUTO_TEST_CASE(temporary_table_does_not_reach_the_next_session)
{
    servers srv;
    std::string const cs = pooled_cs(2, "temp");
    soci::session keeper(soci::routing, cs);  // keeps the cluster and its pools alive, as an application does
    std::string const name = table_name("hyg_temp");
    {
        soci::session a(soci::routing, cs);
        a << "create temporary table " + name + " (i integer)";
        a << "insert into " + name + " (i) values (1)";
    }
    soci::session b(soci::routing, cs);
    soci::transaction tr(b);
    if (is_pg())
    {
        int visible = -1;
        b << "select case when to_regclass('pg_temp." + name + "') is null then 0 else 1 end", soci::into(visible);
        BOOST_TEST(visible == 0);
    }
    else
    {
        int n = -1;
        BOOST_CHECK_THROW((b << "select count(*) from " + name, soci::into(n)), soci::soci_error);
    }
    tr.rollback();
}

BOOST_AUTO_TEST_CASE(session_lock_is_released_when_its_session_ends)
{
    servers srv;
    std::string const cs = pooled_cs(2, "lock");
    soci::session keeper(soci::routing, cs);  // keeps the cluster and its pools alive, as an application does
    std::string const key = std::to_string(700000 + ::getpid() % 100000);
    std::string const take = is_pg() ? "select case when pg_try_advisory_lock(" + key + ") then 1 else 0 end"
                                     : "select get_lock('rt_hyg_" + key + "', 0)";
    {
        soci::session a(soci::routing, cs);
        int got = -1;
        a << take, soci::into(got);
        BOOST_TEST(got == 1);
        int again = -1;
        srv.primary << take, soci::into(again);
        BOOST_TEST(again == 0);  // held by a's connection (else this test could not fail)
    }
    int got = -1;
    srv.primary << take, soci::into(got);
    BOOST_TEST(got == 1);
    srv.primary << (is_pg() ? "select pg_advisory_unlock_all()" : "select release_all_locks()");
}

BOOST_AUTO_TEST_CASE(idle_primary_connection_closed_by_the_server_is_replaced_without_a_failure)
{
    servers srv;
    scratch_table t(srv, "hyg_killed");
    soci::session a(soci::routing, pooled_cs(1, "killed", "sticky=0 lag_probe_interval=3600"));
    a << "insert into " + t.name + " (id, v) values (1, 1)";
    kill_connection(srv.primary, primary_connection_id(a));
    sleep_seconds(1.1);  // pool.idle_check: a connection idle this long is checked before it is lent
    a << "insert into " + t.name + " (id, v) values (2, 2)";
    soci::session b(soci::routing, pooled_cs(1, "killed", "sticky=0 lag_probe_interval=3600"));
    b << "insert into " + t.name + " (id, v) values (3, 3)";
    BOOST_TEST(count_rows(srv, t.name) == 3);
    BOOST_TEST(failures_of(a, "primary") == 0u);
    BOOST_TEST(replaced_of(a, "primary") == 1u);
}

BOOST_AUTO_TEST_CASE(idle_replica_connections_closed_by_the_server_cost_no_health)
{
    servers srv;
    BOOST_REQUIRE(!srv.replicas.empty());
    soci::session a(soci::routing, pooled_cs(1, "replica_killed", "sticky=0 failures=1 lag_probe_interval=3600 rebalance=0"));
    for (int i = 0; i != 8; ++i)
        BOOST_REQUIRE(srv.is_replica_port(port_of(a)));
    // Every idle connection of the test user on the replicas but the checking one: the routing pools' among them.
    std::string const idle = is_pg()
        ? "select pid from pg_stat_activity where usename = current_user and pid <> pg_backend_pid() "
          "and backend_type = 'client backend' and state = 'idle'"
        : "select id from information_schema.processlist where user = substring_index(current_user(), '@', 1) "
          "and id <> connection_id() and command = 'Sleep'";
    int killed = 0;
    // The pool's connection shows as idle once the server has finished with the last read (a fresh MariaDB
    // replica was once seen listing none at the first look): look again for a moment.
    for (int attempt = 0; attempt != 40 && killed == 0; ++attempt)
    {
        if (attempt != 0)
            sleep_seconds(0.05);
        for (auto& r : srv.replicas)
        {
            std::vector<long long> ids(100);
            *r << idle, soci::into(ids);
            for (long long id : ids)
            {
                kill_connection(*r, id);
                ++killed;
            }
        }
    }
    BOOST_TEST(killed >= 1);
    sleep_seconds(1.1);  // pool.idle_check
    for (int i = 0; i != 8; ++i)
        BOOST_TEST(srv.is_replica_port(port_of(a)));
    BOOST_TEST(failures_of(a, "replica") == 0u);
    BOOST_TEST(replaced_of(a, "replica") >= 1u);
}

BOOST_AUTO_TEST_CASE(more_sessions_than_primary_connections_write_in_turn)
{
    servers srv;
    scratch_table t(srv, "hyg_many");
    std::string const cs = pooled_cs(3, "many");
    std::vector<std::unique_ptr<soci::session>> sessions;
    for (int i = 0; i != 8; ++i)
        sessions.push_back(std::make_unique<soci::session>(soci::routing, cs));
    for (int i = 0; i != 8; ++i)
        *sessions[i] << "insert into " + t.name + " (id, v) values (" + std::to_string(i) + ", 0)";
    BOOST_TEST(count_rows(srv, t.name) == 8);
    for (auto const& e : soci::routing.stats(*sessions[0]).endpoints)
        if (e.role == "primary")
            BOOST_TEST(e.connections_open <= 3);
}

// A one-time statement gives its connection back once it ran; a prepared statement keeps its own while it
// lives (it is prepared on that connection) and gives it back when it is destroyed.
BOOST_AUTO_TEST_CASE(an_idle_session_holds_no_connection_and_a_prepared_statement_holds_one_until_destroyed)
{
    servers srv;
    scratch_table t(srv, "hyg_held");
    soci::session s(soci::routing, pooled_cs(3, "held"));
    auto in_use = [&](std::string const& role) {
        return sum_of(s, role, [](auto const& e) { return static_cast<std::uint64_t>(e.connections_in_use); });
    };
    int port = 0;
    s << profile().port_query, soci::into(port);
    BOOST_TEST(srv.is_replica_port(port));
    s << "insert into " + t.name + " (id, v) values (1, 0)";
    BOOST_TEST(in_use("primary") == 0u);
    BOOST_TEST(in_use("replica") == 0u);
    {
        int id = 2;
        soci::statement read = (s.prepare << profile().port_query, soci::into(port));
        soci::statement write = (s.prepare << "insert into " + t.name + " (id, v) values (:id, 0)", soci::use(id));
        read.execute(true);
        BOOST_TEST(srv.is_replica_port(port));
        write.execute(true);
        BOOST_TEST(in_use("replica") == 1u);
        BOOST_TEST(in_use("primary") == 1u);
        read.execute(true);  // again, on the connection it holds
        BOOST_TEST(in_use("replica") == 1u);
    }
    BOOST_TEST(in_use("primary") == 0u);
    BOOST_TEST(in_use("replica") == 0u);
    BOOST_TEST(count_rows(srv, t.name) == 2);
}

BOOST_AUTO_TEST_CASE(sixteen_threads_share_three_primary_connections)
{
    servers srv;
    scratch_table t(srv, "hyg_threads");
    std::string const cs = pooled_cs(3, "threads");
    std::atomic<int> errors{0};
    std::vector<std::thread> threads;
    for (int th = 0; th != 16; ++th)
        threads.emplace_back([&, th] {
            try
            {
                soci::session s(soci::routing, cs);
                for (int i = 0; i != 10; ++i)
                {
                    int const id = th * 100 + i;
                    if (i % 3 == 0)
                    {
                        soci::transaction tr(s);
                        s << "insert into " + t.name + " (id, v) values (" + std::to_string(id) + ", 1)";
                        tr.commit();
                    }
                    else
                        s << "insert into " + t.name + " (id, v) values (" + std::to_string(id) + ", 0)";
                }
            }
            catch (std::exception const&)
            {
                ++errors;
            }
        });
    for (auto& th : threads)
        th.join();
    BOOST_TEST(errors.load() == 0);
    BOOST_TEST(count_rows(srv, t.name) == 160);
}

BOOST_AUTO_TEST_CASE(failed_commit_leaves_the_session_out_of_its_transaction, *utf::precondition(pg_only()))
{
    servers srv;
    std::string const parent = table_name("hyg_parent");
    std::string const child = table_name("hyg_child");
    srv.primary << "drop table if exists " + child;
    srv.primary << "drop table if exists " + parent;
    srv.primary << "create table " + parent + " (id integer primary key)";
    srv.primary << "create table " + child + " (id integer, parent integer references " + parent +
                       " deferrable initially deferred)";
    srv.wait_replicated("select count(*) from " + child);
    soci::session s(soci::routing, pooled_cs(2, "commit"));
    s << "begin";
    s << "insert into " + child + " (id, parent) values (1, 42)";
    BOOST_CHECK_THROW(s << "commit", soci::soci_error);  // the deferred foreign key fails at COMMIT
    BOOST_TEST(srv.is_replica_port(port_of(s)));
    BOOST_TEST(soci::routing.last_reason(s) != "transaction");

    s.begin();
    s << "insert into " + child + " (id, parent) values (2, 43)";
    BOOST_CHECK_THROW(s.commit(), soci::soci_error);
    BOOST_TEST(srv.is_replica_port(port_of(s)));
    srv.primary << "drop table " + child;
    srv.primary << "drop table " + parent;
}

BOOST_AUTO_TEST_CASE(column_added_by_another_connection_does_not_break_a_transaction, *utf::precondition(pg_only()))
{
    servers srv;
    scratch_table t(srv, "hyg_alter");
    srv.primary << "insert into " + t.name + " (id, v) values (1, 1)";
    soci::session s(soci::routing, pooled_cs(1, "alter"));
    std::string const q = "select * from " + t.name;
    auto read_all = [&] {
        soci::row r;
        s << q, soci::into(r);  // a one-time query: what the statement cache prepares when it repeats
        return static_cast<int>(r.size());
    };
    {
        auto on_primary = soci::routing.use_primary(s);
        for (int i = 0; i != 4; ++i)
            BOOST_TEST(read_all() == 3);  // run often enough to be prepared by the statement cache
    }
    // A rolling migration: another connection adds a column between two transactions of this session.
    srv.primary << "alter table " + t.name + " add column extra integer";
    soci::transaction tr(s);
    BOOST_CHECK_NO_THROW(BOOST_TEST(read_all() == 4));
    BOOST_CHECK_NO_THROW(BOOST_TEST(read_all() == 4));  // and the transaction is not aborted
    tr.commit();
}

BOOST_AUTO_TEST_CASE(reconnect_keeps_the_scope_the_window_and_the_guards)
{
    servers srv;
    scratch_table t(srv, "hyg_reconnect");
    soci::session s(soci::routing, pooled_cs(2, "reconnect", "sticky=60"));
    auto const scope = soci::routing.get_scope(s);
    s << "insert into " + t.name + " (id, v) values (1, 1)";
    t.wait_replicated();
    s.reconnect();
    BOOST_TEST((soci::routing.get_scope(s) == scope));
    BOOST_TEST(port_of(s) == srv.primary_port);  // still inside the read-after-write window
    BOOST_TEST(soci::routing.last_reason(s) == "sticky");
    {
        auto guard = soci::routing.use_replica(s);
        s.reconnect();
        BOOST_TEST(srv.is_replica_port(port_of(s)));  // the guard lives on
    }
    BOOST_TEST(port_of(s) == srv.primary_port);  // and its end is counted on the new backend
}
