// Read-only transactions on a replica, on the live clusters: every statement of BEGIN READ ONLY / START
// TRANSACTION READ ONLY (or routing_read_only_transaction) runs on one replica connection, with a consistent
// snapshot while the primary writes; a write inside gets the server's error; SERIALIZABLE (PostgreSQL) and the
// read-your-writes window keep it on the primary; a replica that fails before the transaction answered moves
// it to the primary, after that the error reaches the application.

#include <boost/test/unit_test.hpp>

#include "routing-fixture.h"

#include <soci/routing/soci-routing.h>
#include <soci/soci.h>

#include <string>
#include <vector>

using namespace routing_test;
namespace utf = boost::unit_test;

namespace
{

std::string ro_cs(std::string const& tag, std::string const& extra = "sticky=0")
{
    return own_cluster_cs(tag, 4, extra);
}

std::string begin_read_only()
{
    return is_pg() ? "begin read only" : "start transaction read only";
}

std::string begin_snapshot()
{
    return is_pg() ? "begin isolation level repeatable read read only"
                   : "start transaction with consistent snapshot, read only";
}

long long count_in(soci::session& sql, std::string const& table)
{
    long long n = -1;
    sql << "select count(*) from " + table, soci::into(n);
    return n;
}

} // namespace

BOOST_AUTO_TEST_SUITE(read_only_transactions)

BOOST_AUTO_TEST_CASE(read_only_transaction_runs_every_statement_on_one_replica)
{
    servers srv;
    soci::session sql(soci::routing, ro_cs("ro_one"));
    sql << begin_read_only();
    BOOST_TEST(soci::routing.last_reason(sql) == "read_only_transaction");
    int const first = port_of(sql);
    BOOST_TEST(srv.is_replica_port(first));
    for (int i = 0; i != 6; ++i)  // round robin would alternate between the replicas outside a transaction
    {
        BOOST_TEST(port_of(sql) == first);
        BOOST_TEST(soci::routing.last_reason(sql) == "read_only_transaction");
    }
    sql << "commit";
    BOOST_TEST(srv.is_replica_port(port_of(sql)));
    BOOST_TEST(soci::routing.last_reason(sql) == "select");
}

BOOST_AUTO_TEST_CASE(raii_read_only_transaction_commits_and_rolls_back_on_the_replica)
{
    servers srv;
    soci::session sql(soci::routing, ro_cs("ro_raii"));
    {
        soci::routing_read_only_transaction tr(sql);
        int const first = port_of(sql);
        BOOST_TEST(srv.is_replica_port(first));
        BOOST_TEST(port_of(sql) == first);
        tr.commit();
    }
    {
        soci::routing_read_only_transaction tr(sql);
        BOOST_TEST(srv.is_replica_port(port_of(sql)));
        // goes out of scope: rolled back
    }
    // The session is out of any transaction: a write runs (on the primary), autocommitted.
    scratch_table t(srv, "ro_raii");
    sql << "insert into " + t.name + " (id, v) values (1, 1)";
    BOOST_TEST(count_in(srv.primary, t.name) == 1);
}

BOOST_AUTO_TEST_CASE(read_only_transaction_sees_one_snapshot_while_the_primary_writes)
{
    servers srv;
    scratch_table t(srv, "ro_snap");
    soci::session sql(soci::routing, ro_cs("ro_snap"));
    sql << begin_snapshot();
    BOOST_TEST(count_in(sql, t.name) == 0);
    int const port = port_of(sql);
    BOOST_TEST(srv.is_replica_port(port));
    srv.primary << "insert into " + t.name + " (id, v) values (1, 1)";
    t.wait_replicated();  // every replica has the row now
    BOOST_TEST(count_in(sql, t.name) == 0);  // the transaction's snapshot does not
    BOOST_TEST(port_of(sql) == port);
    sql << "commit";
    BOOST_TEST(count_in(sql, t.name) == 1);
}

BOOST_AUTO_TEST_CASE(write_inside_a_read_only_transaction_gets_the_servers_error)
{
    servers srv;
    scratch_table t(srv, "ro_write");
    soci::session sql(soci::routing, ro_cs("ro_write"));
    sql << begin_read_only();
    BOOST_TEST(srv.is_replica_port(port_of(sql)));
    try
    {
        sql << "insert into " + t.name + " (id, v) values (1, 1)";
        BOOST_FAIL("the write inside a read-only transaction was not refused");
    }
    catch (soci::soci_error const& e)
    {
        std::string const what = e.what();
        BOOST_TEST_MESSAGE("refused: " << what);
        BOOST_TEST((what.find("read-only transaction") != std::string::npos
                    || what.find("READ ONLY transaction") != std::string::npos));
    }
    sql.rollback();
    BOOST_TEST(count_in(srv.primary, t.name) == 0);
}

BOOST_AUTO_TEST_CASE(serializable_read_only_transaction_runs_on_the_primary, *utf::precondition(pg_only()))
{
    servers srv;
    soci::session sql(soci::routing, ro_cs("ro_ser"));
    sql << "begin isolation level serializable read only";
    BOOST_TEST(port_of(sql) == srv.primary_port);
    BOOST_TEST(soci::routing.last_reason(sql) == "transaction");
    sql << "commit";
}

BOOST_AUTO_TEST_CASE(read_only_transaction_right_after_a_write_runs_on_the_primary)
{
    servers srv;
    scratch_table t(srv, "ro_ryw");
    soci::session sql(soci::routing, ro_cs("ro_ryw", "sticky=30"));
    sql << "insert into " + t.name + " (id, v) values (1, 1)";
    sql << begin_read_only();
    BOOST_TEST(soci::routing.last_reason(sql) == "sticky");
    BOOST_TEST(port_of(sql) == srv.primary_port);
    BOOST_TEST(count_in(sql, t.name) == 1);  // read-your-writes
    sql << "commit";
}

BOOST_AUTO_TEST_CASE(unreachable_replica_moves_the_read_only_transaction_to_the_primary)
{
    servers srv;
    // One replica, on a port nothing listens on: the BEGIN cannot run there.
    std::string replica = profile().replicas.front();
    std::size_t const at = replica.find("port=");
    BOOST_REQUIRE(at != std::string::npos);
    replica.replace(at, replica.find(' ', at) - at, "port=1");
    std::string const cs = "primary='" + profile().driver + "://" + profile().primary + "' replica='" + replica +
                           " name=ro_down timeout=1' sticky=0";
    soci::session sql(soci::routing, cs);
    sql << begin_read_only();
    BOOST_TEST(port_of(sql) == srv.primary_port);
    BOOST_TEST(soci::routing.last_reason(sql) == "transaction");
    sql << "commit";
}

BOOST_AUTO_TEST_CASE(replica_lost_after_the_transaction_answered_reaches_the_application)
{
    servers srv;
    soci::session sql(soci::routing, ro_cs("ro_lost"));
    sql << begin_read_only();
    long long id = -1;
    sql << (is_pg() ? "select pg_backend_pid()" : "select connection_id()"), soci::into(id);
    int const port = port_of(sql);
    BOOST_REQUIRE(srv.is_replica_port(port));
    // Kill that connection from a direct session to the same replica (a user may end its own connections).
    for (auto& r : srv.replicas)
    {
        if (port_of(*r) != port)
            continue;
        *r << (is_pg() ? "select pg_terminate_backend(" + std::to_string(id) + ")" : "kill " + std::to_string(id));
    }
    sleep_seconds(0.2);
    BOOST_CHECK_THROW(port_of(sql), soci::soci_error);
    BOOST_CHECK_THROW(port_of(sql), soci::soci_error);  // lost, until the application ends it
    sql.rollback();
    BOOST_TEST(srv.is_replica_port(port_of(sql)));  // and the session goes on
}

BOOST_AUTO_TEST_CASE(replica_lost_before_the_transaction_answered_moves_it_to_the_primary)
{
    servers srv;
    soci::session sql(soci::routing, ro_cs("ro_early"));
    sql << begin_read_only();
    BOOST_REQUIRE(soci::routing.last_reason(sql) == "read_only_transaction");
    // End every connection of the routing user on the replicas but the checking sessions' own: the one that
    // holds the transaction among them. (Idle pooled connections of other tests are replaced silently.)
    for (auto& r : srv.replicas)
    {
        if (is_pg())
            *r << "select count(pg_terminate_backend(pid)) from pg_stat_activity "
                  "where usename = current_user and pid <> pg_backend_pid()";
        else
        {
            std::vector<long long> ids(64);
            *r << "select id from information_schema.processlist where user = 'routing' and id <> connection_id()",
                soci::into(ids);
            for (long long id : ids)
            {
                try
                {
                    *r << "kill " + std::to_string(id);
                }
                catch (soci::soci_error const&)
                {
                    // already gone
                }
            }
        }
    }
    sleep_seconds(0.2);
    // Nothing of the transaction had answered: it begins again on the primary, and the read runs there.
    BOOST_TEST(port_of(sql) == srv.primary_port);
    BOOST_TEST(soci::routing.last_reason(sql) == "fallback");
    BOOST_TEST(port_of(sql) == srv.primary_port);  // and stays there, in its transaction
    BOOST_TEST(soci::routing.last_reason(sql) == "transaction");
    sql << "commit";
    BOOST_TEST(srv.is_replica_port(port_of(sql)));
}

BOOST_AUTO_TEST_CASE(blob_inside_a_read_only_transaction_is_refused, *utf::precondition(pg_only()))
{
    servers srv;
    soci::session sql(soci::routing, ro_cs("ro_blob"));
    sql << begin_read_only();
    BOOST_REQUIRE(srv.is_replica_port(port_of(sql)));
    soci::blob b(sql);
    BOOST_CHECK_THROW((sql << "select 0::oid", soci::into(b)), soci::soci_error);
    sql << "rollback";
}

BOOST_AUTO_TEST_CASE(session_state_change_inside_a_read_only_transaction_is_refused)
{
    servers srv;
    soci::session sql(soci::routing, ro_cs("ro_set"));
    sql << begin_read_only();
    BOOST_CHECK_THROW(sql << (is_pg() ? "set search_path = rt_ro_nowhere" : "set time_zone = '+05:00'"),
                      soci::soci_error);
    if (is_pg())
        sql << "set local statement_timeout = '5s'";  // this transaction only: fine
    sql << "rollback";
    BOOST_TEST(srv.is_replica_port(port_of(sql)));
}

BOOST_AUTO_TEST_CASE(begin_then_set_transaction_read_only_moves_to_a_replica, *utf::precondition(pg_only()))
{
    servers srv;
    soci::session sql(soci::routing, ro_cs("ro_settx"));
    sql << "begin";
    sql << "set transaction isolation level repeatable read, read only";
    BOOST_TEST(soci::routing.last_reason(sql) == "read_only_transaction");
    int const port = port_of(sql);
    BOOST_TEST(srv.is_replica_port(port));
    BOOST_TEST(port_of(sql) == port);
    sql << "commit";
    // soci::transaction, as an application that uses it would write it.
    {
        soci::transaction tr(sql);
        sql << "set transaction read only";
        BOOST_TEST(srv.is_replica_port(port_of(sql)));
        tr.commit();
    }
    // Once the transaction has run a statement on the primary, it stays there.
    sql << "begin";
    BOOST_TEST(port_of(sql) == srv.primary_port);
    sql << "set transaction read only";
    BOOST_TEST(port_of(sql) == srv.primary_port);
    sql << "commit";
}

BOOST_AUTO_TEST_CASE(set_transaction_read_only_then_start_transaction_runs_on_a_replica,
                     *utf::precondition(mysql_only()))
{
    servers srv;
    scratch_table t(srv, "ro_next");
    soci::session sql(soci::routing, ro_cs("ro_next"));
    sql << "set transaction read only";
    sql << "start transaction";
    BOOST_TEST(soci::routing.last_reason(sql) == "read_only_transaction");
    int const port = port_of(sql);
    BOOST_TEST(srv.is_replica_port(port));
    BOOST_CHECK_THROW(sql << "insert into " + t.name + " (id, v) values (1, 1)", soci::soci_error);
    sql << "rollback";
    // The characteristic was for that transaction only: the next one is read-write, on the primary, for this
    // session and for another one that gets the same primary connection.
    sql << "start transaction";
    sql << "insert into " + t.name + " (id, v) values (2, 2)";
    sql << "commit";
    soci::session other(soci::routing, ro_cs("ro_next"));
    other << "start transaction";
    other << "insert into " + t.name + " (id, v) values (3, 3)";
    other << "commit";
    BOOST_TEST(count_in(srv.primary, t.name) == 2);
}

BOOST_AUTO_TEST_SUITE_END()
