// Leases, the max cap, bounded waits, min and idle_timeout, the registry: against the real primary of the driver
// under test (SOCI_ROUTING_TEST_DRIVER).

#define BOOST_TEST_MODULE pools
#include <boost/test/unit_test.hpp>

#include "support.h"

#include <soci/mysql/soci-mysql.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

using namespace pools_test;

namespace
{

// One more thread holds a connection: `most` keeps the highest count seen.
void count_holder(std::atomic<int>& holding, std::atomic<int>& most)
{
    int const now_holding = ++holding;
    int seen = most.load();
    while (now_holding > seen && !most.compare_exchange_weak(seen, now_holding))
    {
    }
}

} // namespace

BOOST_AUTO_TEST_SUITE(pools_leases)

BOOST_AUTO_TEST_CASE(lease_gives_its_connection_back_for_reuse)
{
    routing_options options;
    endpoint_pool pool(test_cluster(0).primary, endpoint_role::primary, options);
    soci::session* first = nullptr;
    {
        lease l = pool.acquire();
        BOOST_REQUIRE(l);
        first = &l.session();
        int one = 0;
        l.session() << "SELECT 1", soci::into(one);
        BOOST_TEST(one == 1);
        BOOST_TEST(pool.in_use() == 1);
        BOOST_TEST(pool.stats().connections_in_use == 1);
    }
    auto s = pool.stats();
    BOOST_TEST(s.connections_in_use == 0);
    BOOST_TEST(s.connections_idle == 1);
    BOOST_TEST(s.connections_open == 1);
    lease again = pool.acquire();
    BOOST_REQUIRE(again);
    BOOST_TEST(&again.session() == first);
}

BOOST_AUTO_TEST_CASE(moved_lease_gives_back_once)
{
    routing_options options;
    endpoint_pool pool(test_cluster(0).primary, endpoint_role::primary, options);
    lease a = pool.acquire();
    BOOST_REQUIRE(a);
    lease b = std::move(a);
    BOOST_TEST(!a);
    BOOST_TEST(static_cast<bool>(b));
    BOOST_TEST(pool.in_use() == 1);
    a = std::move(b);
    BOOST_TEST(pool.in_use() == 1);
    a.release();
    BOOST_TEST(!a);
    BOOST_TEST(pool.in_use() == 0);
    BOOST_TEST(pool.stats().connections_idle == 1);
}

BOOST_AUTO_TEST_CASE(acquire_beyond_max_waits_then_returns_empty_lease)
{
    auto ep = test_cluster(0).primary;
    ep.pool.max = 2;
    routing_options options;
    endpoint_pool pool(ep, endpoint_role::primary, options);
    lease a = pool.acquire();
    lease b = pool.acquire();
    BOOST_REQUIRE(a);
    BOOST_REQUIRE(b);
    BOOST_TEST(&a.session() != &b.session());
    auto const start = steady::now();
    lease c = pool.acquire(milliseconds(150));
    auto const waited = steady::now() - start;
    BOOST_TEST(!c);
    BOOST_TEST((waited >= milliseconds(150)));
    BOOST_TEST(pool.stats().connections_open == 2);
    b.release();
    lease d = pool.acquire(milliseconds(0));
    BOOST_TEST(static_cast<bool>(d));
}

BOOST_AUTO_TEST_CASE(waiting_acquire_gets_the_connection_given_back)
{
    auto ep = test_cluster(0).primary;
    ep.pool.max = 1;
    routing_options options;
    endpoint_pool pool(ep, endpoint_role::primary, options);
    lease held = pool.acquire();
    BOOST_REQUIRE(held);
    soci::session* const held_session = &held.session();
    std::atomic<soci::session*> got{nullptr};
    std::thread waiter([&] {
        lease l = pool.acquire(milliseconds(10000));
        got = l ? &l.session() : nullptr;
    });
    BOOST_TEST(eventually([&] { return pool.stats().waiting == 1; }));
    held.release();
    waiter.join();
    BOOST_TEST(got.load() == held_session);
    BOOST_TEST(pool.stats().waiting == 0);
}

BOOST_AUTO_TEST_CASE(a_waiting_borrower_gets_the_connection_before_one_who_comes_later)
{
    // The holder gives its connection back and asks again at once (a thread's next statement): the connection
    // is the waiter's, who asked first. Taking it back would leave the waiter woken for nothing, and under load
    // starve it while the same few threads keep the connections.
    auto ep = test_cluster(0).primary;
    ep.pool.max = 1;
    routing_options options;
    endpoint_pool pool(ep, endpoint_role::primary, options);
    lease held = pool.acquire();
    BOOST_REQUIRE(held);
    std::atomic<bool> served{false};
    std::atomic<bool> done{false};
    std::thread waiter([&] {
        lease l = pool.acquire(milliseconds(10000));
        served = static_cast<bool>(l);
        while (!done.load())
            std::this_thread::sleep_for(milliseconds(1));
    });
    BOOST_TEST(eventually([&] { return pool.stats().waiting == 1; }));
    held.release();
    lease again = pool.acquire(milliseconds(0));
    BOOST_TEST(!again);  // it is the waiter's
    BOOST_TEST(eventually([&] { return served.load(); }));
    done = true;
    waiter.join();
    BOOST_TEST(pool.stats().waiting == 0);
}

BOOST_AUTO_TEST_CASE(waiters_are_served_in_the_order_they_came)
{
    auto ep = test_cluster(0).primary;
    ep.pool.max = 1;
    routing_options options;
    endpoint_pool pool(ep, endpoint_role::primary, options);
    lease held = pool.acquire();
    BOOST_REQUIRE(held);
    std::mutex m;
    std::vector<int> order;
    std::vector<std::thread> waiters;
    for (int i = 0; i < 4; ++i)
    {
        waiters.emplace_back([&, i] {
            lease l = pool.acquire(milliseconds(10000));
            std::lock_guard<std::mutex> lock(m);
            order.push_back(l ? i : -1);
        });
        BOOST_REQUIRE(eventually([&] { return pool.stats().waiting == i + 1; }));
    }
    held.release();
    for (auto& t : waiters)
        t.join();
    BOOST_TEST(order == (std::vector<int>{0, 1, 2, 3}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(sixteen_threads_share_two_connections_without_deadlock)
{
    auto ep = test_cluster(0).primary;
    ep.pool.max = 2;
    routing_options options;
    endpoint_pool pool(ep, endpoint_role::primary, options);
    std::atomic<int> holding{0};
    std::atomic<int> most{0};
    std::atomic<int> served{0};
    std::atomic<int> timed_out{0};
    std::atomic<int> early{0};
    std::string const query = sleep_then_one(0.005);
    std::vector<std::thread> threads;
    for (int t = 0; t < 16; ++t)
    {
        threads.emplace_back([&] {
            for (int i = 0; i < 15; ++i)
            {
                auto const start = steady::now();
                lease l = pool.acquire(milliseconds(20));
                if (!l)
                {
                    ++timed_out;
                    if (steady::now() - start < milliseconds(20))
                        ++early;
                    continue;
                }
                count_holder(holding, most);
                int one = 0;
                l.session() << query, soci::into(one);
                if (one == 1)
                    ++served;
                --holding;
            }
        });
    }
    for (auto& t : threads)
        t.join();
    BOOST_TEST(most.load() <= 2);
    BOOST_TEST(served.load() + timed_out.load() == 16 * 15);
    BOOST_TEST(served.load() > 0);
    BOOST_TEST(timed_out.load() > 0);  // 16 threads, 2 connections, 5 ms each: some 20 ms waits run out
    BOOST_TEST(early.load() == 0);      // a wait never gives up before its time
    auto s = pool.stats();
    BOOST_TEST(s.connections_open <= 2);
    BOOST_TEST(s.connections_in_use == 0);
    BOOST_TEST(s.waiting == 0);
}

BOOST_AUTO_TEST_CASE(waiters_whose_time_runs_out_as_they_are_granted_leave_no_connection_behind)
{
    // Waits of 0 to 2 ms on one connection handed round as fast as it can go: grants land on waiters just as
    // their time runs out, and a waiter is woken after the giver has let the pool go. Every grant is either
    // taken or passed on, no waiter is left in line, and (under the sanitizers) no waiter is woken after it
    // has gone.
    auto ep = test_cluster(0).primary;
    ep.pool.max = 1;
    routing_options options;
    endpoint_pool pool(ep, endpoint_role::primary, options);
    std::atomic<int> served{0};
    std::atomic<int> timed_out{0};
    std::atomic<int> holding{0};
    std::atomic<int> most{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t)
    {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 400; ++i)
            {
                lease l = pool.acquire(milliseconds((t + i) % 3));
                if (!l)
                {
                    ++timed_out;
                    continue;
                }
                ++served;
                count_holder(holding, most);
                std::this_thread::yield();
                --holding;
            }
        });
    }
    for (auto& th : threads)
        th.join();
    BOOST_TEST(served.load() + timed_out.load() == 8 * 400);
    BOOST_TEST(served.load() > 0);
    BOOST_TEST(timed_out.load() > 0);
    BOOST_TEST(most.load() == 1);
    auto s = pool.stats();
    BOOST_TEST(s.connections_in_use == 0);
    BOOST_TEST(s.waiting == 0);
    BOOST_TEST(s.connections_open == 1);
    lease last = pool.acquire(milliseconds(0));  // the one connection is free again, nobody holds a grant
    BOOST_TEST(static_cast<bool>(last));
}

BOOST_AUTO_TEST_CASE(exhausted_message_names_the_endpoint_and_the_limit_without_password)
{
    auto ep = test_cluster(0).primary;
    ep.pool.max = 2;
    ep.pool.wait_timeout = 0.25;
    routing_options options;
    endpoint_pool pool(ep, endpoint_role::primary, options);
    std::string const message = pool.exhausted_message();
    BOOST_TEST(message.find(pool.describe()) != std::string::npos);
    BOOST_TEST(message.find("pool.max = 2") != std::string::npos);
    BOOST_TEST(message.find("0.25 s") != std::string::npos);
    BOOST_TEST(message.find(ep.password) == std::string::npos);
    BOOST_TEST(pool.describe().find(ep.address()) != std::string::npos);
}

BOOST_AUTO_TEST_CASE(min_connections_are_opened_eagerly)
{
    auto ep = test_cluster(0).primary;
    ep.pool.min = 2;
    routing_options options;
    endpoint_pool pool(ep, endpoint_role::primary, options);
    auto s = pool.stats();
    BOOST_TEST(s.connections_open == 2);
    BOOST_TEST(s.connections_idle == 2);
    BOOST_TEST(s.connections_in_use == 0);
}

BOOST_AUTO_TEST_CASE(replica_with_min_zero_connects_on_first_acquire)
{
    auto config = test_cluster(1);
    config.replicas[0].pool.min = 0;
    cluster c(config);
    BOOST_TEST(c.replica(0).stats().connections_open == 0);
    lease l = c.replica(0).acquire();
    BOOST_REQUIRE(l);
    BOOST_TEST(server_port(l.session()) == config.replicas[0].effective_port());
    BOOST_TEST(c.replica(0).stats().connections_open == 1);
}

BOOST_AUTO_TEST_CASE(idle_timeout_closes_idle_connections_above_min)
{
    auto config = test_cluster(0);
    config.primary.pool.min = 1;
    config.primary.pool.idle_timeout = 0.2;
    cluster c(config);
    {
        lease a = c.primary().acquire();
        lease b = c.primary().acquire();
        lease d = c.primary().acquire();
        BOOST_REQUIRE(a && b && d);
        BOOST_TEST(c.primary().stats().connections_open == 3);
    }
    BOOST_TEST(eventually([&] { return c.primary().stats().connections_open == 1; }));
    // `min` stays open however long it idles.
    std::this_thread::sleep_for(milliseconds(500));
    BOOST_TEST(c.primary().stats().connections_open == 1);
    BOOST_TEST(c.primary().stats().connections_idle == 1);
}

BOOST_AUTO_TEST_CASE(discarded_connection_is_closed_not_reused)
{
    routing_options options;
    endpoint_pool pool(test_cluster(0).primary, endpoint_role::primary, options);
    soci::session* first = nullptr;
    {
        lease l = pool.acquire();
        BOOST_REQUIRE(l);
        first = &l.session();
        l.discard();
    }
    BOOST_TEST(pool.stats().connections_open == 0);
    lease again = pool.acquire();
    BOOST_REQUIRE(again);
    int one = 0;
    again.session() << "SELECT 1", soci::into(one);
    BOOST_TEST(one == 1);
    (void)first;
}

BOOST_AUTO_TEST_CASE(borrower_gets_its_own_idle_connection_back_before_the_most_recent_one)
{
    routing_options options;
    endpoint_pool pool(test_cluster(0).primary, endpoint_role::primary, options);
    int const alice = 0, bob = 0;  // two borrowers (their addresses stand for them)
    soci::session* alices = nullptr;
    soci::session* bobs = nullptr;
    {
        lease a = pool.acquire(&alice);
        lease b = pool.acquire(&bob);
        BOOST_REQUIRE(a);
        BOOST_REQUIRE(b);
        alices = &a.session();
        bobs = &b.session();
        BOOST_TEST(alices != bobs);
        a.release();  // alice's goes back first, bob's last: plain LIFO would hand out bob's
    }
    {
        lease a = pool.acquire(&alice);
        BOOST_REQUIRE(a);
        BOOST_TEST(&a.session() == alices);
        lease b = pool.acquire(&bob);
        BOOST_REQUIRE(b);
        BOOST_TEST(&b.session() == bobs);
    }
    // Affinity is a preference, never a reservation: a third borrower takes an idle connection at once, and
    // no new one is opened for it.
    int const carol = 0;
    lease c = pool.acquire(&carol);
    BOOST_REQUIRE(c);
    BOOST_TEST((&c.session() == alices || &c.session() == bobs));
    BOOST_TEST(pool.stats().connections_open == 2);
}

// A borrower with no idle connection of its own (more sessions than connections: a thread takes turns over
// them) gets the one its thread gave back before the one another thread gave back last, claimed or not: the
// thread keeps meeting the same server process.
BOOST_AUTO_TEST_CASE(borrower_without_its_own_connection_gets_the_one_its_thread_gave_back)
{
    routing_options options;
    endpoint_pool pool(test_cluster(0).primary, endpoint_role::primary, options);
    int const alice = 0, bob = 0, carol = 0, dave = 0;
    soci::session* here = nullptr;
    soci::session* there = nullptr;
    auto give_back_both = [&] {
        lease a = pool.acquire(&alice);
        lease b = pool.acquire(&bob);
        BOOST_REQUIRE(a);
        BOOST_REQUIRE(b);
        here = &a.session();
        there = &b.session();
        BOOST_REQUIRE(here != there);
        a.release();  // this thread's goes back first, the other thread's last: recency would hand out that one
        std::thread other([moved = std::move(b)]() mutable { moved.release(); });
        other.join();
    };

    give_back_both();  // both claimed (alice's and bob's)
    {
        lease c = pool.acquire(&carol);
        BOOST_REQUIRE(c);
        BOOST_TEST(&c.session() == here, "carol got the connection another thread gave back last");
    }

    pool.forget_affinity(&carol);
    pool.forget_affinity(&bob);
    give_back_both();  // claimed again; now unclaimed: alice's and bob's sessions closed
    pool.forget_affinity(&alice);
    pool.forget_affinity(&bob);
    lease d = pool.acquire(&dave);
    BOOST_REQUIRE(d);
    BOOST_TEST(&d.session() == here, "dave got the connection another thread gave back last");
    BOOST_TEST(pool.stats().connections_open == 2);
}

namespace
{

/// A session setting that a fresh connection does not have, and how to read it.
std::string const& set_marker()
{
    static std::string const s = testing_mysql() ? "set session sql_mode = 'ANSI_QUOTES'"
                                                 : "set statement_timeout = '4321ms'";
    return s;
}

std::string marker_value(soci::session& sql)
{
    std::string v;
    sql << (testing_mysql() ? "select @@session.sql_mode" : "select current_setting('statement_timeout')"),
        soci::into(v);
    return v;
}

bool carries_marker(soci::session& sql)
{
    return marker_value(sql) == (testing_mysql() ? "ANSI_QUOTES" : "4321ms");
}

/// `who` borrows a connection, sets the marker on it and gives it back with `dirt` and the settings tag `tag`;
/// returns the connection.
soci::session* give_back_with_marker(endpoint_pool& pool, void const* who, unsigned dirt, std::uint64_t tag)
{
    lease l = pool.acquire(who);
    BOOST_REQUIRE(l);
    l.session() << set_marker();
    l.mark_dirty(dirt);
    l.set_carried(tag);
    return &l.session();
}

} // namespace

BOOST_AUTO_TEST_CASE(replayed_settings_wait_for_their_borrower_and_are_reset_for_anyone_else)
{
    routing_options options;
    endpoint_pool pool(test_cluster(0).primary, endpoint_role::primary, options);
    int const alice = 0, bob = 0;
    soci::session* const alices = give_back_with_marker(pool, &alice, dirt_settings, 42);
    std::uint64_t const resets = pool.stats().connections_reset;
    {
        // Alice again: her connection, as she left it, and no reset.
        lease a = pool.acquire(&alice);
        BOOST_REQUIRE(a);
        BOOST_TEST(&a.session() == alices);
        BOOST_TEST(a.carried() == 42u);
        BOOST_TEST(a.dirt() == static_cast<unsigned>(dirt_settings));
        BOOST_TEST(carries_marker(a.session()));
        BOOST_TEST(pool.stats().connections_reset == resets);
    }
    {
        // Bob: the same connection (the only idle one), reset first.
        lease b = pool.acquire(&bob);
        BOOST_REQUIRE(b);
        BOOST_TEST(&b.session() == alices);
        BOOST_TEST(b.carried() == 0u);
        BOOST_TEST(b.dirt() == static_cast<unsigned>(dirt_none));
        BOOST_TEST(!carries_marker(b.session()));
        BOOST_TEST(pool.stats().connections_reset == resets + 1);
    }
}

BOOST_AUTO_TEST_CASE(another_borrower_gets_a_clean_connection_before_one_kept_with_settings)
{
    routing_options options;
    endpoint_pool pool(test_cluster(0).primary, endpoint_role::primary, options);
    int const alice = 0, bob = 0, carol = 0;
    soci::session* bobs = nullptr;
    {
        lease b = pool.acquire(&bob);
        lease a = pool.acquire(&alice);
        BOOST_REQUIRE(b);
        BOOST_REQUIRE(a);
        bobs = &b.session();
        BOOST_TEST(&a.session() != bobs);
        a.session() << set_marker();
        a.mark_dirty(dirt_settings);
        a.set_carried(11);
        b.release();
        a.release();  // alice's (with settings) goes back last: plain recency would hand out alice's
    }
    std::uint64_t const resets = pool.stats().connections_reset;
    lease c = pool.acquire(&carol);
    BOOST_REQUIRE(c);
    BOOST_TEST(&c.session() == bobs);  // clean: no reset for carol, no replay for alice
    BOOST_TEST(pool.stats().connections_reset == resets);
    lease a = pool.acquire(&alice);
    BOOST_REQUIRE(a);
    BOOST_TEST(a.carried() == 11u);
    BOOST_TEST(carries_marker(a.session()));
}

BOOST_AUTO_TEST_CASE(replayed_settings_are_reset_for_a_borrower_without_affinity)
{
    routing_options options;
    endpoint_pool pool(test_cluster(0).primary, endpoint_role::primary, options);
    int const alice = 0;
    give_back_with_marker(pool, &alice, dirt_settings, 7);
    pool.forget_affinity(&alice);  // alice's session closed
    lease anyone = pool.acquire();
    BOOST_REQUIRE(anyone);
    BOOST_TEST(anyone.carried() == 0u);
    BOOST_TEST(!carries_marker(anyone.session()));
}

BOOST_AUTO_TEST_CASE(settings_with_other_dirt_are_reset_when_given_back)
{
    routing_options options;
    endpoint_pool pool(test_cluster(0).primary, endpoint_role::primary, options);
    int const alice = 0;
    give_back_with_marker(pool, &alice, dirt_settings | dirt_session, 9);
    lease a = pool.acquire(&alice);
    BOOST_REQUIRE(a);
    BOOST_TEST(a.carried() == 0u);
    BOOST_TEST(!carries_marker(a.session()));
}

BOOST_AUTO_TEST_CASE(attachment_stays_with_its_connection_and_dies_with_it)
{
    routing_options options;
    endpoint_pool pool(test_cluster(0).primary, endpoint_role::primary, options);
    std::weak_ptr<void> watched;
    soci::session* first = nullptr;
    {
        lease l = pool.acquire();
        BOOST_REQUIRE(l);
        BOOST_TEST(!l.attachment());
        first = &l.session();
        auto data = std::make_shared<int>(42);
        watched = data;
        l.attachment() = data;
    }
    BOOST_TEST(!watched.expired());  // kept while the connection is idle in the pool
    {
        lease l = pool.acquire();
        BOOST_REQUIRE(l);
        BOOST_REQUIRE(&l.session() == first);
        BOOST_REQUIRE(l.attachment());
        BOOST_TEST(*std::static_pointer_cast<int>(l.attachment()) == 42);
        l.discard();
    }
    BOOST_TEST(watched.expired());  // closed with its connection
    lease fresh = pool.acquire();
    BOOST_REQUIRE(fresh);
    BOOST_TEST(!fresh.attachment());
}

BOOST_AUTO_TEST_CASE(failed_connect_throws_soci_error_naming_the_endpoint_without_password)
{
    auto ep = closed_port(test_cluster(0).primary, "replica-x");
    ep.password = "s3cret-pw-for-test";
    routing_options options;
    endpoint_pool pool(ep, endpoint_role::replica, options);
    std::string what;
    failure_class cls = failure_class::statement;
    try
    {
        pool.acquire();
        BOOST_FAIL("a connect to a closed port succeeded");
    }
    catch (soci::soci_error const& e)
    {
        what = e.what();
        cls = classify_failure(e, test_driver());
    }
    BOOST_TEST(what.find(pool.describe()) != std::string::npos);
    BOOST_TEST(what.find("127.0.0.1:1") != std::string::npos);
    BOOST_TEST(what.find("s3cret-pw-for-test") == std::string::npos);
    BOOST_TEST(cls == failure_class::connection);
    auto s = pool.stats();
    BOOST_TEST(s.failures == 1u);
    BOOST_TEST(s.state == "down");
    BOOST_TEST(s.connections_open == 0);
    BOOST_TEST(!s.last_error.empty());
    BOOST_TEST(s.last_error.find("s3cret-pw-for-test") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(failed_connect_keeps_the_driver_error_type_and_message)
{
    auto ep = closed_port(test_cluster(0).primary, "primary");
    routing_options options;
    endpoint_pool pool(ep, endpoint_role::primary, options);
    bool typed = false;
    try
    {
        pool.acquire();
    }
    catch (soci::mysql_soci_error const& e)
    {
        typed = testing_mysql();
        BOOST_TEST((e.err_num_ == 2002 || e.err_num_ == 2003), e.err_num_);
        BOOST_TEST(std::string(e.what()).find(pool.describe()) != std::string::npos);
        BOOST_TEST(classify_failure(e, driver::mysql) == failure_class::connection);
    }
    catch (soci::soci_error const& e)
    {
        // SOCI's postgresql backend raises a plain soci_error for a failed connect: its message stays.
        typed = !testing_mysql();
        BOOST_TEST(e.get_error_message().rfind("Cannot establish connection to the database.", 0) == 0,
                   e.get_error_message());
        BOOST_TEST(std::string(e.what()).find(pool.describe()) != std::string::npos);
        BOOST_TEST(classify_failure(e, driver::postgresql) == failure_class::connection);
    }
    BOOST_TEST(typed);
}

BOOST_AUTO_TEST_CASE(registry_shares_one_cluster_per_configuration)
{
    auto config = test_cluster(1);
    config.routing.sticky = 1.25;  // an identity no other test uses
    auto a = cluster::obtain(config);
    auto b = cluster::obtain(config);
    BOOST_TEST(a.get() == b.get());
    auto other = config;
    other.routing.sticky = 1.5;
    auto c = cluster::obtain(other);
    BOOST_TEST(c.get() != a.get());
    // The serial names the configuration for caches keyed by it (the backend's text cache): shared by the
    // sessions of one configuration, never given to another, never reused once its cluster is gone (a new
    // cluster may well get the old one's address).
    BOOST_TEST(a->serial() != 0u);
    BOOST_TEST(b->serial() == a->serial());
    BOOST_TEST(c->serial() != a->serial());
    std::uint64_t const first = a->serial();
    std::weak_ptr<cluster> gone = a;
    a.reset();
    b.reset();
    BOOST_TEST(gone.expired());  // the registry does not keep a cluster alive
    auto d = cluster::obtain(config);
    BOOST_TEST(d.get() != nullptr);
    BOOST_TEST(d->serial() != first);
    BOOST_TEST(d->serial() != c->serial());
}

BOOST_AUTO_TEST_CASE(registry_gives_concurrent_openers_one_cluster)
{
    auto config = test_cluster(1);
    config.routing.sticky = 1.75;
    std::vector<std::shared_ptr<cluster>> got(8);
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < got.size(); ++i)
        threads.emplace_back([&, i] { got[i] = cluster::obtain(config); });
    for (auto& t : threads)
        t.join();
    for (auto const& g : got)
        BOOST_TEST(g.get() == got.front().get());
}

BOOST_AUTO_TEST_SUITE_END()
