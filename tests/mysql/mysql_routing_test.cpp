// MySQL/MariaDB parity of the routing backend: every routing guarantee, on SOCI's mysql backend, against the
// real MariaDB primary (127.0.0.1:13306) and read_only replica (13307) that `ci/clusters start mysql` runs.
//
// Where a statement ran is asserted two ways: by the server's own answer (`SELECT @@port` inside the routed
// statement, or a row that records `@@port` of the server that inserted it) and by the routing API
// (soci::routing.last_endpoint, last_reason, and the per-endpoint stats counters). The counters matter on
// MySQL: a write misrouted to the read_only replica fails with 1290, which the failure policy retries on the
// primary — so "the insert worked" alone would not prove it was routed right; "the replica saw no statement,
// no failure and no fallback" does.
//
// Environment (eval "$(ci/clusters env)"): SOCI_ROUTING_MYSQL_PRIMARY, SOCI_ROUTING_MYSQL_REPLICA_1,
// SOCI_ROUTING_MYSQL_TOML, SOCI_ROUTING_PG_TOML, SOCI_ROUTING_CLUSTER_DIR, SOCI_ROUTING_MYSQL_ADMIN_SOCKET;
// SOCI_BACKENDS_PATH finds the plugin (CTest sets it); SOCI_ROUTING_CLUSTERS may name another ci/clusters.
// Runs as root: it kills and restarts the replica with ci/clusters, and uses root over the servers' unix
// sockets to stop replication for a moment and to create a stored function (binary logging is on).

#define BOOST_TEST_MODULE mysql_routing
#include <boost/test/unit_test.hpp>

#include <soci/mysql/soci-mysql.h>
#include <soci/routing/soci-routing.h>
#include <soci/soci.h>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#ifndef SOCI_ROUTING_CLUSTERS_SCRIPT
#define SOCI_ROUTING_CLUSTERS_SCRIPT "ci/clusters"
#endif

using namespace std::chrono_literals;

namespace
{

// ------------------------------------------------------------------------------------------ environment

std::string env_or_throw(char const* name)
{
    char const* v = std::getenv(name);
    if (v == nullptr || *v == '\0')
    {
        throw std::runtime_error(std::string(name) +
                                 " is not set: run `ci/clusters start` and `eval \"$(ci/clusters env)\"` first");
    }
    return v;
}

// The value of `key=` in a SOCI connect string ("host=127.0.0.1 port=13306 ...").
std::string connect_value(std::string const& cs, std::string const& key)
{
    std::string const needle = key + "=";
    std::size_t pos = 0;
    while ((pos = cs.find(needle, pos)) != std::string::npos)
    {
        if (pos == 0 || cs[pos - 1] == ' ')
        {
            std::size_t const start = pos + needle.size();
            std::size_t const end = cs.find(' ', start);
            return cs.substr(start, end == std::string::npos ? std::string::npos : end - start);
        }
        pos += needle.size();
    }
    throw std::runtime_error("no " + key + "= in a connect string");
}

std::string primary_cs() { return env_or_throw("SOCI_ROUTING_MYSQL_PRIMARY"); }
std::string replica_cs() { return env_or_throw("SOCI_ROUTING_MYSQL_REPLICA_1"); }
int primary_port() { return std::stoi(connect_value(primary_cs(), "port")); }
int replica_port() { return std::stoi(connect_value(replica_cs(), "port")); }

// `routing://config=<the cluster's TOML> <overrides>`
std::string routed(std::string const& overrides = "")
{
    std::string cs = "routing://config=" + env_or_throw("SOCI_ROUTING_MYSQL_TOML");
    if (!overrides.empty())
    {
        cs += " " + overrides;
    }
    return cs;
}

// No read-after-write window: reads go to the replica right after a write, so that anything that still
// lands on the primary does so for the reason under test.
std::string routed_no_sticky() { return routed("sticky=0"); }

// Names unique to this process: several engineers and CI runs share the clusters.
std::string const& prefix()
{
    static std::string const p = "mp" + std::to_string(::getpid());
    return p;
}
std::string items() { return prefix() + "_items"; }
std::string sequence() { return prefix() + "_seq"; }
std::string unique_tag(std::string const& what)
{
    static int n = 0;
    return what + "-" + std::to_string(++n);
}

// ------------------------------------------------------------------------------------- direct sessions

// A plain (unrouted) session to the primary, for setup and for checking what the routed session did.
soci::session& direct_primary()
{
    static soci::session s(soci::mysql, primary_cs());
    return s;
}

// Waits (bounded) until the replica has applied everything the primary has written so far.
void wait_for_replication()
{
    std::string pos;
    direct_primary() << "SELECT @@gtid_binlog_pos", soci::into(pos);
    soci::session replica(soci::mysql, replica_cs());
    int rc = -1;
    soci::indicator ind = soci::i_null;
    replica << "SELECT MASTER_GTID_WAIT(:pos, 10)", soci::use(pos), soci::into(rc, ind);
    BOOST_REQUIRE_MESSAGE(ind == soci::i_ok && rc == 0,
                          "the replica did not reach GTID position " << pos << " within 10 s");
}

long long count_on_primary(std::string const& tag)
{
    long long n = -1;
    direct_primary() << "SELECT count(*) FROM " + items() + " WHERE tag = :tag", soci::use(tag), soci::into(n);
    return n;
}

// -------------------------------------------------------------------------------- routing observations

int port(soci::session& sql)
{
    int p = 0;
    sql << "SELECT @@port", soci::into(p);
    return p;
}

std::string where(soci::session& sql) { return soci::routing.last_endpoint(sql); }
std::string why(soci::session& sql) { return soci::routing.last_reason(sql); }

struct endpoint_counts
{
    bool found = false;
    std::uint64_t statements = 0;
    std::uint64_t fallbacks = 0;
    std::uint64_t failures = 0;
    std::uint64_t reason(std::string const& r) const
    {
        auto it = by_reason.find(r);
        return it == by_reason.end() ? 0 : it->second;
    }
    std::map<std::string, std::uint64_t> by_reason;
};

struct counts
{
    endpoint_counts primary;
    endpoint_counts replica;
};

endpoint_counts endpoint(soci::routing_stats const& st, std::string const& name)
{
    endpoint_counts c;
    for (auto const& e : st.endpoints)
    {
        if (e.name == name)
        {
            c.found = true;
            c.statements = e.statements;
            c.fallbacks = e.fallbacks;
            c.failures = e.failures;
            c.by_reason = e.by_reason;
        }
    }
    return c;
}

counts snapshot(soci::session& sql)
{
    auto const st = soci::routing.stats(sql);
    counts c{endpoint(st, "primary"), endpoint(st, "replica-1")};
    BOOST_REQUIRE_MESSAGE(c.primary.found && c.replica.found,
                          "stats must list the endpoints \"primary\" and \"replica-1\"");
    return c;
}

// Since `before`: the session's last statement ran on the primary, and the replica saw nothing at all
// (no statement, no failure, no fallback: a misrouted write refused with 1290 and retried would show there).
void expect_only_primary_since(soci::session& sql, counts const& before)
{
    counts const after = snapshot(sql);
    BOOST_TEST(where(sql) == "primary");
    BOOST_TEST(after.primary.statements > before.primary.statements);
    BOOST_TEST(after.replica.statements == before.replica.statements);
    BOOST_TEST(after.replica.failures == before.replica.failures);
    BOOST_TEST(after.replica.fallbacks == before.replica.fallbacks);
}

// The same for a statement that failed, by the counters alone (see last_endpoint_names_the_endpoint_of_a_
// failed_statement for what the routing API says about it).
void expect_failed_only_on_primary_since(soci::session& sql, counts const& before)
{
    counts const after = snapshot(sql);
    BOOST_TEST(after.primary.statements > before.primary.statements);
    BOOST_TEST(after.replica.statements == before.replica.statements);
    BOOST_TEST(after.replica.failures == before.replica.failures);
    BOOST_TEST(after.replica.fallbacks == before.replica.fallbacks);
}

// ---------------------------------------------------------------------------------------- ci/clusters

std::string clusters_script()
{
    char const* v = std::getenv("SOCI_ROUTING_CLUSTERS");
    return v != nullptr && *v != '\0' ? v : SOCI_ROUTING_CLUSTERS_SCRIPT;
}

int clusters(std::string const& args)
{
    std::string const cmd = "'" + clusters_script() + "' " + args + " >/dev/null";
    int const rc = std::system(cmd.c_str());
    return rc == -1 ? -1 : WEXITSTATUS(rc);
}

bool g_replica_down = false;

bool replica_reachable()
{
    try
    {
        soci::session s(soci::mysql, replica_cs());
        int one = 0;
        s << "SELECT 1", soci::into(one);
        return one == 1;
    }
    catch (std::exception const&)
    {
        return false;
    }
}

void restart_replica()
{
    int const rc = clusters("start-node mysql-replica-1");
    if (rc != 0)
    {
        BOOST_TEST_MESSAGE("ci/clusters start-node mysql-replica-1 exited with " << rc);
    }
    g_replica_down = false;
}

// Kills the replica (SIGKILL) for the life of the object; the destructor starts it again, whatever happened.
struct replica_killed
{
    replica_killed()
    {
        // a replica SIGKILLed while it applies DDL logs that DDL's recovery under its own server id on restart
        // (a GTID of its own): let it be idle first, at least as far as this suite is concerned
        wait_for_replication();
        g_replica_down = true;
        BOOST_REQUIRE_EQUAL(clusters("kill mysql-replica-1"), 0);
        BOOST_REQUIRE_MESSAGE(!replica_reachable(), "the replica still answers after ci/clusters kill");
    }
    ~replica_killed()
    {
        if (g_replica_down)
        {
            restart_replica();
        }
    }
    replica_killed(replica_killed const&) = delete;
    replica_killed& operator=(replica_killed const&) = delete;
};

// ------------------------------------------------------------------------------------- global fixture

// Two runs of this suite at once (two engineers, two build dirs) would kill each other's replica: a run holds an
// exclusive lock on a file in the clusters' state directory from start to end (waiting up to two minutes).
struct run_lock
{
    int fd = -1;
    run_lock()
    {
        std::string const path = env_or_throw("SOCI_ROUTING_CLUSTER_DIR") + "/.mysql-routing-test.lock";
        fd = ::open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
        if (fd < 0)
        {
            throw std::runtime_error("cannot open " + path);
        }
        auto const deadline = std::chrono::steady_clock::now() + 120s;
        while (::flock(fd, LOCK_EX | LOCK_NB) != 0)
        {
            if (std::chrono::steady_clock::now() > deadline)
            {
                throw std::runtime_error("another mysql_routing_test run holds " + path + " for over 120 s");
            }
            std::this_thread::sleep_for(200ms);
        }
    }
    ~run_lock()
    {
        if (fd >= 0)
        {
            ::close(fd);  // releases the lock
        }
    }
    run_lock(run_lock const&) = delete;
    run_lock& operator=(run_lock const&) = delete;
};

struct cluster_fixture
{
    run_lock lock;

    cluster_fixture()
    {
        // a crashed earlier run may have left the replica down: heal it, or nothing below means anything
        if (!replica_reachable())
        {
            BOOST_TEST_MESSAGE("the MariaDB replica is down; starting it");
            restart_replica();
        }
        soci::session& p = direct_primary();
        p << "DROP TABLE IF EXISTS " + items();
        p << "CREATE TABLE " + items() +
                 " (id BIGINT AUTO_INCREMENT PRIMARY KEY, tag VARCHAR(64) NOT NULL UNIQUE, port INT NOT NULL)";
        p << "DROP SEQUENCE IF EXISTS " + sequence();
        p << "CREATE SEQUENCE " + sequence();
        wait_for_replication();
    }
    ~cluster_fixture()
    {
        if (g_replica_down)
        {
            restart_replica();
        }
        try
        {
            direct_primary() << "DROP TABLE IF EXISTS " + items();
            direct_primary() << "DROP SEQUENCE IF EXISTS " + sequence();
        }
        catch (std::exception const& e)
        {
            BOOST_TEST_MESSAGE("cleanup: " << e.what());
        }
    }
};

} // namespace

BOOST_TEST_GLOBAL_FIXTURE(cluster_fixture);

// ====================================================================================== the guarantees

BOOST_AUTO_TEST_SUITE(routing_guarantees_on_mysql)

BOOST_AUTO_TEST_CASE(plain_read_routes_to_replica)
{
    soci::session sql(routed());
    BOOST_TEST(where(sql).empty());  // before the first statement
    auto const before = snapshot(sql);
    BOOST_TEST(port(sql) == replica_port());
    BOOST_TEST(where(sql) == "replica-1");
    BOOST_TEST(why(sql) == "select");

    long long n = -1;
    int p = 0;
    sql << "SELECT count(*), @@port FROM " + items(), soci::into(n), soci::into(p);
    BOOST_TEST(p == replica_port());
    BOOST_TEST(n >= 0);

    // a row-typed rowset (describe, then fetch row by row) reads the replica too
    soci::rowset<soci::row> rows = (sql.prepare << "SELECT CAST(@@port AS CHAR) AS port, @@read_only AS ro");
    int seen = 0;
    for (auto const& r : rows)
    {
        ++seen;
        BOOST_TEST(r.get<std::string>("port") == std::to_string(replica_port()));
    }
    BOOST_TEST(seen == 1);
    BOOST_TEST(where(sql) == "replica-1");

    auto const after = snapshot(sql);
    BOOST_TEST(after.replica.statements == before.replica.statements + 3);
    BOOST_TEST(after.primary.statements == before.primary.statements);
}

BOOST_AUTO_TEST_CASE(show_routes_to_replica)
{
    soci::session sql(routed());
    std::string name, value;
    sql << "SHOW VARIABLES LIKE 'port'", soci::into(name), soci::into(value);
    BOOST_TEST(value == std::to_string(replica_port()));
    BOOST_TEST(where(sql) == "replica-1");
    BOOST_TEST(why(sql) == "show");
}

BOOST_AUTO_TEST_CASE(backend_name_is_mysql_and_session_is_routed)
{
    soci::session by_name(routed());
    BOOST_TEST(by_name.get_backend_name() == "mysql");
    BOOST_TEST(soci::routing.is_routed(by_name));

    // the same through the factory object, as with soci::mysql
    soci::session by_factory(soci::routing, "config=" + env_or_throw("SOCI_ROUTING_MYSQL_TOML"));
    BOOST_TEST(by_factory.get_backend_name() == "mysql");
    BOOST_TEST(port(by_factory) == replica_port());

    soci::session plain(soci::mysql, primary_cs());
    BOOST_TEST(!soci::routing.is_routed(plain));
}

BOOST_AUTO_TEST_CASE(insert_routes_to_primary)
{
    soci::session sql(routed());
    auto const before = snapshot(sql);
    std::string const tag = unique_tag("insert");
    // the row records the port of the server that executed the INSERT
    sql << "INSERT INTO " + items() + " (tag, port) VALUES (:tag, @@port)", soci::use(tag);
    expect_only_primary_since(sql, before);
    BOOST_TEST(why(sql) == "write");

    int p = 0;
    direct_primary() << "SELECT port FROM " + items() + " WHERE tag = :tag", soci::use(tag), soci::into(p);
    BOOST_TEST(p == primary_port());
}

BOOST_AUTO_TEST_CASE(update_delete_and_bulk_insert_route_to_primary)
{
    soci::session sql(routed_no_sticky());
    auto const before = snapshot(sql);
    std::vector<std::string> tags{unique_tag("bulk"), unique_tag("bulk"), unique_tag("bulk")};
    sql << "INSERT INTO " + items() + " (tag, port) VALUES (:tag, @@port)", soci::use(tags);
    expect_only_primary_since(sql, before);

    auto const before_update = snapshot(sql);
    sql << "UPDATE " + items() + " SET port = @@port + 1 WHERE tag = :tag", soci::use(tags[0]);
    expect_only_primary_since(sql, before_update);

    auto const before_delete = snapshot(sql);
    sql << "DELETE FROM " + items() + " WHERE tag = :tag", soci::use(tags[1]);
    expect_only_primary_since(sql, before_delete);

    int p = 0;
    direct_primary() << "SELECT port FROM " + items() + " WHERE tag = :tag", soci::use(tags[0]), soci::into(p);
    BOOST_TEST(p == primary_port() + 1);
    BOOST_TEST(count_on_primary(tags[1]) == 0);
    BOOST_TEST(count_on_primary(tags[2]) == 1);
}

BOOST_AUTO_TEST_CASE(read_your_write_goes_to_primary_inside_sticky_window_then_replica)
{
    soci::session sql(routed("sticky=0.5"));
    BOOST_TEST(port(sql) == replica_port());

    std::string const tag = unique_tag("ryw");
    sql << "INSERT INTO " + items() + " (tag, port) VALUES (:tag, @@port)", soci::use(tag);

    long long n = -1;
    int p = 0;
    sql << "SELECT count(*), @@port FROM " + items() + " WHERE tag = :tag", soci::use(tag), soci::into(n),
        soci::into(p);
    BOOST_TEST(p == primary_port());
    BOOST_TEST(n == 1);  // the session reads its own write
    BOOST_TEST(where(sql) == "primary");

    std::this_thread::sleep_for(700ms);
    wait_for_replication();
    sql << "SELECT count(*), @@port FROM " + items() + " WHERE tag = :tag", soci::use(tag), soci::into(n),
        soci::into(p);
    BOOST_TEST(p == replica_port());
    BOOST_TEST(n == 1);
    BOOST_TEST(where(sql) == "replica-1");
}

BOOST_AUTO_TEST_CASE(prepared_read_is_rerouted_by_a_write_between_executes)
{
    soci::session sql(routed("sticky=0.5"));
    std::string tag = unique_tag("prepared");
    long long n = -1;
    int p = 0;
    soci::statement st = (sql.prepare << "SELECT count(*), @@port FROM " + items() + " WHERE tag = :tag",
                          soci::use(tag), soci::into(n), soci::into(p));
    st.execute(true);
    BOOST_TEST(p == replica_port());
    BOOST_TEST(n == 0);

    sql << "INSERT INTO " + items() + " (tag, port) VALUES (:tag, @@port)", soci::use(tag);

    st.execute(true);  // same prepared statement: now inside the read-after-write window
    BOOST_TEST(p == primary_port());
    BOOST_TEST(n == 1);  // its binding was replayed on the primary

    std::this_thread::sleep_for(700ms);
    wait_for_replication();
    st.execute(true);
    BOOST_TEST(p == replica_port());
    BOOST_TEST(n == 1);
}

BOOST_AUTO_TEST_CASE(raw_transaction_statements_keep_the_session_on_primary_until_it_ends)
{
    // (START TRANSACTION READ ONLY runs on a replica: tests/routing/test-read-only-transactions.cpp.)
    char const* const begins[] = {"BEGIN", "BEGIN WORK", "START TRANSACTION", "start transaction read write",
                                  "START TRANSACTION WITH CONSISTENT SNAPSHOT"};
    char const* const ends[] = {"COMMIT", "ROLLBACK", "COMMIT WORK", "ROLLBACK WORK", "commit"};
    for (std::size_t i = 0; i < sizeof begins / sizeof begins[0]; ++i)
    {
        BOOST_TEST_CONTEXT(begins[i] << " ... " << ends[i])
        {
            soci::session sql(routed_no_sticky());
            BOOST_TEST(port(sql) == replica_port());
            sql << begins[i];
            BOOST_TEST(where(sql) == "primary");
            BOOST_TEST(port(sql) == primary_port());
            BOOST_TEST(why(sql) == "transaction");
            BOOST_TEST(port(sql) == primary_port());
            sql << ends[i];
            BOOST_TEST(where(sql) == "primary");
            BOOST_TEST(port(sql) == replica_port());
        }
    }
}

BOOST_AUTO_TEST_CASE(raw_start_transaction_runs_its_writes_and_reads_on_one_primary_connection)
{
    soci::session sql(routed_no_sticky());
    std::string const tag = unique_tag("rawtx");
    sql << "START TRANSACTION";
    sql << "INSERT INTO " + items() + " (tag, port) VALUES (:tag, @@port)", soci::use(tag);
    long long n = -1;
    int p = 0;
    sql << "SELECT count(*), @@port FROM " + items() + " WHERE tag = :tag", soci::use(tag), soci::into(n),
        soci::into(p);
    BOOST_TEST(p == primary_port());
    BOOST_TEST(n == 1);  // its own uncommitted row: the same connection
    sql << "ROLLBACK";
    BOOST_TEST(count_on_primary(tag) == 0);  // the rollback undid it: it was inside the transaction
    BOOST_TEST(port(sql) == replica_port());
}

BOOST_AUTO_TEST_CASE(soci_transaction_keeps_the_session_on_primary_until_commit_or_rollback)
{
    soci::session sql(routed_no_sticky());
    std::string const committed = unique_tag("tx-commit");
    std::string const rolled_back = unique_tag("tx-rollback");
    {
        soci::transaction tr(sql);
        BOOST_TEST(port(sql) == primary_port());
        BOOST_TEST(why(sql) == "transaction");
        sql << "INSERT INTO " + items() + " (tag, port) VALUES (:tag, @@port)", soci::use(committed);
        long long n = -1;
        sql << "SELECT count(*) FROM " + items() + " WHERE tag = :tag", soci::use(committed), soci::into(n);
        BOOST_TEST(n == 1);
        BOOST_TEST(where(sql) == "primary");
        tr.commit();
    }
    BOOST_TEST(port(sql) == replica_port());
    {
        soci::transaction tr(sql);
        sql << "INSERT INTO " + items() + " (tag, port) VALUES (:tag, @@port)", soci::use(rolled_back);
        BOOST_TEST(port(sql) == primary_port());
        tr.rollback();
    }
    BOOST_TEST(port(sql) == replica_port());
    {
        soci::transaction tr(sql);  // destroyed without commit: rolls back
        BOOST_TEST(port(sql) == primary_port());
    }
    BOOST_TEST(port(sql) == replica_port());
    BOOST_TEST(count_on_primary(committed) == 1);
    BOOST_TEST(count_on_primary(rolled_back) == 0);
}

BOOST_AUTO_TEST_CASE(set_runs_on_primary_and_is_replayed_except_what_cannot_be)
{
    // Replayed on the replica: reads stay there.
    char const* const replayed[] = {"SET @soci_routing_marker = 4242", "SET SESSION sql_mode = 'ANSI_QUOTES'",
                                    "SET NAMES utf8mb4", "SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE"};
    for (char const* set : replayed)
    {
        BOOST_TEST_CONTEXT(set)
        {
            soci::session sql(routed_no_sticky());
            BOOST_TEST(port(sql) == replica_port());
            sql << set;
            BOOST_TEST(where(sql) == "primary");
            BOOST_TEST(port(sql) == replica_port());
        }
    }
    // Not replayable (it changes what a transaction is): pinned for good.
    char const* const pinning[] = {"SET autocommit = 0", "SELECT 4242 INTO @soci_routing_marker"};
    for (char const* set : pinning)
    {
        BOOST_TEST_CONTEXT(set)
        {
            soci::session sql(routed_no_sticky());
            sql << set;
            BOOST_TEST(where(sql) == "primary");
            BOOST_TEST(port(sql) == primary_port());
            std::this_thread::sleep_for(50ms);
            BOOST_TEST(port(sql) == primary_port());  // pinned: not a window
            BOOST_TEST(why(sql) == "pinned");
        }
    }

    // and the state set is the state read, on the replica
    soci::session sql(routed_no_sticky());
    sql << "SET @soci_routing_marker = 4242";
    int marker = 0;
    int p = 0;
    soci::indicator ind = soci::i_null;
    sql << "SELECT @soci_routing_marker, @@port", soci::into(marker, ind), soci::into(p);
    BOOST_TEST(p == replica_port());
    BOOST_TEST((ind == soci::i_ok && marker == 4242));

    soci::session other(routed_no_sticky());  // the setting is this session's, not the cluster's
    other << "SELECT @soci_routing_marker", soci::into(marker, ind);
    BOOST_TEST(ind == soci::i_null);
}

// session::reconnect(): as with SOCI's mysql backend, a new connection, without the old one's state.
BOOST_AUTO_TEST_CASE(reconnect_drops_the_session_state_and_its_pin)
{
    soci::session sql(routed_no_sticky());
    sql << "SELECT 1 INTO @soci_routing_before_reconnect";  // assigned by a query: pins
    long long before_id = 0;
    sql << "SELECT CONNECTION_ID()", soci::into(before_id);
    BOOST_TEST(port(sql) == primary_port());  // pinned

    sql.reconnect();
    BOOST_TEST(sql.get_backend_name() == "mysql");
    BOOST_TEST(port(sql) == replica_port());  // a new session: not pinned any more
    auto guard = soci::routing.use_primary(sql);
    long long after_id = 0;
    int v = 0;
    soci::indicator ind = soci::i_ok;
    sql << "SELECT CONNECTION_ID(), @soci_routing_before_reconnect", soci::into(after_id), soci::into(v, ind);
    BOOST_TEST(after_id != before_id);
    BOOST_TEST(ind == soci::i_null);
}

BOOST_AUTO_TEST_CASE(use_primary_guard_forces_primary_and_nests)
{
    soci::session sql(routed_no_sticky());
    BOOST_TEST(port(sql) == replica_port());
    {
        auto outer = soci::routing.use_primary(sql);
        BOOST_TEST(port(sql) == primary_port());
        {
            soci::routing_use_primary inner(sql);
            BOOST_TEST(port(sql) == primary_port());
        }
        BOOST_TEST(port(sql) == primary_port());  // the outer guard still holds
    }
    BOOST_TEST(port(sql) == replica_port());
}

BOOST_AUTO_TEST_CASE(use_replica_guard_reads_replica_inside_sticky_window_but_never_writes_there)
{
    soci::session sql(routed("sticky=30"));
    std::string const first = unique_tag("guard");
    sql << "INSERT INTO " + items() + " (tag, port) VALUES (:tag, @@port)", soci::use(first);
    BOOST_TEST(port(sql) == primary_port());  // inside the 30 s window
    {
        auto guard = soci::routing.use_replica(sql);
        BOOST_TEST(port(sql) == replica_port());
        BOOST_TEST(where(sql) == "replica-1");

        auto const before = snapshot(sql);
        std::string const second = unique_tag("guard");
        sql << "INSERT INTO " + items() + " (tag, port) VALUES (:tag, @@port)", soci::use(second);
        expect_only_primary_since(sql, before);

        auto const before_lock = snapshot(sql);
        int p = 0;
        sql << "SELECT @@port FROM dual FOR UPDATE", soci::into(p);
        BOOST_TEST(p == primary_port());
        expect_only_primary_since(sql, before_lock);

        BOOST_TEST(port(sql) == replica_port());
    }
    BOOST_TEST(port(sql) == primary_port());  // the window is back
}

BOOST_AUTO_TEST_CASE(use_replica_guard_does_not_override_a_transaction_or_a_pin)
{
    soci::session sql(routed_no_sticky());
    {
        soci::transaction tr(sql);
        auto guard = soci::routing.use_replica(sql);
        BOOST_TEST(port(sql) == primary_port());
        tr.commit();
    }
    sql << "SELECT 1 INTO @soci_routing_pin";
    auto guard = soci::routing.use_replica(sql);
    BOOST_TEST(port(sql) == primary_port());
}

BOOST_AUTO_TEST_CASE(shared_scope_carries_read_your_writes_across_sessions)
{
    soci::session writer(routed("sticky=30"));
    soci::session reader(routed("sticky=30"));
    soci::session stranger(routed("sticky=30"));
    soci::routing.set_scope(reader, soci::routing.get_scope(writer));
    BOOST_TEST(port(reader) == replica_port());

    std::string const tag = unique_tag("scope");
    writer << "INSERT INTO " + items() + " (tag, port) VALUES (:tag, @@port)", soci::use(tag);
    long long n = -1;
    int p = 0;
    reader << "SELECT count(*), @@port FROM " + items() + " WHERE tag = :tag", soci::use(tag), soci::into(n),
        soci::into(p);
    BOOST_TEST(p == primary_port());  // the writer's window covers the reader
    BOOST_TEST(n == 1);
    BOOST_TEST(port(stranger) == replica_port());  // a session with a scope of its own does not care
}

BOOST_AUTO_TEST_CASE(xa_transaction_keeps_the_session_on_primary_until_it_ends)
{
    soci::session sql(routed_no_sticky());
    std::string const xid = "'" + prefix() + "-xa'";
    std::string const tag = unique_tag("xa");
    sql << "XA START " + xid;
    BOOST_TEST(where(sql) == "primary");
    sql << "INSERT INTO " + items() + " (tag, port) VALUES (:tag, @@port)", soci::use(tag);
    BOOST_TEST(port(sql) == primary_port());
    sql << "XA END " + xid;
    sql << "XA COMMIT " + xid + " ONE PHASE";
    BOOST_TEST(where(sql) == "primary");
    BOOST_TEST(count_on_primary(tag) == 1);
    BOOST_TEST(port(sql) == replica_port());
}

BOOST_AUTO_TEST_SUITE_END()

// ===================================================================================== MySQL specifics

BOOST_AUTO_TEST_SUITE(mysql_specific_statements)

BOOST_AUTO_TEST_CASE(lock_in_share_mode_routes_to_primary)
{
    char const* const queries[] = {"SELECT @@port FROM dual LOCK IN SHARE MODE",
                                   "select @@port from dual lock  in\n share   mode",
                                   "SELECT @@port FROM (SELECT 1 AS x) t LOCK IN SHARE MODE"};
    for (char const* q : queries)
    {
        BOOST_TEST_CONTEXT(q)
        {
            soci::session sql(routed_no_sticky());
            auto const before = snapshot(sql);
            int p = 0;
            sql << q, soci::into(p);
            BOOST_TEST(p == primary_port());
            expect_only_primary_since(sql, before);
            BOOST_TEST(why(sql) == "locking_read");
        }
    }
}

BOOST_AUTO_TEST_CASE(for_update_routes_to_primary)
{
    char const* const queries[] = {"SELECT @@port FROM dual FOR UPDATE", "SELECT @@port FROM dual FOR UPDATE NOWAIT",
                                   "SELECT @@port FROM dual FOR UPDATE SKIP LOCKED",
                                   "SELECT @@port FROM dual FOR UPDATE WAIT 1"};
    for (char const* q : queries)
    {
        BOOST_TEST_CONTEXT(q)
        {
            soci::session sql(routed_no_sticky());
            int p = 0;
            sql << q, soci::into(p);
            BOOST_TEST(p == primary_port());
            BOOST_TEST(why(sql) == "locking_read");
        }
    }
}

// The classification alone (soci::routing.classify, no server) of every MySQL-specific statement this suite
// runs, and of the reads that must stay on replicas: where it goes, why, and whether it pins the session.
BOOST_AUTO_TEST_CASE(mysql_statements_classify_as_the_routing_contract_says)
{
    struct expectation
    {
        char const* sql;
        char const* target;
        char const* reason;
        bool pins;
    };
    expectation const table[] = {
        {"SELECT @@port", "replica", "select", false},
        {"SHOW VARIABLES LIKE 'port'", "replica", "show", false},
        {"EXPLAIN SELECT 1", "replica", "explain", false},
        {"WITH x AS (SELECT 1 AS p) SELECT p FROM x", "replica", "cte_read", false},
        {"SELECT 1 FROM dual LOCK IN SHARE MODE", "primary", "locking_read", false},
        {"SELECT 1 FROM dual FOR SHARE", "primary", "locking_read", false},
        {"SELECT 1 FROM dual FOR UPDATE SKIP LOCKED", "primary", "locking_read", false},
        {"SELECT 1 INTO @v", "primary", "select_into", true},
        {"SELECT @v := 1", "primary", "select_into", true},
        {"SELECT 1 INTO OUTFILE 'x.txt'", "primary", "select_into", false},
        {"SELECT 1 INTO DUMPFILE 'x.bin'", "primary", "select_into", false},
        {"SELECT GET_LOCK('x', 0)", "primary", "side_effect_function", true},
        {"SELECT RELEASE_LOCK('x')", "primary", "side_effect_function", true},
        {"SELECT LAST_INSERT_ID()", "primary", "side_effect_function", false},
        {"SELECT FOUND_ROWS()", "primary", "side_effect_function", false},
        {"SELECT SQL_CALC_FOUND_ROWS id FROM t LIMIT 1", "primary", "side_effect_function", false},
        {"SELECT NEXTVAL(s)", "primary", "side_effect_function", false},
        {"SELECT NEXT VALUE FOR s", "primary", "side_effect_function", false},
        {"SHOW WARNINGS", "primary", "side_effect_function", false},
        {"ANALYZE SELECT 1", "primary", "explain_analyze", false},
        {"ANALYZE FORMAT=JSON SELECT 1", "primary", "explain_analyze", false},
        {"/*!50000 INSERT INTO t VALUES (1) */", "primary", "write", false},
        {"/*M!100000 INSERT INTO t VALUES (1) */", "primary", "write", false},
        {"SELECT 1 FROM dual /*!50000 FOR UPDATE */", "primary", "locking_read", false},
        {"USE information_schema", "primary", "session_state", true},
        {"SET NAMES utf8mb4", "primary", "session_state", true},
        {"LOCK TABLES t READ", "primary", "session_state", true},
        {"CREATE TEMPORARY TABLE t (i INT)", "primary", "session_state", true},
        {"START TRANSACTION WITH CONSISTENT SNAPSHOT", "primary", "transaction_control", false},
        {"XA START 'x'", "primary", "transaction_control", false},
    };
    for (auto const& e : table)
    {
        BOOST_TEST_CONTEXT(e.sql)
        {
            auto const c = soci::routing.classify(e.sql, "mysql");
            BOOST_TEST(c.target == e.target);
            BOOST_TEST(c.reason == e.reason);
            BOOST_TEST(c.pins_session == e.pins);
        }
    }
}

// MySQL's lexical rules: `#` and `-- ` comments end at the line's end, and a backslash escapes a quote inside a
// string; none of them may hide the locking clause that follows.
BOOST_AUTO_TEST_CASE(mysql_comments_and_escaped_quotes_do_not_hide_a_locking_clause)
{
    char const* const queries[] = {"SELECT @@port FROM dual # a note\nFOR UPDATE",
                                   "SELECT @@port FROM dual -- a note\nFOR UPDATE",
                                   "SELECT @@port FROM dual /* a note */ FOR /* another */ UPDATE",
                                   "SELECT @@port FROM dual WHERE 'it\\'s' <> '' FOR UPDATE",
                                   "SELECT @@port FROM dual WHERE \"say \\\"hi\\\"\" <> '' LOCK IN SHARE MODE"};
    for (char const* q : queries)
    {
        BOOST_TEST_CONTEXT(q)
        {
            soci::session sql(routed_no_sticky());
            int p = 0;
            sql << q, soci::into(p);
            BOOST_TEST(p == primary_port());
            BOOST_TEST(why(sql) == "locking_read");
        }
    }
}

BOOST_AUTO_TEST_CASE(cte_read_routes_to_replica)
{
    soci::session sql(routed_no_sticky());
    int p = 0;
    sql << "WITH x AS (SELECT @@port AS p) SELECT p FROM x", soci::into(p);
    BOOST_TEST(p == replica_port());
    BOOST_TEST(why(sql) == "cte_read");
    sql << "WITH x AS (SELECT @@port AS p) SELECT p FROM x FOR UPDATE", soci::into(p);
    BOOST_TEST(p == primary_port());
}

BOOST_AUTO_TEST_CASE(sql_prepare_and_execute_run_on_primary_and_pin_until_deallocated)
{
    soci::session sql(routed_no_sticky());
    sql << "PREPARE soci_routing_stmt FROM 'SELECT @@port'";
    BOOST_TEST(where(sql) == "primary");
    int p = 0;
    sql << "EXECUTE soci_routing_stmt", soci::into(p);  // only the connection that prepared it knows it
    BOOST_TEST(p == primary_port());
    BOOST_TEST(port(sql) == primary_port());
    sql << "DEALLOCATE PREPARE soci_routing_stmt";
    BOOST_TEST(port(sql) == replica_port());  // the prepared statement is gone: the session is free again
}

// MariaDB 10.11 has no FOR SHARE (MySQL 8 syntax): it answers 1064. The classification is still a locking
// read, so the error must come from the primary, not from the replica (and must not be retried).
BOOST_AUTO_TEST_CASE(for_share_routes_to_primary_even_where_mariadb_rejects_it)
{
    soci::session sql(routed_no_sticky());
    auto const before = snapshot(sql);
    int p = 0;
    bool rejected = false;
    try
    {
        sql << "SELECT @@port FROM dual FOR SHARE", soci::into(p);
    }
    catch (soci::mysql_soci_error const& e)
    {
        rejected = true;
        BOOST_TEST(e.err_num_ == 1064u);
    }
    if (!rejected)
    {
        BOOST_TEST(p == primary_port());  // a server that knows FOR SHARE
        BOOST_TEST(why(sql) == "locking_read");
    }
    expect_failed_only_on_primary_since(sql, before);
    BOOST_TEST(snapshot(sql).primary.reason("locking_read") == before.primary.reason("locking_read") + 1);

    auto const c = soci::routing.classify("SELECT @@port FROM dual FOR SHARE", "mysql");
    BOOST_TEST(c.target == "primary");
    BOOST_TEST(c.reason == "locking_read");
}

BOOST_AUTO_TEST_CASE(select_into_user_variable_routes_to_primary)
{
    soci::session sql(routed_no_sticky());
    auto const before = snapshot(sql);
    sql << "SELECT @@port INTO @soci_routing_where";
    expect_only_primary_since(sql, before);
    BOOST_TEST(why(sql) == "select_into");

    auto guard = soci::routing.use_primary(sql);
    int w = 0;
    soci::indicator ind = soci::i_null;
    sql << "SELECT @soci_routing_where", soci::into(w, ind);
    BOOST_TEST((ind == soci::i_ok && w == primary_port()));  // set by the primary, on this connection
}

BOOST_AUTO_TEST_CASE(select_into_outfile_and_dumpfile_route_to_primary)
{
    // `routing` has no FILE privilege: both servers answer 1227, so where it ran is shown by the routing
    // API and the counters (and the replica saw nothing, so no retry happened either)
    std::string const file = prefix() + "-outfile";  // relative: the server's data directory, were it allowed
    std::string const queries[] = {"SELECT @@port INTO OUTFILE '" + file + "'",
                                   "SELECT @@port INTO DUMPFILE '" + file + "-dump'",
                                   "SELECT @@port FROM dual INTO OUTFILE '" + file + "-2' FIELDS TERMINATED BY ','"};
    for (auto const& q : queries)
    {
        BOOST_TEST_CONTEXT(q)
        {
            soci::session sql(routed_no_sticky());
            auto const before = snapshot(sql);
            unsigned err = 0;
            try
            {
                sql << q;
            }
            catch (soci::mysql_soci_error const& e)
            {
                err = e.err_num_;
            }
            BOOST_TEST((err == 1227u || err == 0u));  // 0: a server where `routing` has FILE
            expect_failed_only_on_primary_since(sql, before);
            BOOST_TEST(snapshot(sql).primary.reason("select_into") == before.primary.reason("select_into") + 1);
            auto const c = soci::routing.classify(q, "mysql");
            BOOST_TEST(c.target == "primary");
            BOOST_TEST(c.reason == "select_into");
        }
    }
}

BOOST_AUTO_TEST_CASE(user_variable_assignment_in_select_routes_to_primary)
{
    soci::session sql(routed_no_sticky());
    int p = 0;
    sql << "SELECT @soci_routing_v := @@port", soci::into(p);
    BOOST_TEST(p == primary_port());
    BOOST_TEST(where(sql) == "primary");
    BOOST_TEST(why(sql) == "select_into");
}

// A user variable is session state, like SET @v: reading it back in the same session must see it.
BOOST_AUTO_TEST_CASE(user_variable_assigned_by_select_is_readable_afterwards)
{
    char const* const assignments[] = {"SELECT @soci_routing_state := 77", "SELECT 77 INTO @soci_routing_state"};
    for (char const* a : assignments)
    {
        BOOST_TEST_CONTEXT(a)
        {
            soci::session sql(routed_no_sticky());
            sql << a;
            int v = 0;
            int p = 0;
            soci::indicator ind = soci::i_null;
            sql << "SELECT @soci_routing_state, @@port", soci::into(v, ind), soci::into(p);
            BOOST_TEST(p == primary_port());
            BOOST_TEST((ind == soci::i_ok && v == 77));
        }
    }
}

BOOST_AUTO_TEST_CASE(get_lock_pins_session_to_primary)
{
    std::string const name = prefix() + "_lock";
    soci::session sql(routed_no_sticky());
    int got = -1;
    int p = 0;
    sql << "SELECT GET_LOCK(:name, 0), @@port", soci::use(name), soci::into(got), soci::into(p);
    BOOST_TEST(p == primary_port());
    BOOST_TEST(got == 1);

    int free_now = -1;
    direct_primary() << "SELECT IS_FREE_LOCK(:name)", soci::use(name), soci::into(free_now);
    BOOST_TEST(free_now == 0);

    // pinned: later plain reads run on the primary, on the very connection that holds the lock
    int mine = -1;
    soci::indicator ind = soci::i_null;
    sql << "SELECT IS_USED_LOCK(:name) = CONNECTION_ID(), @@port", soci::use(name), soci::into(mine, ind),
        soci::into(p);
    BOOST_TEST(p == primary_port());
    BOOST_TEST((ind == soci::i_ok && mine == 1));
    BOOST_TEST(port(sql) == primary_port());

    int released = -1;
    sql << "SELECT RELEASE_LOCK(:name)", soci::use(name), soci::into(released, ind);
    BOOST_TEST((ind == soci::i_ok && released == 1));  // NULL: not this connection's lock; 0: someone else's
    direct_primary() << "SELECT IS_FREE_LOCK(:name)", soci::use(name), soci::into(free_now);
    BOOST_TEST(free_now == 1);
}

BOOST_AUTO_TEST_CASE(use_database_runs_on_primary_and_follows_the_session_to_the_replica)
{
    soci::session sql(routed_no_sticky());
    BOOST_TEST(port(sql) == replica_port());
    sql << "USE information_schema";
    BOOST_TEST(where(sql) == "primary");
    std::string db;
    int p = 0;
    sql << "SELECT DATABASE(), @@port", soci::into(db), soci::into(p);
    BOOST_TEST(p == replica_port());
    BOOST_TEST(db == "information_schema");  // replayed on the replica's connection
    sql << "USE routing";
    sql << "SELECT DATABASE(), @@port", soci::into(db), soci::into(p);
    BOOST_TEST(p == replica_port());
    BOOST_TEST(db == "routing");
}

BOOST_AUTO_TEST_CASE(lock_tables_pins_session_to_primary_until_unlock_tables)
{
    soci::session sql(routed_no_sticky());
    sql << "LOCK TABLES " + items() + " READ";
    BOOST_TEST(where(sql) == "primary");
    long long n = -1;
    int p = 0;
    sql << "SELECT count(*), @@port FROM " + items(), soci::into(n), soci::into(p);
    BOOST_TEST(p == primary_port());

    // only the connection holding LOCK TABLES refuses a table it did not lock (1100): reads run on it
    unsigned err = 0;
    try
    {
        sql << "SELECT count(*) FROM " + sequence(), soci::into(n);
    }
    catch (soci::mysql_soci_error const& e)
    {
        err = e.err_num_;
    }
    BOOST_TEST(err == 1100u);

    sql << "UNLOCK TABLES";
    BOOST_TEST(where(sql) == "primary");
    sql << "SELECT count(*) FROM " + sequence(), soci::into(n);
    BOOST_TEST(where(sql) != "primary");  // the locks are gone: the session reads from replicas again
}

// MariaDB's read_only lets anyone create temporary tables: a misrouted one would silently live on the replica.
BOOST_AUTO_TEST_CASE(temporary_table_pins_session_to_primary)
{
    soci::session sql(routed_no_sticky());
    std::string const tmp = prefix() + "_tmp";
    auto const before = snapshot(sql);
    sql << "CREATE TEMPORARY TABLE " + tmp + " (i INT)";
    expect_only_primary_since(sql, before);
    sql << "INSERT INTO " + tmp + " (i) VALUES (1), (2)";
    long long n = -1;
    int p = 0;
    sql << "SELECT count(*), @@port FROM " + tmp, soci::into(n), soci::into(p);
    BOOST_TEST(p == primary_port());
    BOOST_TEST(n == 2);
    BOOST_TEST(port(sql) == primary_port());  // pinned, as a temporary table is the connection's
}

BOOST_AUTO_TEST_CASE(row_count_and_session_variables_about_the_last_statement_run_on_primary)
{
    soci::session sql(routed_no_sticky());
    std::vector<std::string> tags{unique_tag("rc"), unique_tag("rc"), unique_tag("rc")};
    sql << "INSERT INTO " + items() + " (tag, port) VALUES (:tag, @@port)", soci::use(tags);
    sql << "UPDATE " + items() + " SET port = port WHERE tag IN (:a, :b)", soci::use(tags[0]), soci::use(tags[1]);
    sql << "UPDATE " + items() + " SET port = 1 WHERE tag IN (:a, :b)", soci::use(tags[0]), soci::use(tags[1]);
    long long changed = -1;
    int p = 0;
    sql << "SELECT ROW_COUNT(), @@port", soci::into(changed), soci::into(p);
    BOOST_TEST(p == primary_port());
    BOOST_TEST(changed == 2);

    std::string const tag = unique_tag("identity");
    sql << "INSERT INTO " + items() + " (tag, port) VALUES (:tag, @@port)", soci::use(tag);
    long long id = -1;
    long long expected = -2;
    sql << "SELECT @@last_insert_id, @@port", soci::into(id), soci::into(p);
    BOOST_TEST(p == primary_port());
    direct_primary() << "SELECT id FROM " + items() + " WHERE tag = :tag", soci::use(tag), soci::into(expected);
    BOOST_TEST(id == expected);
}

BOOST_AUTO_TEST_CASE(show_warnings_reports_the_warnings_of_the_session_statement)
{
    soci::session sql(routed_no_sticky());
    std::string const tag = unique_tag("warn");
    sql << "INSERT INTO " + items() + " (tag, port) VALUES (:tag, @@port)", soci::use(tag);
    sql << "INSERT IGNORE INTO " + items() + " (tag, port) VALUES (:tag, @@port)", soci::use(tag);  // 1062 warning
    std::string level, message;
    int code = 0;
    sql << "SHOW WARNINGS", soci::into(level), soci::into(code), soci::into(message);
    BOOST_TEST(where(sql) == "primary");
    BOOST_TEST(sql.got_data());
    BOOST_TEST(code == 1062);
}

// A pooled primary connection goes back to the pool when its session ends: what that session left on it
// (user variables, USE, advisory locks) must not reach the next session, as with SOCI's plain mysql backend
// where closing the session closes the connection.
BOOST_AUTO_TEST_CASE(session_state_does_not_leak_into_the_next_session)
{
    std::string const lock = prefix() + "_leak";
    long long first_connection = 0;
    {
        soci::session sql(routed_no_sticky());
        sql << "SET @soci_routing_leak = 1";
        sql << "USE information_schema";
        int got = -1;
        sql << "SELECT GET_LOCK(:name, 0)", soci::use(lock), soci::into(got);
        BOOST_TEST(got == 1);
        sql << "SELECT CONNECTION_ID()", soci::into(first_connection);
        BOOST_TEST(where(sql) == "primary");
    }

    int free_now = 0;
    for (int i = 0; i < 20 && free_now != 1; ++i)
    {
        direct_primary() << "SELECT IS_FREE_LOCK(:name)", soci::use(lock), soci::into(free_now);
        if (free_now != 1)
        {
            std::this_thread::sleep_for(100ms);
        }
    }
    BOOST_TEST(free_now == 1);  // the advisory lock of a closed session is released

    soci::session next(routed_no_sticky());
    auto guard = soci::routing.use_primary(next);
    long long connection = 0;
    int leak = 0;
    soci::indicator leak_ind = soci::i_ok;
    std::string db;
    next << "SELECT CONNECTION_ID(), @soci_routing_leak, DATABASE()", soci::into(connection),
        soci::into(leak, leak_ind), soci::into(db);
    BOOST_TEST_MESSAGE("first session's primary connection " << first_connection << ", next session's "
                                                            << connection);
    BOOST_TEST(leak_ind == soci::i_null);
    BOOST_TEST(db == "routing");
}

BOOST_AUTO_TEST_CASE(analyze_select_routes_to_primary_and_explain_to_replica)
{
    soci::session sql(routed_no_sticky());
    std::string plan;

    auto const before = snapshot(sql);
    sql << "ANALYZE FORMAT=JSON SELECT count(*) FROM " + items(), soci::into(plan);
    expect_only_primary_since(sql, before);
    BOOST_TEST(why(sql) == "explain_analyze");
    BOOST_TEST(plan.find("r_") != std::string::npos);  // ANALYZE output carries r_* (real) figures

    auto const before_tabular = snapshot(sql);
    soci::rowset<soci::row> rows = (sql.prepare << "ANALYZE SELECT count(*) FROM " + items());
    int n = 0;
    for (auto it = rows.begin(); it != rows.end(); ++it)
    {
        ++n;
    }
    BOOST_TEST(n >= 1);
    expect_only_primary_since(sql, before_tabular);

    sql << "EXPLAIN FORMAT=JSON SELECT count(*) FROM " + items(), soci::into(plan);
    BOOST_TEST(where(sql) == "replica-1");
    BOOST_TEST(why(sql) == "explain");
}

BOOST_AUTO_TEST_CASE(executable_comment_with_a_write_routes_to_primary)
{
    std::string const queries[] = {"/*!50000 INSERT INTO " + items() + " (tag, port) VALUES (:tag, @@port) */",
                                   "/*M!100000 INSERT INTO " + items() + " (tag, port) VALUES (:tag, @@port) */",
                                   "/*! INSERT INTO " + items() + " (tag, port) VALUES (:tag, @@port) */"};
    for (auto const& q : queries)
    {
        BOOST_TEST_CONTEXT(q)
        {
            soci::session sql(routed_no_sticky());
            std::string const tag = unique_tag("exec-comment");
            auto const before = snapshot(sql);
            sql << q, soci::use(tag);
            expect_only_primary_since(sql, before);
            int p = 0;
            direct_primary() << "SELECT port FROM " + items() + " WHERE tag = :tag", soci::use(tag), soci::into(p);
            BOOST_TEST(p == primary_port());
        }
    }
}

BOOST_AUTO_TEST_CASE(executable_comment_with_a_locking_clause_routes_to_primary)
{
    char const* const queries[] = {"SELECT @@port FROM dual /*!50000 FOR UPDATE */",
                                   "SELECT @@port FROM dual /*M!100000 FOR UPDATE */",
                                   "SELECT @@port FROM dual /*!LOCK IN SHARE MODE*/"};
    for (char const* q : queries)
    {
        BOOST_TEST_CONTEXT(q)
        {
            soci::session sql(routed_no_sticky());
            int p = 0;
            sql << q, soci::into(p);
            BOOST_TEST(p == primary_port());
            BOOST_TEST(where(sql) == "primary");
        }
    }
}

// MariaDB sequences: NEXTVAL is a write disguised as a SELECT (1290 on the replica).
BOOST_AUTO_TEST_CASE(mariadb_sequence_functions_route_to_primary)
{
    soci::session sql(routed_no_sticky());
    auto const before = snapshot(sql);
    long long v1 = 0, v2 = 0, last = 0;
    int p = 0;
    sql << "SELECT NEXTVAL(" + sequence() + "), @@port", soci::into(v1), soci::into(p);
    BOOST_TEST(p == primary_port());
    sql << "SELECT NEXT VALUE FOR " + sequence(), soci::into(v2);
    BOOST_TEST(v2 == v1 + 1);
    expect_only_primary_since(sql, before);

    soci::indicator ind = soci::i_null;
    sql << "SELECT LASTVAL(" + sequence() + "), @@port", soci::into(last, ind), soci::into(p);
    BOOST_TEST(p == primary_port());  // session-dependent: only this session's connection knows it
    BOOST_TEST((ind == soci::i_ok && last == v2));

    // as with SOCI's own mysql backend, which has no get_next_sequence_value
    long long v = 0;
    soci::session plain(soci::mysql, primary_cs());
    BOOST_TEST(sql.get_next_sequence_value(sequence(), v) == plain.get_next_sequence_value(sequence(), v));
}

BOOST_AUTO_TEST_CASE(get_last_insert_id_returns_the_primary_id)
{
    soci::session sql(routed_no_sticky());
    std::string const tag = unique_tag("last-id");
    sql << "INSERT INTO " + items() + " (tag, port) VALUES (:tag, @@port)", soci::use(tag);
    long long id = 0;
    BOOST_TEST(sql.get_last_insert_id(items(), id));
    long long expected = -1;
    direct_primary() << "SELECT id FROM " + items() + " WHERE tag = :tag", soci::use(tag), soci::into(expected);
    BOOST_TEST(id == expected);
    BOOST_TEST(id > 0);

    long long via_sql = 0;
    int p = 0;
    sql << "SELECT LAST_INSERT_ID(), @@port", soci::into(via_sql), soci::into(p);
    BOOST_TEST(p == primary_port());  // session-dependent function
    BOOST_TEST(via_sql == expected);
}

BOOST_AUTO_TEST_CASE(get_last_insert_id_is_per_session)
{
    soci::session a(routed_no_sticky());
    soci::session b(routed_no_sticky());
    std::string const tag_a = unique_tag("last-id-a");
    std::string const tag_b = unique_tag("last-id-b");
    a << "INSERT INTO " + items() + " (tag, port) VALUES (:tag, @@port)", soci::use(tag_a);
    b << "INSERT INTO " + items() + " (tag, port) VALUES (:tag, @@port)", soci::use(tag_b);
    long long id_a = 0, id_b = 0, want_a = -1, want_b = -1;
    BOOST_TEST(a.get_last_insert_id(items(), id_a));
    BOOST_TEST(b.get_last_insert_id(items(), id_b));
    direct_primary() << "SELECT id FROM " + items() + " WHERE tag = :tag", soci::use(tag_a), soci::into(want_a);
    direct_primary() << "SELECT id FROM " + items() + " WHERE tag = :tag", soci::use(tag_b), soci::into(want_b);
    BOOST_TEST(id_a == want_a);
    BOOST_TEST(id_b == want_b);
}

// The same sequence through a routed and a plain session: mysql_insert_id() survives a SELECT and is reset by
// an UPDATE that inserts nothing, whichever endpoint the SELECT ran on.
BOOST_AUTO_TEST_CASE(get_last_insert_id_behaves_as_with_the_plain_mysql_backend)
{
    soci::session routed_sql(routed_no_sticky());
    soci::session plain(soci::mysql, primary_cs());
    for (soci::session* s : {&routed_sql, &plain})
    {
        bool const is_routed = s == &routed_sql;
        BOOST_TEST_CONTEXT((is_routed ? "routed" : "plain"))
        {
            std::string const tag = unique_tag("last-id-seq");
            *s << "INSERT INTO " + items() + " (tag, port) VALUES (:tag, @@port)", soci::use(tag);
            long long inserted = 0, after_select = -1, after_update = -1, expected = -2;
            BOOST_TEST(s->get_last_insert_id(items(), inserted));
            int p = 0;
            *s << "SELECT @@port", soci::into(p);
            BOOST_TEST(p == (is_routed ? replica_port() : primary_port()));
            BOOST_TEST(s->get_last_insert_id(items(), after_select));
            *s << "UPDATE " + items() + " SET port = port WHERE id = 0";
            BOOST_TEST(s->get_last_insert_id(items(), after_update));
            direct_primary() << "SELECT id FROM " + items() + " WHERE tag = :tag", soci::use(tag),
                soci::into(expected);
            BOOST_TEST(inserted == expected);
            BOOST_TEST(after_select == expected);
            BOOST_TEST(after_update == 0);
        }
    }
}

BOOST_AUTO_TEST_CASE(sql_calc_found_rows_and_found_rows_run_on_primary)
{
    std::string const group = unique_tag("found-rows");
    for (int i = 0; i < 5; ++i)
    {
        std::string const tag = group + "-" + std::to_string(i);
        direct_primary() << "INSERT INTO " + items() + " (tag, port) VALUES (:tag, @@port)", soci::use(tag);
    }
    wait_for_replication();  // so that a misrouted read would find the rows too, and differ only by port

    soci::session sql(routed_no_sticky());
    std::vector<long long> ids(10);
    std::vector<int> ports(10);
    std::string const like = group + "-%";
    sql << "SELECT SQL_CALC_FOUND_ROWS id, @@port FROM " + items() + " WHERE tag LIKE :like ORDER BY id LIMIT 2",
        soci::use(like), soci::into(ids), soci::into(ports);
    BOOST_TEST(ids.size() == 2u);
    for (int p : ports)
    {
        BOOST_TEST(p == primary_port());
    }
    long long found = -1;
    int p = 0;
    sql << "SELECT FOUND_ROWS(), @@port", soci::into(found), soci::into(p);
    BOOST_TEST(p == primary_port());
    BOOST_TEST(found == 5);
}

BOOST_AUTO_TEST_SUITE_END()

// ======================================================================================= failure policy

BOOST_AUTO_TEST_SUITE(failure_policy_with_mysql_errors)

// A function that writes, unknown to the classifier: `SELECT f()` looks like a read, the replica refuses the
// write inside with 1290, and the read is retried once on the primary. Creating it needs root (binary
// logging), over the primary's unix socket; SQL SECURITY INVOKER, so that it runs with `routing`'s rights.
struct writing_function
{
    std::string name = prefix() + "_bump";
    std::string table = prefix() + "_bumps";
    soci::session admin{soci::mysql, "unix_socket=" + env_or_throw("SOCI_ROUTING_MYSQL_ADMIN_SOCKET") +
                                         " user=root db=" + connect_value(primary_cs(), "db")};
    writing_function()
    {
        admin << "DROP FUNCTION IF EXISTS " + name;
        admin << "CREATE TABLE IF NOT EXISTS " + table + " (port INT NOT NULL)";
        admin << "CREATE DEFINER = '" + connect_value(primary_cs(), "user") + "'@'127.0.0.1' FUNCTION " + name +
                     "() RETURNS INT DETERMINISTIC MODIFIES SQL DATA SQL SECURITY INVOKER "
                     "BEGIN INSERT INTO " + table + " (port) VALUES (@@port); RETURN @@port; END";
        wait_for_replication();
    }
    ~writing_function()
    {
        try
        {
            admin << "DROP FUNCTION IF EXISTS " + name;
            admin << "DROP TABLE IF EXISTS " + table;
        }
        catch (std::exception const& e)
        {
            BOOST_TEST_MESSAGE("cleanup: " << e.what());
        }
    }
    long long rows()
    {
        long long n = -1;
        direct_primary() << "SELECT count(*) FROM " + table, soci::into(n);
        return n;
    }
};

BOOST_AUTO_TEST_CASE(read_only_refusal_1290_on_the_replica_is_retried_once_on_primary)
{
    writing_function f;
    soci::session sql(routed_no_sticky());
    auto const before = snapshot(sql);
    int p = 0;
    BOOST_CHECK_NO_THROW((sql << "SELECT " + f.name + "()", soci::into(p)));
    BOOST_TEST(p == primary_port());  // the function's own answer: it ran on the primary
    BOOST_TEST(where(sql) == "primary");
    BOOST_TEST(why(sql) == "fallback");
    auto const after = snapshot(sql);
    BOOST_TEST(after.replica.fallbacks == before.replica.fallbacks + 1);  // tried on the replica first
    BOOST_TEST(f.rows() == 1);  // once: the replica's refusal wrote nothing
    BOOST_TEST(port(sql) == replica_port());  // a refusal is not a health failure
}

BOOST_AUTO_TEST_CASE(soci_procedure_runs_on_primary)
{
    writing_function f;
    soci::session sql(routed_no_sticky());
    auto const before = snapshot(sql);
    int p = 0;
    soci::procedure proc = (sql.prepare << f.name + "()", soci::into(p));  // mysql: "select f()"
    proc.execute(true);
    BOOST_TEST(p == primary_port());
    expect_only_primary_since(sql, before);
    BOOST_TEST(why(sql) == "procedure");
    BOOST_TEST(f.rows() == 1);
}

BOOST_AUTO_TEST_CASE(primary_functions_config_sends_a_writing_function_to_primary)
{
    writing_function f;
    soci::session sql(routed("sticky=0 primary_functions=" + f.name));
    auto const before = snapshot(sql);
    int p = 0;
    sql << "SELECT " + f.name + "()", soci::into(p);
    BOOST_TEST(p == primary_port());
    expect_only_primary_since(sql, before);
    BOOST_TEST(why(sql) == "side_effect_function");
    BOOST_TEST(f.rows() == 1);
}

BOOST_AUTO_TEST_CASE(syntax_error_is_rethrown_with_its_mysql_error_number_and_not_retried)
{
    soci::session sql(routed_no_sticky());
    auto const before = snapshot(sql);
    unsigned err = 0;
    std::string what;
    try
    {
        int p = 0;
        sql << "SELECT @@port FROM dual WHERE", soci::into(p);
    }
    catch (soci::mysql_soci_error const& e)
    {
        err = e.err_num_;
        what = e.what();
    }
    BOOST_TEST(err == 1064u);
    BOOST_TEST(what.find("SQL syntax") != std::string::npos);
    auto const after = snapshot(sql);
    BOOST_TEST(after.replica.fallbacks == before.replica.fallbacks);  // not retried on the primary
    // ran exactly once, wherever the classifier sent it
    BOOST_TEST((after.primary.statements - before.primary.statements) +
                   (after.replica.statements - before.replica.statements) ==
               1u);
    BOOST_TEST(port(sql) == replica_port());  // and the replica stays in use
}

BOOST_AUTO_TEST_CASE(missing_table_is_rethrown_as_1146_and_not_retried)
{
    soci::session sql(routed_no_sticky());
    auto const before = snapshot(sql);
    unsigned err = 0;
    std::string what;
    try
    {
        long long n = 0;
        sql << "SELECT count(*) FROM " + prefix() + "_no_such_table", soci::into(n);
    }
    catch (soci::mysql_soci_error const& e)
    {
        err = e.err_num_;
        what = e.what();
    }
    BOOST_TEST(err == 1146u);
    BOOST_TEST(what.find("doesn't exist") != std::string::npos);
    auto const after = snapshot(sql);
    BOOST_TEST(after.replica.statements == before.replica.statements + 1);  // a plain read: where reads run
    BOOST_TEST(after.replica.fallbacks == before.replica.fallbacks);         // and not retried
    BOOST_TEST(after.primary.statements == before.primary.statements);
    BOOST_TEST(port(sql) == replica_port());
}

// "The name of the endpoint that ran the session's last statement": also when that statement failed, which is
// when an application most wants to know (it logs where the error came from).
BOOST_AUTO_TEST_CASE(last_endpoint_names_the_endpoint_of_a_failed_statement)
{
    soci::session sql(routed_no_sticky());
    BOOST_TEST(port(sql) == replica_port());
    BOOST_TEST(where(sql) == "replica-1");
    try
    {
        sql << "INSERT INTO " + prefix() + "_no_such_table (x) VALUES (1)";
    }
    catch (soci::mysql_soci_error const&)
    {
    }
    BOOST_TEST(where(sql) == "primary");
    BOOST_TEST(why(sql) == "write");

    {
        auto guard = soci::routing.use_primary(sql);
        BOOST_TEST(port(sql) == primary_port());
    }
    try
    {
        long long n = 0;
        sql << "SELECT count(*) FROM " + prefix() + "_no_such_table", soci::into(n);
    }
    catch (soci::mysql_soci_error const&)
    {
    }
    BOOST_TEST(where(sql) == "replica-1");
    BOOST_TEST(why(sql) == "select");
}

// DESIGN.md: errors reach the application "with the endpoint named and no password shown" — the primary's too.
BOOST_AUTO_TEST_CASE(errors_name_the_endpoint_that_raised_them)
{
    soci::session sql(routed_no_sticky());
    std::string const password = connect_value(primary_cs(), "password");
    auto message_of = [&](std::string const& q) {
        std::string what;
        try
        {
            sql << q;
        }
        catch (soci::mysql_soci_error const& e)
        {
            what = e.what();
        }
        return what;
    };
    std::string const on_replica = message_of("SELECT count(*) FROM " + prefix() + "_no_such_table");
    BOOST_TEST_MESSAGE("replica error: " << on_replica);
    BOOST_TEST(on_replica.find("127.0.0.1:" + std::to_string(replica_port())) != std::string::npos);
    BOOST_TEST(on_replica.find(password) == std::string::npos);

    std::string const on_primary = message_of("INSERT INTO " + prefix() + "_no_such_table (x) VALUES (1)");
    BOOST_TEST_MESSAGE("primary error: " << on_primary);
    BOOST_TEST(on_primary.find("127.0.0.1:" + std::to_string(primary_port())) != std::string::npos);
    BOOST_TEST(on_primary.find(password) == std::string::npos);
}

BOOST_AUTO_TEST_CASE(primary_errors_keep_their_mysql_error_number_and_message)
{
    soci::session sql(routed_no_sticky());
    std::string const tag = unique_tag("dup");
    sql << "INSERT INTO " + items() + " (tag, port) VALUES (:tag, @@port)", soci::use(tag);
    unsigned err = 0;
    std::string what;
    try
    {
        sql << "INSERT INTO " + items() + " (tag, port) VALUES (:tag, @@port)", soci::use(tag);
    }
    catch (soci::mysql_soci_error const& e)
    {
        err = e.err_num_;
        what = e.what();
    }
    BOOST_TEST(err == 1062u);
    BOOST_TEST(what.find("Duplicate entry") != std::string::npos);
    BOOST_TEST(where(sql) == "primary");
    BOOST_TEST(what.find(connect_value(primary_cs(), "password")) == std::string::npos);

    err = 0;
    try
    {
        sql << "INSERT INTO " + prefix() + "_no_such_table (x) VALUES (1)";
    }
    catch (soci::mysql_soci_error const& e)
    {
        err = e.err_num_;
    }
    BOOST_TEST(err == 1146u);
    BOOST_TEST(count_on_primary(tag) == 1);
}

BOOST_AUTO_TEST_SUITE_END()

// ======================================================================================== check

BOOST_AUTO_TEST_SUITE(check_on_mysql)

void expect_healthy_cluster(soci::routing_check const& c)
{
    BOOST_REQUIRE(c.endpoints.size() == 2u);
    auto const& p = c.endpoints[0];
    auto const& r = c.endpoints[1];
    BOOST_TEST(p.name == "primary");
    BOOST_TEST(p.role == "primary");
    BOOST_TEST(p.address == "127.0.0.1:" + std::to_string(primary_port()));
    BOOST_TEST(p.reachable);
    BOOST_TEST(p.role_ok);  // @@read_only = 0
    BOOST_TEST(p.error.empty());
    BOOST_TEST(r.name == "replica-1");
    BOOST_TEST(r.role == "replica");
    BOOST_TEST(r.address == "127.0.0.1:" + std::to_string(replica_port()));
    BOOST_TEST(r.reachable);
    BOOST_TEST(r.role_ok);  // @@read_only = 1, replication running
    BOOST_TEST(r.error.empty());
    BOOST_TEST(r.lag_seconds >= 0.0);  // Seconds_Behind_Master
    BOOST_TEST(r.lag_seconds < 30.0);
    BOOST_TEST(c.primary_ready);
    BOOST_TEST(c.reads_servable);
    BOOST_TEST(c.ready());
    std::string const password = connect_value(primary_cs(), "password");
    BOOST_TEST(c.to_json().find("\"replica-1\"") != std::string::npos);
    BOOST_TEST(c.to_json().find(password) == std::string::npos);
    BOOST_TEST(c.to_text().find(password) == std::string::npos);
}

BOOST_AUTO_TEST_CASE(check_reports_primary_writable_and_replica_replicating)
{
    soci::session sql(routed());
    expect_healthy_cluster(soci::routing.check(sql));
    port(sql);
    auto const st = soci::routing.stats(sql);
    std::string const password = connect_value(primary_cs(), "password");
    BOOST_TEST(st.to_json().find("127.0.0.1:" + std::to_string(replica_port())) != std::string::npos);
    BOOST_TEST(st.to_json().find(password) == std::string::npos);
    BOOST_TEST(st.to_prometheus().find(password) == std::string::npos);
    expect_healthy_cluster(soci::routing.check(env_or_throw("SOCI_ROUTING_MYSQL_TOML")));
    expect_healthy_cluster(soci::routing.check(routed()));
}

// STOP SLAVE needs more than `routing` has: root, over the replica's unix socket (ci/clusters layout).
BOOST_AUTO_TEST_CASE(check_reports_a_replica_whose_replication_is_stopped)
{
    std::string const socket = env_or_throw("SOCI_ROUTING_CLUSTER_DIR") + "/mysql/replica-1/mysqld.sock";
    soci::session admin(soci::mysql, "unix_socket=" + socket + " user=root");
    struct restart_replication
    {
        soci::session& admin;
        ~restart_replication()
        {
            try
            {
                admin << "START SLAVE";
            }
            catch (std::exception const& e)
            {
                BOOST_TEST_MESSAGE("START SLAVE: " << e.what());
            }
        }
    } restart{admin};
    admin << "STOP SLAVE";

    // the primary moves on; the replica does not follow
    std::string const tag = unique_tag("stopped");
    direct_primary() << "INSERT INTO " + items() + " (tag, port) VALUES (:tag, @@port)", soci::use(tag);

    soci::session sql(routed());
    auto const c = soci::routing.check(sql);
    BOOST_REQUIRE(c.endpoints.size() == 2u);
    BOOST_TEST(c.endpoints[0].role_ok);
    BOOST_TEST(c.endpoints[1].reachable);
    BOOST_TEST_MESSAGE("replica role_ok with replication stopped: " << c.endpoints[1].role_ok
                                                                     << ", error: " << c.endpoints[1].error);
    BOOST_TEST(c.endpoints[1].error.find("not running") != std::string::npos);  // said, not hidden
    BOOST_TEST(c.endpoints[1].lag_seconds < 0.0);  // behind, Seconds_Behind_Master NULL: unknown, not 0
    BOOST_TEST(c.primary_ready);

    admin << "START SLAVE";
    wait_for_replication();
}

BOOST_AUTO_TEST_SUITE_END()

// ================================================================================ two drivers at once

BOOST_AUTO_TEST_SUITE(two_drivers_in_one_process)

BOOST_AUTO_TEST_CASE(postgresql_and_mysql_routing_sessions_each_use_their_own_replicas)
{
    soci::session my("routing://config=" + env_or_throw("SOCI_ROUTING_MYSQL_TOML"));
    soci::session pg("routing://config=" + env_or_throw("SOCI_ROUTING_PG_TOML"));
    BOOST_TEST(my.get_backend_name() == "mysql");
    BOOST_TEST(pg.get_backend_name() == "postgresql");

    auto pg_port = [&] {
        int p = 0;
        pg << "SELECT inet_server_port()", soci::into(p);
        return p;
    };
    for (int i = 0; i < 4; ++i)  // interleaved
    {
        int const pp = pg_port();
        BOOST_TEST((pp == 15433 || pp == 15434));
        BOOST_TEST(soci::routing.last_endpoint(pg).rfind("replica-", 0) == 0u);
        BOOST_TEST(port(my) == replica_port());
        BOOST_TEST(where(my) == "replica-1");
    }

    // the stats of each are their own cluster's, though both name an endpoint "replica-1"
    auto const my_stats = soci::routing.stats(my);
    auto const pg_stats = soci::routing.stats(pg);
    BOOST_REQUIRE(my_stats.endpoints.size() == 2u);
    BOOST_REQUIRE(pg_stats.endpoints.size() == 3u);
    BOOST_TEST(my_stats.endpoints[0].address == "127.0.0.1:" + std::to_string(primary_port()));
    BOOST_TEST(pg_stats.endpoints[0].address == "127.0.0.1:15432");

    // a write on each goes to its own primary, and the read-after-write window of one is not the other's
    std::string const pg_table = prefix() + "_pg";
    pg << "CREATE TABLE IF NOT EXISTS " + pg_table + " (id serial PRIMARY KEY, port int NOT NULL)";
    pg << "INSERT INTO " + pg_table + " (port) VALUES (inet_server_port())";
    BOOST_TEST(soci::routing.last_endpoint(pg) == "primary");
    BOOST_TEST(pg_port() == 15432);  // inside PostgreSQL's sticky window
    BOOST_TEST(port(my) == replica_port());  // MariaDB's session wrote nothing

    std::string const tag = unique_tag("two-drivers");
    my << "INSERT INTO " + items() + " (tag, port) VALUES (:tag, @@port)", soci::use(tag);
    BOOST_TEST(where(my) == "primary");
    BOOST_TEST(port(my) == primary_port());
    int stored = 0;
    pg << "SELECT port FROM " + pg_table + " ORDER BY id DESC LIMIT 1", soci::into(stored);
    BOOST_TEST(stored == 15432);
    pg << "DROP TABLE " + pg_table;
}

BOOST_AUTO_TEST_SUITE_END()

// ============================================================================== replica outage (last)

BOOST_AUTO_TEST_SUITE(replica_outage)

// A short quarantine (retry_window 1 s, capped at about 2 s), so that the return to the replica is seen
// quickly. Each test passes its own cap: a distinct configuration is a distinct cluster with pools of its own,
// so that no test inherits the replica health another one left behind.
std::string outage_cs(std::string const& cap, std::string const& extra = "")
{
    return routed("sticky=0 retry_window=1 retry_window_max=" + cap + (extra.empty() ? "" : " " + extra));
}

BOOST_AUTO_TEST_CASE(reads_fall_back_to_primary_when_the_replica_is_killed)
{
    std::string const cs = outage_cs("2.0");
    soci::session sql(cs);
    BOOST_REQUIRE(port(sql) == replica_port());  // a live replica connection, about to break
    int p = 0;
    soci::statement prepared = (sql.prepare << "SELECT @@port", soci::into(p));
    prepared.execute(true);
    BOOST_REQUIRE(p == replica_port());
    auto const before = snapshot(sql);

    replica_killed outage;

    // broken connection (2013/2006) on the first read, refused connects (2003) after: no error reaches us
    for (int i = 0; i < 8; ++i)
    {
        BOOST_TEST_CONTEXT("read " << i)
        {
            int got = 0;
            BOOST_CHECK_NO_THROW(got = port(sql));
            BOOST_TEST(got == primary_port());
            BOOST_TEST(where(sql) == "primary");
        }
    }
    p = 0;
    BOOST_CHECK_NO_THROW(prepared.execute(true));  // prepared on the replica before it died
    BOOST_TEST(p == primary_port());

    long long n = -1;
    BOOST_CHECK_NO_THROW((sql << "SELECT count(*) FROM " + items(), soci::into(n)));
    BOOST_TEST(n >= 0);

    soci::rowset<soci::row> rows = (sql.prepare << "SELECT CAST(@@port AS CHAR) AS port");
    for (auto const& r : rows)
    {
        BOOST_TEST(r.get<std::string>("port") == std::to_string(primary_port()));
    }

    // a session opened during the outage works too
    BOOST_CHECK_NO_THROW({
        soci::session fresh(cs);
        BOOST_TEST(port(fresh) == primary_port());
    });

    // writes are unaffected
    std::string const tag = unique_tag("outage");
    BOOST_CHECK_NO_THROW((sql << "INSERT INTO " + items() + " (tag, port) VALUES (:tag, @@port)",
                          soci::use(tag)));
    BOOST_TEST(count_on_primary(tag) == 1);

    auto const during = snapshot(sql);
    BOOST_TEST(during.replica.fallbacks > before.replica.fallbacks);
    BOOST_TEST(during.replica.failures > before.replica.failures);

    auto const c = soci::routing.check(sql);
    BOOST_REQUIRE(c.endpoints.size() == 2u);
    BOOST_TEST(!c.endpoints[1].reachable);
    BOOST_TEST(!c.endpoints[1].error.empty());
    BOOST_TEST(c.endpoints[1].error.find(connect_value(replica_cs(), "password")) == std::string::npos);
    BOOST_TEST(c.primary_ready);
    BOOST_TEST(c.reads_servable);  // the primary serves reads (fallback = true)
    BOOST_TEST(c.ready());
}

BOOST_AUTO_TEST_CASE(with_fallback_off_a_dead_replica_is_a_clear_error_and_writes_still_work)
{
    soci::session sql(outage_cs("2.1", "fallback=false"));
    BOOST_REQUIRE(port(sql) == replica_port());

    replica_killed outage;
    for (int i = 0; i < 3; ++i)
    {
        BOOST_TEST_CONTEXT("read " << i)
        {
            std::string what;
            try
            {
                port(sql);
            }
            catch (soci::soci_error const& e)
            {
                what = e.what();
            }
            BOOST_TEST(!what.empty());  // an error, not a silent read of the primary
            BOOST_TEST_MESSAGE("read " << i << ": " << what);
            BOOST_TEST(what.find(connect_value(replica_cs(), "password")) == std::string::npos);
        }
    }
    std::string const tag = unique_tag("no-fallback");
    BOOST_CHECK_NO_THROW((sql << "INSERT INTO " + items() + " (tag, port) VALUES (:tag, @@port)",
                          soci::use(tag)));
    BOOST_TEST(count_on_primary(tag) == 1);
    auto guard = soci::routing.use_primary(sql);
    BOOST_TEST(port(sql) == primary_port());
}

BOOST_AUTO_TEST_CASE(reads_return_to_the_replica_after_it_restarts)
{
    std::string const cs = outage_cs("2.2");
    soci::session sql(cs);
    BOOST_REQUIRE(port(sql) == replica_port());
    {
        replica_killed outage;
        for (int i = 0; i < 6; ++i)  // enough failures to quarantine it
        {
            BOOST_CHECK_NO_THROW(port(sql));
        }
    }
    BOOST_REQUIRE(replica_reachable());  // the guard restarted it

    // once its quarantine (at most 2 s here) is over, the next read is its probe
    auto const deadline = std::chrono::steady_clock::now() + 12s;
    int got = 0;
    int reads = 0;
    while (std::chrono::steady_clock::now() < deadline)
    {
        got = 0;
        ++reads;
        try
        {
            got = port(sql);
        }
        catch (std::exception const& e)
        {
            BOOST_ERROR("a read after the restart threw: " << e.what());
            break;
        }
        if (got == replica_port())
        {
            break;
        }
        std::this_thread::sleep_for(200ms);
    }
    BOOST_TEST(got == replica_port());
    BOOST_TEST_MESSAGE("reads until the replica served again: " << reads << "; last reason " << why(sql));

    // and a session opened now uses it at once
    soci::session fresh(cs);
    BOOST_TEST(port(fresh) == replica_port());
}

BOOST_AUTO_TEST_SUITE_END()
