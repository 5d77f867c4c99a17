#include "text-facts.h"

#include <functional>
#include <string>

namespace soci_routing
{

namespace
{

// 64 texts per thread, direct-mapped by hash. A text longer than `longest` is classified every time: keeping
// it would cost a copy of it, and a thread's cache at most 64 x 1 KB.
constexpr std::size_t slot_count = 64;
constexpr std::size_t longest = 1024;

struct slot
{
    bool used = false;
    dialect d = dialect::postgresql;
    std::uint64_t options_key = 0;
    std::size_t hash = 0;
    std::string text;
    text_facts facts;
};

// The thread's cache. A thread's thread_local objects are destroyed when it ends, and the main thread's when the
// process exits, before the static objects: a statement run after that (by a static's destructor, an atexit
// handler) computes its facts without the cache. `cache_gone`, trivially destructible, stays readable to the
// end and says so.
thread_local bool cache_gone = false;
struct slots
{
    std::array<slot, slot_count> entries;
    ~slots() { cache_gone = true; }
};
thread_local slots cache;

text_facts compute(std::string_view sql, dialect d, classify_options const& options) noexcept
{
    text_facts f;
    f.c = classify(sql, d, options);
    f.word = first_word_of(sql);
    return f;
}

} // namespace

std::array<char, 11> first_word_of(std::string_view sql) noexcept
{
    std::array<char, 11> w{};
    std::size_t i = 0;
    while (i < sql.size() && (sql[i] == ' ' || (sql[i] >= '\t' && sql[i] <= '\r')))
        ++i;
    std::size_t n = 0;
    for (; i < sql.size() && n < w.size() - 1; ++i)
    {
        char const c = sql[i];
        if (c >= 'a' && c <= 'z')
            w[n++] = c;
        else if (c >= 'A' && c <= 'Z')
            w[n++] = static_cast<char>(c - 'A' + 'a');
        else
            break;
    }
    return w;
}

text_facts facts_of(std::string_view sql, dialect d, classify_options const& options, std::uint64_t options_key)
{
    if (sql.size() > longest || cache_gone)
        return compute(sql, d, options);
    std::size_t const hash = std::hash<std::string_view>{}(sql);
    slot& s = cache.entries[(hash ^ options_key ^ static_cast<std::size_t>(d)) % slot_count];
    if (s.used && s.hash == hash && s.options_key == options_key && s.d == d && s.text == sql)
        return s.facts;
    s.used = false;  // until the slot holds this text's facts whole
    s.facts = compute(sql, d, options);
    s.text.assign(sql.data(), sql.size());  // reuses the slot's buffer once it has grown
    s.hash = hash;
    s.options_key = options_key;
    s.d = d;
    s.used = true;
    return s.facts;
}

} // namespace soci_routing
