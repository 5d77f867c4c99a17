// soci-routing: leases, endpoint pools (connections, health, counters) and the cluster registry.

#include "pools.h"
#include "pools-detail.h"
#include "threads.h"

#include <soci/mysql/soci-mysql.h>
#include <soci/postgresql/soci-postgresql.h>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <pthread.h>
#include <random>
#include <thread>
#include <vector>

#include <unistd.h>

namespace soci_routing
{

using clock = std::chrono::steady_clock;

namespace detail
{

std::unique_ptr<soci::session> open_session(endpoint_config const& endpoint)
{
    if (endpoint.drv == driver::mysql)
    {
        auto sql = std::make_unique<soci::session>(soci::mysql, endpoint.connect_string());
        keep_from_programs(*sql, endpoint.drv);
        // SOCI 4.0.3 hands sslca to Connector/C, which asks for TLS but carries on in plain text when the
        // server (or something between) offers none: a connection weaker than configured is never used.
        if (endpoint.options.count("sslca") != 0 && !mysql_encrypted(*sql))
            throw connect_refused_error(
                "Cannot establish connection to the database. sslca is set, but the connection is not encrypted "
                "(the server, or something between it and this client, offered no TLS): closed unused");
        return sql;
    }
    return std::make_unique<soci::session>(soci::postgresql, endpoint.connect_string());
}

std::string one_line(std::string const& message)
{
    std::string text = redact(message);
    std::string out;
    out.reserve(text.size());
    bool space = false;
    for (char c : text)
    {
        if (c == '\n' || c == '\r' || c == '\t' || c == ' ')
        {
            space = !out.empty();
            continue;
        }
        if (space)
            out += ' ';
        space = false;
        out += c;
    }
    return out;
}

std::int64_t to_unix_ms(clock::time_point t)
{
    auto const wall = std::chrono::system_clock::now()
        + std::chrono::duration_cast<std::chrono::system_clock::duration>(t - clock::now());
    return std::chrono::duration_cast<std::chrono::milliseconds>(wall.time_since_epoch()).count();
}

} // namespace detail

namespace
{

std::chrono::milliseconds to_ms(double seconds)
{
    if (!(seconds > 0))
        return std::chrono::milliseconds(0);
    return std::chrono::milliseconds(static_cast<long long>(std::llround(seconds * 1000.0)));
}

/// Per-endpoint statement counters are kept in this many shards (endpoint_pool::impl::counters).
constexpr std::size_t counter_shards = 16;

/// This thread's shard: threads take them in turn as they first count, so that up to counter_shards threads
/// each have one of their own.
std::size_t shard_of_this_thread() noexcept
{
    static std::atomic<std::size_t> next{0};
    thread_local std::size_t const mine = next.fetch_add(1, std::memory_order_relaxed) % counter_shards;
    return mine;
}

double jitter_factor()
{
    // Spreads the retries of many processes that lost a replica at the same moment.
    thread_local std::mt19937 rng{std::random_device{}()};
    return std::uniform_real_distribution<double>(0.8, 1.2)(rng);
}

constexpr std::size_t reason_count = static_cast<std::size_t>(reason::unknown) + 1;

} // namespace

// ---------------------------------------------------------------------------------------------- lease

lease::lease(lease&& other) noexcept
    : pool_(other.pool_), sql_(other.sql_), discard_(other.discard_), dirt_(other.dirt_), carried_(other.carried_),
      affinity_(other.affinity_), attachment_(std::move(other.attachment_))
{
    other.pool_ = nullptr;
    other.sql_ = nullptr;
    other.discard_ = false;
    other.dirt_ = dirt_none;
    other.carried_ = 0;
}

lease& lease::operator=(lease&& other) noexcept
{
    if (this != &other)
    {
        release();
        pool_ = other.pool_;
        sql_ = other.sql_;
        discard_ = other.discard_;
        dirt_ = other.dirt_;
        carried_ = other.carried_;
        affinity_ = other.affinity_;
        attachment_ = std::move(other.attachment_);
        other.pool_ = nullptr;
        other.sql_ = nullptr;
        other.discard_ = false;
        other.dirt_ = dirt_none;
        other.carried_ = 0;
    }
    return *this;
}

lease::~lease()
{
    release();
}

void lease::release() noexcept
{
    if (sql_ != nullptr && pool_ != nullptr)
        pool_->give_back(sql_, discard_, dirt_, std::move(attachment_), affinity_, carried_);
    attachment_.reset();
    sql_ = nullptr;
    pool_ = nullptr;
    discard_ = false;
    dirt_ = dirt_none;
    carried_ = 0;
}

// ------------------------------------------------------------------------------------- endpoint_pool

// The pool's mutex: glibc's adaptive kind, which spins a little before it sleeps. Its critical sections are a
// few hundred nanoseconds, and every statement takes it twice: when the holder runs on another core, a short
// spin costs less than a sleep and a wake-up.
class pool_mutex
{
public:
    pool_mutex() noexcept
    {
        pthread_mutexattr_t attr;
        pthread_mutexattr_init(&attr);
        pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ADAPTIVE_NP);
        pthread_mutex_init(&m_, &attr);
        pthread_mutexattr_destroy(&attr);
    }
    ~pool_mutex() { pthread_mutex_destroy(&m_); }
    pool_mutex(pool_mutex const&) = delete;
    pool_mutex& operator=(pool_mutex const&) = delete;
    void lock() noexcept { pthread_mutex_lock(&m_); }
    bool try_lock() noexcept { return pthread_mutex_trylock(&m_) == 0; }
    void unlock() noexcept { pthread_mutex_unlock(&m_); }

private:
    pthread_mutex_t m_;
};

struct endpoint_pool::impl
{
    impl(endpoint_config c, endpoint_role r, routing_options const& o, socket_watchdog* w)
        : config(std::move(c)), role(r), routing(o), watchdog(w)
    {
        readable.store(r == endpoint_role::replica);
    }

    endpoint_config const config;
    /// The process generation (fork.h) and process that made the pool.
    std::uint32_t const generation = process_generation();
    long const pid = static_cast<long>(getpid());
    /// Fixed with topology = "static"; the role prober changes it with "discover".
    std::atomic<endpoint_role> role;
    routing_options const routing;
    socket_watchdog* const watchdog;
    /// `pool.wait_timeout` and `pool.idle_check`, converted once (acquire() reads them at every borrow).
    std::chrono::milliseconds const wait_timeout = to_ms(config.pool.wait_timeout);
    std::chrono::milliseconds const idle_check = to_ms(config.pool.idle_check);
    /// MariaDB in causal mode: every connection reports the GTIDs it commits (session state tracking).
    bool const track_gtid = config.drv == driver::mysql && routing.consistency == consistency_mode::causal;

    std::string description() const { return config.describe(role.load() == endpoint_role::primary); }

    /// The pool's own round trips (idle check, clean-up) get as long as a connect: a server that stopped
    /// answering must not hold a borrower or a returning connection for ever.
    socket_watchdog::watch watch_housekeeping(soci::session& sql) const
    {
        if (watchdog == nullptr)
            return {};
        return watchdog->arm(sql, config.drv, std::max(to_ms(config.timeout), std::chrono::milliseconds(1)));
    }

    struct idle_connection
    {
        std::unique_ptr<soci::session> sql;
        clock::time_point since;
        std::shared_ptr<void> attachment;  ///< the last borrower's (lease::attachment())
        void const* affinity = nullptr;    ///< who gave it back (acquire()'s `affinity`)
        unsigned settings = dirt_none;     ///< dirt_settings: kept for `affinity`, reset for anyone else
        std::uint64_t carried = 0;         ///< the lease's carried() tag for those settings
        pthread_t thread{};                ///< the thread that gave it back (none: 0)
    };

    // Every thread that leases from this endpoint writes the mutex and the counters, and reads the published
    // flags: each group on a cache line of its own (no false sharing between them).
    alignas(64) mutable pool_mutex mutex;
    std::vector<idle_connection> idle;                         // back: most recently given back
    // Lent connections, in no order (a pool holds a handful: a scan beats a tree, and lending allocates
    // nothing once the vector has grown to the pool's size).
    std::vector<std::unique_ptr<soci::session>> lent;
    int connecting = 0;                                        // connects under way (count against max)
    // Borrowers waiting for a connection, first come first served. What frees up (a connection given back,
    // a slot to open one) is granted to the longest waiter, and nobody who comes later takes it first: a
    // thread that gives its connection back and asks again at once (its next statement) queues behind the
    // waiters. Each waiter sleeps on its own condition variable, so a grant wakes exactly the thread it is
    // for, which finds what it was granted (no thread woken for nothing, none starved). (Letting the giver
    // take its connection back while the line is young — a time slice before the handoff — was measured:
    // no more throughput past pool.max, a worse p99.)
    struct waiter
    {
        bool granted = false;     // under the pool's mutex: granted a connection or a slot, out of the line
        bool listed = false;      // under the pool's mutex: in a wake_list, and has not seen that wake yet
        waiter* next = nullptr;   // the wake_list's link
        std::mutex m;
        std::condition_variable cv;
        bool woken = false;  // under m
    };
    // Waiters to wake once the pool's mutex is released: a thread woken while the waker holds it would only
    // run into the mutex and sleep again. A waiter leaves only after its wake has reached it (`listed`), so
    // the waker never touches a waiter that is gone; it reads `next` before it wakes.
    class wake_list
    {
    public:
        wake_list() = default;
        wake_list(wake_list const&) = delete;
        wake_list& operator=(wake_list const&) = delete;
        ~wake_list() { deliver(); }
        void add(waiter& w) noexcept  // under the pool's mutex
        {
            if (w.listed)
                return;  // a wake is on its way already: the waiter looks at what it was given when it comes
            w.listed = true;
            w.next = head_;
            head_ = &w;
        }
        void deliver() noexcept  // without the pool's mutex
        {
            while (head_ != nullptr)
            {
                waiter& w = *head_;
                head_ = w.next;
                std::lock_guard<std::mutex> lock(w.m);
                w.woken = true;
                w.cv.notify_one();
            }
        }

    private:
        waiter* head_ = nullptr;
    };
    std::deque<waiter*> waiters;
    int granted = 0;  // waiters granted a connection or a slot who have not taken it yet
    std::atomic<int> in_use{0};                                // mirrors lent.size() for lock-free reads
    // Idle connections given back before this moment are checked with a round trip before they are lent
    // again: a sibling's connection failed, so the server may have dropped them all (restart, failover).
    clock::time_point suspect_before{};
    std::atomic<std::uint64_t> dead_idle{0};                   // idle connections found dead on borrow
    std::atomic<std::uint64_t> resets{0};                      // connections reset on return

    // Health (replicas; the primary only counts).
    int consecutive = 0;           // consecutive connection failures
    bool connect_failed = false;   // the last connect attempt failed
    bool quarantined = false;      // no reads until a recovery probe succeeds
    int backoff = 0;               // failed recovery probes in a row: the interval grows with each
    clock::time_point retry_at{};  // the next recovery probe
    std::int64_t retry_at_unix_ms = 0;  // the same instant on the wall clock, converted once (stats)
    bool recovering = false;       // a recovery probe is under way
    std::thread recovery;          // the last recovery probe's thread
    double lag = -1;
    bool lagging = false;
    // Topology discovery: a writable node that lost the split-brain rule (or is not of this cluster) takes
    // neither reads nor writes; `role_note` says what the last role probe found.
    bool fenced = false;
    std::string role_note;
    std::uint64_t role_changes = 0;
    std::string last_error;

    // What statements count as they run, from every thread that uses the endpoint: each thread adds to a
    // shard of its own (shard_of_this_thread()), on cache lines no other shard shares, so that threads running
    // statements on the same endpoint do not pass those lines back and forth at every statement. stats() sums
    // the shards. Shards may be shared by threads (more threads than shards): still exact, only slower.
    struct counters
    {
        std::atomic<std::uint64_t> statements{0};
        std::array<std::atomic<std::uint64_t>, reason_count> by_reason{};
        std::atomic<std::uint64_t> fallbacks{0};
        std::atomic<std::uint64_t> replays{0};
        std::atomic<std::uint64_t> replay_failures{0};
        std::atomic<std::uint64_t> causal_reads{0};
        std::atomic<std::uint64_t> causal_waits{0};
        std::atomic<std::uint64_t> causal_wait_timeouts{0};
        std::atomic<std::uint64_t> causal_wait_us{0};
        std::atomic<std::uint64_t> causal_primary{0};
        std::atomic<std::uint64_t> placements{0};
        std::atomic<std::uint64_t> moves{0};
        std::atomic<std::uint64_t> placement_lease_ns{0};
        std::atomic<std::uint64_t> placement_prepare_ns{0};
        std::atomic<std::uint64_t> placement_replay_ns{0};
    };
    struct alignas(64) counter_shard : counters
    {
    };
    std::array<counter_shard, counter_shards> shards;
    counters& count() noexcept { return shards[shard_of_this_thread()]; }
    /// The sum over the shards of one counter.
    std::uint64_t total(std::atomic<std::uint64_t> counters::*which) const noexcept
    {
        std::uint64_t n = 0;
        for (counter_shard const& c : shards)
            n += (c.*which).load(std::memory_order_relaxed);
        return n;
    }
    std::uint64_t total_by_reason(std::size_t i) const noexcept
    {
        std::uint64_t n = 0;
        for (counter_shard const& c : shards)
            n += c.by_reason[i].load(std::memory_order_relaxed);
        return n;
    }

    // Causal consistency: what this replica is known to have replayed (PostgreSQL: the LSN, lock-free;
    // MariaDB: GTIDs under causal_mutex).
    alignas(64) std::atomic<std::uint64_t> replayed_lsn{0};
    mutable std::mutex causal_mutex;
    causal_position replayed_gtids;
    std::atomic<std::uint64_t> connections_opened{0};
    std::atomic<std::uint64_t> connect_ns{0};
    std::uint64_t failures = 0;
    std::uint64_t quarantines = 0;

    int open_locked() const { return static_cast<int>(idle.size() + lent.size()) + connecting; }
    int max_open() const { return std::max(config.pool.max, 1); }
    // Idle connections and slots to open one that no waiter was granted.
    int spare_locked() const
    {
        return static_cast<int>(idle.size()) + std::max(max_open() - open_locked(), 0) - granted;
    }

    // Grants what is spare to the waiters, longest first; `wakes` wakes them once the lock is released.
    void grant_locked(wake_list& wakes) noexcept
    {
        while (!waiters.empty() && spare_locked() > 0)
        {
            waiter* w = waiters.front();
            waiters.pop_front();
            w->granted = true;
            ++granted;
            wakes.add(*w);
        }
    }

    // Waits in line until granted (true) or `deadline` (false). Takes the lock back before it returns; whom it
    // granted something meanwhile are in `wakes`.
    bool wait_for_grant(std::unique_lock<pool_mutex>& lock, clock::time_point deadline, wake_list& wakes)
    {
        waiter w;
        waiters.push_back(&w);
        grant_locked(wakes);  // spare already (a waiter that had nothing to be granted): to the first in line
        while (!w.granted && clock::now() < deadline)
        {
            lock.unlock();
            wakes.deliver();
            bool woken = false;
            {
                std::unique_lock<std::mutex> wait_lock(w.m);
                woken = w.cv.wait_until(wait_lock, deadline, [&] { return w.woken; });
                w.woken = false;
            }
            lock.lock();
            if (woken)
                w.listed = false;
        }
        if (w.listed)
        {
            // Granted, and the wake is still on its way (perhaps in `wakes`): it must arrive before w goes.
            lock.unlock();
            wakes.deliver();
            {
                std::unique_lock<std::mutex> wait_lock(w.m);
                w.cv.wait(wait_lock, [&] { return w.woken; });
            }
            lock.lock();
        }
        if (!w.granted)
        {
            waiters.erase(std::find(waiters.begin(), waiters.end(), &w));
            return false;
        }
        --granted;
        return true;
    }

    void lend_locked(std::unique_ptr<soci::session> sql)
    {
        lent.push_back(std::move(sql));
        in_use.store(static_cast<int>(lent.size()), std::memory_order_relaxed);
    }

    // The lent connection `sql`, taken out of `lent`; nullptr when it is not lent.
    std::unique_ptr<soci::session> take_lent_locked(soci::session* sql) noexcept
    {
        for (auto& l : lent)
        {
            if (l.get() == sql)
            {
                std::unique_ptr<soci::session> taken = std::move(l);
                l = std::move(lent.back());
                lent.pop_back();
                in_use.store(static_cast<int>(lent.size()), std::memory_order_relaxed);
                return taken;
            }
        }
        return nullptr;
    }

    // Mirrors of the state under the mutex for the hot path, which reads them without the lock: whether the
    // node takes reads now (available_locked() of a replica; pick_replica()), and `quarantined` (give_back()).
    // Every change of role, fencing, quarantine or lag publishes them.
    alignas(64) std::atomic<bool> readable{true};
    std::atomic<bool> quarantined_now{false};
    std::atomic<bool> failure_noted{false};  // set with `consecutive` or `connect_failed`: record_success() has work
    char const hot_flags_end_[64 - 3 * sizeof(std::atomic<bool>)] = {};  // nothing else on their line
    void publish_locked()
    {
        readable.store(role.load() == endpoint_role::replica && available_locked());
        quarantined_now.store(quarantined);
    }

    bool available_locked() const
    {
        if (fenced)
            return false;
        return role == endpoint_role::primary || (!quarantined && !lagging);
    }

    // When the next recovery probe is due: `retry_window`, doubling with each probe that found the server
    // still down up to `retry_window_max`, jittered. A server that is starting up or shutting down is on
    // its way: it does not lengthen the wait.
    void schedule_probe_locked(clock::time_point now, bool grow)
    {
        double const cap = std::max(routing.retry_window_max, routing.retry_window);
        double window = std::min(routing.retry_window * std::pow(2.0, std::min(backoff, 30)), cap);
        window = std::min(window * jitter_factor(), std::max(cap, routing.retry_window * 1.2));
        if (grow)
            ++backoff;
        retry_at = now + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(window));
        retry_at_unix_ms = detail::to_unix_ms(retry_at);
    }

    // Returns the idle connections to close (outside the lock).
    std::vector<idle_connection> quarantine_locked(clock::time_point now)
    {
        quarantined = true;
        publish_locked();
        backoff = 0;
        ++quarantines;
        schedule_probe_locked(now, true);
        // Idle connections of a failing server are most likely broken too.
        std::vector<idle_connection> dropped;
        dropped.swap(idle);
        return dropped;
    }

    std::unique_ptr<soci::session> connect(endpoint_pool& self);
};

endpoint_pool::endpoint_pool(endpoint_config config, endpoint_role role, routing_options const& routing,
                             socket_watchdog* watchdog)
    : impl_(std::make_unique<impl>(std::move(config), role, routing, watchdog))
{
    // `min` connections are opened eagerly; a failure is recorded, not thrown: the endpoint may come up
    // later, and a session that needs it gets the error from acquire().
    for (int i = 0; i < impl_->config.pool.min; ++i)
    {
        {
            std::lock_guard<pool_mutex> lock(impl_->mutex);
            ++impl_->connecting;
        }
        std::unique_ptr<soci::session> sql;
        try
        {
            sql = impl_->connect(*this);
        }
        catch (std::exception const&)
        {
        }
        std::lock_guard<pool_mutex> lock(impl_->mutex);
        --impl_->connecting;
        if (!sql)
            break;
        impl_->idle.push_back({std::move(sql), clock::now(), {}, nullptr});
    }
}

endpoint_pool::~endpoint_pool()
{
    if (impl_->recovery.joinable())
        impl_->recovery.join();
    // Lent connections must have come back (the cluster outlives every routing session using it).
    std::lock_guard<pool_mutex> lock(impl_->mutex);
    impl_->idle.clear();
    impl_->lent.clear();
}

endpoint_config const& endpoint_pool::config() const noexcept { return impl_->config; }
endpoint_role endpoint_pool::role() const noexcept { return impl_->role.load(); }

bool endpoint_pool::set_role(endpoint_role role, bool fenced, std::string const& note) noexcept
{
    impl& d = *impl_;
    std::vector<impl::idle_connection> closing;
    bool changed = false;
    {
        std::lock_guard<pool_mutex> lock(d.mutex);
        changed = d.role.load() != role || d.fenced != fenced;
        if (changed)
        {
            ++d.role_changes;
            // The idle connections were opened for the other role (and a fenced node's must not be used).
            closing.swap(d.idle);
        }
        d.role = role;
        d.fenced = fenced;
        d.role_note = note;
        if (changed)
        {
            // What it replayed as a replica says nothing of what it has now.
            d.replayed_lsn.store(0, std::memory_order_relaxed);
            std::lock_guard<std::mutex> causal_lock(d.causal_mutex);
            d.replayed_gtids = causal_position{};
        }
        if (role == endpoint_role::primary)
        {
            // The primary is never quarantined nor lagging; its failures count, they do not take it out.
            d.quarantined = false;
            d.lagging = false;
            d.consecutive = 0;
            d.backoff = 0;
        }
        d.publish_locked();
    }
    return changed;
}

void endpoint_pool::note_role_probe(std::string const& note) noexcept
{
    try
    {
        std::lock_guard<pool_mutex> lock(impl_->mutex);
        impl_->role_note = note;
    }
    catch (...)
    {
        // out of memory for a note: the previous one stays
    }
}

void endpoint_pool::mark_down(std::string const& message) noexcept
{
    impl& d = *impl_;
    std::vector<impl::idle_connection> closing;
    try
    {
        std::lock_guard<pool_mutex> lock(d.mutex);
        d.last_error = message;
        d.connect_failed = true;
        d.failure_noted.store(true, std::memory_order_relaxed);
        if (d.role.load() == endpoint_role::replica && !d.quarantined)
            closing = d.quarantine_locked(clock::now());
    }
    catch (...)
    {
    }
}

std::string endpoint_pool::role_note() const
{
    std::lock_guard<pool_mutex> lock(impl_->mutex);
    return impl_->role_note;
}
std::string const& endpoint_pool::name() const noexcept { return impl_->config.name; }
std::string endpoint_pool::describe() const { return impl_->description(); }
int endpoint_pool::in_use() const noexcept { return impl_->in_use.load(std::memory_order_relaxed); }

// Connects without holding the pool's mutex (a connect can take up to the endpoint's timeout).
std::unique_ptr<soci::session> endpoint_pool::impl::connect(endpoint_pool& self)
{
    try
    {
        auto const start = clock::now();
        auto sql = detail::open_session(config);
        if (track_gtid)
            mysql_track_last_gtid(*sql);  // refused: commits' positions are read from the primary instead
        connections_opened.fetch_add(1, std::memory_order_relaxed);
        connect_ns.fetch_add(static_cast<std::uint64_t>(
                                 std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - start).count()),
                             std::memory_order_relaxed);
        std::lock_guard<pool_mutex> lock(mutex);
        connect_failed = false;
        return sql;
    }
    catch (soci::soci_error& e)
    {
        std::string const original = e.what();
        std::string const context = "while connecting to " + description();
        // A connect that failed in this process (out of file descriptors, out of memory) never reached the
        // server: it is counted and reported, and costs the server's health nothing (a replica is not
        // quarantined for it, and its reads come back as soon as the process has a socket again).
        bool const local = local_connect_failure(e, config.drv);
        if (!local)
        {
            std::lock_guard<pool_mutex> lock(mutex);
            connect_failed = true;
            failure_noted.store(true, std::memory_order_relaxed);
        }
        self.record_failure(local ? failure_class::transient : failure_class::connection,
                            detail::one_line(original) + " (" + context + ")");
        // Add context, never replace: the driver's type and message stay, unless the message would show a
        // secret (then a redacted copy is thrown instead).
        if (redact(original) == original)
        {
            e.add_context(context);
            throw;
        }
        throw soci::soci_error(redact(e.get_error_message()) + " (" + context + ")");
    }
    catch (std::exception const& e)
    {
        std::string const message = detail::one_line(e.what()) + " (while connecting to " + description() + ")";
        {
            std::lock_guard<pool_mutex> lock(mutex);
            connect_failed = true;
            failure_noted.store(true, std::memory_order_relaxed);
        }
        self.record_failure(failure_class::connection, message);
        throw soci::soci_error(message);
    }
}

lease endpoint_pool::acquire(void const* affinity)
{
    return acquire(impl_->wait_timeout, affinity);
}

lease endpoint_pool::acquire(std::chrono::milliseconds wait, void const* affinity)
{
    impl& d = *impl_;
    if (d.generation != process_generation())
        throw soci::soci_error(inherited_message(d.pid));
    int const max = d.max_open();
    // The clock is read only when needed: by the idle check of the connection picked, or by the first wait.
    // The first read comes before any wait for a connection, a round trip or a connect (only the pool's lock,
    // held for microseconds, may come before it), so the wait is counted from about the call; the usual
    // borrow (an idle connection, no wait) reads it once.
    clock::time_point started{};
    auto const since_call = [&started] {
        if (started == clock::time_point{})
            started = clock::now();
        return started;
    };
    auto const now = [&started, &since_call] { return started == clock::time_point{} ? since_call() : clock::now(); };
    impl::wake_list wakes;  // delivered once the lock below is released (declared first: destroyed last)
    std::unique_lock<pool_mutex> lock(d.mutex);
    // Granted a connection or a slot (a waiter's turn came), or kept the turn of a connection found dead.
    bool turn = false;
    for (;;)
    {
        if (!turn && (d.spare_locked() <= 0 || !d.waiters.empty()))
        {
            if (!d.wait_for_grant(lock, since_call() + wait, wakes))
                return lease();
            turn = true;
            continue;
        }
        turn = false;
        // Whose idle connection: the borrower's own first (its statement cache, its session-bound values
        // such as lastval(), its replayed settings); else one nobody claims; else the most recently given back
        // — among those, one that carries no settings kept for another borrower (which would cost a reset
        // here and a replay there) before one that does. Affinity is a preference, never a reservation: an
        // idle connection is never left idle while a borrower connects.
        // Among the clean ones, this thread's own first: a thread that takes turns over many sessions (more
        // than the pool has connections, so they rarely find their own) keeps meeting the same server
        // processes, as with fewer sessions, instead of the one another thread gave back last (scale-bench
        // sessions on PostgreSQL: +7% at 100 sessions, +15% at 1,000).
        pthread_t const me = pthread_self();
        auto const none = d.idle.end();
        auto pick = none, mine_unclaimed_clean = none, unclaimed_clean = none, mine_clean = none, clean = none,
             unclaimed = none;
        for (auto it = d.idle.rbegin(); it != d.idle.rend(); ++it)
        {
            auto const at = std::prev(it.base());
            if (affinity != nullptr && it->affinity == affinity)
            {
                pick = at;
                break;
            }
            bool const has_settings = it->settings != dirt_none;
            bool const mine = pthread_equal(it->thread, me) != 0;
            if (it->affinity == nullptr && !has_settings)
            {
                if (mine && mine_unclaimed_clean == none)
                    mine_unclaimed_clean = at;
                if (unclaimed_clean == none)
                    unclaimed_clean = at;
            }
            if (!has_settings)
            {
                if (mine && mine_clean == none)
                    mine_clean = at;
                if (clean == none)
                    clean = at;
            }
            if (it->affinity == nullptr && unclaimed == none)
                unclaimed = at;
        }
        for (auto candidate : {mine_unclaimed_clean, unclaimed_clean, mine_clean, clean, unclaimed})
            if (pick == none)
                pick = candidate;
        if (pick == none && !d.idle.empty())
            pick = d.idle.end() - 1;
        if (pick != d.idle.end())
        {
            bool const check = now() - pick->since >= d.idle_check || pick->since <= d.suspect_before;
            // Settings kept for the borrower who gave it back: theirs again as they are, anyone else's after
            // a reset.
            bool const own = affinity != nullptr && pick->affinity == affinity;
            bool const reset = pick->settings != dirt_none && !own;
            unsigned const settings = own ? pick->settings : dirt_none;
            std::uint64_t const carried = own ? pick->carried : 0;
            std::unique_ptr<soci::session> sql = std::move(pick->sql);
            std::shared_ptr<void> attachment = std::move(pick->attachment);
            d.idle.erase(pick);  // keeps the order: the back stays the most recently given back
            soci::session* raw = sql.get();
            d.lend_locked(std::move(sql));
            if (!check && !reset)
                return lease(this, raw, std::move(attachment), affinity, settings, carried);
            // A connection that sat idle may have been closed by the server (restart, idle_session_timeout,
            // a load balancer's idle cut, pg_terminate_backend, KILL): checked outside the lock, replaced
            // silently. A dead idle socket says nothing about the endpoint's health. Another borrower's
            // settings are reset there too (a failed reset closes the connection, as a dead one).
            lock.unlock();
            wakes.deliver();
            bool alive = false;
            {
                socket_watchdog::watch watch = d.watch_housekeeping(*raw);
                if (reset)
                {
                    detail::clean_result const r = detail::make_clean(*raw, d.config.drv, dirt_settings,
                                                                      d.config.database, d.track_gtid);
                    alive = r != detail::clean_result::failed && !watch.end();
                    if (alive)
                        d.resets.fetch_add(1, std::memory_order_relaxed);
                    if (r == detail::clean_result::reset_all)
                        attachment.reset();  // the server dropped the prepared statements it describes
                }
                else
                {
                    alive = detail::connection_alive(*raw, d.config.drv);
                }
            }
            lock.lock();
            if (alive)
                return lease(this, raw, std::move(attachment), affinity, settings, carried);
            d.dead_idle.fetch_add(1, std::memory_order_relaxed);
            std::unique_ptr<soci::session> dead = d.take_lent_locked(raw);
            lock.unlock();
            wakes.deliver();
            attachment.reset();
            dead.reset();
            lock.lock();
            turn = true;  // its slot is this borrower's: a replacement, or another idle connection
            continue;
        }
        if (d.open_locked() < max)
        {
            ++d.connecting;
            lock.unlock();
            wakes.deliver();
            std::unique_ptr<soci::session> sql;
            try
            {
                sql = d.connect(*this);
            }
            catch (...)
            {
                lock.lock();
                --d.connecting;
                d.grant_locked(wakes);  // the slot is free again for a waiter
                lock.unlock();
                wakes.deliver();
                throw;
            }
            lock.lock();
            --d.connecting;
            soci::session* raw = sql.get();
            d.lend_locked(std::move(sql));
            return lease(this, raw, nullptr, affinity);
        }
        // Nothing here after all (what was granted went elsewhere, as a quarantine closing the idle
        // connections): back in the queue.
    }
}

std::string endpoint_pool::exhausted_message() const
{
    return exhausted_message(impl_->wait_timeout);
}

std::string endpoint_pool::exhausted_message(std::chrono::milliseconds waited) const
{
    return fmt::format("no free connection to {} within {:g} s: all {} connections of its pool are in use "
                       "(pool.max = {}; raise it, or pool.wait_timeout)",
                       impl_->description(), static_cast<double>(waited.count()) / 1000.0,
                       impl_->config.pool.max, impl_->config.pool.max);
}

void endpoint_pool::give_back(soci::session* sql, bool discard, unsigned dirt, std::shared_ptr<void> attachment,
                              void const* affinity, std::uint64_t carried) noexcept
{
    impl& d = *impl_;
    if (d.generation != process_generation())
    {
        // A child process lets go of a connection of its parent's: it stays as it is, lent for good (no clean-up
        // round trip, no close on the parent's socket, no lock a parent's thread may have held at the fork).
        abandon(std::move(attachment));
        return;
    }
    unsigned settings = dirt_none;
    // A lease gives its connection back once, and it stays lent (nobody else can have it) until the lock
    // below. A quarantine that begins meanwhile closes it there.
    if (!discard && !d.quarantined_now.load())
    {
        // Still lent (nobody else can have it): made clean outside the lock, or closed.
        // Watched only when there is a round trip to make (a clean connection costs nothing here).
        // Settings alone, of a borrower who may come back (affinity): kept for it (acquire() resets them for
        // anyone else); an open transaction is still rolled back now.
        if (dirt == dirt_settings && affinity != nullptr && carried != 0)
        {
            settings = dirt_settings;
            dirt = dirt_none;
        }
        socket_watchdog::watch watch;
        if (dirt != dirt_none || transaction_status(*sql, d.config.drv) != server_transaction::idle)
            watch = d.watch_housekeeping(*sql);
        detail::clean_result cleaned = detail::make_clean(*sql, d.config.drv, dirt, d.config.database, d.track_gtid);
        if (watch.end())
            cleaned = detail::clean_result::failed;  // cut half-way: the connection is gone
        switch (cleaned)
        {
        case detail::clean_result::clean: break;
        case detail::clean_result::reset: d.resets.fetch_add(1, std::memory_order_relaxed); break;
        case detail::clean_result::reset_all:
            d.resets.fetch_add(1, std::memory_order_relaxed);
            attachment.reset();  // the server dropped the prepared statements it describes
            break;
        case detail::clean_result::failed: discard = true; break;
        }
        if (!discard)
        {
            // Nothing of the last borrower's session object stays with the connection (SOCI's failover
            // callback points into the application's session).
            if (soci::details::session_backend* b = sql->get_backend())
            {
                b->failoverCallback_ = nullptr;
                b->session_ = nullptr;
            }
        }
    }
    std::unique_ptr<soci::session> closing;
    impl::wake_list wakes;  // delivered after the lock is released
    {
        std::lock_guard<pool_mutex> lock(d.mutex);
        std::unique_ptr<soci::session> back = d.take_lent_locked(sql);
        if (!back)
            return;
        if (discard || d.quarantined)
            closing = std::move(back);
        else
        {
            impl::idle_connection entry{std::move(back), clock::now(), std::move(attachment), affinity, settings,
                                        settings != dirt_none ? carried : 0, pthread_self()};
            try
            {
                d.idle.push_back(std::move(entry));
            }
            catch (std::bad_alloc const&)
            {
                // No memory for the idle list's room: the connection is closed (below, outside the lock), its
                // slot free for the next borrower. (push_back leaves `entry` as it was when it cannot grow.)
                closing = std::move(entry.sql);
                attachment = std::move(entry.attachment);
            }
        }
        d.grant_locked(wakes);
    }
    wakes.deliver();
    // The session (and its server connection) closes here, outside the lock; what was attached to it
    // (when not kept with it in the idle list) goes first.
    attachment.reset();
    closing.reset();
}

void endpoint_pool::forget_affinity(void const* affinity) noexcept
{
    if (affinity == nullptr || impl_->generation != process_generation())
        return;
    std::lock_guard<pool_mutex> lock(impl_->mutex);
    for (auto& c : impl_->idle)
    {
        if (c.affinity == affinity)
            c.affinity = nullptr;
    }
}

void endpoint_pool::maintain()
{
    impl& d = *impl_;
    std::vector<impl::idle_connection> closing;
    bool refill = false;
    impl::wake_list wakes;  // delivered after the lock is released
    {
        std::lock_guard<pool_mutex> lock(d.mutex);
        auto const now = clock::now();
        auto const idle_limit = to_ms(d.config.pool.idle_timeout);
        // Oldest first: idle[0] has been idle longest.
        std::size_t drop = 0;
        int open = d.open_locked();
        while (drop < d.idle.size() && open > d.config.pool.min && now - d.idle[drop].since >= idle_limit)
        {
            ++drop;
            --open;
        }
        for (std::size_t i = 0; i < drop; ++i)
            closing.push_back(std::move(d.idle[i]));
        d.idle.erase(d.idle.begin(), d.idle.begin() + static_cast<std::ptrdiff_t>(drop));
        refill = open < d.config.pool.min && !d.quarantined && !d.connect_failed && d.connecting == 0;
        if (refill)
            ++d.connecting;
        d.grant_locked(wakes);
    }
    wakes.deliver();
    closing.clear();
    if (!refill)
        return;
    std::unique_ptr<soci::session> sql;
    try
    {
        sql = d.connect(*this);
    }
    catch (std::exception const&)
    {
    }
    {
        std::lock_guard<pool_mutex> lock(d.mutex);
        --d.connecting;
        if (sql)
            d.idle.push_back({std::move(sql), clock::now(), {}, nullptr});
        d.grant_locked(wakes);
    }
}

bool endpoint_pool::usable()
{
    if (impl_->role == endpoint_role::primary)
        return true;
    return impl_->readable.load();
}

socket_watchdog::watch endpoint_pool::watch_read(soci::session& sql)
{
    impl const& d = *impl_;
    if (d.watchdog == nullptr || d.role == endpoint_role::primary || !(d.routing.read_timeout > 0))
        return {};
    return d.watchdog->arm(sql, d.config.drv, std::max(to_ms(d.routing.read_timeout), std::chrono::milliseconds(1)));
}

std::string endpoint_pool::read_timeout_message() const
{
    return fmt::format("no answer from {} within routing.read_timeout = {:g} s: its connection was closed",
                       impl_->description(), impl_->routing.read_timeout);
}

void endpoint_pool::record_success() noexcept
{
    // The common case (nothing failed since the last success) takes no lock.
    if (!impl_->failure_noted.load(std::memory_order_relaxed))
        return;
    std::lock_guard<pool_mutex> lock(impl_->mutex);
    impl_->consecutive = 0;
    impl_->connect_failed = false;
    impl_->failure_noted.store(false, std::memory_order_relaxed);
}

void endpoint_pool::record_failure(failure_class what, std::string const& message) noexcept
{
    impl& d = *impl_;
    std::vector<impl::idle_connection> closing;
    try
    {
        std::lock_guard<pool_mutex> lock(d.mutex);
        ++d.failures;
        d.last_error = message;
        if (what != failure_class::connection)
            return;
        auto const now = clock::now();
        // The server may have dropped every connection (a restart): the idle ones are checked before use.
        d.suspect_before = now;
        // The primary is never quarantined; a quarantined replica's way back is the recovery probe (failures
        // of reads that started before the quarantine change nothing).
        if (d.role == endpoint_role::primary || d.quarantined)
            return;
        d.failure_noted.store(true, std::memory_order_relaxed);
        if (++d.consecutive >= std::max(d.routing.failures, 1))
            closing = d.quarantine_locked(now);
    }
    catch (...)
    {
    }
    closing.clear();
}

bool endpoint_pool::recovery_due() noexcept
{
    impl& d = *impl_;
    std::lock_guard<pool_mutex> lock(d.mutex);
    if (!d.quarantined || d.recovering || clock::now() < d.retry_at)
        return false;
    d.recovering = true;
    return true;
}

void endpoint_pool::start_recovery()
{
    impl& d = *impl_;
    if (!recovery_due())
        return;
    if (d.recovery.joinable())
        d.recovery.join();  // the last probe's thread has finished (recovering was false)
    try
    {
        d.recovery = router_thread([this] { recover(); });
    }
    catch (...)
    {
        // No thread (the process at its limit of threads or processes) or no memory: the probe is due again at
        // the next housekeeping round, and the other endpoints' housekeeping goes on.
        std::lock_guard<pool_mutex> lock(d.mutex);
        d.recovering = false;
    }
}

void endpoint_pool::recover() noexcept
{
    impl& d = *impl_;
    std::unique_ptr<soci::session> sql;
    std::string error;
    bool in_transition = false;
    impl::wake_list wakes;  // delivered when this returns, after the lock is released
    try
    {
        // A fresh connection and one round trip, each within the connect timeout: what a read needs.
        sql = detail::open_session(d.config);
        socket_watchdog::watch watch = d.watch_housekeeping(*sql);
        bool const alive = detail::connection_alive(*sql, d.config.drv);
        if (watch.end() || !alive)
        {
            error = "no answer to the recovery probe within the connect timeout (while probing " + d.description()
                + ")";
            sql.reset();
        }
    }
    catch (std::exception const& e)
    {
        error = detail::one_line(e.what()) + " (while probing " + d.description() + ")";
        // Neither a server on its way up or down nor a process out of sockets lengthens the wait.
        in_transition = detail::server_in_transition(e, d.config.drv)
            || local_connect_failure(e, d.config.drv);
        sql.reset();
    }
    catch (...)
    {
        error = "unknown error (while probing " + d.description() + ")";
        sql.reset();
    }
    {
        std::lock_guard<pool_mutex> lock(d.mutex);
        d.recovering = false;
        if (sql)
        {
            // Back in service at once, and the probe's connection is the first one a read gets.
            d.quarantined = false;
            d.publish_locked();
            d.backoff = 0;
            d.consecutive = 0;
            d.connect_failed = false;
            d.idle.push_back({std::move(sql), clock::now(), {}, nullptr});
        }
        else
        {
            ++d.failures;
            d.last_error = error;
            d.connect_failed = true;
            d.failure_noted.store(true, std::memory_order_relaxed);
            if (d.quarantined)
                d.schedule_probe_locked(clock::now(), !in_transition);
        }
        d.grant_locked(wakes);
    }
}

void endpoint_pool::record_routed(reason why) noexcept
{
    impl::counters& c = impl_->count();
    c.statements.fetch_add(1, std::memory_order_relaxed);
    auto const i = static_cast<std::size_t>(why);
    if (i < reason_count)
        c.by_reason[i].fetch_add(1, std::memory_order_relaxed);
}

void endpoint_pool::record_fallback() noexcept
{
    impl_->count().fallbacks.fetch_add(1, std::memory_order_relaxed);
}

void endpoint_pool::note_replayed(causal_position const& p) noexcept
{
    impl& d = *impl_;
    if (p.lsn != 0)
    {
        std::uint64_t seen = d.replayed_lsn.load(std::memory_order_relaxed);
        while (seen < p.lsn && !d.replayed_lsn.compare_exchange_weak(seen, p.lsn, std::memory_order_relaxed))
        {
        }
    }
    if (!p.domains.empty())
    {
        try
        {
            std::lock_guard<std::mutex> lock(d.causal_mutex);
            merge(d.replayed_gtids, p);
        }
        catch (...)
        {
            // Out of memory: the next read waits and learns it again.
        }
    }
}

bool endpoint_pool::has_replayed(causal_position const& required) const noexcept
{
    impl const& d = *impl_;
    if (required.lsn != 0 && d.replayed_lsn.load(std::memory_order_relaxed) < required.lsn)
        return false;
    if (required.domains.empty())
        return true;
    std::lock_guard<std::mutex> lock(d.causal_mutex);
    return covers(d.replayed_gtids, required);
}

void endpoint_pool::record_placement(bool moved, clock::duration lease, clock::duration prepare,
                                     clock::duration replay) noexcept
{
    impl& d = *impl_;
    auto ns = [](clock::duration t) {
        return static_cast<std::uint64_t>(std::max<std::int64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(t).count(), 0));
    };
    impl::counters& c = d.count();
    c.placements.fetch_add(1, std::memory_order_relaxed);
    if (moved)
        c.moves.fetch_add(1, std::memory_order_relaxed);
    c.placement_lease_ns.fetch_add(ns(lease), std::memory_order_relaxed);
    c.placement_prepare_ns.fetch_add(ns(prepare), std::memory_order_relaxed);
    if (replay.count() > 0)  // a first placement replays nothing (and is not timed)
        c.placement_replay_ns.fetch_add(ns(replay), std::memory_order_relaxed);
}

void endpoint_pool::record_causal_read(bool waited, double seconds) noexcept
{
    impl& d = *impl_;
    impl::counters& c = d.count();
    c.causal_reads.fetch_add(1, std::memory_order_relaxed);
    if (waited)
    {
        c.causal_waits.fetch_add(1, std::memory_order_relaxed);
        c.causal_wait_us.fetch_add(static_cast<std::uint64_t>(std::max(seconds, 0.0) * 1e6), std::memory_order_relaxed);
    }
}

void endpoint_pool::record_causal_timeout(double seconds) noexcept
{
    impl& d = *impl_;
    impl::counters& c = d.count();
    c.causal_waits.fetch_add(1, std::memory_order_relaxed);
    c.causal_wait_timeouts.fetch_add(1, std::memory_order_relaxed);
    c.causal_wait_us.fetch_add(static_cast<std::uint64_t>(std::max(seconds, 0.0) * 1e6), std::memory_order_relaxed);
}

void endpoint_pool::record_causal_primary() noexcept
{
    impl_->count().causal_primary.fetch_add(1, std::memory_order_relaxed);
}

void endpoint_pool::record_replay() noexcept
{
    impl_->count().replays.fetch_add(1, std::memory_order_relaxed);
}

void endpoint_pool::record_replay_failure(std::string const& message) noexcept
{
    impl_->count().replay_failures.fetch_add(1, std::memory_order_relaxed);
    try
    {
        std::lock_guard<pool_mutex> lock(impl_->mutex);
        impl_->last_error = message;
    }
    catch (...)
    {
    }
}

void endpoint_pool::set_lag(double seconds, bool lagging) noexcept
{
    std::lock_guard<pool_mutex> lock(impl_->mutex);
    impl_->lag = seconds;
    impl_->lagging = lagging && impl_->role == endpoint_role::replica;
    impl_->publish_locked();
}

soci::routing_endpoint_stats endpoint_pool::stats() const
{
    impl const& d = *impl_;
    soci::routing_endpoint_stats s;
    s.name = d.config.name;
    s.role = d.role == endpoint_role::primary ? "primary" : "replica";
    s.address = d.config.address();
    using c = impl::counters;
    s.statements = d.total(&c::statements);
    for (std::size_t i = 0; i < reason_count; ++i)
    {
        auto const n = d.total_by_reason(i);
        if (n != 0)
            s.by_reason[to_string(static_cast<reason>(i))] = n;
    }
    s.fallbacks = d.total(&c::fallbacks);
    s.settings_replays = d.total(&c::replays);
    s.settings_replay_failures = d.total(&c::replay_failures);
    s.causal_reads = d.total(&c::causal_reads);
    s.causal_waits = d.total(&c::causal_waits);
    s.causal_wait_timeouts = d.total(&c::causal_wait_timeouts);
    s.causal_wait_seconds = static_cast<double>(d.total(&c::causal_wait_us)) / 1e6;
    s.causal_primary = d.total(&c::causal_primary);
    auto seconds = [](std::atomic<std::uint64_t> const& ns) {
        return static_cast<double>(ns.load(std::memory_order_relaxed)) / 1e9;
    };
    s.placements = d.total(&c::placements);
    s.moves = d.total(&c::moves);
    s.placement_lease_seconds = static_cast<double>(d.total(&c::placement_lease_ns)) / 1e9;
    s.placement_prepare_seconds = static_cast<double>(d.total(&c::placement_prepare_ns)) / 1e9;
    s.placement_replay_seconds = static_cast<double>(d.total(&c::placement_replay_ns)) / 1e9;
    s.connections_opened = d.connections_opened.load(std::memory_order_relaxed);
    s.connect_seconds = seconds(d.connect_ns);
    s.connections_replaced = d.dead_idle.load(std::memory_order_relaxed);
    s.connections_reset = d.resets.load(std::memory_order_relaxed);

    std::lock_guard<pool_mutex> lock(d.mutex);
    s.connections_in_use = static_cast<int>(d.lent.size());
    s.connections_idle = static_cast<int>(d.idle.size());
    s.connections_open = s.connections_in_use + s.connections_idle;
    s.waiting = static_cast<int>(d.waiters.size());
    s.failures = d.failures;
    s.quarantines = d.quarantines;
    s.last_error = d.last_error;
    s.lag_seconds = d.lag;
    s.role_changes = d.role_changes;
    s.role_note = d.role_note;
    if (d.fenced)
        s.role = "fenced";
    if (d.quarantined)
    {
        s.state = "quarantined";
        s.quarantined_until_ms = d.retry_at_unix_ms;
    }
    else if (d.connect_failed)
        s.state = "down";
    else if (d.lagging)
        s.state = "lagging";
    else
        s.state = "up";
    return s;
}

// ------------------------------------------------------------------------------------------- cluster

struct cluster::impl
{
    explicit impl(cluster_config c) : config(std::move(c)) {}

    static std::uint64_t next_serial() noexcept
    {
        static std::atomic<std::uint64_t> last{0};
        return last.fetch_add(1, std::memory_order_relaxed) + 1;
    }

    cluster_config const config;
    std::uint64_t const serial = next_serial();
    socket_watchdog watchdog;  // before the pools: destroyed after them
    std::unique_ptr<endpoint_pool> primary;  // the configured primary
    std::vector<std::unique_ptr<endpoint_pool>> replicas;
    std::vector<endpoint_pool*> nodes;    // primary, then replicas
    std::vector<endpoint_pool*> readers;  // static: the replicas; discover: every node
    bool const discover = config.routing.topology == topology_mode::discover;
    std::atomic<endpoint_pool*> writable{nullptr};

    // Topology discovery: the prober thread, woken early by suspect_primary().
    mutable std::mutex topology_mutex;
    std::condition_variable topology_wake;  // the prober: probe now
    std::condition_variable topology_done;  // waiters: a round ended
    bool topology_stopping = false;
    bool probe_requested = false;
    std::uint64_t started = 0;  // rounds begun
    std::uint64_t rounds = 0;   // rounds ended
    std::string no_primary;  // why there is none (the last round's finding)
    bool any_reachable = false;
    std::thread topology_thread;
    // The prober thread's own (and the first round's, before the thread starts).
    std::vector<std::unique_ptr<soci::session>> probe_sessions;
    std::string system_id;

    void topology_round();
    void topology_run();
    void stop_topology() noexcept;

    mutable std::mutex history_mutex;  // causal: the primary's last known position
    causal_position history;

    std::mutex pick_mutex;                  // the balancing state below
    std::vector<double> current_weight;     // smooth weighted round robin (as nginx does it)
    std::vector<std::size_t> available;     // pick_replica()'s candidates and least_connections()' best,
    std::vector<std::size_t> least_loaded;  // kept between picks (no allocation per read)
    std::mt19937_64 rng{std::random_device{}()};

    std::mutex thread_mutex;
    std::condition_variable wake;
    bool stopping = false;
    std::thread housekeeper;

    double weight(std::size_t i) const
    {
        double const w = readers[i]->config().weight;
        return w > 0 && std::isfinite(w) ? w : 0.0;
    }

    // Smooth weighted round robin over `candidates`: deterministic, spreads by weight, no bursts.
    std::size_t round_robin(std::vector<std::size_t> const& candidates)
    {
        double total = 0;
        for (auto i : candidates)
            total += weight(i);
        bool const equal = !(total > 0);
        if (equal)
            total = static_cast<double>(candidates.size());
        std::size_t best = candidates.front();
        double best_weight = -1e300;
        for (auto i : candidates)
        {
            current_weight[i] += equal ? 1.0 : weight(i);
            if (current_weight[i] > best_weight)
            {
                best_weight = current_weight[i];
                best = i;
            }
        }
        current_weight[best] -= total;
        return best;
    }

    std::size_t random(std::vector<std::size_t> const& candidates)
    {
        double total = 0;
        for (auto i : candidates)
            total += weight(i);
        if (!(total > 0))
            return candidates[std::uniform_int_distribution<std::size_t>(0, candidates.size() - 1)(rng)];
        double r = std::uniform_real_distribution<double>(0.0, total)(rng);
        for (auto i : candidates)
        {
            r -= weight(i);
            if (r < 0)
                return i;
        }
        return candidates.back();
    }

    std::size_t least_connections(std::vector<std::size_t> const& candidates)
    {
        // Fewest connections in use per unit of weight; ties share by weighted round robin.
        std::vector<std::size_t>& best = least_loaded;
        best.clear();
        double best_load = 1e300;
        for (auto i : candidates)
        {
            double const w = weight(i) > 0 ? weight(i) : 1e-9;
            double const load = readers[i]->in_use() / w;
            if (load < best_load - 1e-12)
            {
                best_load = load;
                best.assign(1, i);
            }
            else if (std::abs(load - best_load) <= 1e-12)
                best.push_back(i);
        }
        return round_robin(best);
    }

    void run();
};

cluster::cluster(cluster_config config)
    : pid_(static_cast<long>(getpid())), impl_(std::make_unique<impl>(std::move(config)))
{
    impl& d = *impl_;
    d.primary = std::make_unique<endpoint_pool>(d.config.primary, endpoint_role::primary, d.config.routing,
                                                &d.watchdog);
    for (auto const& r : d.config.replicas)
        d.replicas.push_back(
            std::make_unique<endpoint_pool>(r, endpoint_role::replica, d.config.routing, &d.watchdog));
    d.nodes.push_back(d.primary.get());
    for (auto const& r : d.replicas)
        d.nodes.push_back(r.get());
    d.readers.assign(d.nodes.begin() + (d.discover ? 0 : 1), d.nodes.end());
    d.current_weight.assign(d.readers.size(), 0.0);
    if (d.discover)
    {
        // The first round before any session: the first write goes to the node that is writable now, and a
        // session opens although the configured primary is down. Each probe gets a connect timeout.
        d.probe_sessions.resize(d.nodes.size());
        d.started = 1;
        d.topology_round();
        d.topology_thread = needed_router_thread("topology", [this] { impl_->topology_run(); });
    }
    else
        d.writable = d.primary.get();
    try
    {
        d.housekeeper = needed_router_thread("housekeeping", [this] { impl_->run(); });
    }
    catch (...)
    {
        d.stop_topology();  // a std::thread destroyed while it runs would end the process
        throw;
    }
}

cluster::~cluster()
{
    if (inherited())
    {
        // The parent's threads are not here to join, its connections not the child's to close.
        abandon(std::move(impl_));
        return;
    }
    {
        std::lock_guard<std::mutex> lock(impl_->thread_mutex);
        impl_->stopping = true;
    }
    impl_->wake.notify_all();
    if (impl_->housekeeper.joinable())
        impl_->housekeeper.join();
    impl_->stop_topology();
}

void cluster::impl::stop_topology() noexcept
{
    {
        std::lock_guard<std::mutex> lock(topology_mutex);
        topology_stopping = true;
    }
    topology_wake.notify_all();
    topology_done.notify_all();
    if (topology_thread.joinable())
        topology_thread.join();
}

cluster_config const& cluster::config() const noexcept { return impl_->config; }
std::string cluster::inherited_message() const { return soci_routing::inherited_message(pid_); }
std::uint64_t cluster::serial() const noexcept { return impl_->serial; }
endpoint_pool& cluster::primary() noexcept
{
    endpoint_pool* w = impl_->writable.load();
    return w != nullptr ? *w : *impl_->primary;
}
std::size_t cluster::replica_count() const noexcept { return impl_->readers.size(); }
endpoint_pool& cluster::replica(std::size_t i) noexcept { return *impl_->readers[i]; }
std::size_t cluster::node_count() const noexcept { return impl_->nodes.size(); }
endpoint_pool& cluster::node(std::size_t i) noexcept { return *impl_->nodes[i]; }
endpoint_pool const& cluster::node(std::size_t i) const noexcept { return *impl_->nodes[i]; }
bool cluster::discovering() const noexcept { return impl_->discover; }
endpoint_pool* cluster::writable() noexcept { return impl_->writable.load(); }

void cluster::suspect_primary() noexcept
{
    if (!impl_->discover)
        return;
    {
        std::lock_guard<std::mutex> lock(impl_->topology_mutex);
        impl_->probe_requested = true;
    }
    impl_->topology_wake.notify_all();
}

endpoint_pool* cluster::await_primary(std::chrono::milliseconds wait)
{
    impl& d = *impl_;
    if (!d.discover)
        return d.primary.get();
    auto const deadline = clock::now() + wait;
    std::unique_lock<std::mutex> lock(d.topology_mutex);
    // A round that starts after this call: the one under way may have begun before the change.
    std::uint64_t const round = d.started + 1;
    d.probe_requested = true;
    d.topology_wake.notify_all();
    while (!d.topology_stopping)
    {
        if (d.rounds >= round)
        {
            if (endpoint_pool* w = d.writable.load())
                return w;
        }
        if (d.topology_done.wait_until(lock, deadline) == std::cv_status::timeout)
            break;
    }
    return d.writable.load();
}

bool cluster::of_primary_history(causal_position const& required) const
{
    std::lock_guard<std::mutex> lock(impl_->history_mutex);
    return same_history(required, impl_->history);
}

void cluster::note_primary_position(causal_position const& p)
{
    std::lock_guard<std::mutex> lock(impl_->history_mutex);
    impl_->history = p;
}

void cluster::advance_primary_history(causal_position const& p)
{
    std::lock_guard<std::mutex> lock(impl_->history_mutex);
    merge(impl_->history, p);
}

std::string cluster::no_primary_message() const
{
    std::lock_guard<std::mutex> lock(impl_->topology_mutex);
    return impl_->no_primary;
}

bool cluster::any_node_reachable() const
{
    std::lock_guard<std::mutex> lock(impl_->topology_mutex);
    return impl_->any_reachable;
}

endpoint_pool* cluster::pick_replica(std::uint64_t exclude)
{
    impl& d = *impl_;
    std::size_t const n = d.readers.size();
    auto excluded = [exclude](std::size_t i) { return i < 64 && (exclude >> i & 1u) != 0; };

    std::lock_guard<std::mutex> pick_lock(d.pick_mutex);
    std::vector<std::size_t>& available = d.available;  // keeps its capacity: a pick allocates nothing
    available.clear();
    for (std::size_t i = 0; i < n; ++i)
    {
        if (!excluded(i) && d.readers[i]->impl_->readable.load())
            available.push_back(i);
    }
    if (available.empty())
        return nullptr;
    std::size_t chosen = available.front();
    switch (d.config.routing.balance)
    {
    case balance_policy::round_robin: chosen = d.round_robin(available); break;
    case balance_policy::random: chosen = d.random(available); break;
    case balance_policy::least_connections: chosen = d.least_connections(available); break;
    }
    return d.readers[chosen];
}

endpoint_pool const& cluster::primary() const noexcept
{
    endpoint_pool const* w = impl_->writable.load();
    return w != nullptr ? *w : *impl_->primary;
}
endpoint_pool const& cluster::replica(std::size_t i) const noexcept { return *impl_->readers[i]; }

// One round of role probes, every node at once (each within its connect timeout), then the decision.
void cluster::impl::topology_round()
{
    std::size_t const n = nodes.size();
    std::vector<detail::node_observation> seen(n);
    auto probe = [this, &seen](std::size_t i) {
        endpoint_pool& node = *nodes[i];
        endpoint_config const& ep = node.config();
        std::unique_ptr<soci::session>& sql = probe_sessions[i];
        // A probe connection the server closed (a restart, pg_terminate_backend) is not the node's failure:
        // one more try on a fresh connection before it counts as unreachable.
        for (int attempt = 0; attempt < 2; ++attempt)
        {
            bool const fresh = !sql;
            try
            {
                if (!sql)
                    sql = detail::open_session(ep);
                socket_watchdog::watch w =
                    watchdog.arm(*sql, ep.drv, std::max(to_ms(ep.timeout), std::chrono::milliseconds(1)));
                try
                {
                    seen[i] = detail::probe_role(*sql, ep.drv);
                }
                catch (std::exception const&)
                {
                    if (w.end())
                        throw deadline_error("no answer to the role probe within the connect timeout");
                    throw;
                }
                if (w.end())
                    throw deadline_error("no answer to the role probe within the connect timeout");
                return;
            }
            catch (std::exception const& e)
            {
                sql.reset();
                seen[i] = detail::node_observation{};
                seen[i].note = detail::one_line(e.what());
                if (fresh)
                {
                    seen[i].unprobed = local_connect_failure(e, ep.drv);
                    return;
                }
            }
        }
    };
    // A probe whose thread the process refuses to start (at its thread or pid limit) runs on this one, after the
    // others started: slower, never an error. `threads` has its room before the first starts, so that no
    // std::thread that runs is ever dropped (it would end the process).
    // No memory for a thread's state is the same: the probe runs here. Whatever leaves this block, the probes
    // that started are joined first (they write `seen`).
    std::vector<std::thread> threads;
    threads.reserve(n);
    std::vector<std::size_t> here;
    here.reserve(n);
    here.push_back(0);
    struct join_all
    {
        std::vector<std::thread>& threads;
        ~join_all()
        {
            for (auto& t : threads)
                if (t.joinable())
                    t.join();
        }
    } const joined{threads};
    for (std::size_t i = 1; i < n; ++i)
    {
        try
        {
            threads.push_back(router_thread([&probe, i] { probe(i); }));
        }
        catch (std::system_error const&)
        {
            here.push_back(i);
        }
        catch (std::bad_alloc const&)
        {
            here.push_back(i);
        }
    }
    for (std::size_t i : here)
        probe(i);
    for (auto& t : threads)
        t.join();

    std::vector<std::string> descriptions;
    for (auto* node : nodes)
        descriptions.push_back(node->describe());
    detail::topology_decision const decision =
        detail::decide_topology(seen, config.primary.drv, system_id, descriptions);

    endpoint_pool* const before = writable.load();
    endpoint_pool* now = decision.primary >= 0 ? nodes[decision.primary] : nullptr;
    // A node this process could not probe (out of file descriptors or memory) keeps the role and the health the
    // last probe that reached it found: the primary it knew stays the primary while no other node is writable.
    bool const none_writable =
        std::none_of(seen.begin(), seen.end(), [](detail::node_observation const& o) { return o.writable; });
    bool unprobed = false;
    for (std::size_t i = 0; i < n; ++i)
    {
        if (!seen[i].unprobed)
            continue;
        unprobed = true;
        if (now == nullptr && none_writable && nodes[i] == before)
            now = before;
        nodes[i]->note_role_probe("not probed (this process could not connect; the role is the last probe's): "
                                  + seen[i].note);
    }
    // The new primary first: from the next statement on, writes go there.
    if (decision.primary >= 0)
        now->set_role(endpoint_role::primary, false, seen[decision.primary].note);
    writable = now;
    bool reachable = false;
    for (std::size_t i = 0; i < n; ++i)
    {
        endpoint_pool& node = *nodes[i];
        if (&node == now)
        {
            reachable = true;
            continue;
        }
        if (seen[i].unprobed)
            continue;
        if (seen[i].reachable)
        {
            reachable = true;
            node.set_role(endpoint_role::replica, decision.fenced[i], seen[i].note);
            continue;
        }
        // Unreachable: a primary stays the primary it was (while no other node is) and takes no writes; a
        // replica takes no reads until its recovery probe gets an answer.
        std::string const note = "unreachable: " + seen[i].note;
        if (node.role() == endpoint_role::primary && now == nullptr)
            node.set_role(endpoint_role::primary, false, note);
        else
        {
            node.set_role(endpoint_role::replica, false, note);
            node.mark_down(note);
        }
    }
    {
        std::lock_guard<std::mutex> lock(topology_mutex);
        ++rounds;
        no_primary = now != nullptr ? std::string() : decision.problem;
        any_reachable = reachable || (unprobed && any_reachable);
    }
    topology_done.notify_all();
}

// The prober thread (topology = "discover"): a round every role_probe_interval, at once when asked, and every
// 0.1 s while there is no primary (a standby being promoted says "in recovery" for a moment).
void cluster::impl::topology_run()
{
    std::unique_lock<std::mutex> lock(topology_mutex);
    while (!topology_stopping)
    {
        double interval = config.routing.role_probe_interval;
        if (writable.load() == nullptr)
            interval = std::min(interval, 0.1);
        topology_wake.wait_for(lock, std::chrono::duration<double>(interval),
                               [this] { return topology_stopping || probe_requested; });
        if (topology_stopping)
            break;
        probe_requested = false;
        ++started;
        lock.unlock();
        try
        {
            topology_round();
        }
        catch (std::exception const&)
        {
            // The next round tries again.
        }
        lock.lock();
    }
}

// The housekeeping thread: idle connections above `min`, refilling `min`, and the replication-lag probe.
void cluster::impl::run()
{
    // Lag is probed to skip lagging replicas (max_lag), and in causal mode to learn what each has replayed.
    bool const probe_lag = (config.routing.max_lag > 0 || config.routing.consistency == consistency_mode::causal)
        && !replicas.empty();
    double tick = 1.0;
    auto consider = [&tick](double idle_timeout) {
        if (idle_timeout > 0)
            tick = std::min(tick, idle_timeout / 4);
    };
    consider(config.primary.pool.idle_timeout);
    for (auto const& r : config.replicas)
        consider(r.pool.idle_timeout);
    if (probe_lag)
        tick = std::min(tick, std::max(config.routing.lag_probe_interval, 0.01));
    if (!replicas.empty())
        tick = std::min(tick, config.routing.retry_window / 4);  // recovery probes start on time
    tick = std::max(tick, 0.01);

    std::unique_ptr<detail::lag_prober> prober;  // made in the loop: no memory for it now, the next round tries
    // With max_lag, lagging replicas must be known at once; for causal consistency alone (what each replica has
    // replayed, which waits also learn) the first probe can wait its interval: a short-lived cluster (one
    // session) then never opens the prober's connections.
    auto next_probe = clock::now();
    if (config.routing.max_lag <= 0)
        next_probe += to_ms(config.routing.lag_probe_interval);

    std::unique_lock<std::mutex> lock(thread_mutex);
    while (!stopping)
    {
        lock.unlock();
        try
        {
            for (endpoint_pool* node : nodes)
            {
                node->maintain();
                node->start_recovery();  // replicas only
            }
            if (probe_lag && !prober)
                prober = std::make_unique<detail::lag_prober>(config, watchdog);
            if (prober && clock::now() >= next_probe)
            {
                std::vector<endpoint_pool*> current;
                for (endpoint_pool* node : readers)
                    if (node->role() == endpoint_role::replica)
                        current.push_back(node);
                prober->run(writable.load(), current);
                next_probe = clock::now() + to_ms(config.routing.lag_probe_interval);
            }
        }
        catch (std::exception const&)
        {
            // Housekeeping never ends the thread; the next round tries again.
        }
        lock.lock();
        wake.wait_for(lock, std::chrono::duration<double>(tick), [this] { return stopping; });
    }
    lock.unlock();
    prober.reset();
}

// --------------------------------------------------------------------------------------- the registry

namespace
{

/// The clusters kept after their last session (cluster::linger()), and the thread that lets them go when their
/// time is up. Never destroyed by a static destructor: an exit handler (run at exit, or when the plugin is
/// unloaded) stops the thread and closes the kept clusters while the drivers' libraries are still there.
/// One per process generation (fork.h): a child's keeper starts empty, and the parent's (its thread gone, its
/// clusters the parent's) is abandoned, also by the exit handler the child inherited.
class cluster_keeper
{
public:
    std::uint32_t generation = 0;

    static cluster_keeper& instance()
    {
        cluster_keeper& k = of_this_generation(current);
        std::call_once(k.exit_handler_, [] { std::atexit(stop_current); });
        return k;
    }

    void keep(std::shared_ptr<cluster> const& c, clock::duration for_how_long)
    {
        std::unique_lock<std::mutex> lock(mutex_);
        if (stopped_)
            return;
        kept_[c.get()] = {c, clock::now() + for_how_long};
        if (!reaper_.joinable())
            reaper_ = router_thread([this] { run(); });
        lock.unlock();
        wake_.notify_all();
    }

    void stop() noexcept
    {
        std::map<cluster*, entry> closing;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            stopped_ = true;
            closing.swap(kept_);
        }
        wake_.notify_all();
        if (reaper_.joinable())
            reaper_.join();
        closing.clear();  // closes them (outside the lock)
    }

private:
    struct entry
    {
        std::shared_ptr<cluster> c;
        clock::time_point until;
    };

    void run()
    {
        std::unique_lock<std::mutex> lock(mutex_);
        while (!stopped_)
        {
            auto const now = clock::now();
            std::vector<std::shared_ptr<cluster>> expired;
            clock::time_point next = clock::time_point::max();
            bool again = false;
            for (auto it = kept_.begin(); it != kept_.end();)
            {
                if (it->second.until <= now)
                {
                    try
                    {
                        expired.push_back(std::move(it->second.c));
                    }
                    catch (std::bad_alloc const&)
                    {
                        // No memory to collect them: this one closes alone, now, outside the lock; then look
                        // again (push_back left the pointer where it was).
                        std::shared_ptr<cluster> one = std::move(it->second.c);
                        kept_.erase(it);
                        lock.unlock();
                        one.reset();
                        lock.lock();
                        again = true;
                        break;
                    }
                    it = kept_.erase(it);
                }
                else
                {
                    next = std::min(next, it->second.until);
                    ++it;
                }
            }
            if (!expired.empty() || again)
            {
                lock.unlock();
                expired.clear();  // a cluster no session holds closes here, outside the lock
                lock.lock();
                continue;
            }
            if (next == clock::time_point::max())
                wake_.wait(lock);
            else
                wake_.wait_until(lock, next);
        }
    }

    /// At exit: stops the keeper of the generation that exits, if it made one.
    static void stop_current() noexcept
    {
        cluster_keeper* k = current.load(std::memory_order_acquire);
        if (k != nullptr && k->generation == process_generation())
            k->stop();
    }

    static std::atomic<cluster_keeper*> current;
    std::once_flag exit_handler_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::map<cluster*, entry> kept_;
    std::thread reaper_;
    bool stopped_ = false;
};

std::atomic<cluster_keeper*> cluster_keeper::current{nullptr};

/// The clusters by configuration (cluster::obtain()). One per process generation, as the keeper.
struct cluster_registry
{
    struct slot
    {
        std::weak_ptr<cluster> made;
        std::shared_future<std::shared_ptr<cluster>> building;  ///< valid while a build is under way
    };
    std::uint32_t generation = 0;
    std::mutex mutex;
    std::map<std::string, slot> slots;
};

/// Never destroyed (as the cluster keeper): a session may open at exit, after the static objects made since
/// the application's (a static's destructor, an atexit handler); the process's end reclaims it.
std::atomic<cluster_registry*> registry_now{nullptr};

} // namespace

void cluster::linger(std::shared_ptr<cluster> const& c) noexcept
{
    if (!c || c->inherited())
        return;
    double const seconds = c->config().routing.linger;
    if (!(seconds > 0))
        return;
    try
    {
        cluster_keeper::instance().keep(
            c, std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(seconds)));
    }
    catch (...)
    {
        // No memory or no thread: the cluster closes with its last session, as with linger = 0.
    }
}

std::shared_ptr<cluster> cluster::obtain(cluster_config const& config)
{
    // One cluster per configuration. A cluster is built outside the registry's lock (its eager `pool.min`
    // connects may take a connect timeout each): sessions of other configurations open meanwhile, and
    // sessions of the same one wait for that build and share its cluster. A child process of fork() starts a
    // registry of its own: it never finds its parent's clusters.
    count_forks();
    cluster_registry& registered = of_this_generation(registry_now);
    std::mutex& registry_mutex = registered.mutex;
    std::map<std::string, cluster_registry::slot>& registry = registered.slots;

    std::string const key = config.identity();
    std::promise<std::shared_ptr<cluster>> promise;
    {
        std::unique_lock<std::mutex> lock(registry_mutex);
        for (auto it = registry.begin(); it != registry.end();)
        {
            if (it->second.made.expired() && !it->second.building.valid())
                it = registry.erase(it);
            else
                ++it;
        }
        cluster_registry::slot& s = registry[key];
        if (auto existing = s.made.lock())
            return existing;
        if (s.building.valid())
        {
            auto building = s.building;
            lock.unlock();
            return building.get();  // the build's result, or its exception
        }
        s.building = promise.get_future().share();
    }
    std::shared_ptr<cluster> made;
    try
    {
        made = std::make_shared<cluster>(config);
    }
    catch (...)
    {
        {
            std::lock_guard<std::mutex> lock(registry_mutex);
            registry.erase(key);
        }
        promise.set_exception(std::current_exception());
        throw;
    }
    {
        std::lock_guard<std::mutex> lock(registry_mutex);
        cluster_registry::slot& s = registry[key];
        s.made = made;
        s.building = {};
    }
    promise.set_value(made);
    return made;
}

} // namespace soci_routing
