// Test support for the pools tests: endpoints of the test clusters (ci/clusters), from the environment.

#ifndef SOCI_ROUTING_TESTS_POOLS_SUPPORT_H_INCLUDED
#define SOCI_ROUTING_TESTS_POOLS_SUPPORT_H_INCLUDED

#include "pools.h"

#include <soci/mysql/soci-mysql.h>
#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <ostream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

namespace soci_routing
{
inline std::ostream& operator<<(std::ostream& out, failure_class f)
{
    return out << to_string(f);
}
} // namespace soci_routing

namespace pools_test
{

using namespace soci_routing;
using std::chrono::milliseconds;
using steady = std::chrono::steady_clock;

/// The value of an environment variable that ci/clusters sets; throws when the clusters are not configured.
inline std::string env(char const* name)
{
    char const* value = std::getenv(name);
    if (value == nullptr || *value == '\0')
        throw std::runtime_error(std::string(name)
                                 + " is not set: start the test clusters (ci/clusters start; eval \"$(ci/clusters env)\")");
    return value;
}

/// An endpoint from a `key=value ...` connect string (libpq conninfo or SOCI mysql).
inline endpoint_config endpoint_from_env(char const* variable, std::string const& name)
{
    endpoint_config ep;
    ep.name = name;
    std::istringstream in(env(variable));
    std::string pair;
    while (in >> pair)
    {
        auto const eq = pair.find('=');
        if (eq == std::string::npos)
            continue;
        std::string const key = pair.substr(0, eq);
        std::string const value = pair.substr(eq + 1);
        if (key == "host") ep.host = value;
        else if (key == "port") ep.port = std::stoi(value);
        else if (key == "dbname" || key == "db") ep.database = value;
        else if (key == "user") ep.username = value;
        else if (key == "password") ep.password = value;
    }
    ep.drv = std::string(variable).find("MYSQL") != std::string::npos ? driver::mysql : driver::postgresql;
    ep.timeout = 2;
    ep.pool.min = 0;
    ep.pool.max = 4;
    ep.pool.wait_timeout = 1.0;
    return ep;
}

/// The PostgreSQL cluster: primary, replica-1, replica-2 (the first `replicas` of them).
inline cluster_config pg_cluster(std::size_t replicas = 2)
{
    cluster_config c;
    c.source = "pools tests";
    c.primary = endpoint_from_env("SOCI_ROUTING_PG_PRIMARY", "primary");
    if (replicas >= 1)
        c.replicas.push_back(endpoint_from_env("SOCI_ROUTING_PG_REPLICA_1", "replica-1"));
    if (replicas >= 2)
        c.replicas.push_back(endpoint_from_env("SOCI_ROUTING_PG_REPLICA_2", "replica-2"));
    return c;
}

/// The MariaDB cluster: primary, replica-1 (the first `replicas` of them: 0 or 1).
inline cluster_config mysql_cluster(std::size_t replicas = 1)
{
    cluster_config c;
    c.source = "pools tests";
    c.primary = endpoint_from_env("SOCI_ROUTING_MYSQL_PRIMARY", "primary");
    if (replicas >= 1)
        c.replicas.push_back(endpoint_from_env("SOCI_ROUTING_MYSQL_REPLICA_1", "replica-1"));
    return c;
}

/// The driver under test: SOCI_ROUTING_TEST_DRIVER, "postgresql" (also when unset) or "mysql". The same test
/// programs are registered once per driver (tests/pools/CMakeLists.txt).
inline driver test_driver()
{
    char const* value = std::getenv("SOCI_ROUTING_TEST_DRIVER");
    std::string const name = value == nullptr ? "" : value;
    if (name.empty() || name == "postgresql")
        return driver::postgresql;
    if (name == "mysql")
        return driver::mysql;
    throw std::runtime_error("SOCI_ROUTING_TEST_DRIVER: expected \"postgresql\" or \"mysql\", got \"" + name + "\"");
}

inline bool testing_mysql()
{
    return test_driver() == driver::mysql;
}

/// How many real replicas the cluster under test has: 2 PostgreSQL hot standbys, 1 MariaDB replica.
inline std::size_t replica_count()
{
    return testing_mysql() ? 1 : 2;
}

/// The cluster of the driver under test with its first `replicas` replicas (at most replica_count()).
inline cluster_config test_cluster(std::size_t replicas)
{
    if (replicas > replica_count())
        throw std::logic_error("the test cluster has only " + std::to_string(replica_count()) + " replicas");
    return testing_mysql() ? mysql_cluster(replicas) : pg_cluster(replicas);
}

/// The cluster of the driver under test with every replica.
inline cluster_config test_cluster()
{
    return test_cluster(replica_count());
}

/// Two read targets on distinct servers, for balancing: the two PostgreSQL standbys; with MariaDB, which has
/// one replica, replica-1 and the primary configured as a second replica named "replica-2" (the pools do not
/// look at roles when balancing; the server port still tells the two apart).
inline cluster_config two_read_targets()
{
    if (!testing_mysql())
        return pg_cluster(2);
    auto c = mysql_cluster(1);
    auto second = c.primary;
    second.name = "replica-2";
    c.replicas.push_back(second);
    return c;
}

/// An endpoint nobody listens on (connects are refused at once).
inline endpoint_config closed_port(endpoint_config ep, std::string const& name)
{
    ep.name = name;
    ep.host = "127.0.0.1";
    ep.port = 1;
    return ep;
}

/// A new session of SOCI's own backend (not a pool's).
inline soci::session connect(endpoint_config const& ep)
{
    return soci::session(ep.drv == driver::mysql ? static_cast<soci::backend_factory const&>(soci::mysql)
                                                 : static_cast<soci::backend_factory const&>(soci::postgresql),
                         ep.connect_string());
}

/// The port of the server a session is connected to, as the server reports it.
inline int server_port(soci::session& sql, driver d)
{
    int port = 0;
    if (d == driver::postgresql)
        sql << "SELECT inet_server_port()", soci::into(port);
    else
        sql << "SELECT @@port", soci::into(port);
    return port;
}

inline int server_port(soci::session& sql)
{
    return server_port(sql, test_driver());
}

/// A query that returns 1 after sleeping `seconds` on the server.
inline std::string sleep_then_one(double seconds)
{
    std::ostringstream q;
    if (testing_mysql())
        q << "SELECT 1 + SLEEP(" << seconds << ")";
    else
        q << "SELECT 1 FROM pg_sleep(" << seconds << ")";
    return q.str();
}

/// One transaction on the primary that its replicas must replay (PostgreSQL: a new transaction id;
/// MariaDB: a new GTID).
inline void write_on_primary(soci::session& primary)
{
    if (testing_mysql())
    {
        primary << "CREATE TABLE IF NOT EXISTS pools_test_ticks (id INT PRIMARY KEY, n BIGINT NOT NULL)";
        primary << "INSERT INTO pools_test_ticks (id, n) VALUES (1, 1) ON DUPLICATE KEY UPDATE n = n + 1";
    }
    else
    {
        long long xid = 0;
        primary << "SELECT txid_current()", soci::into(xid);
    }
}

/// Stops a replica from applying what its primary sends (PostgreSQL: pg_wal_replay_pause(); MariaDB:
/// STOP SLAVE SQL_THREAD, or STOP SLAVE IO_THREAD with `io_thread`); resumes when destroyed, whatever happened
/// in between. Run under the clusters' test lock: other test programs share the replicas.
class replication_pause
{
public:
    explicit replication_pause(endpoint_config const& replica, bool io_thread = false)
        : replica_(replica)
        , sql_(connect(replica))
        , mysql_(replica.drv == driver::mysql)
        , thread_(io_thread ? "IO_THREAD" : "SQL_THREAD")
    {
        if (io_thread && !mysql_)
            throw std::logic_error("PostgreSQL has no replication IO thread to stop");
        sql_ << (mysql_ ? "STOP SLAVE " + thread_ : std::string("SELECT pg_wal_replay_pause()"));
        paused_ = true;
    }
    ~replication_pause()
    {
        for (int attempt = 0; attempt < 2 && paused_; ++attempt)
        {
            try
            {
                if (attempt > 0)
                    sql_.reconnect();  // the pausing connection may be the one that broke
                resume();
            }
            catch (std::exception const& e)
            {
                std::cerr << "could not resume replication on " << replica_.address() << ": " << e.what() << "\n";
            }
        }
    }
    replication_pause(replication_pause const&) = delete;
    replication_pause& operator=(replication_pause const&) = delete;

    void resume()
    {
        if (!paused_)
            return;
        sql_ << (mysql_ ? "START SLAVE " + thread_ : std::string("SELECT pg_wal_replay_resume()"));
        paused_ = false;
    }

private:
    endpoint_config replica_;
    soci::session sql_;
    bool mysql_;
    std::string thread_;
    bool paused_ = false;
};

/// The server's id of a session's connection (PostgreSQL backend pid, MySQL connection id).
inline long long connection_id(soci::session& sql)
{
    long long id = 0;
    sql << (testing_mysql() ? "SELECT CONNECTION_ID()" : "SELECT pg_backend_pid()"), soci::into(id);
    return id;
}

/// Ends connection `id` of `server` from another session (the test user may end its own connections):
/// PostgreSQL pg_terminate_backend() (waiting until the backend is gone), MySQL KILL CONNECTION.
inline void kill_connection(endpoint_config const& server, long long id)
{
    auto admin = connect(server);
    if (testing_mysql())
        admin << "KILL CONNECTION " + std::to_string(id);
    else
    {
        int ended = 0;
        admin << "SELECT pg_terminate_backend(:pid, 5000)::int", soci::use(id), soci::into(ended);
        if (ended != 1)
            throw std::runtime_error("pg_terminate_backend(" + std::to_string(id) + ") did not end the backend");
    }
}

/// A statement that a replica refuses because it is read-only (PostgreSQL 25006, MySQL 1290).
inline std::string write_refused_by_a_replica()
{
    return testing_mysql() ? "CREATE TABLE pools_ro_probe (i int)" : "CREATE TEMP TABLE pools_ro_probe (i int)";
}

/// A statement that runs into a statement timeout of 50 ms (PostgreSQL 57014, MariaDB 1969). On PostgreSQL it
/// sets statement_timeout for the rest of the session first.
inline void run_into_a_timeout(soci::session& sql)
{
    if (testing_mysql())
        sql << "SET STATEMENT max_statement_time = 0.05 FOR SELECT SLEEP(2)";
    else
    {
        sql << "SET statement_timeout = 50";
        sql << "SELECT pg_sleep(2)";
    }
}

/// Polls `condition` until it holds or `limit` passes; returns whether it held.
inline bool eventually(std::function<bool()> const& condition, milliseconds limit = milliseconds(5000),
                       milliseconds step = milliseconds(10))
{
    auto const deadline = steady::now() + limit;
    for (;;)
    {
        if (condition())
            return true;
        if (steady::now() >= deadline)
            return false;
        std::this_thread::sleep_for(step);
    }
}

/// Milliseconds since the Unix epoch.
inline std::int64_t unix_ms()
{
    return std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

} // namespace pools_test

#endif
