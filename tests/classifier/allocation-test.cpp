// soci-routing: classify() allocates nothing. The test binary replaces the global operator new with one that
// counts while a flag is set; the whole rule table and every hostile input are classified under it.

#include "hostile.h"
#include "rows.h"

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <cstdlib>
#include <new>
#include <vector>

namespace
{
std::atomic<bool> counting{false};
std::atomic<std::size_t> allocations{0};

void* counted_allocation(std::size_t n)
{
    if (counting.load(std::memory_order_relaxed)) allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}

/// Counts operator new calls made by `f`.
template <typename F>
std::size_t count_allocations(F&& f)
{
    allocations = 0;
    counting = true;
    f();
    counting = false;
    return allocations.load();
}
} // namespace

void* operator new(std::size_t n) { return counted_allocation(n); }
void* operator new[](std::size_t n) { return counted_allocation(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

using namespace soci_routing;

BOOST_AUTO_TEST_SUITE(classifier_allocation)

BOOST_AUTO_TEST_CASE(allocation_counter_sees_an_allocation)
{
    std::size_t const n = count_allocations([] { delete new int(1); });
    BOOST_TEST(n == 1u);
}

BOOST_AUTO_TEST_CASE(classify_allocates_nothing_over_the_rule_table_and_hostile_input)
{
    auto const& rules = rule_rows();
    auto const& hostile = hostile_rows();
    std::string_view const extra[] = {"audit_log"};
    classify_options options;
    options.primary_functions = extra;
    options.primary_function_count = 1;
    std::size_t primaries = 0;
    std::size_t const n = count_allocations([&] {
        for (auto const& r : rules) primaries += classify(r.sql, r.dialect, options).where == target::primary;
        for (auto const& r : hostile) primaries += classify(r.sql, r.dialect).where == target::primary;
    });
    BOOST_TEST(n == 0u);
    BOOST_TEST(primaries > 0u);
}

BOOST_AUTO_TEST_SUITE_END()
