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

/// The MariaDB cluster: primary, replica-1.
inline cluster_config mysql_cluster()
{
    cluster_config c;
    c.source = "pools tests";
    c.primary = endpoint_from_env("SOCI_ROUTING_MYSQL_PRIMARY", "primary");
    c.replicas.push_back(endpoint_from_env("SOCI_ROUTING_MYSQL_REPLICA_1", "replica-1"));
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
