// soci-routing: the keywords the classifier recognises (internal; not installed).
//
// Only words that decide a route are keywords; every other word is kw::none. Recognition is a perfect hash of
// the word's length and first 8 bytes, then one masked comparison of at most 24 bytes, case folded on the fly:
// no branch on the letters, no lower-cased copy, no allocation.

#ifndef SOCI_ROUTING_CLASSIFIER_KEYWORDS_H_INCLUDED
#define SOCI_ROUTING_CLASSIFIER_KEYWORDS_H_INCLUDED

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace soci_routing::detail
{

enum class kw : std::uint8_t
{
    none,
    select_,
    values_,
    table_,
    with_,
    show_,
    explain_,
    describe_,
    desc_,
    analyze_,
    analyse_,
    insert_,
    update_,
    delete_,
    merge_,
    replace_,
    begin_,
    start_,
    commit_,
    end_,
    rollback_,
    abort_,
    savepoint_,
    release_,
    set_,
    reset_,
    discard_,
    prepare_,
    execute_,
    deallocate_,
    listen_,
    unlisten_,
    declare_,
    create_,
    drop_,
    alter_,
    truncate_,
    grant_,
    revoke_,
    lock_,
    unlock_,
    use_,
    xa_,
    fetch_,
    move_,
    close_,
    load_,
    handler_,
    transaction_,
    work_,
    to_,
    local_,
    session_,
    constraints_,
    temp_,
    temporary_,
    global_,
    for_,
    no_,
    key_,
    share_,
    in_,
    into_,
    next_,
    previous_,
    value_,
    format_,
    verbose_,
    extended_,
    partitions_,
    and_,
    chain_,
    prepared_,
    statement_,
    sql_calc_found_rows_,
    warnings_,
    errors_,
    count_,
    profile_,
    profiles_,
    or_,
};

/// Every keyword and its spelling (lower case).
struct keyword_spelling
{
    char const* text;
    kw keyword;
};

inline constexpr keyword_spelling keyword_spellings[] = {
    {"in", kw::in_},
    {"no", kw::no_},
    {"or", kw::or_},
    {"to", kw::to_},
    {"xa", kw::xa_},
    {"and", kw::and_},
    {"end", kw::end_},
    {"for", kw::for_},
    {"key", kw::key_},
    {"set", kw::set_},
    {"use", kw::use_},
    {"desc", kw::desc_},
    {"drop", kw::drop_},
    {"into", kw::into_},
    {"lock", kw::lock_},
    {"load", kw::load_},
    {"move", kw::move_},
    {"next", kw::next_},
    {"show", kw::show_},
    {"temp", kw::temp_},
    {"with", kw::with_},
    {"work", kw::work_},
    {"abort", kw::abort_},
    {"alter", kw::alter_},
    {"begin", kw::begin_},
    {"close", kw::close_},
    {"chain", kw::chain_},
    {"count", kw::count_},
    {"fetch", kw::fetch_},
    {"grant", kw::grant_},
    {"local", kw::local_},
    {"merge", kw::merge_},
    {"reset", kw::reset_},
    {"start", kw::start_},
    {"share", kw::share_},
    {"table", kw::table_},
    {"value", kw::value_},
    {"commit", kw::commit_},
    {"create", kw::create_},
    {"delete", kw::delete_},
    {"errors", kw::errors_},
    {"format", kw::format_},
    {"global", kw::global_},
    {"insert", kw::insert_},
    {"listen", kw::listen_},
    {"revoke", kw::revoke_},
    {"select", kw::select_},
    {"update", kw::update_},
    {"unlock", kw::unlock_},
    {"values", kw::values_},
    {"analyze", kw::analyze_},
    {"analyse", kw::analyse_},
    {"discard", kw::discard_},
    {"declare", kw::declare_},
    {"explain", kw::explain_},
    {"execute", kw::execute_},
    {"handler", kw::handler_},
    {"prepare", kw::prepare_},
    {"profile", kw::profile_},
    {"replace", kw::replace_},
    {"release", kw::release_},
    {"session", kw::session_},
    {"verbose", kw::verbose_},
    {"describe", kw::describe_},
    {"extended", kw::extended_},
    {"previous", kw::previous_},
    {"prepared", kw::prepared_},
    {"profiles", kw::profiles_},
    {"rollback", kw::rollback_},
    {"truncate", kw::truncate_},
    {"unlisten", kw::unlisten_},
    {"warnings", kw::warnings_},
    {"savepoint", kw::savepoint_},
    {"statement", kw::statement_},
    {"temporary", kw::temporary_},
    {"deallocate", kw::deallocate_},
    {"partitions", kw::partitions_},
    {"constraints", kw::constraints_},
    {"transaction", kw::transaction_},
    {"sql_calc_found_rows", kw::sql_calc_found_rows_},
};

namespace keyword_hash
{
constexpr std::size_t min_len = 2;
constexpr std::size_t max_len = 19;
constexpr std::size_t words = 3; ///< 8-byte words that hold the longest keyword

/// Found by trying random multipliers: every keyword has a slot of its own (make_table() checks it).
constexpr std::uint64_t multiplier = 0x6ec2e992f4b384b1;

/// The slot of a word of `n` bytes whose first (up to) 8 bytes, folded, are `first`.
constexpr unsigned slot(std::uint64_t first, std::size_t n) noexcept
{
    return static_cast<unsigned>(((first * multiplier) >> 56) + n) & 255;
}

/// Case folding by setting bit 5: on the bytes of an unquoted word (letters, digits, '_', '$') it maps 'A'
/// and 'a' alike to 'a', and no two other bytes to the same value ('_' becomes 0x7f, which no word holds).
constexpr std::uint64_t fold = 0x2020202020202020ULL;

/// Bytes [8 i, 8 i + 8) of a word of `n` bytes, as a little-endian value: all ones where the word has bytes.
constexpr std::uint64_t mask(std::size_t n, std::size_t i) noexcept
{
    std::size_t const from = 8 * i;
    if (n <= from) return 0;
    if (n - from >= 8) return ~std::uint64_t{0};
    return (std::uint64_t{1} << (8 * (n - from))) - 1;
}

struct entry
{
    std::uint64_t text[words] = {}; ///< folded, little-endian, zero beyond the keyword
    std::uint8_t len = 0;           ///< 0: no keyword
    kw keyword = kw::none;
};

constexpr std::size_t count = sizeof keyword_spellings / sizeof keyword_spellings[0];

struct table_type
{
    std::uint8_t index[256] = {};  ///< slot -> entry; entry 0 matches nothing
    entry entries[count + 1] = {};
    std::uint64_t masks[max_len + 1][words] = {};
    /// Bit (first byte | 0x20) % 32 of starts[n]: some keyword of n bytes starts with that letter. Most
    /// identifiers fail this test, and skip the hash.
    std::uint32_t starts[max_len + 1] = {};
};

constexpr table_type make_table()
{
    table_type t{};
    for (std::size_t n = 0; n <= max_len; ++n)
        for (std::size_t i = 0; i < words; ++i) t.masks[n][i] = mask(n, i);
    for (std::size_t k = 0; k < count; ++k)
    {
        char const* const s = keyword_spellings[k].text;
        std::size_t n = 0;
        while (s[n] != 0) ++n;
        if (n < min_len || n > max_len) throw "keyword length out of range";
        entry& e = t.entries[k + 1];
        for (std::size_t j = 0; j < n; ++j)
            e.text[j / 8] |= std::uint64_t(static_cast<unsigned char>(s[j]) | 0x20) << (8 * (j % 8));
        e.len = static_cast<std::uint8_t>(n);
        t.starts[n] |= std::uint32_t{1} << ((static_cast<unsigned char>(s[0]) | 0x20) % 32);
        e.keyword = keyword_spellings[k].keyword;
        unsigned const h = slot(e.text[0], n);
        if (t.index[h] != 0) throw "two keywords share a slot: find another multiplier";
        t.index[h] = static_cast<std::uint8_t>(k + 1);
    }
    return t;
}

inline constexpr table_type table = make_table();

inline std::uint64_t load_le(unsigned char const* p) noexcept
{
    std::uint64_t v;
    std::memcpy(&v, p, sizeof v);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}
} // namespace keyword_hash

/// The keyword spelled by the `n` bytes at `s` (letters in any case, digits, '_', '$': an unquoted word), or
/// kw::none. Reads up to 24 bytes from `s` when the text (which ends at `end`) has them; no string comparison,
/// one table slot and one masked compare.
inline kw lookup_keyword(unsigned char const* s, std::size_t n, unsigned char const* end) noexcept
{
    using namespace keyword_hash;
    if (n - min_len > max_len - min_len) return kw::none; // n < 2 wraps around
    if (!((table.starts[n] >> ((s[0] | 0x20) % 32)) & 1)) return kw::none;
    std::uint64_t w[words];
    if (end - s >= static_cast<std::ptrdiff_t>(8 * words))
    {
        for (std::size_t i = 0; i < words; ++i) w[i] = load_le(s + 8 * i);
    }
    else
    {
        unsigned char b[8 * words] = {};
        std::memcpy(b, s, n);
        for (std::size_t i = 0; i < words; ++i) w[i] = load_le(b + 8 * i);
    }
    for (std::size_t i = 0; i < words; ++i) w[i] = (w[i] | fold) & table.masks[n][i];
    entry const& e = table.entries[table.index[slot(w[0], n)]];
    bool const same = e.len == n && ((e.text[0] ^ w[0]) | (e.text[1] ^ w[1]) | (e.text[2] ^ w[2])) == 0;
    return same ? e.keyword : kw::none;
}

/// Words that begin a write or DDL statement (the classifier marks them; the lexer keeps the token after them).
constexpr bool is_write_word(kw k) noexcept
{
    switch (k)
    {
    case kw::insert_:
    case kw::update_:
    case kw::delete_:
    case kw::merge_:
    case kw::create_:
    case kw::drop_:
    case kw::alter_:
    case kw::truncate_:
    case kw::grant_:
    case kw::revoke_: return true;
    default: return false;
    }
}

} // namespace soci_routing::detail

#endif // SOCI_ROUTING_CLASSIFIER_KEYWORDS_H_INCLUDED
