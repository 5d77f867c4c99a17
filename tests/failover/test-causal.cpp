// soci-routing failover tests: causal read-your-writes (consistency = "causal") on real asynchronous replicas.
//
// A session's reads see its own writes at once, served by replicas that have replayed them (PostgreSQL WAL
// LSN, MariaDB GTID); a paused replica makes reads wait up to causal_timeout and then go to the primary, and
// takes them again once it resumes; tokens carry the position to another process and through a shared scope;
// bad tokens are clear errors.

#include <boost/test/unit_test.hpp>

#include "failover-support.h"

#include <atomic>
#include <filesystem>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

using namespace failover_test;
namespace utf = boost::unit_test;

namespace
{

/// A table of this process, on the primary and (waited for) on every replica; dropped at the end.
struct causal_table
{
    causal_table()
        : name("causal_test_" + std::to_string(::getpid()))
    {
        auto sql = direct(cluster().primary);
        *sql << "DROP TABLE IF EXISTS " + name;
        *sql << "CREATE TABLE " + name + " (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)";
        for (server const& r : cluster().replicas)
        {
            bool const there = eventually(20s, [&] {
                try
                {
                    auto rs = direct(r);
                    int n = -1;
                    *rs << "SELECT count(*) FROM " + name, soci::into(n);
                    return n == 0;
                }
                catch (std::exception const&)
                {
                    return false;
                }
            });
            BOOST_REQUIRE_MESSAGE(there, "the table did not reach the replica on port " << r.port);
        }
    }
    ~causal_table()
    {
        try
        {
            *direct(cluster().primary) << "DROP TABLE IF EXISTS " + name;
        }
        catch (...)
        {
        }
    }
    std::string const name;
};

config_spec causal_spec(double timeout)
{
    config_spec spec;
    spec.consistency = "causal";
    spec.causal_timeout = timeout;
    return spec;
}

bool on_replica(soci::session& sql)
{
    return soci::routing.last_endpoint(sql) != "primary";
}

std::uint64_t total(soci::routing_stats const& s, std::uint64_t soci::routing_endpoint_stats::*field)
{
    std::uint64_t n = 0;
    for (auto const& e : s.endpoints)
        n += e.*field;
    return n;
}

/// Pauses replay on every replica of the cluster (resumed when it goes out of scope).
struct all_paused
{
    all_paused()
    {
        for (server const& r : cluster().replicas)
            pauses.push_back(std::make_unique<replication_pause>(r));
    }
    void resume()
    {
        for (auto& p : pauses)
            p->resume();
    }
    std::vector<std::unique_ptr<replication_pause>> pauses;
};

/// Runs this test program's case `test` in another process with `env` added; returns its exit status.
int run_child(std::string const& test, std::vector<std::string> const& env)
{
    std::string const self = std::filesystem::read_symlink("/proc/self/exe").string();
    std::string const run = "--run_test=" + test;
    std::vector<char*> argv{const_cast<char*>(self.c_str()), const_cast<char*>(run.c_str()),
                            const_cast<char*>("--log_level=test_suite"), nullptr};
    std::vector<std::string> storage(env);
    storage.emplace_back("SOCI_ROUTING_TEST_CHILD=1");
    for (char** e = environ; *e != nullptr; ++e)
        storage.emplace_back(*e);
    std::vector<char*> envp;
    for (auto& e : storage)
        envp.push_back(e.data());
    envp.push_back(nullptr);
    pid_t pid = 0;
    if (posix_spawn(&pid, self.c_str(), nullptr, nullptr, argv.data(), envp.data()) != 0)
        return -1;
    int status = 0;
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string getenv_or_empty(char const* name)
{
    char const* v = std::getenv(name);
    return v != nullptr ? v : "";
}

} // namespace

BOOST_AUTO_TEST_SUITE(causal)

// The loop the issue names: a write, then at once a read of that row, in one session. Every read sees its
// write; replicas serve them (after a wait of a millisecond or so, when the read arrives before the replay).
BOOST_AUTO_TEST_CASE(causal_reads_see_the_sessions_own_writes_and_replicas_serve_them)
{
    causal_table t;
    soci::session sql(routing_uri(causal_spec(2.0)));
    int const n = 300;
    int stale = 0;
    int replica_reads = 0;
    for (int i = 1; i <= n; ++i)
    {
        sql << "INSERT INTO " + t.name + " (id, v) VALUES (:id, :v)", soci::use(i), soci::use(i * 7);
        int v = -1;
        soci::indicator ind = soci::i_null;
        sql << "SELECT v FROM " + t.name + " WHERE id = :id", soci::use(i), soci::into(v, ind);
        if (ind != soci::i_ok || v != i * 7)
            ++stale;
        if (on_replica(sql))
        {
            ++replica_reads;
            std::string const why = soci::routing.last_reason(sql);
            BOOST_TEST((why == "causal_replica" || why == "causal_wait"), "reason " << why);
        }
    }
    BOOST_TEST_MESSAGE(cluster().driver << ": " << stale << " stale of " << n << ", " << replica_reads
                                        << " served by replicas");
    BOOST_TEST(stale == 0);
    BOOST_TEST(replica_reads >= n * 9 / 10);
    auto const s = soci::routing.stats(sql);
    double waited = 0;
    for (auto const& e : s.endpoints)
        waited += e.causal_wait_seconds;
    BOOST_TEST_MESSAGE(total(s, &soci::routing_endpoint_stats::causal_waits) << " waits, " << waited << " s");
    BOOST_TEST(total(s, &soci::routing_endpoint_stats::causal_reads) == static_cast<std::uint64_t>(replica_reads));
}

// A table created and at once read through a server-side prepared statement (a rowset): the prepare on a
// replica must not run before the replica has the table (SOCI's own suite does this).
BOOST_AUTO_TEST_CASE(a_table_created_then_read_through_a_prepared_statement_is_there)
{
    soci::session sql(routing_uri(causal_spec(2.0)));
    std::string const name = "causal_ddl_" + std::to_string(::getpid());
    int replica_reads = 0;
    for (int i = 0; i != 30; ++i)
    {
        sql << "DROP TABLE IF EXISTS " + name;
        sql << "CREATE TABLE " + name + " (id INTEGER)";
        sql << "INSERT INTO " + name + " (id) VALUES (1)";
        int n = 0;
        soci::rowset<int> rows = (sql.prepare << "SELECT id FROM " + name);
        for (int v : rows)
            n += v;
        BOOST_TEST(n == 1);
        replica_reads += on_replica(sql) ? 1 : 0;
    }
    sql << "DROP TABLE IF EXISTS " + name;
    BOOST_TEST(replica_reads >= 27);

    // Deterministically: with replay paused, the prepare waits causal_timeout and the statement runs on the
    // primary, which has the table (before, the prepare ran on a replica without it: "does not exist").
    soci::session quick(routing_uri(causal_spec(0.1)));
    all_paused paused;
    quick << "CREATE TABLE " + name + " (id INTEGER)";
    quick << "INSERT INTO " + name + " (id) VALUES (2)";
    int n = 0;
    soci::rowset<int> rows = (quick.prepare << "SELECT id FROM " + name);
    for (int v : rows)
        n += v;
    BOOST_TEST(n == 2);
    BOOST_TEST(soci::routing.last_reason(quick) == "causal_primary");
    paused.resume();
    quick << "DROP TABLE " + name;
}

// MariaDB: the commit's GTID comes with its answer (session tracking of last_gtid): reading a write back asks
// the primary nothing (its Com_select does not move), and the token is that GTID.
BOOST_AUTO_TEST_CASE(mariadb_reads_back_a_write_without_asking_the_primary_its_position)
{
    if (cluster().is_pg())
        return;  // PostgreSQL reports no position with a commit: one round trip (pg_current_wal_insert_lsn)
    causal_table t;
    // Com_select counts every client's SELECTs: no other probe may run on the primary meanwhile. The clusters
    // of the tests before this one (their lag probers read the primary's position) close one `linger` (1 s)
    // after their last session; this one's prober waits longer than the test.
    std::this_thread::sleep_for(std::chrono::milliseconds(1200));
    config_spec spec = causal_spec(2.0);
    spec.lag_probe_interval = 60;
    soci::session sql(routing_uri(spec));
    auto admin = direct(cluster().primary);
    auto com_select = [&] {
        std::string name;
        long long n = -1;
        *admin << "SHOW GLOBAL STATUS LIKE 'Com_select'", soci::into(name), soci::into(n);
        return n;
    };
    sql << "INSERT INTO " + t.name + " (id, v) VALUES (1, 1)";  // connections open
    int v = 0;
    sql << "SELECT v FROM " + t.name + " WHERE id = 1", soci::into(v);
    long long const before = com_select();
    for (int i = 2; i != 12; ++i)
    {
        sql << "INSERT INTO " + t.name + " (id, v) VALUES (:i, :i)", soci::use(i, "i");
        sql << "SELECT v FROM " + t.name + " WHERE id = :i", soci::use(i, "i"), soci::into(v);
        BOOST_TEST(v == i);
        BOOST_TEST(on_replica(sql));
    }
    BOOST_TEST(com_select() - before == 0);
    std::string last;
    *admin << "SELECT @@global.gtid_binlog_pos", soci::into(last);
    BOOST_TEST_MESSAGE("token " << soci::routing.causal_token(sql) << ", primary at " << last);
    BOOST_TEST(soci::routing.causal_token(sql).rfind("mariadb:0-", 0) == 0u);
}

// A session that only reads while others write has no position to wait for: replicas, as in window mode.
BOOST_AUTO_TEST_CASE(a_session_that_only_reads_stays_on_replicas_while_others_write)
{
    causal_table t;
    std::atomic<bool> stop{false};
    std::thread writer([&] {
        soci::session w(routing_uri(causal_spec(0.05)));
        for (int i = 1; !stop.load(); ++i)
        {
            w << "INSERT INTO " + t.name + " (id, v) VALUES (:id, 1)", soci::use(i);
            std::this_thread::sleep_for(2ms);
        }
    });
    soci::session sql(routing_uri(causal_spec(0.05)));
    int replica_reads = 0;
    int const n = 200;
    for (int i = 0; i != n; ++i)
    {
        int c = 0;
        sql << "SELECT count(*) FROM " + t.name, soci::into(c);
        if (on_replica(sql))
            ++replica_reads;
    }
    stop.store(true);
    writer.join();
    BOOST_TEST(replica_reads >= n * 99 / 100);
    BOOST_TEST(soci::routing.causal_token(sql) == "");
}

// Replay paused on every replica: a read of the session's write waits up to causal_timeout, then goes to the
// primary (and sees it); once replay resumes, the reads go back to the replicas.
BOOST_AUTO_TEST_CASE(a_paused_replica_makes_reads_wait_then_go_to_the_primary_and_back)
{
    causal_table t;
    soci::session sql(routing_uri(causal_spec(0.2)));
    sql << "SELECT count(*) FROM " + t.name;  // connections open
    all_paused paused;
    sql << "INSERT INTO " + t.name + " (id, v) VALUES (1, 10)";
    auto const before = soci::routing.stats(sql);
    for (int i = 0; i != 3; ++i)
    {
        int v = 0;
        sql << "SELECT v FROM " + t.name + " WHERE id = 1", soci::into(v);
        BOOST_TEST(v == 10);
        BOOST_TEST(soci::routing.last_endpoint(sql) == "primary");
        BOOST_TEST(soci::routing.last_reason(sql) == "causal_primary");
    }
    auto const after = soci::routing.stats(sql);
    BOOST_TEST(total(after, &soci::routing_endpoint_stats::causal_wait_timeouts)
               - total(before, &soci::routing_endpoint_stats::causal_wait_timeouts) == 3u);
    BOOST_TEST(total(after, &soci::routing_endpoint_stats::causal_primary)
               - total(before, &soci::routing_endpoint_stats::causal_primary) == 3u);
    double waited = 0;
    for (auto const& e : after.endpoints)
        waited += e.causal_wait_seconds;
    BOOST_TEST(waited >= 0.6 * 0.9);  // three waits of causal_timeout each (an accounting check, not a timing one)

    paused.resume();
    bool back = eventually(10s, [&] {
        int v = 0;
        sql << "SELECT v FROM " + t.name + " WHERE id = 1", soci::into(v);
        return v == 10 && on_replica(sql);
    });
    BOOST_TEST(back);
    std::string const why = soci::routing.last_reason(sql);
    BOOST_TEST((why == "causal_replica" || why == "causal_wait"), "reason " << why);
}

// With fallback = false too, a read no replica can serve for lack of the position goes to the primary (it is
// not a replica failure): at its prepare as at its execution.
BOOST_AUTO_TEST_CASE(without_fallback_a_read_without_a_caught_up_replica_still_goes_to_the_primary)
{
    causal_table t;
    config_spec spec = causal_spec(0.05);
    spec.fallback = false;
    soci::session sql(routing_uri(spec));
    all_paused paused;
    sql << "INSERT INTO " + t.name + " (id, v) VALUES (1, 10)";
    int v = 0;
    sql << "SELECT v FROM " + t.name + " WHERE id = 1", soci::into(v);
    BOOST_TEST(v == 10);
    BOOST_TEST(soci::routing.last_reason(sql) == "causal_primary");
}

// causal_timeout = 0: no wait at all; a read goes to a replica only once it is known to have the position
// (from the lag prober, every lag_probe_interval), else to the primary.
BOOST_AUTO_TEST_CASE(causal_timeout_zero_never_waits)
{
    causal_table t;
    config_spec spec = causal_spec(0);
    spec.lag_probe_interval = 0.1;
    soci::session sql(routing_uri(spec));
    all_paused paused;
    sql << "INSERT INTO " + t.name + " (id, v) VALUES (1, 10)";
    int v = 0;
    sql << "SELECT v FROM " + t.name + " WHERE id = 1", soci::into(v);
    BOOST_TEST(v == 10);
    BOOST_TEST(soci::routing.last_reason(sql) == "causal_primary");
    paused.resume();
    bool const back = eventually(10s, [&] {
        sql << "SELECT v FROM " + t.name + " WHERE id = 1", soci::into(v);
        return on_replica(sql);
    });
    BOOST_TEST(back);
    BOOST_TEST(soci::routing.last_reason(sql) == "causal_replica");
    BOOST_TEST(total(soci::routing.stats(sql), &soci::routing_endpoint_stats::causal_waits) == 0u);
}

// Two sessions (of two threads) share a scope: a write through one is seen by reads through the other.
BOOST_AUTO_TEST_CASE(a_shared_scope_carries_the_position_between_sessions)
{
    causal_table t;
    auto scope = std::make_shared<soci::routing_scope>();
    std::string const uri = routing_uri(causal_spec(2.0));
    soci::session writer(uri);
    soci::session reader(uri);
    soci::routing.set_scope(writer, scope);
    soci::routing.set_scope(reader, scope);
    int stale = 0;
    int replica_reads = 0;
    for (int i = 1; i <= 100; ++i)
    {
        std::thread([&] { writer << "INSERT INTO " + t.name + " (id, v) VALUES (:id, 1)", soci::use(i); }).join();
        int c = 0;
        reader << "SELECT count(*) FROM " + t.name + " WHERE id = :id", soci::use(i), soci::into(c);
        stale += c == 1 ? 0 : 1;
        replica_reads += on_replica(reader) ? 1 : 0;
    }
    BOOST_TEST(stale == 0);
    BOOST_TEST(replica_reads >= 90);

    // A token required through one session of the scope holds for every session of it: with replay paused,
    // the other session's read of that row goes to the primary, and finds it.
    soci::session third(uri);  // a scope of its own
    all_paused paused;
    third << "INSERT INTO " + t.name + " (id, v) VALUES (1000, 1)";
    soci::routing.require(writer, soci::routing.causal_token(third));
    int c = 0;
    reader << "SELECT count(*) FROM " + t.name + " WHERE id = 1000", soci::into(c);
    BOOST_TEST(c == 1);
    BOOST_TEST(soci::routing.last_reason(reader) == "causal_primary");
}

// A token crosses processes: with replay paused, another process that requires the token reads the row on
// the primary; without the token it reads a replica, which has not got the row (so the token is what made the
// difference).
BOOST_AUTO_TEST_CASE(a_token_carries_read_your_writes_to_another_process)
{
    causal_table t;
    std::string const uri = routing_uri(causal_spec(0.1));
    soci::session sql(uri);
    all_paused paused;
    sql << "INSERT INTO " + t.name + " (id, v) VALUES (1, 42)";
    std::string const token = soci::routing.causal_token(sql);
    BOOST_TEST_MESSAGE("token " << token);
    BOOST_TEST(token.rfind(cluster().is_pg() ? "pg:" : "mariadb:", 0) == 0);
    std::vector<std::string> env{"CAUSAL_URI=" + uri, "CAUSAL_TABLE=" + t.name};
    BOOST_TEST(run_child("causal_child/reads_with_the_token", {env[0], env[1], "CAUSAL_TOKEN=" + token}) == 0);
    BOOST_TEST(run_child("causal_child/reads_without_a_token", env) == 0);
    paused.resume();
}

// A token of the same session's own cluster, required again: no-op; malformed tokens, tokens of the other
// driver, and tokens in window mode are clear errors.
BOOST_AUTO_TEST_CASE(bad_tokens_are_clear_errors)
{
    soci::session sql(routing_uri(causal_spec(0.05)));
    soci::routing.require(sql, "");
    for (std::string const bad : {"pg:", "pg:1:", "pg:0:0/1", "pg:1:0/1x", "mariadb:", "mariadb:0-1", "x", "pg1:1:0/0",
                                  "mariadb:0-1-2,"})
    {
        try
        {
            soci::routing.require(sql, bad);
            BOOST_ERROR("accepted " << bad);
        }
        catch (soci::soci_error const& e)
        {
            BOOST_TEST(contains(e.what(), "Invalid causal token"), e.what());
        }
    }
    std::string const other = cluster().is_pg() ? "mariadb:0-1-14" : "pg:1:0/3000060";
    try
    {
        soci::routing.require(sql, other);
        BOOST_ERROR("accepted the other driver's token");
    }
    catch (soci::soci_error const& e)
    {
        BOOST_TEST(contains(e.what(), cluster().is_pg() ? "it is a MariaDB token" : "it is a PostgreSQL token"),
                   e.what());
    }
    try
    {
        soci::routing.require(sql, std::string("pg:1:0/1\x01\xff") + std::string(200, 'z'));
        BOOST_ERROR("accepted garbage");
    }
    catch (soci::soci_error const& e)
    {
        BOOST_TEST(std::string(e.what()).size() < 400u);
        BOOST_TEST(!contains(e.what(), "\x01"));
    }
    config_spec window;
    soci::session w(routing_uri(window));
    BOOST_CHECK_THROW(soci::routing.causal_token(w), soci::soci_error);
    BOOST_CHECK_THROW(soci::routing.require(w, ""), soci::soci_error);
}

// A token from another history (another timeline, another server's GTIDs: before a promotion) never makes a
// replica look caught up: at the next read it is replaced by the primary's position now.
BOOST_AUTO_TEST_CASE(a_token_from_another_history_is_replaced_by_the_primarys_position)
{
    causal_table t;
    soci::session sql(routing_uri(causal_spec(1.0)));
    std::string const old = cluster().is_pg() ? "pg:99:0/1" : "mariadb:0-999-1";
    soci::routing.require(sql, old);
    int c = -1;
    sql << "SELECT count(*) FROM " + t.name, soci::into(c);
    BOOST_TEST(c == 0);
    std::string const now = soci::routing.causal_token(sql);
    BOOST_TEST_MESSAGE("replaced by " << now);
    BOOST_TEST(now != old);
    BOOST_TEST(!now.empty());
    BOOST_TEST(!contains(now, cluster().is_pg() ? "pg:99:" : "-999-"));
    // And a position ahead of anything the primary wrote: no replica can have it, the reads go to the primary.
    if (cluster().is_pg())
    {
        soci::session ahead(routing_uri(causal_spec(0.05)));
        std::string const tl = now.substr(0, now.find(':', 3) + 1);  // "pg:TIMELINE:"
        soci::routing.require(ahead, tl + "FFFFFF/0");
        ahead << "SELECT count(*) FROM " + t.name, soci::into(c);
        BOOST_TEST(soci::routing.last_reason(ahead) == "causal_primary");
    }
}

BOOST_AUTO_TEST_SUITE_END()

// Run by a_token_carries_read_your_writes_to_another_process in a process of its own (disabled otherwise).
BOOST_AUTO_TEST_SUITE(causal_child, *utf::disabled())

BOOST_AUTO_TEST_CASE(reads_with_the_token)
{
    soci::session sql(getenv_or_empty("CAUSAL_URI"));
    soci::routing.require(sql, getenv_or_empty("CAUSAL_TOKEN"));
    int v = 0;
    soci::indicator ind = soci::i_null;
    sql << "SELECT v FROM " + getenv_or_empty("CAUSAL_TABLE") + " WHERE id = 1", soci::into(v, ind);
    BOOST_TEST((ind == soci::i_ok && v == 42));
    BOOST_TEST(soci::routing.last_reason(sql) == "causal_primary");
}

BOOST_AUTO_TEST_CASE(reads_without_a_token)
{
    soci::session sql(getenv_or_empty("CAUSAL_URI"));
    int n = -1;
    sql << "SELECT count(*) FROM " + getenv_or_empty("CAUSAL_TABLE") + " WHERE id = 1", soci::into(n);
    BOOST_TEST(n == 0);  // a replica, paused: the row is not there
    BOOST_TEST(soci::routing.last_endpoint(sql) != "primary");
}

BOOST_AUTO_TEST_SUITE_END()
