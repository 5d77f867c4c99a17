// The fixture of the routing integration tests: a driver profile (PostgreSQL by default, MySQL with
// SOCI_ROUTING_TEST_DRIVER=mysql), direct sessions to every server for setup and checks, and helpers that ask a
// server which port it listens on, so that every check names where a statement really ran.

#ifndef SOCI_ROUTING_TESTS_ROUTING_FIXTURE_H_INCLUDED
#define SOCI_ROUTING_TESTS_ROUTING_FIXTURE_H_INCLUDED

#include <boost/test/unit_test.hpp>

#include <soci/soci.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

namespace routing_test
{

/// What differs between the PostgreSQL and the MySQL clusters.
struct driver_profile
{
    std::string driver;                      ///< "postgresql" or "mysql"
    std::string toml;                        ///< the generated soci-routing config file
    std::string primary;                     ///< the primary's SOCI connect string (driver's own syntax)
    std::vector<std::string> replicas;       ///< each replica's
    std::string port_query;                  ///< a read that returns the server's port
};

inline std::string env(char const* name)
{
    char const* v = std::getenv(name);
    return v ? std::string(v) : std::string();
}

inline driver_profile const& profile()
{
    static driver_profile const p = [] {
        driver_profile d;
        d.driver = env("SOCI_ROUTING_TEST_DRIVER");
        if (d.driver.empty() || d.driver == "pg")
            d.driver = "postgresql";
        if (d.driver == "postgresql")
        {
            d.toml = env("SOCI_ROUTING_PG_TOML");
            d.primary = env("SOCI_ROUTING_PG_PRIMARY");
            for (char const* r : {"SOCI_ROUTING_PG_REPLICA_1", "SOCI_ROUTING_PG_REPLICA_2"})
                if (!env(r).empty())
                    d.replicas.push_back(env(r));
            d.port_query = "select inet_server_port()";
        }
        else
        {
            d.toml = env("SOCI_ROUTING_MYSQL_TOML");
            d.primary = env("SOCI_ROUTING_MYSQL_PRIMARY");
            if (!env("SOCI_ROUTING_MYSQL_REPLICA_1").empty())
                d.replicas.push_back(env("SOCI_ROUTING_MYSQL_REPLICA_1"));
            d.port_query = "select @@port";
        }
        if (d.toml.empty() || d.primary.empty())
            throw std::runtime_error("the test clusters' environment is not set: run eval \"$(ci/clusters env)\"");
        return d;
    }();
    return p;
}

inline bool is_pg()
{
    return profile().driver == "postgresql";
}

/// Test preconditions: `*boost::unit_test::precondition(pg_only())` skips a case on the other driver.
struct pg_only
{
    boost::test_tools::assertion_result operator()(boost::unit_test::test_unit_id) const
    {
        boost::test_tools::assertion_result r(is_pg());
        r.message() << "PostgreSQL only";
        return r;
    }
};

struct mysql_only
{
    boost::test_tools::assertion_result operator()(boost::unit_test::test_unit_id) const
    {
        boost::test_tools::assertion_result r(!is_pg());
        r.message() << "MySQL only";
        return r;
    }
};

/// The part after `routing://`: the cluster's config file, with inline overrides (`sticky=0.3`).
inline std::string routing_cs(std::string const& overrides = std::string())
{
    std::string cs = "config=" + profile().toml;
    if (!overrides.empty())
        cs += " " + overrides;
    return cs;
}

/// An inline configuration over the test cluster whose pools hold `pool_max` connections each (a 2 s wait), and
/// `extra` settings. `tag` names the replicas, which makes the cluster (its pools and their counters) the
/// caller's own.
inline std::string own_cluster_cs(std::string const& tag, int pool_max, std::string const& extra)
{
    std::string cs = "primary='" + profile().driver + "://" + profile().primary + " pool_max=" +
                     std::to_string(pool_max) + " pool_wait_timeout=2'";
    int i = 0;
    for (std::string const& r : profile().replicas)
        cs += " replica='" + r + " name=" + tag + "_" + std::to_string(++i) + "'";
    return cs + " " + extra;
}

/// The port of the server that ran the port query, run through `sql` (routed like any read).
inline int port_of(soci::session& sql)
{
    int port = 0;
    sql << profile().port_query, soci::into(port);
    return port;
}

/// Opens a direct session, waiting (bounded) while the server restarts: other suites stop and start nodes
/// of the shared clusters.
inline void open_direct(soci::session& s, std::string const& cs)
{
    auto const deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    for (;;)
    {
        try
        {
            s.open(profile().driver, cs);
            return;
        }
        catch (soci::soci_error const&)
        {
            if (std::chrono::steady_clock::now() > deadline)
                throw;
            std::this_thread::sleep_for(std::chrono::milliseconds(250));
        }
    }
}

/// Direct sessions to each server, and their ports.
struct servers
{
    servers()
    {
        open_direct(primary, profile().primary);
        primary_port = port_of(primary);
        for (std::string const& r : profile().replicas)
        {
            replicas.push_back(std::make_unique<soci::session>());
            open_direct(*replicas.back(), r);
            replica_ports.insert(port_of(*replicas.back()));
        }
    }

    bool is_replica_port(int port) const { return replica_ports.count(port) == 1; }

    /// Waits (bounded) until every replica sees what `count_query` counts on the primary.
    void wait_replicated(std::string const& count_query)
    {
        long long expected = -1;
        primary << count_query, soci::into(expected);
        for (auto& r : replicas)
        {
            long long seen = -2;
            auto const deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
            for (;;)
            {
                try
                {
                    *r << count_query, soci::into(seen);
                }
                catch (soci::soci_error const&)
                {
                    seen = -2;  // the table may not have arrived yet
                }
                if (seen == expected || std::chrono::steady_clock::now() > deadline)
                    break;
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
            }
            BOOST_REQUIRE_MESSAGE(seen == expected, "a replica did not replay \"" << count_query << "\" in time");
        }
    }

    soci::session primary;
    int primary_port = 0;
    std::vector<std::unique_ptr<soci::session>> replicas;
    std::set<int> replica_ports;
};

/// A table name of this process (tests of several builds may share the cluster).
inline std::string table_name(std::string const& base)
{
    return "rt_" + base + "_" + std::to_string(::getpid());
}

/// Creates `name(id integer primary key, v integer, s varchar(100))` on the primary and waits until every
/// replica has it; drops it at the end.
struct scratch_table
{
    scratch_table(servers& s, std::string const& base) : srv(s), name(table_name(base))
    {
        srv.primary << "drop table if exists " + name;
        srv.primary << "create table " + name + " (id integer primary key, v integer, s varchar(100))";
        srv.wait_replicated("select count(*) from " + name);
    }
    ~scratch_table()
    {
        try
        {
            srv.primary << "drop table if exists " + name;
        }
        catch (...)
        {
        }
    }
    void wait_replicated() { srv.wait_replicated("select count(*) from " + name); }

    servers& srv;
    std::string name;
};

inline void sleep_seconds(double s)
{
    std::this_thread::sleep_for(std::chrono::duration<double>(s));
}

} // namespace routing_test

#endif // SOCI_ROUTING_TESTS_ROUTING_FIXTURE_H_INCLUDED
