// soci-routing: how fast is classify()? Measured on a realistic statement mix, next to libpg_query's
// pg_query_parse (PostgreSQL's own parser) on the same text, in the same run.
//
// Counters: `time_per_stmt` (time per statement), `allocs_per_stmt` (heap allocations per statement: every
// malloc/calloc/realloc, counted by the interposed functions below — libpg_query allocates with malloc) and
// `new_per_stmt` (calls of the replaced global operator new alone).
//
//   classifier-bench --benchmark_min_time=0.5
//
// The same statements go through both; the goal is at least 30x less time than pg_query_parse, and no allocation.
//
// `classify_huge/kind:K/n:N`: hostile statements, each at two sizes a tenfold apart, to show that the time per byte
// stays flat (counter `time_per_byte`; `bytes`: the statement's size): kind 0, a string literal of N bytes (up to
// 1 MB); kind 1, an IN list of N terms (up to 10,000); kind 2, N nested parentheses (up to 100,000).

#include "classifier.h"

#include <benchmark/benchmark.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#ifdef SOCI_ROUTING_HAVE_PG_QUERY
extern "C" {
#include <pg_query.h>
}
#endif

// ---- allocation counting: glibc's allocator, called through counting wrappers ----

namespace
{
std::atomic<std::size_t> allocations{0};
std::atomic<std::size_t> news{0};
}

extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void __libc_free(void*);

void* malloc(std::size_t n)
{
    allocations.fetch_add(1, std::memory_order_relaxed);
    return __libc_malloc(n);
}
void* calloc(std::size_t n, std::size_t m)
{
    allocations.fetch_add(1, std::memory_order_relaxed);
    return __libc_calloc(n, m);
}
void* realloc(void* p, std::size_t n)
{
    allocations.fetch_add(1, std::memory_order_relaxed);
    return __libc_realloc(p, n);
}
void free(void* p)
{
    __libc_free(p);
}
}

void* operator new(std::size_t n)
{
    news.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
void* operator new[](std::size_t n)
{
    news.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace
{

/// A counting scope: allocations and operator new calls between construction and `report`.
struct allocation_probe
{
    std::size_t allocs = allocations.load();
    std::size_t news_ = news.load();
};

/// A day of an ordinary web application, in PostgreSQL syntax (so that both contenders read all of it).
std::vector<std::string> statement_mix()
{
    std::string in_list = "SELECT id, title, body FROM posts WHERE id IN (";
    for (int i = 0; i < 200; ++i) in_list += (i ? ", " : "") + std::to_string(100000 + i * 7);
    in_list += ") ORDER BY id";
    return {
        // short point selects
        "SELECT id, name, email FROM users WHERE id = $1",
        "SELECT count(*) FROM posts WHERE user_id = $1 AND deleted_at IS NULL",
        "SELECT title FROM posts WHERE id = $1",
        // a join with comments
        "/* dashboard: recent activity */\n"
        "SELECT u.id, u.name, p.title, c.body, c.created_at -- latest first\n"
        "FROM users u\n"
        "  JOIN posts p ON p.user_id = u.id\n"
        "  LEFT JOIN comments c ON c.post_id = p.id AND c.hidden = false\n"
        "WHERE u.org_id = $1 AND p.created_at > now() - interval '7 days'\n"
        "ORDER BY c.created_at DESC LIMIT 50",
        // a CTE
        "WITH recent AS (SELECT user_id, count(*) AS n FROM posts WHERE created_at > $1 GROUP BY user_id), "
        "ranked AS (SELECT user_id, n, rank() OVER (ORDER BY n DESC) AS r FROM recent) "
        "SELECT u.name, ranked.n FROM ranked JOIN users u ON u.id = ranked.user_id WHERE ranked.r <= 10",
        // a long IN list
        in_list,
        // writes
        "INSERT INTO posts (user_id, title, body, created_at) VALUES ($1, $2, $3, now()) RETURNING id",
        "INSERT INTO audit_log (actor, action, payload) VALUES ($1, 'login', '{\"ip\": \"10.0.0.1\"}')",
        "UPDATE users SET last_seen_at = now(), login_count = login_count + 1 WHERE id = $1",
        "UPDATE posts SET title = $1, body = $2, updated_at = now() WHERE id = $3 AND user_id = $4",
        "DELETE FROM sessions WHERE expires_at < now()",
        // a locking read and a sequence
        "SELECT balance FROM accounts WHERE id = $1 FOR UPDATE",
        "SELECT nextval('posts_id_seq')",
    };
}

std::vector<std::string> const& mix()
{
    static std::vector<std::string> const m = statement_mix();
    return m;
}

void set_counters(benchmark::State& state, std::size_t statements_per_iteration, allocation_probe const& since)
{
    std::size_t const allocs = allocations.load() - since.allocs;
    std::size_t const new_calls = news.load() - since.news_;
    double const statements = static_cast<double>(state.iterations()) * statements_per_iteration;
    // seconds per statement: shown as e.g. "812ns"
    state.counters["time_per_stmt"] =
        benchmark::Counter(static_cast<double>(statements_per_iteration),
                           benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
    state.counters["allocs_per_stmt"] = static_cast<double>(allocs) / statements;
    state.counters["new_per_stmt"] = static_cast<double>(new_calls) / statements;
    state.SetItemsProcessed(static_cast<std::int64_t>(statements));
}

void classify_mix(benchmark::State& state)
{
    auto const& statements = mix();
    std::size_t bytes = 0;
    for (auto const& s : statements) bytes += s.size();
    allocation_probe const before;
    for (auto _ : state)
        for (auto const& s : statements)
        {
            auto c = soci_routing::classify(s, soci_routing::dialect::postgresql);
            benchmark::DoNotOptimize(c);
        }
    set_counters(state, statements.size(), before);
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
}
BENCHMARK(classify_mix);

void classify_one(benchmark::State& state)
{
    auto const& s = mix()[static_cast<std::size_t>(state.range(0))];
    allocation_probe const before;
    for (auto _ : state)
    {
        auto c = soci_routing::classify(s, soci_routing::dialect::postgresql);
        benchmark::DoNotOptimize(c);
    }
    set_counters(state, 1, before);
    state.SetLabel(soci_routing::to_string(soci_routing::classify(s, soci_routing::dialect::postgresql).why));
}
BENCHMARK(classify_one)->DenseRange(0, 12);

void classify_mix_mysql(benchmark::State& state)
{
    auto const& statements = mix();
    allocation_probe const before;
    for (auto _ : state)
        for (auto const& s : statements)
        {
            auto c = soci_routing::classify(s, soci_routing::dialect::mysql);
            benchmark::DoNotOptimize(c);
        }
    set_counters(state, statements.size(), before);
}
BENCHMARK(classify_mix_mysql);

/// Hostile statements of about `size` bytes (or terms, or levels: see huge_statement).
enum huge_kind : int { huge_literal, huge_in_list, huge_nesting };

std::string huge_statement(huge_kind kind, std::size_t n)
{
    switch (kind)
    {
    case huge_literal: // n bytes of string literal
        return "SELECT '" + std::string(n, 'x') + "' AS s FROM t";
    case huge_in_list: // n terms
    {
        std::string s = "SELECT * FROM t WHERE id IN (1";
        for (std::size_t i = 2; i <= n; ++i) s += ", " + std::to_string(i);
        return s + ")";
    }
    case huge_nesting: // n levels
        return "SELECT " + std::string(n, '(') + "1" + std::string(n, ')');
    }
    return {};
}

void classify_huge(benchmark::State& state)
{
    auto const kind = static_cast<huge_kind>(state.range(0));
    std::string const s = huge_statement(kind, static_cast<std::size_t>(state.range(1)));
    allocation_probe const before;
    for (auto _ : state)
    {
        auto c = soci_routing::classify(s, soci_routing::dialect::postgresql);
        benchmark::DoNotOptimize(c);
    }
    set_counters(state, 1, before);
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * s.size()));
    // seconds per byte: shown as e.g. "420ps"; flat across the two sizes of a kind when the scan is linear
    state.counters["time_per_byte"] =
        benchmark::Counter(static_cast<double>(s.size()),
                           benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
    state.counters["bytes"] = static_cast<double>(s.size());
    state.SetLabel(soci_routing::to_string(soci_routing::classify(s, soci_routing::dialect::postgresql).why));
}
BENCHMARK(classify_huge)
    ->ArgNames({"kind", "n"})
    ->Args({huge_literal, 100000})
    ->Args({huge_literal, 1000000})
    ->Args({huge_in_list, 1000})
    ->Args({huge_in_list, 10000})
    ->Args({huge_nesting, 10000})
    ->Args({huge_nesting, 100000});

#ifdef SOCI_ROUTING_HAVE_PG_QUERY
void pg_query_parse_mix(benchmark::State& state)
{
    auto const& statements = mix();
    std::size_t bytes = 0;
    for (auto const& s : statements)
    {
        bytes += s.size();
        PgQueryParseResult r = pg_query_parse(s.c_str()); // warm up, and check that it parses
        if (r.error) state.SkipWithError(r.error->message);
        pg_query_free_parse_result(r);
    }
    allocation_probe const before;
    for (auto _ : state)
        for (auto const& s : statements)
        {
            PgQueryParseResult r = pg_query_parse(s.c_str());
            benchmark::DoNotOptimize(r.parse_tree);
            pg_query_free_parse_result(r);
        }
    set_counters(state, statements.size(), before);
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
}
BENCHMARK(pg_query_parse_mix);

void pg_query_parse_one(benchmark::State& state)
{
    auto const& s = mix()[static_cast<std::size_t>(state.range(0))];
    allocation_probe const before;
    for (auto _ : state)
    {
        PgQueryParseResult r = pg_query_parse(s.c_str());
        benchmark::DoNotOptimize(r.parse_tree);
        pg_query_free_parse_result(r);
    }
    set_counters(state, 1, before);
}
BENCHMARK(pg_query_parse_one)->DenseRange(0, 12);
#endif

} // namespace

BENCHMARK_MAIN();
