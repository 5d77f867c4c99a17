// soci-routing failover tests: topology discovery (topology = "discover") against real role changes — a primary
// that stops with no node to take over, a replica promoted while the application writes and reads, the old
// primary coming back as a replica, and two writable nodes at once (split brain). The tests that change roles
// put the original cluster back with `ci/clusters recreate` (also when they fail).

#include <boost/test/unit_test.hpp>

#include "failover-support.h"

#include <sys/resource.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

using namespace failover_test;

namespace
{

config_spec discovering()
{
    config_spec spec;
    spec.topology = "discover";
    spec.role_probe_interval = 0.2;
    spec.timeout = 2.0;
    return spec;
}

/// The table the writers write to, on whatever node is the primary now (a recreated cluster has none).
void ensure_writes_table(server const& primary)
{
    auto sql = direct(primary);
    if (cluster().is_pg())
        *sql << "CREATE TABLE IF NOT EXISTS " + writes_table()
                + " (id bigserial PRIMARY KEY, tag text NOT NULL, v integer NOT NULL DEFAULT 0)";
    else
        *sql << "CREATE TABLE IF NOT EXISTS " + writes_table()
                + " (id BIGINT AUTO_INCREMENT PRIMARY KEY, tag VARCHAR(200) NOT NULL, v INT NOT NULL DEFAULT 0)";
}

/// Puts the original topology back (`ci/clusters recreate`) when the test ends, however it ends.
struct recreate_on_exit
{
    ~recreate_on_exit()
    {
        std::string const family = cluster().is_pg() ? "pg" : "mysql";
        if (run_clusters("recreate " + family) != 0)
            BOOST_TEST_MESSAGE("ci/clusters recreate " << family << " failed: later tests may fail");
    }
};

/// Family-prefixed node name of a server ("pg-primary", "mysql-replica-1").
std::string const& node_of(server const& s) { return s.node; }

/// A writer and a reader on long-lived routing sessions of one configuration, each in its own thread, until
/// stopped. The writer numbers its writes; what was acknowledged, when, and every error are kept.
class workload
{
public:
    workload(std::string uri, std::string tag) : uri_(std::move(uri)), tag_(std::move(tag))
    {
        writer_ = std::thread([this] { write(); });
        reader_ = std::thread([this] { read(); });
    }
    ~workload() { stop(); }

    void stop()
    {
        stop_ = true;
        if (writer_.joinable())
            writer_.join();
        if (reader_.joinable())
            reader_.join();
    }

    struct ack
    {
        int v;
        clock::time_point at;
        std::string endpoint;
    };
    std::vector<ack> acks() const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        return acks_;
    }
    int read_errors() const { return read_errors_.load(); }
    int reads() const { return reads_.load(); }
    int write_errors() const { return write_errors_.load(); }
    std::vector<std::string> samples() const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        return samples_;
    }

private:
    void note(std::string what)
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (samples_.size() < 8)
            samples_.push_back(std::move(what));
    }

    void write()
    {
        std::unique_ptr<soci::session> sql;
        for (int v = 1; !stop_; ++v)
        {
            try
            {
                if (!sql)
                    sql = std::make_unique<soci::session>(soci::routing, uri_);
                *sql << "INSERT INTO " + writes_table() + " (tag, v) VALUES (:t, :v)", soci::use(tag_), soci::use(v);
                std::lock_guard<std::mutex> lock(mutex_);
                acks_.push_back({v, clock::now(), soci::routing.last_endpoint(*sql)});
            }
            catch (std::exception const& e)
            {
                ++write_errors_;
                note(std::string("write: ") + e.what());
            }
            std::this_thread::sleep_for(20ms);
        }
    }

    void read()
    {
        // One session for the whole run: an application does not reopen it because the cluster changed.
        std::unique_ptr<soci::session> sql;
        try
        {
            sql = std::make_unique<soci::session>(soci::routing, uri_);
        }
        catch (std::exception const& e)
        {
            ++read_errors_;
            note(std::string("reader open: ") + e.what());
            return;
        }
        while (!stop_)
        {
            try
            {
                read_port(*sql);
                ++reads_;
            }
            catch (std::exception const& e)
            {
                ++read_errors_;
                note(std::string("read: ") + e.what());
            }
            std::this_thread::sleep_for(10ms);
        }
    }

    std::string const uri_;
    std::string const tag_;
    std::atomic<bool> stop_{false};
    mutable std::mutex mutex_;
    std::vector<ack> acks_;
    std::vector<std::string> samples_;
    std::atomic<int> reads_{0};
    std::atomic<int> read_errors_{0};
    std::atomic<int> write_errors_{0};
    std::thread writer_;
    std::thread reader_;
};

std::set<int> values_on(server const& s, std::string const& tag)
{
    auto sql = direct(s);
    soci::rowset<int> rows = (sql->prepare << "SELECT v FROM " + writes_table() + " WHERE tag = :t", soci::use(tag));
    return std::set<int>(rows.begin(), rows.end());
}

} // namespace

BOOST_AUTO_TEST_SUITE(topology)

BOOST_AUTO_TEST_CASE(with_no_writable_node_a_write_fails_fast_naming_every_node)
{
    test_cluster const& c = cluster();
    ensure_writes_table(c.primary);
    config_spec spec = discovering();
    std::string const uri = routing_uri(spec);
    std::string const tag = unique_tag("nowritable");
    soci::session sql(soci::routing, uri);
    sql << "INSERT INTO " + writes_table() + " (tag, v) VALUES (:t, 1)", soci::use(tag);
    BOOST_TEST(soci::routing.last_endpoint(sql) == "primary");

    node_guard nodes;
    BOOST_REQUIRE(nodes.stop(node_of(c.primary)));
    // The write that meets the connection the server closed fails as it would without routing (it may have
    // been sent); give the prober a few rounds to see that the primary is gone.
    std::this_thread::sleep_for(600ms);
    auto const t0 = clock::now();
    std::string error;
    try
    {
        sql << "INSERT INTO " + writes_table() + " (tag, v) VALUES (:t, 2)", soci::use(tag);
    }
    catch (soci::soci_error const& e)
    {
        error = e.what();
    }
    double const took = std::chrono::duration<double>(clock::now() - t0).count();
    BOOST_TEST_MESSAGE("write with no writable node failed after " << took << " s: " << error);
    BOOST_TEST(!error.empty());
    BOOST_TEST(took < spec.timeout + 1.0);
    BOOST_TEST(contains(error, "no writable node"), error);
    BOOST_TEST(contains(error, "\"primary\""), error);
    for (std::size_t i = 0; i < c.replicas.size(); ++i)
        BOOST_TEST(contains(error, "\"replica-" + std::to_string(i + 1) + "\""), error);
    BOOST_TEST(!contains(error, c.primary.password), "the password must not show");

    // Reads go on from the replicas, and a new session of the same configuration opens for them.
    BOOST_TEST(read_port(sql) != c.primary.port);
    soci::session later(soci::routing, uri);
    BOOST_TEST(read_port(later) != c.primary.port);

    // The primary back: writes resume without a new session.
    BOOST_REQUIRE(nodes.start(node_of(c.primary)));
    bool const resumed = eventually(10s, [&] {
        try
        {
            sql << "INSERT INTO " + writes_table() + " (tag, v) VALUES (:t, 3)", soci::use(tag);
            return true;
        }
        catch (std::exception const&)
        {
            return false;
        }
    }, 100ms);
    BOOST_TEST(resumed);
    BOOST_TEST(soci::routing.last_endpoint(sql) == "primary");
}

BOOST_AUTO_TEST_CASE(promoted_replica_takes_the_writes_and_the_old_primary_returns_as_a_replica)
{
    test_cluster const& c = cluster();
    server const& promoted = c.replicas[0];
    recreate_on_exit restore;
    ensure_writes_table(c.primary);
    std::string const uri = routing_uri(discovering());
    std::string const tag = unique_tag("promotion");

    workload load(uri, tag);
    std::this_thread::sleep_for(500ms);
    BOOST_REQUIRE_MESSAGE(!load.acks().empty(), "no write before the switchover");

    // The switchover as an operator (or Patroni, repmgr, mariadbmon) does it.
    BOOST_REQUIRE(run_clusters("stop-node " + node_of(c.primary)) == 0);
    BOOST_REQUIRE(run_clusters("promote " + node_of(promoted)) == 0);
    auto const promoted_at = clock::now();
    for (std::size_t i = 1; i < c.replicas.size(); ++i)
        BOOST_REQUIRE(run_clusters("follow " + node_of(c.replicas[i]) + " " + node_of(promoted)) == 0);

    bool const resumed = eventually(8s, [&] {
        auto const a = load.acks();
        return !a.empty() && a.back().at > promoted_at && a.back().endpoint == "replica-1";
    }, 50ms);
    BOOST_TEST(resumed, "no write acknowledged by the promoted replica");
    double first = -1;
    for (auto const& a : load.acks())
        if (a.at > promoted_at)
        {
            first = std::chrono::duration<double>(a.at - promoted_at).count();
            break;
        }
    BOOST_TEST_MESSAGE("first write after the promotion: " << first << " s; write errors " << load.write_errors());
    BOOST_TEST((first >= 0 && first < 5.0), "writes resumed after " << first << " s");

    // A session opened now writes, although the configured primary is down.
    {
        soci::session later(soci::routing, uri);
        later << "INSERT INTO " + writes_table() + " (tag, v) VALUES (:t, -1)", soci::use(tag);
        BOOST_TEST(soci::routing.last_endpoint(later) == "replica-1");
    }

    // The old primary returns as a replica of the new one, and reads use it.
    BOOST_REQUIRE(run_clusters("follow " + node_of(c.primary) + " " + node_of(promoted)) == 0);
    auto const followed_at = clock::now();
    soci::session reader(soci::routing, uri);
    bool const used = eventually(10s, [&] { return read_port(reader) == c.primary.port; }, 20ms);
    BOOST_TEST(used, "the old primary never served a read as a replica");
    BOOST_TEST_MESSAGE("the old primary served a read as a replica "
                       << std::chrono::duration<double>(clock::now() - followed_at).count()
                       << " s after it was following the new primary");
    load.stop();

    BOOST_TEST(load.read_errors() == 0);
    BOOST_TEST(load.reads() > 0);
    for (auto const& s : load.samples())
        BOOST_TEST_MESSAGE("  " << s);

    // Every write acknowledged after the promotion is on the new primary (and none was written twice).
    std::set<int> const on_new = values_on(promoted, tag);
    int after = 0;
    for (auto const& a : load.acks())
        if (a.at > promoted_at)
        {
            ++after;
            BOOST_TEST(on_new.count(a.v) == 1u, "acknowledged write " << a.v << " is not on the new primary");
        }
    BOOST_TEST(after > 0);
    {
        auto sql = direct(promoted);
        int dup = 0;
        *sql << "SELECT count(*) FROM (SELECT v FROM " + writes_table() + " WHERE tag = :t GROUP BY v HAVING count(*) > 1) d",
            soci::use(tag), soci::into(dup);
        BOOST_TEST(dup == 0);
    }

    // The role changes are counted and visible.
    soci::routing_stats const s = soci::routing.stats(reader);
    auto const* old_primary = find(s, "primary");
    auto const* new_primary = find(s, "replica-1");
    BOOST_REQUIRE(old_primary);
    BOOST_REQUIRE(new_primary);
    BOOST_TEST(old_primary->role == "replica");
    BOOST_TEST(new_primary->role == "primary");
    BOOST_TEST(old_primary->role_changes >= 1u);
    BOOST_TEST(new_primary->role_changes >= 1u);
    BOOST_TEST(contains(s.to_prometheus(), "soci_routing_role_changes_total{endpoint=\"replica-1\"}"));

    // `check` (and soci-routing check) checks the node found writable as the primary.
    soci::routing_check const ready = soci::routing.check(reader);
    BOOST_REQUIRE(!ready.endpoints.empty());
    BOOST_TEST(ready.endpoints.front().name == "replica-1");
    BOOST_TEST(ready.endpoints.front().role == "primary");
    BOOST_TEST(ready.ready(), ready.to_text());
    auto const* old_checked = find(ready, "primary");
    BOOST_REQUIRE(old_checked);
    BOOST_TEST(old_checked->role == "replica");
    BOOST_TEST(old_checked->role_ok, old_checked->error);
}

BOOST_AUTO_TEST_CASE(two_writable_nodes_never_get_a_write_they_should_not)
{
    test_cluster const& c = cluster();
    server const& promoted = c.replicas[0];
    recreate_on_exit restore;
    ensure_writes_table(c.primary);
    std::string const uri = routing_uri(discovering());
    std::string const tag = unique_tag("splitbrain");
    soci::session sql(soci::routing, uri);
    sql << "INSERT INTO " + writes_table() + " (tag, v) VALUES (:t, 1)", soci::use(tag);
    // Replication is asynchronous: promote a replica that has the table (else the write after fails on it).
    BOOST_REQUIRE(eventually(5s, [&] {
        try
        {
            return values_on(promoted, tag).count(1) == 1;
        }
        catch (std::exception const&)
        {
            return false;
        }
    }));

    // A replica promoted while the primary still runs: two writable nodes.
    BOOST_REQUIRE(run_clusters("promote " + node_of(promoted)) == 0);
    if (c.is_pg())
    {
        // PostgreSQL: the promoted standby is on a newer timeline; the old primary is fenced.
        std::string last;
        bool const moved = eventually(5s, [&] {
            try
            {
                sql << "INSERT INTO " + writes_table() + " (tag, v) VALUES (:t, 2)", soci::use(tag);
                last = "ran on " + soci::routing.last_endpoint(sql);
                return soci::routing.last_endpoint(sql) == "replica-1";
            }
            catch (std::exception const& e)
            {
                last = e.what();
                return false;
            }
        }, 50ms);
        BOOST_TEST(moved, last << "; stats " << soci::routing.stats(sql).to_json());
        auto const s = soci::routing.stats(sql);
        BOOST_TEST(find(s, "primary")->role == "fenced");
        for (int i = 0; i < 20; ++i)
            BOOST_TEST(read_port(sql) != c.primary.port, "a fenced node served a read");
        return;
    }
    // MariaDB: no rule can tell which is right; writes are refused, naming the writable nodes.
    bool const refused = eventually(5s, [&] {
        try
        {
            sql << "INSERT INTO " + writes_table() + " (tag, v) VALUES (:t, 2)", soci::use(tag);
            return false;
        }
        catch (soci::soci_error const& e)
        {
            return contains(e.what(), "split brain");
        }
    }, 50ms);
    BOOST_TEST(refused);
    // One of them made read-only again: writes go to the one writable node.
    *mysql_root(c.primary) << "SET GLOBAL read_only = 1";
    bool const moved = eventually(5s, [&] {
        try
        {
            sql << "INSERT INTO " + writes_table() + " (tag, v) VALUES (:t, 3)", soci::use(tag);
            return soci::routing.last_endpoint(sql) == "replica-1";
        }
        catch (std::exception const&)
        {
            return false;
        }
    }, 50ms);
    BOOST_TEST(moved);
    std::set<int> const on_old = values_on(c.primary, tag);
    BOOST_TEST(on_old.count(3) == 0u, "a write reached the node that was refused");
}

// A process out of file descriptors (EMFILE: a leak, more clients than its limit) cannot open a role probe's
// connection to any node. That says nothing of the nodes: the router keeps the topology it knew, so that writes
// fail with the process's own reason, not "no writable node", and the replicas serve reads the moment the
// process has descriptors again, not after a quarantine's window.
BOOST_AUTO_TEST_CASE(a_process_out_of_file_descriptors_keeps_the_topology_it_knew)
{
    test_cluster const& c = cluster();
    ensure_writes_table(c.primary);
    config_spec spec = discovering();
    spec.role_probe_interval = 0.05;
    spec.retry_window = 30;  // a replica taken down would stay down past the test
    spec.retry_window_max = 30;
    spec.failures = 10;      // the pooled connections killed below are not what is tested
    spec.tag = unique_tag("topology-emfile");
    std::string const uri = routing_uri(spec);
    soci::session sql(soci::routing, uri);
    sql << "INSERT INTO " + writes_table() + " (tag, v) VALUES (:t, 1)", soci::use(spec.tag);
    BOOST_REQUIRE(soci::routing.last_endpoint(sql) == "primary");
    BOOST_REQUIRE(read_port(sql) != c.primary.port);

    // Connections to every node, opened now: under the limit no new one can be.
    std::vector<std::unique_ptr<soci::session>> admins;
    admins.push_back(direct(c.primary));
    for (auto const& r : c.replicas)
        admins.push_back(direct(r));
    std::vector<long long> own_ids;
    for (auto& admin : admins)
    {
        long long id = 0;
        *admin << (c.is_pg() ? "SELECT pg_backend_pid()" : "SELECT CONNECTION_ID()"), soci::into(id);
        own_ids.push_back(id);
    }

    std::string error;
    {
        // No descriptor above stdin, stdout and stderr can be had: a connection closed below frees one that
        // the next socket would otherwise take again.
        rlimit saved{};
        BOOST_REQUIRE(getrlimit(RLIMIT_NOFILE, &saved) == 0);
        rlimit low = saved;
        low.rlim_cur = 3;
        BOOST_REQUIRE(setrlimit(RLIMIT_NOFILE, &low) == 0);
        struct restore_limit
        {
            rlimit saved;
            ~restore_limit() { setrlimit(RLIMIT_NOFILE, &saved); }
        } const restore{saved};

        // The test's connections (the role probes' among them) closed by the servers: each probe must connect
        // again, and cannot.
        for (std::size_t i = 0; i < admins.size(); ++i)
        {
            if (c.is_pg())
                *admins[i] << "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                              " WHERE application_name = :a AND pid <> pg_backend_pid()",
                    soci::use(spec.tag);
            else
            {
                std::vector<long long> ids(100);
                *admins[i] << "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = :u AND ID <> :me",
                    soci::use(c.primary.user), soci::use(own_ids[i]), soci::into(ids);
                for (long long id : ids)
                {
                    try
                    {
                        *admins[i] << "KILL " + std::to_string(id);
                    }
                    catch (soci::soci_error const&)
                    {
                        // gone meanwhile
                    }
                }
            }
        }
        // Some ten rounds of role probes, none of which can open a connection.
        std::this_thread::sleep_for(600ms);
        // The write meets its pooled connection closed (the error of a lost connection), then the limit.
        for (int attempt = 0; attempt < 3; ++attempt)
        {
            try
            {
                sql << "INSERT INTO " + writes_table() + " (tag, v) VALUES (:t, 2)", soci::use(spec.tag);
                error.clear();
            }
            catch (soci::soci_error const& e)
            {
                error = e.what();
            }
        }
        soci::routing_stats const s = soci::routing.stats(sql);
        for (auto const& e : s.endpoints)
        {
            BOOST_TEST_MESSAGE(e.name << ": role " << e.role << ", state " << e.state << ", note " << e.role_note);
            BOOST_TEST(e.state == "up", e.name << " is " << e.state << " after probes the process could not make");
            BOOST_TEST(e.quarantines == 0u, e.name);
            BOOST_TEST(e.role == (e.name == "primary" ? "primary" : "replica"), e.name);
        }
    }
    BOOST_TEST_MESSAGE("write under the limit: " << error);
    BOOST_TEST(!error.empty(), "a write succeeded with no descriptor to be had");
    bool const says_why = contains(error, "Too many open files") || contains(error, "socket (24)");
    BOOST_TEST(says_why, "the write's error does not give the process's reason: " << error);
    BOOST_TEST(!contains(error, "no writable node"), error);

    // Descriptors back: the topology it knew serves at once (no quarantine's window, no promotion to wait for).
    bool const reads_back = eventually(3s, [&] {
        try
        {
            return read_port(sql) != c.primary.port;
        }
        catch (std::exception const&)
        {
            return false;
        }
    }, 50ms);
    BOOST_TEST(reads_back, "reads did not return to a replica: " << soci::routing.stats(sql).to_json());
    sql << "INSERT INTO " + writes_table() + " (tag, v) VALUES (:t, 3)", soci::use(spec.tag);
    BOOST_TEST(soci::routing.last_endpoint(sql) == "primary");
}

BOOST_AUTO_TEST_SUITE_END()
