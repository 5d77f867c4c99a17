// soci-routing failover tests: replicas that crash or stop under load.

#include <boost/test/unit_test.hpp>

#include "failover-support.h"

#include <array>
#include <atomic>
#include <future>
#include <mutex>
#include <set>
#include <thread>

using namespace failover_test;

namespace
{

// Threads that read through their own routing sessions until stopped, counting where each read ran (by the
// port the statement itself returned) in the phase the test is in. Joined on destruction, so a failed
// BOOST_REQUIRE never leaves a thread running.
class readers
{
public:
    static constexpr int phases = 3;
    static constexpr int slots = 4;  // the primary, up to two replicas, any other port

    readers(std::string uri, int threads) : uri_(std::move(uri))
    {
        for (int i = 0; i < threads; ++i)
            threads_.emplace_back([this] { run(); });
    }
    ~readers() { stop(); }

    void set_phase(int p) { phase_.store(p); }
    void stop()
    {
        stop_.store(true);
        for (auto& t : threads_)
            if (t.joinable())
                t.join();
    }

    int reads(int phase) const
    {
        int n = 0;
        for (auto const& c : by_port_[phase])
            n += c.load();
        return n;
    }
    /// Reads of `phase` that ran on the server at `port`.
    int reads(int phase, int port) const { return by_port_[phase][slot(port)].load(); }
    int min_reads_per_thread() const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        int m = 1 << 30;
        for (int n : per_thread_)
            m = std::min(m, n);
        return per_thread_.size() == threads_.size() ? m : 0;
    }
    int errors() const { return errors_.load(); }
    int mismatches() const { return mismatches_.load(); }
    std::vector<std::string> samples() const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        return samples_;
    }

private:
    static int slot(int port)
    {
        test_cluster const& c = cluster();
        if (port == c.primary.port)
            return 0;
        for (std::size_t i = 0; i < c.replicas.size() && i + 2 < slots; ++i)
            if (port == c.replicas[i].port)
                return static_cast<int>(i) + 1;
        return slots - 1;
    }

    void note(std::string what)
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (samples_.size() < 10)
            samples_.push_back(std::move(what));
    }

    void run()
    {
        std::size_t me;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            me = per_thread_.size();
            per_thread_.push_back(0);
        }
        try
        {
            soci::session sql(uri_);
            while (!stop_.load())
            {
                int const phase = phase_.load();
                try
                {
                    int const port = read_port(sql);
                    std::string const where = soci::routing.last_endpoint(sql);
                    by_port_[phase][slot(port)].fetch_add(1);
                    if (port_of_endpoint(where) != port)
                    {
                        mismatches_.fetch_add(1);
                        note("last_endpoint() is \"" + where + "\" but the read ran on port " + std::to_string(port));
                    }
                    std::lock_guard<std::mutex> lock(mutex_);
                    ++per_thread_[me];
                }
                catch (std::exception const& e)
                {
                    errors_.fetch_add(1);
                    note(std::string("read failed in phase ") + std::to_string(phase) + ": " + e.what());
                }
                std::this_thread::sleep_for(1ms);  // a steady load, not a busy loop on a shared cluster
            }
        }
        catch (std::exception const& e)
        {
            errors_.fetch_add(1);
            note(std::string("opening a routing session failed: ") + e.what());
        }
    }

    std::string const uri_;
    std::vector<std::thread> threads_;
    std::atomic<int> phase_{0};
    std::atomic<bool> stop_{false};
    std::array<std::array<std::atomic<int>, slots>, phases> by_port_{};
    std::atomic<int> errors_{0};
    std::atomic<int> mismatches_{0};
    mutable std::mutex mutex_;
    std::vector<int> per_thread_;
    std::vector<std::string> samples_;
};

std::string join_lines(std::vector<std::string> const& lines)
{
    std::string out;
    for (auto const& l : lines)
        out += "\n  " + l;
    return out;
}

// "primary/replica-1/replica-2" counts of one phase.
std::string per_server(readers const& load, int phase)
{
    test_cluster const& c = cluster();
    std::string out = std::to_string(load.reads(phase, c.primary.port));
    for (auto const& r : c.replicas)
        out += "/" + std::to_string(load.reads(phase, r.port));
    return out;
}

// True when `ports` holds every replica's port.
bool every_replica_in(std::set<int> const& ports)
{
    for (auto const& r : cluster().replicas)
        if (!ports.count(r.port))
            return false;
    return true;
}

} // namespace

BOOST_AUTO_TEST_SUITE(replica_failures)

// SIGKILL of a replica while 4 threads read: every read still succeeds (a broken or refused replica read is
// retried on the primary), and the replica takes reads again once it is back.
BOOST_AUTO_TEST_CASE(killed_replica_causes_no_application_errors)
{
    test_cluster const& c = cluster();
    server const& victim = c.replicas[0];
    config_spec spec;
    spec.failures = 2;
    spec.retry_window = 0.3;
    spec.retry_window_max = 1.0;
    spec.timeout = 1.0;
    std::string const uri = routing_uri(spec);
    soci::session observer(uri);

    node_guard nodes;  // declared before the readers: they are joined first, then the replica restarted
    readers load(uri, 4);

    // Phase 0: every replica serves reads.
    bool const warm = eventually(10s, [&] {
        if (load.min_reads_per_thread() < 20)
            return false;
        for (auto const& r : c.replicas)
            if (load.reads(0, r.port) == 0)
                return false;
        return true;
    });
    BOOST_REQUIRE_MESSAGE(warm, "the 4 readers did not read from every replica within 10 s; errors: "
                                    << load.errors() << join_lines(load.samples()));

    // A read in flight on replica-1 when it dies. The readers' reads are short and there are two replicas, so
    // whether one of theirs is cut mid-query is chance; this one is (a session whose only replica is
    // replica-1, and the kill waits until the server runs it). Its connection breaks under it: it must be
    // retried on the primary, return the primary's answer, and count a fallback.
    config_spec slow_spec = spec;
    slow_spec.replicas = std::vector<replica_spec>{real_replicas().front()};
    std::string const slow_uri = routing_uri(slow_spec);
    soci::session slow_observer(slow_uri);
    double const slow_seconds = 2.5;
    std::string const slow_query = c.sleeping_port_query(slow_seconds);
    struct slow_result
    {
        int port = 0;
        std::string endpoint;
        std::string error;
    };
    std::future<slow_result> slow = std::async(std::launch::async, [&] {
        slow_result r;
        try
        {
            soci::session sql(slow_uri);
            sql << slow_query, soci::into(r.port);
            r.endpoint = soci::routing.last_endpoint(sql);
        }
        catch (std::exception const& e)
        {
            r.error = e.what();
        }
        return r;
    });
    bool const in_flight = eventually(5s, [&] {
        auto admin = direct(victim);
        int running = 0;
        if (c.is_pg())
            *admin << "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(" << slow_seconds
                   << ")%' AND pid <> pg_backend_pid() AND state = 'active'",
                soci::into(running);
        else
            *admin << "SELECT count(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE '%SLEEP("
                   << slow_seconds << ")%' AND ID <> CONNECTION_ID()",
                soci::into(running);
        return running > 0;
    }, 10ms);
    BOOST_REQUIRE_MESSAGE(in_flight, "the slow read did not start on replica-1 within 5 s");

    // Phase 1: replica-1 is killed (SIGKILL of the server; its connections break). Reads that start while
    // the script runs still count as phase 0: the server may not be dead yet.
    BOOST_REQUIRE(nodes.kill(victim.node));
    load.set_phase(1);
    bool const tried = eventually(5s, [&] {
        auto const s = soci::routing.stats(observer);
        auto const* r1 = find(s, "replica-1");
        return load.reads(1) >= 100 && r1 != nullptr && r1->failures >= 1;
    });
    BOOST_CHECK_MESSAGE(tried, "within 5 s of the kill, replica-1 recorded no failure (or fewer than 100 reads ran)");

    // Phase 2: replica-1 restarts (start-node returns once it replicates again; it may take reads before).
    load.set_phase(2);
    BOOST_REQUIRE(nodes.start(victim.node));
    bool const used_again = eventually(10s, [&] { return load.reads(2, victim.port) > 0; });
    load.stop();

    BOOST_TEST_MESSAGE("reads per phase (primary/replicas): " << per_server(load, 0) << ", " << per_server(load, 1)
                                                              << ", " << per_server(load, 2));
    BOOST_CHECK_MESSAGE(load.errors() == 0, load.errors() << " reads reached the application as errors:"
                                                          << join_lines(load.samples()));
    BOOST_CHECK_MESSAGE(load.mismatches() == 0,
                        "last_endpoint() disagreed with where the read ran:" << join_lines(load.samples()));
    BOOST_CHECK_MESSAGE(load.reads(1, victim.port) == 0,
                        "reads were served by replica-1's port after it was killed: the kill did not happen");
    BOOST_CHECK_MESSAGE(load.reads(1) > 0, "no read completed while replica-1 was down");
    if (c.replicas.size() == 1)
        BOOST_CHECK_MESSAGE(load.reads(1, c.primary.port) == load.reads(1),
                            "with the only replica down, reads ran elsewhere than on the primary: "
                                << per_server(load, 1));
    BOOST_CHECK_MESSAGE(used_again, "replica-1 served no read within 10 s after its restart");

    auto const s = soci::routing.stats(observer);
    auto const* r1 = find(s, "replica-1");
    BOOST_REQUIRE(r1 != nullptr);
    BOOST_TEST_MESSAGE("replica-1 after the kill: state " << r1->state << ", failures " << r1->failures
                                                          << ", fallbacks " << r1->fallbacks << ", quarantines "
                                                          << r1->quarantines << ", last_error: " << r1->last_error);
    BOOST_CHECK_GE(r1->failures, 1u);
    BOOST_CHECK_MESSAGE(!contains(r1->last_error, c.primary.password), "last_error shows the password");

    slow_result const cut = slow.get();
    BOOST_TEST_MESSAGE("the read cut mid-query on replica-1: port " << cut.port << ", last_endpoint \""
                                                                    << cut.endpoint << "\"");
    BOOST_CHECK_MESSAGE(cut.error.empty(), "the read cut mid-query on replica-1 reached the application as an "
                                           "error: " << cut.error);
    if (cut.error.empty())
    {
        BOOST_CHECK_EQUAL(cut.port, c.primary.port);
        BOOST_CHECK_EQUAL(cut.endpoint, "primary");
    }
    auto const slow_stats = soci::routing.stats(slow_observer);
    auto const* slow_r1 = find(slow_stats, "replica-1");
    BOOST_REQUIRE(slow_r1 != nullptr);
    BOOST_CHECK_MESSAGE(slow_r1->fallbacks == 1, "the read cut mid-query on replica-1 was counted as "
                                                     << slow_r1->fallbacks << " fallbacks, not 1");
    BOOST_CHECK_GE(slow_r1->failures, 1u);
    BOOST_CHECK_MESSAGE(eventually(3s, [&] {
                            auto const now = soci::routing.stats(observer);
                            auto const* r = find(now, "replica-1");
                            return r != nullptr && r->state == "up";
                        }),
                        "replica-1 is not \"up\" in stats after serving reads again");
}

// With the default failure settings, a replica killed under 4 threads of reads and restarted after 6 s is
// serving reads again within 2 s of being back (start-node returns once it accepts connections and
// replicates), and no read fails meanwhile: recovery probes run in the background at a short interval.
BOOST_AUTO_TEST_CASE(restarted_replica_is_back_in_rotation_within_two_seconds)
{
    test_cluster const& c = cluster();
    server const& victim = c.replicas[0];
    config_spec spec;  // failures, retry_window, retry_window_max: the defaults
    spec.timeout = 1.0;
    std::string const uri = routing_uri(spec);

    node_guard nodes;
    readers load(uri, 4);
    BOOST_REQUIRE(eventually(10s, [&] { return load.reads(0, victim.port) > 0 && load.min_reads_per_thread() >= 20; }));
    BOOST_REQUIRE(nodes.kill(victim.node));
    load.set_phase(1);
    std::this_thread::sleep_for(6s);  // down long enough for several failed probes
    BOOST_REQUIRE(nodes.start(victim.node));
    auto const started = clock::now();
    load.set_phase(2);
    bool const back = eventually(10s, [&] { return load.reads(2, victim.port) > 0; }, 5ms);
    double const took = std::chrono::duration<double>(clock::now() - started).count();
    load.stop();
    BOOST_TEST_MESSAGE("replica-1 served its first read " << took << " s after it was back");
    BOOST_CHECK_MESSAGE(back && took <= 2.0, "replica-1 served its first read " << took
                                                 << " s after its restart (goal: 2 s)");
    BOOST_CHECK_MESSAGE(load.errors() == 0, load.errors() << " reads reached the application as errors:"
                                                          << join_lines(load.samples()));
}

// Every replica stopped: reads run on the primary with no error, stats and check report the replicas, and
// reads return to them when they are back.
BOOST_AUTO_TEST_CASE(stopped_replicas_send_reads_to_primary_and_check_reports_them)
{
    test_cluster const& c = cluster();
    std::size_t const endpoints = 1 + c.replicas.size();
    config_spec spec;
    spec.failures = 1;
    spec.retry_window = 0.3;
    spec.retry_window_max = 0.6;
    spec.timeout = 1.0;
    std::string const path = write_config(spec);
    soci::session sql(routing_uri(path));
    config_spec strict = spec;
    strict.fallback = false;
    std::string const strict_path = write_config(strict);

    std::set<int> before;
    for (int i = 0; i < 10; ++i)
        before.insert(read_port(sql));
    BOOST_REQUIRE_MESSAGE(every_replica_in(before), "10 reads did not use every replica before the test stopped them");

    node_guard nodes;
    for (auto const& r : c.replicas)
        BOOST_REQUIRE(nodes.stop(r.node));

    int failed = 0;
    for (int i = 0; i < 20; ++i)
    {
        try
        {
            int const port = read_port(sql);
            BOOST_CHECK_EQUAL(port, c.primary.port);
            BOOST_CHECK_EQUAL(soci::routing.last_endpoint(sql), "primary");
        }
        catch (std::exception const& e)
        {
            if (++failed <= 3)
                BOOST_ERROR("a read failed with every replica down (fallback = true): " << e.what());
        }
    }
    BOOST_CHECK_EQUAL(failed, 0);

    auto const s = soci::routing.stats(sql);
    BOOST_REQUIRE_EQUAL(s.endpoints.size(), endpoints);
    auto const* p = find(s, "primary");
    BOOST_REQUIRE(p != nullptr);
    BOOST_CHECK_MESSAGE(p->statements >= 20, "the primary counts " << p->statements
                                                                   << " statements after serving 20 reads");
    for (auto const& replica : real_replicas())
    {
        BOOST_TEST_CONTEXT(replica.name)
        {
            auto const* r = find(s, replica.name);
            BOOST_REQUIRE(r != nullptr);
            BOOST_CHECK_NE(r->state, "up");
            BOOST_CHECK_GE(r->failures, 1u);
            BOOST_CHECK_GE(r->quarantines, 1u);  // failures = 1
            BOOST_CHECK(!r->last_error.empty());
            BOOST_CHECK(!contains(r->last_error, c.primary.password));
        }
    }

    // Readiness: the primary is ready and reads are servable through fallback; the replicas are reported.
    soci::routing_check const ready = soci::routing.check(sql);
    BOOST_CHECK(ready.primary_ready);
    BOOST_CHECK(ready.reads_servable);
    BOOST_CHECK(ready.ready());
    BOOST_REQUIRE_EQUAL(ready.endpoints.size(), endpoints);
    BOOST_CHECK(ready.endpoints[0].reachable);
    BOOST_CHECK(ready.endpoints[0].role_ok);
    for (auto const& replica : real_replicas())
    {
        BOOST_TEST_CONTEXT(replica.name)
        {
            auto const* e = find(ready, replica.name);
            BOOST_REQUIRE(e != nullptr);
            BOOST_CHECK(!e->reachable);
            BOOST_CHECK(!e->role_ok);
            BOOST_CHECK(!e->error.empty());
            BOOST_CHECK(!contains(e->error, c.primary.password));
            BOOST_CHECK(contains(ready.to_text(), replica.name));
        }
    }
    BOOST_CHECK(!contains(ready.to_text(), c.primary.password));
    BOOST_CHECK(!contains(ready.to_json(), c.primary.password));

    // Without fallback, the same cluster cannot serve reads: not ready, and a read is an error.
    soci::routing_check const strict_check = soci::routing.check(strict_path);
    BOOST_CHECK(strict_check.primary_ready);
    BOOST_CHECK(!strict_check.reads_servable);
    BOOST_CHECK(!strict_check.ready());
    BOOST_CHECK(contains(strict_check.to_text(), "not ready"));
    {
        soci::session strict_sql(routing_uri(strict_path));
        try
        {
            int const port = read_port(strict_sql);
            BOOST_ERROR("a read with no replica and fallback = false succeeded, on port " << port);
        }
        catch (soci::soci_error const& e)
        {
            BOOST_TEST_MESSAGE("read without fallback: " << e.what());
            BOOST_CHECK(contains(e.what(), "replica"));
            BOOST_CHECK(!contains(e.what(), c.primary.password));
        }
    }

    // Back: reads go to every replica again.
    for (auto const& r : c.replicas)
        BOOST_REQUIRE(nodes.start(r.node));
    std::set<int> after;
    bool const back = eventually(15s, [&] {
        try
        {
            after.insert(read_port(sql));
        }
        catch (std::exception const& e)
        {
            BOOST_ERROR("a read failed while the replicas came back: " << e.what());
            return true;
        }
        return every_replica_in(after);
    });
    BOOST_CHECK_MESSAGE(back, "reads did not return to every replica within 15 s of their restart");
}

BOOST_AUTO_TEST_SUITE_END()
