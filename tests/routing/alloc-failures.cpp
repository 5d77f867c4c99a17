// A process that runs out of memory (a container's memory limit with overcommit off, RLIMIT_AS, a huge result):
// operator new throws std::bad_alloc. The router allocates when a cluster opens, at a statement's prepare and
// execution, when a connection goes back to its pool, in stats and in check(). Run by
// routing_alloc_failures_test (test-alloc-failures.cpp):
//
//   alloc-failures
//
// The program defines operator new and operator delete itself (and exports them), so that every allocation of
// the process asks it first. Once told to, it lets N allocations made by the router's own code (the caller is
// in libsoci_routing) through and refuses the next one with std::bad_alloc, as a heap that cannot grow would
// refuse a large request; the later ones go through again, as they would once the unwinding freed memory.
// Allocations of SOCI, the drivers and the C++ library go through. The servers are real.
//
// What must hold at every refusal: no crash (std::terminate from an exception in a noexcept function or a
// thread), the application gets std::bad_alloc or a soci_error, and nothing is lost for later: once memory is
// back, every session of the cluster gets a connection (no pool slot lent for good, no lock left held).
//
// The cluster comes from the environment `ci/clusters env` prints (SOCI_ROUTING_TEST_DRIVER picks the driver).
// ALLOC_FAILURES_VERBOSE=1 prints each refusal's outcome.

#include "helper-env.h"

#include <soci/soci.h>
#include <soci/routing/soci-routing.h>

#include <dlfcn.h>
#include <execinfo.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>
#include <string>
#include <typeinfo>

namespace
{

// < 0: every allocation goes through; N >= 0: N more of the router's allocations go through, the next one is
// refused, and the later ones go through again.
std::atomic<long> router_allocations_left{-1};
std::atomic<long> refused{0};
std::atomic<long> router_allocations{0};
thread_local bool inside = false;  // dladdr() must not be asked about its own allocations

/// Whether `caller` lies in the router's library.
bool in_router(void const* caller)
{
    static std::atomic<void const*> router_base{nullptr};
    Dl_info info{};
    if (dladdr(caller, &info) == 0 || info.dli_fbase == nullptr)
        return false;
    void const* base = router_base.load();
    if (base != nullptr)
        return base == info.dli_fbase;
    if (info.dli_fname != nullptr && std::strstr(info.dli_fname, "libsoci_routing") != nullptr)
    {
        router_base = info.dli_fbase;
        return true;
    }
    return false;
}

bool refuse(void const* caller)
{
    if (router_allocations_left.load(std::memory_order_relaxed) < 0 || inside)
        return false;
    inside = true;
    bool const router = in_router(caller);
    inside = false;
    if (!router)
        return false;
    router_allocations.fetch_add(1);
    long left = router_allocations_left.load();
    while (left >= 0 && !router_allocations_left.compare_exchange_weak(left, left - 1))
    {
    }
    if (left != 0)
        return false;  // before the Nth, or after it: memory is back
    refused.fetch_add(1);
    if (std::getenv("ALLOC_FAILURES_BACKTRACE") != nullptr)  // by hand: where each refusal lands
    {
        void* frames[32];
        backtrace_symbols_fd(frames, backtrace(frames, 32), 2);
        write(2, "--\n", 3);
    }
    return true;
}

void* allocate(std::size_t n, void const* caller)
{
    if (refuse(caller))
        throw std::bad_alloc();
    if (void* p = std::malloc(n == 0 ? 1 : n))
        return p;
    throw std::bad_alloc();
}

void* allocate(std::size_t n, void const* caller, std::nothrow_t const&) noexcept
{
    if (refuse(caller))
        return nullptr;
    return std::malloc(n == 0 ? 1 : n);
}

void* allocate_aligned(std::size_t n, std::align_val_t a, void const* caller)
{
    if (refuse(caller))
        throw std::bad_alloc();
    std::size_t const alignment = static_cast<std::size_t>(a);
    void* p = nullptr;
    if (posix_memalign(&p, alignment < sizeof(void*) ? sizeof(void*) : alignment, n == 0 ? 1 : n) != 0)
        throw std::bad_alloc();
    return p;
}

} // namespace

void* operator new(std::size_t n) { return allocate(n, __builtin_return_address(0)); }
void* operator new[](std::size_t n) { return allocate(n, __builtin_return_address(0)); }
void* operator new(std::size_t n, std::nothrow_t const& t) noexcept
{
    return allocate(n, __builtin_return_address(0), t);
}
void* operator new[](std::size_t n, std::nothrow_t const& t) noexcept
{
    return allocate(n, __builtin_return_address(0), t);
}
void* operator new(std::size_t n, std::align_val_t a) { return allocate_aligned(n, a, __builtin_return_address(0)); }
void* operator new[](std::size_t n, std::align_val_t a)
{
    return allocate_aligned(n, a, __builtin_return_address(0));
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::nothrow_t const&) noexcept { std::free(p); }
void operator delete[](void* p, std::nothrow_t const&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

namespace
{

bool mysql() { return helper_env::mysql(); }

std::string env(char const* name) { return helper_env::get("alloc-failures", name); }

void say(std::string const& line)
{
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
}

bool verbose() { return std::getenv("ALLOC_FAILURES_VERBOSE") != nullptr; }

/// A cluster of its own for each `variant` (the registry shares a cluster between equal configurations);
/// `endpoint` is added to every endpoint's string (pool_max=1 ...).
std::string connect_string(int variant, std::string const& extra = "", std::string const& endpoint = "")
{
    std::string const window = " sticky=0 linger=1 retry_window=1." + std::to_string(variant) + extra;
    auto const node = [&](char const* driver, char const* name) {
        return std::string("'") + driver + "://" + env(name) + (endpoint.empty() ? "" : " " + endpoint) + "'";
    };
    if (mysql())
        return "routing://primary=" + node("mysql", "SOCI_ROUTING_MYSQL_PRIMARY")
            + " replica=" + node("mysql", "SOCI_ROUTING_MYSQL_REPLICA_1") + window;
    return "routing://primary=" + node("postgresql", "SOCI_ROUTING_PG_PRIMARY")
        + " replica=" + node("postgresql", "SOCI_ROUTING_PG_REPLICA_1")
        + " replica=" + node("postgresql", "SOCI_ROUTING_PG_REPLICA_2") + window;
}

bool in_transaction = false;  // statements() began a transaction it has not ended

/// What an application does: a one-time read, a prepared read executed twice, a transaction with a
/// write-routed statement, the stats.
void statements(soci::session& sql)
{
    int one = 0;
    sql << "SELECT 1", soci::into(one);
    int x = 5;
    int y = 0;
    soci::statement st = (sql.prepare << "SELECT :x", soci::use(x), soci::into(y));
    st.execute(true);
    x = 6;
    st.execute(true);
    sql.begin();
    in_transaction = true;
    int two = 0;
    sql << "SELECT 2 FOR UPDATE", soci::into(two);
    sql << "INSERT INTO alloc_failures (id, v) VALUES (:i, :v)", soci::use(x), soci::use(two);
    sql << "DELETE FROM alloc_failures WHERE id = :i", soci::use(x);
    sql.commit();
    in_transaction = false;
    if (one != 1 || y != 6 || two != 2)
        throw std::runtime_error("wrong answers");
    // A session setting (replayed on the connections the session's statements meet), rows, the primary forced.
    sql << (mysql() ? "SET SESSION sql_mode = 'STRICT_ALL_TABLES'" : "SET statement_timeout = 60000");
    soci::rowset<int> rows = (sql.prepare << "SELECT 1 UNION ALL SELECT 2");
    int sum = 0;
    for (int r : rows)
        sum += r;
    {
        auto const guard = soci::routing.use_primary(sql);
        sql << "SELECT 3", soci::into(one);
    }
    if (sum != 3 || one != 3)
        throw std::runtime_error("wrong answers");
    // The stats themselves; not their JSON: nlohmann::json is not safe when an allocation fails (a value left
    // half made, destructors that allocate).
    (void)soci::routing.stats(sql);
}

/// What the application met: nothing, std::bad_alloc or a soci_error (acceptable), or anything else (not).
struct outcome
{
    bool ok = true;
    bool error = false;
    std::string what;
};

template <typename F>
outcome attempt(F&& f)
{
    outcome o;
    try
    {
        f();
    }
    catch (std::bad_alloc const&)
    {
        o.error = true;
    }
    catch (soci::soci_error const& e)
    {
        o.error = true;
        if (verbose())
            say(std::string("(soci_error: ") + e.what() + ")");
    }
    catch (std::exception const& e)
    {
        o.ok = false;
        o.what = std::string(typeid(e).name()) + ": " + e.what();
    }
    return o;
}

/// Runs `f` with the router's 0th, 1st, 2nd, ... allocation refused (one per run), until a run meets none.
/// Returns how many runs were not clean (printing each); `runs` gets the number of runs.
template <typename F, typename After>
int sweep(std::string const& what, F&& f, After&& after, long& runs)
{
    int bad = 0;
    for (long n = 0;; ++n)
    {
        long const refused_before = refused.load();
        router_allocations_left = n;
        outcome const o = attempt([&] { f(n); });
        router_allocations_left = -1;
        after();
        bool const met_refusal = refused.load() > refused_before;
        if (!o.ok)
        {
            ++bad;
            say(what + ", the router's allocation " + std::to_string(n) + " refused: " + o.what);
        }
        else if (verbose())
            say(what + ", refused from " + std::to_string(n) + ": " + (o.error ? "error" : "ran"));
        if (!met_refusal)
        {
            runs = n + 1;
            return bad;
        }
        if (n > 20000)
        {
            say(what + ": no run without a refusal after 20000 runs");
            runs = n + 1;
            return bad + 1;
        }
    }
}

} // namespace

int main()
{
    try
    {
        {
            soci::session warm(connect_string(0));  // the plugin loaded, the process's first threads started
            int tables = 0;  // (PostgreSQL's CREATE TABLE IF NOT EXISTS prints a notice when it exists)
            warm << "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'alloc_failures'",
                soci::into(tables);
            if (tables == 0)
                warm << "CREATE TABLE alloc_failures (id INT, v INT)";
            statements(warm);
        }
        say("started");

        // Opening a session of a new cluster and using it, the router's Nth allocation refused; then the same with
        // topology discovery, causal consistency and the lag prober.
        long runs = 0;
        int open_bad = 0;
        for (std::string const extra : {" linger=0", " linger=0 topology=discover consistency=causal max_lag=30"})
        {
            open_bad += sweep(
                "open" + extra,
                [&](long n) {
                    soci::session sql(connect_string(static_cast<int>(n % 1000) + 1 + (extra.size() > 9 ? 1000 : 0),
                                                     extra));
                    statements(sql);
                },
                [] { in_transaction = false; }, runs);
            if (verbose())
                say("(open" + extra + ": " + std::to_string(runs) + " runs)");
        }
        say(std::string("open and use with allocations refused: ") + (open_bad == 0 ? "every run clean" : "not clean"));

        // One session of one cluster (a pool of one connection per endpoint), the same. (A session whose
        // setting could not be recorded keeps its primary connection for its life, as a safe default: new
        // sessions are opened only once it is closed.)
        std::string const shared = connect_string(3000, "", "pool_max=1 pool_wait_timeout=2");
        outcome again;
        {
            soci::session sql(shared);
            statements(sql);
            int const use_bad = sweep(
                "statements",
                [&](long) {
                    statements(sql);
                    (void)soci::routing.check(sql);
                },
                [&] {
                    if (!in_transaction)
                        return;
                    in_transaction = false;
                    try
                    {
                        sql.rollback();  // as an application does after an error inside a transaction
                    }
                    catch (std::exception const&)
                    {
                    }
                },
                runs);
            if (verbose())
                say("(statements: " + std::to_string(runs) + " runs)");
            say(std::string("statements with allocations refused: ")
                + (use_bad == 0 ? "every run clean" : "not clean"));
            again = attempt([&] { statements(sql); });
        }

        // Memory back, that session closed: new sessions of the same cluster run, and every connection is back in
        // its pool (none lent for good by a lease that an exception skipped).
        soci::session probe(shared);
        std::string lent;
        for (auto const& e : soci::routing.stats(probe).endpoints)
            if (e.connections_in_use != 0)
                lent += " " + e.name + ": " + std::to_string(e.connections_in_use) + " in use;";
        outcome const later = attempt([&] {
            for (int i = 0; i < 5; ++i)
            {
                soci::session other(shared);
                statements(other);
            }
        });
        if (!later.ok || later.error)
            again = later;
        say(std::string("afterwards: ") + (again.ok && !again.error ? "statements ok" : "failed " + again.what)
            + (refused.load() > 0 ? ", some allocations refused" : ", none refused")
            + (lent.empty() ? ", no connection lent" : ", connections lent:" + lent));
    }
    catch (std::exception const& e)
    {
        say(std::string("error: ") + e.what());
        std::_Exit(1);
    }
    // Ended without the exit handlers. Statements that SOCI never destroyed (define_and_bind() failed in their
    // constructor) keep their sessions' states, so their clusters, alive: those clusters' threads would still
    // probe and connect while the libraries' exit handlers (OpenSSL's cleanup) run. A leaked session does the
    // same; that is not what this program tests (the exit-time tests do without leaks).
    std::_Exit(0);
}
