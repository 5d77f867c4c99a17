// A process that may not start another thread: a container's pid limit (cgroup pids.max), RLIMIT_NPROC, a
// process at its thread limit. pthread_create() then fails with EAGAIN. The router starts threads of its own
// when a cluster opens (the role probes of topology = "discover", the topology thread, the housekeeping thread)
// and at each later round of role probes,
// when a replica is probed for recovery, when a session closes with `linger` (the cluster keeper), when a
// statement first needs its watchdog, and in check(). Run by routing_thread_refusals_test
// (test-thread-refusals.cpp):
//
//   thread-refusals
//
// The program defines pthread_create() itself (and exports it), so that every thread the process starts, the
// router's among them, asks it first: it refuses (EAGAIN) once told to, after a given number of starts, as the
// kernel would at the limit, and otherwise starts the thread with the C library's pthread_create(). The servers
// are real; only the kernel's answer is made up.
//
// What must hold at every refusal: no crash (std::terminate from a std::thread left joinable, a probe's
// state destroyed while its thread runs), and an error the application can act on, a soci_error that names the
// thread, or the work done without the thread. It prints what it saw.
//
// The cluster comes from the environment `ci/clusters env` prints (SOCI_ROUTING_TEST_DRIVER picks the driver);
// the connect string names the primary and every replica, with topology = "discover".

#include "helper-env.h"

#include <soci/soci.h>
#include <soci/routing/soci-routing.h>

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <thread>
#include <typeinfo>

namespace
{

// -1: every start goes through; N >= 0: N more starts go through, then every one is refused.
std::atomic<int> starts_left{-1};
std::atomic<int> refused{0};

} // namespace

extern "C" int pthread_create(pthread_t* thread, pthread_attr_t const* attr, void* (*start)(void*), void* arg)
{
    using create_fn = int (*)(pthread_t*, pthread_attr_t const*, void* (*)(void*), void*);
    static create_fn const real = reinterpret_cast<create_fn>(dlsym(RTLD_NEXT, "pthread_create"));
    int left = starts_left.load();
    while (left > 0 && !starts_left.compare_exchange_weak(left, left - 1))
    {
    }
    if (left == 0)
    {
        refused.fetch_add(1);
        return EAGAIN;
    }
    return real(thread, attr, start, arg);
}

namespace
{

bool mysql()
{
    return helper_env::mysql();
}

std::string env(char const* name)
{
    return helper_env::get("thread-refusals", name);
}

void say(std::string const& line)
{
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
}

/// A cluster of its own for each `variant` (the registry shares a cluster between equal configurations).
std::string connect_string(int variant, std::string const& topology = "discover", std::string const& extra = "")
{
    std::string const window =
        " topology=" + topology + " sticky=0 linger=1 retry_window=1." + std::to_string(variant) + extra;
    if (mysql())
        return "routing://primary='mysql://" + env("SOCI_ROUTING_MYSQL_PRIMARY") + "' replica='mysql://"
            + env("SOCI_ROUTING_MYSQL_REPLICA_1") + "'" + window;
    return "routing://primary='postgresql://" + env("SOCI_ROUTING_PG_PRIMARY") + "' replica='postgresql://"
        + env("SOCI_ROUTING_PG_REPLICA_1") + "' replica='postgresql://" + env("SOCI_ROUTING_PG_REPLICA_2") + "'"
        + window;
}

/// A read and a transaction with a write-routed statement: what an application does next.
void statements(soci::session& sql)
{
    int one = 0;
    sql << "SELECT 1", soci::into(one);
    sql.begin();
    int two = 0;
    sql << "SELECT 2 FOR UPDATE", soci::into(two);
    sql.commit();
    if (one != 1 || two != 2)
        throw std::runtime_error("wrong answers");
}

/// What the application met: nothing, a soci_error naming a thread (acceptable), or anything else (not).
struct outcome
{
    bool ok = true;
    std::string what;  // the unacceptable error, if any
    bool error = false;
};

template <typename F>
outcome attempt(F&& f)
{
    outcome o;
    try
    {
        f();
    }
    catch (soci::soci_error const& e)
    {
        o.error = true;
        std::string const m = e.what();
        if (std::getenv("THREAD_REFUSALS_VERBOSE") != nullptr)  // by hand: what each refusal said
            say("(soci_error: " + m + ")");
        if (m.find("thread") == std::string::npos)
        {
            o.ok = false;
            o.what = "soci_error without the word thread: " + m;
        }
    }
    catch (std::exception const& e)
    {
        o.ok = false;
        o.what = std::string(typeid(e).name()) + ": " + e.what();
    }
    return o;
}

} // namespace

int main()
{
    try
    {
        {
            soci::session warm(connect_string(0));  // the plugin loaded, the process's first threads started
            statements(warm);
        }
        say("started");

        // Opening a session (a new cluster) with thread starts refused from the first, the second, ... on.
        int const tries = 12;
        int clean = 0;
        int opened = 0;
        int errors = 0;
        for (int k = 0; k < tries; ++k)
        {
            starts_left = k;
            outcome const o = attempt([&] {
                soci::session sql(connect_string(k + 1));
                statements(sql);
                starts_left = -1;
                statements(sql);
            });
            starts_left = -1;
            if (o.ok)
                ++clean;
            else
                say("starts refused after " + std::to_string(k) + ": " + o.what);
            if (o.error)
                ++errors;
            else if (o.ok)
                ++opened;
        }
        say("open, starts refused after 0.." + std::to_string(tries - 1) + ": " + std::to_string(clean) + " of "
            + std::to_string(tries) + " clean" + (errors > 0 ? ", some refused with the thread named" : "")
            + (opened > 0 ? ", some opened" : ""));

        // A session that is open: its statements, check() and its close, with no thread to start. With a static
        // topology, the first read on a replica is the first round trip with a timeout: the watchdog's thread
        // starts then.
        {
            soci::session sql(connect_string(20, "static", " read_timeout=5"));
            starts_left = 0;
            int const refused_before = refused.load();
            outcome const s = attempt([&] { statements(sql); });
            say(std::string("statements with no thread to start: ")
                + (s.ok && !s.error ? "ran" : (s.ok ? "refused, thread named" : s.what))
                + (refused.load() > refused_before ? ", the watchdog's start refused" : ", no start asked"));
            outcome const c = attempt([&] {
                soci::routing_check const r = soci::routing.check(sql);
                if (!r.primary_ready || !r.reads_servable)
                    throw std::runtime_error("check() found the cluster not ready");
            });
            say(std::string("check with no thread to start: ")
                + (c.ok && !c.error ? "primary ready, reads servable" : (c.ok ? "refused, thread named" : c.what)));
        }  // closes with linger = 1: the cluster keeper's thread may not start either
        say("closed with no thread to start");
        starts_left = -1;

        // A cluster that runs: its rounds of role probes (every 50 ms) with no thread to start for them. A probe
        // runs on the round's own thread then; no node is taken for unreachable.
        {
            soci::session sql(connect_string(22, "discover", " role_probe_interval=0.05"));
            statements(sql);
            int const refused_before = refused.load();
            starts_left = 0;
            std::this_thread::sleep_for(std::chrono::milliseconds(500));
            outcome const s = attempt([&] { statements(sql); });
            soci::routing_stats const st = soci::routing.stats(sql);
            starts_left = -1;
            std::string changed;
            for (auto const& e : st.endpoints)
            {
                bool const as_before = e.role == (e.name == "primary" ? "primary" : "replica") && e.state == "up"
                    && e.role_note.find("unreachable") == std::string::npos
                    && e.role_note.find("not probed") == std::string::npos;
                if (!as_before)
                    changed += " " + e.name + ": " + e.role + ", " + e.state + ", " + e.role_note + ";";
            }
            say(std::string("topology rounds with no thread to start: ")
                + (refused.load() > refused_before ? "probe threads refused" : "no start asked") + ", "
                + (changed.empty() ? "roles as before" : "roles changed:" + changed) + ", statements "
                + (s.ok && !s.error ? "ran" : (s.ok ? "refused, thread named" : s.what)));
        }

        {
            soci::session sql(connect_string(21));
            statements(sql);
        }
        say("afterwards: statements ok, " + std::string(refused.load() > 0 ? "some" : "no") + " starts refused");
    }
    catch (std::exception const& e)
    {
        say(std::string("error: ") + e.what());
        return 1;
    }
    return 0;
}
