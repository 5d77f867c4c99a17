// Session state without pinning, on the live clusters: a session's settings (SET, RESET, USE, SET NAMES, ...)
// follow it to every connection it uses, replicas included; state of one connection (a temporary table, an
// advisory lock, a user variable assigned by a query) pins the session to its primary connection until the
// statement that removes it; a replayed setting that a replica refuses sends the read to the primary and is
// reported. Each case runs on PostgreSQL and, with SOCI_ROUTING_TEST_DRIVER=mysql, on MariaDB.

#define BOOST_TEST_MODULE routing_session_state
#include <boost/test/unit_test.hpp>

#include "routing-fixture.h"

#include <soci/mysql/soci-mysql.h>
#include <soci/routing/soci-routing.h>
#include <soci/soci.h>

#include <memory>
#include <set>
#include <string>

using namespace routing_test;
namespace utf = boost::unit_test;

namespace
{

/// An inline configuration over the test cluster, with `sticky = 0` (a write does not keep reads on the
/// primary: where a read goes depends on session state only). `tag` names the replicas, which makes the
/// cluster (its pools and their counters) this test's own.
std::string own_cs(std::string const& tag, int pool_max = 4)
{
    // rebalance = 0: a session's reads go to every replica in turn, so the replay is seen on each.
    return own_cluster_cs(tag, pool_max, "sticky=0 rebalance=0");
}

/// Runs `select <port>, <expression>` through `sql` (a read, routed as any) and returns where it ran and what it
/// saw.
struct seen
{
    int port = 0;
    std::string value;
};

seen read_through(soci::session& sql, std::string const& expression)
{
    seen s;
    std::string const port = is_pg() ? "inet_server_port()" : "@@port";
    sql << "select " + port + ", " + expression, soci::into(s.port), soci::into(s.value);
    return s;
}

std::string const& search_path_expr()
{
    static std::string const e = "current_setting('search_path')";
    return e;
}

/// The setting each driver's cases change: PostgreSQL's search_path, MySQL's time zone.
std::string setting_expr()
{
    return is_pg() ? search_path_expr() : std::string("@@session.time_zone");
}

std::uint64_t counter_of(soci::session& sql, std::string const& role,
                         std::uint64_t soci::routing_endpoint_stats::*counter)
{
    std::uint64_t n = 0;
    for (auto const& e : soci::routing.stats(sql).endpoints)
        if (e.role == role)
            n += e.*counter;
    return n;
}

/// An admin session to MariaDB's primary (unix socket, root), for what the routing user may not do.
std::unique_ptr<soci::session> mysql_admin()
{
    return std::make_unique<soci::session>(soci::mysql,
                                           "unix_socket=" + env("SOCI_ROUTING_MYSQL_ADMIN_SOCKET") + " user=root");
}

} // namespace

BOOST_AUTO_TEST_CASE(set_then_reads_go_to_replicas_and_see_the_value)
{
    servers srv;
    soci::session sql(soci::routing, own_cs("ss_set"));
    std::string expected;
    if (is_pg())
    {
        sql << "set search_path = rt_ss_elsewhere, public";
        expected = "rt_ss_elsewhere, public";
    }
    else
    {
        sql << "set time_zone = '+03:00'";
        expected = "+03:00";
    }
    BOOST_TEST(soci::routing.last_endpoint(sql) == "primary");
    std::set<int> ports;
    for (int i = 0; i != 4; ++i)  // both replicas (round robin), and each again
    {
        seen const s = read_through(sql, setting_expr());
        ports.insert(s.port);
        BOOST_TEST(srv.is_replica_port(s.port), "read " << i << " ran on port " << s.port);
        BOOST_TEST(s.value == expected);
        BOOST_TEST(soci::routing.last_reason(sql) == "select");
    }
    BOOST_TEST(ports == srv.replica_ports);
    // A fresh connection to a replica, read directly, does not have it: the replay did it, not the server.
    seen const direct = read_through(*srv.replicas.front(), setting_expr());
    BOOST_TEST(direct.value != expected);
}

BOOST_AUTO_TEST_CASE(tables_are_found_through_the_replayed_search_path, *utf::precondition(pg_only()))
{
    servers srv;
    std::string const schema = table_name("ss_schema");
    srv.primary << "drop schema if exists " + schema + " cascade";
    srv.primary << "create schema " + schema;
    srv.primary << "create table " + schema + ".only_here (id integer)";
    srv.primary << "insert into " + schema + ".only_here values (1), (2), (3)";
    srv.wait_replicated("select count(*) from " + schema + ".only_here");
    {
        soci::session sql(soci::routing, own_cs("ss_path"));
        sql << "set search_path to " + schema + ", public";
        for (int i = 0; i != 3; ++i)
        {
            int n = 0;
            sql << "select count(*) from only_here", soci::into(n);
            BOOST_TEST(n == 3);
            BOOST_TEST(soci::routing.last_endpoint(sql) != "primary");
        }
    }
    srv.primary << "drop schema " + schema + " cascade";
}

BOOST_AUTO_TEST_CASE(reset_then_reads_see_the_default)
{
    servers srv;
    soci::session sql(soci::routing, own_cs("ss_reset"));
    std::string const fresh = read_through(*srv.replicas.front(), setting_expr()).value;
    sql << (is_pg() ? "set search_path = rt_ss_other" : "set time_zone = '+04:00'");
    BOOST_TEST(read_through(sql, setting_expr()).value != fresh);  // replayed (else this test could not fail)
    sql << (is_pg() ? "reset all" : "set time_zone = default");
    for (int i = 0; i != 4; ++i)
    {
        seen const s = read_through(sql, setting_expr());
        BOOST_TEST(srv.is_replica_port(s.port));
        BOOST_TEST(s.value == fresh);
    }
}

BOOST_AUTO_TEST_CASE(discard_all_resets_settings_and_unpins, *utf::precondition(pg_only()))
{
    servers srv;
    soci::session sql(soci::routing, own_cs("ss_discard"));
    std::string const fresh = read_through(*srv.replicas.front(), search_path_expr()).value;
    sql << "set search_path = rt_ss_other";
    sql << "create temporary table rt_ss_discard_tmp (i integer)";
    BOOST_TEST(read_through(sql, search_path_expr()).port == srv.primary_port);  // pinned by the temp table
    BOOST_TEST(soci::routing.last_reason(sql) == "pinned");
    sql << "discard all";
    seen const s = read_through(sql, search_path_expr());
    BOOST_TEST(srv.is_replica_port(s.port));
    BOOST_TEST(s.value == fresh);
}

BOOST_AUTO_TEST_CASE(orm_startup_then_a_hundred_reads_nearly_all_on_replicas)
{
    servers srv;
    soci::session sql(soci::routing, own_cs("ss_orm"));
    if (is_pg())
    {
        sql << "set application_name = 'orm-app'";
        sql << "set time zone 'UTC'";
        sql << "set statement_timeout = '30s'";
    }
    else
    {
        sql << "set names utf8mb4";
        sql << "set time_zone = '+00:00'";
    }
    int on_replicas = 0;
    std::string const expr = is_pg() ? "current_setting('TimeZone') || current_setting('application_name')"
                                     : "concat(@@session.time_zone, @@session.character_set_client)";
    std::string const expected = is_pg() ? "UTCorm-app" : "+00:00utf8mb4";
    for (int i = 0; i != 100; ++i)
    {
        seen const s = read_through(sql, expr);
        BOOST_TEST(s.value == expected);
        if (srv.is_replica_port(s.port))
            ++on_replicas;
    }
    BOOST_TEST(on_replicas >= 99);
    // Replayed once per replica connection, not once per read: the pool keeps a session's settings with its
    // connection while it waits for that session.
    std::uint64_t const replays = counter_of(sql, "replica", &soci::routing_endpoint_stats::settings_replays);
    BOOST_TEST(replays >= 1u);
    BOOST_TEST(replays <= 2 * profile().replicas.size());
}

BOOST_AUTO_TEST_CASE(settings_follow_the_session_to_another_primary_connection_and_nobody_else_sees_them)
{
    servers srv;
    std::string const cs = own_cs("ss_lease", 1);  // one primary connection, shared in turn
    soci::session a(soci::routing, cs);
    soci::session b(soci::routing, cs);
    std::string const expr = is_pg() ? "current_setting('statement_timeout')" : "@@session.sql_mode";
    a << (is_pg() ? "set statement_timeout = '2345ms'" : "set session sql_mode = 'ANSI_QUOTES'");
    std::string const expected = is_pg() ? "2345ms" : "ANSI_QUOTES";
    auto on_primary = [&](soci::session& s) {
        std::string v;
        soci::transaction tr(s);
        s << "select " + expr, soci::into(v);
        tr.commit();
        return v;
    };
    BOOST_TEST(on_primary(b) != expected);  // b got the connection reset
    BOOST_TEST(on_primary(a) == expected);  // a got it back with its setting replayed
    BOOST_TEST(on_primary(b) != expected);
}

BOOST_AUTO_TEST_CASE(set_local_stays_in_its_transaction_and_does_not_pin, *utf::precondition(pg_only()))
{
    servers srv;
    soci::session sql(soci::routing, own_cs("ss_local"));
    std::string const fresh = read_through(*srv.replicas.front(), "current_setting('statement_timeout')").value;
    {
        soci::transaction tr(sql);
        sql << "set local statement_timeout = '1111ms'";
        std::string inside;
        sql << "select current_setting('statement_timeout')", soci::into(inside);
        BOOST_TEST(inside == "1111ms");
        tr.commit();
    }
    seen const s = read_through(sql, "current_setting('statement_timeout')");
    BOOST_TEST(srv.is_replica_port(s.port));
    BOOST_TEST(s.value == fresh);
}

BOOST_AUTO_TEST_CASE(temporary_table_pins_until_it_is_dropped)
{
    servers srv;
    soci::session sql(soci::routing, own_cs("ss_temp"));
    std::string const name = table_name("ss_tmp");
    sql << "create temporary table " + name + " (i integer)";
    sql << "insert into " + name + " (i) values (1)";
    int n = 0;
    sql << "select count(*) from " + name, soci::into(n);  // only the primary connection has it
    BOOST_TEST(n == 1);
    BOOST_TEST(soci::routing.last_reason(sql) == "pinned");
    BOOST_TEST(read_through(sql, "'x'").port == srv.primary_port);
    sql << "drop table " + name;
    BOOST_TEST(srv.is_replica_port(read_through(sql, "'x'").port));
}

BOOST_AUTO_TEST_CASE(discard_temp_unpins, *utf::precondition(pg_only()))
{
    servers srv;
    soci::session sql(soci::routing, own_cs("ss_dtemp"));
    sql << "create temp table rt_ss_dtemp (i integer)";
    BOOST_TEST(read_through(sql, "'x'").port == srv.primary_port);
    sql << "discard temp";
    BOOST_TEST(srv.is_replica_port(read_through(sql, "'x'").port));
}

BOOST_AUTO_TEST_CASE(advisory_lock_pins_until_it_is_released)
{
    servers srv;
    soci::session sql(soci::routing, own_cs("ss_lock"));
    std::string const key = std::to_string(710000 + ::getpid() % 100000);
    std::string const lock = is_pg() ? "select pg_advisory_lock(" + key + ")"
                                     : "select get_lock('rt_ss_" + key + "', 1)";
    std::string const unlock = is_pg() ? "select pg_advisory_unlock(" + key + ")"
                                       : "select release_lock('rt_ss_" + key + "')";
    std::string out;
    sql << lock, soci::into(out);
    BOOST_TEST(read_through(sql, "'x'").port == srv.primary_port);
    BOOST_TEST(soci::routing.last_reason(sql) == "pinned");
    sql << unlock, soci::into(out);
    BOOST_TEST((out == "t" || out == "1"));  // released by the connection that held it
    BOOST_TEST(srv.is_replica_port(read_through(sql, "'x'").port));
}

BOOST_AUTO_TEST_CASE(releasing_every_lock_unpins)
{
    servers srv;
    soci::session sql(soci::routing, own_cs("ss_unlock_all"));
    std::string const key = std::to_string(720000 + ::getpid() % 100000);
    std::string out;
    if (is_pg())
    {
        sql << "select pg_advisory_lock(" + key + ")", soci::into(out);
        sql << "select pg_advisory_lock(" + key + ")", soci::into(out);  // taken twice
        BOOST_TEST(read_through(sql, "'x'").port == srv.primary_port);
        sql << "select pg_advisory_unlock_all()", soci::into(out);
    }
    else
    {
        sql << "select get_lock('rt_ss_a" + key + "', 1)", soci::into(out);
        sql << "select get_lock('rt_ss_b" + key + "', 1)", soci::into(out);
        BOOST_TEST(read_through(sql, "'x'").port == srv.primary_port);
        sql << "select release_all_locks()", soci::into(out);
    }
    BOOST_TEST(srv.is_replica_port(read_through(sql, "'x'").port));
}

BOOST_AUTO_TEST_CASE(listen_pins_until_unlisten_all, *utf::precondition(pg_only()))
{
    servers srv;
    soci::session sql(soci::routing, own_cs("ss_listen"));
    sql << "listen rt_ss_channel_a";
    sql << "listen rt_ss_channel_b";
    BOOST_TEST(read_through(sql, "'x'").port == srv.primary_port);
    sql << "unlisten rt_ss_channel_a";
    BOOST_TEST(read_through(sql, "'x'").port == srv.primary_port);  // still listening on b
    sql << "unlisten *";
    BOOST_TEST(srv.is_replica_port(read_through(sql, "'x'").port));
}

BOOST_AUTO_TEST_CASE(sql_prepare_pins_until_deallocate_all, *utf::precondition(pg_only()))
{
    servers srv;
    soci::session sql(soci::routing, own_cs("ss_prepare"));
    sql << "prepare rt_ss_stmt as select 1";
    BOOST_TEST(read_through(sql, "'x'").port == srv.primary_port);
    int one = 0;
    sql << "execute rt_ss_stmt", soci::into(one);  // only the connection that prepared it knows it
    BOOST_TEST(one == 1);
    sql << "deallocate all";
    BOOST_TEST(srv.is_replica_port(read_through(sql, "'x'").port));
}

BOOST_AUTO_TEST_CASE(user_variable_assigned_by_a_query_pins_and_a_constant_one_is_replayed,
                     *utf::precondition(mysql_only()))
{
    servers srv;
    soci::session sql(soci::routing, own_cs("ss_uvar"));
    sql << "select 5 into @rt_ss_v";
    seen s = read_through(sql, "cast(@rt_ss_v as char)");
    BOOST_TEST(s.port == srv.primary_port);
    BOOST_TEST(s.value == "5");
    sql << "set @rt_ss_v = 6";
    s = read_through(sql, "cast(@rt_ss_v as char)");
    BOOST_TEST(srv.is_replica_port(s.port));
    BOOST_TEST(s.value == "6");
}

BOOST_AUTO_TEST_CASE(use_follows_the_session_to_the_replicas, *utf::precondition(mysql_only()))
{
    servers srv;
    soci::session sql(soci::routing, own_cs("ss_use"));
    sql << "use information_schema";
    seen const s = read_through(sql, "database()");
    BOOST_TEST(srv.is_replica_port(s.port));
    BOOST_TEST(s.value == "information_schema");
}

BOOST_AUTO_TEST_CASE(replayed_setting_a_replica_refuses_sends_the_read_to_the_primary_and_is_reported)
{
    servers srv;
    // A setting the primary accepts and the replicas refuse: a PostgreSQL standby cannot run a SERIALIZABLE
    // transaction (it accepts the SET, then fails every statement); on MariaDB the routing user may change
    // sql_log_bin on the primary only (granted there alone, before the session's connections open: MariaDB
    // applies global privileges at connect).
    std::unique_ptr<soci::session> admin;
    if (!is_pg())
    {
        admin = mysql_admin();
        *admin << "set sql_log_bin = 0";
        *admin << "grant binlog admin on *.* to 'routing'@'127.0.0.1'";
    }
    try
    {
        soci::session sql(soci::routing, own_cs("ss_refused"));
        sql << (is_pg() ? "set default_transaction_isolation = 'serializable'" : "set session sql_log_bin = 1");
        for (int i = 0; i != 3; ++i)
        {
            BOOST_TEST(read_through(sql, "'x'").port == srv.primary_port);
            BOOST_TEST(soci::routing.last_reason(sql) == "replay_failed");
        }
        std::uint64_t const refused =
            counter_of(sql, "replica", &soci::routing_endpoint_stats::settings_replay_failures);
        BOOST_TEST(refused >= 1u);
        BOOST_TEST(refused <= profile().replicas.size());  // a replica that refused is not asked again
        bool reported = false;
        for (auto const& e : soci::routing.stats(sql).endpoints)
            if (e.role == "replica" && e.last_error.find("replaying the session's settings") != std::string::npos)
                reported = true;
        BOOST_TEST(reported);
        // Settings that change are tried again.
        sql << (is_pg() ? "reset default_transaction_isolation" : "set session sql_log_bin = default");
        BOOST_TEST(srv.is_replica_port(read_through(sql, "'x'").port));
    }
    catch (...)
    {
        if (admin)
            *admin << "revoke binlog admin on *.* from 'routing'@'127.0.0.1'";
        throw;
    }
    if (admin)
        *admin << "revoke binlog admin on *.* from 'routing'@'127.0.0.1'";
}
