// soci-routing: the classifier's SQL lexer (internal; not installed).
//
// One forward pass, no allocation, no recursion: every token is written into a caller-owned fixed buffer, the
// words it returns are lower-cased into it (at most `max_name` bytes; PostgreSQL truncates identifiers at 63
// too; a skipped identifier is copied only when a '(' makes it a function's name). Comments are
// skipped here; MySQL executable comments (`/*! … */`, `/*!50100 … */`, MariaDB `/*M! … */`) are SQL and
// their content is lexed as tokens. Anything the lexer cannot read with certainty (an unterminated literal
// or comment, a NUL byte, a control character, invalid UTF-8) sets `error()` and ends the stream: the
// classifier then sends the statement to the primary.

#ifndef SOCI_ROUTING_CLASSIFIER_LEXER_H_INCLUDED
#define SOCI_ROUTING_CLASSIFIER_LEXER_H_INCLUDED

#include "classifier.h"
#include "keywords.h"

#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace soci_routing::detail
{

enum class token_type : std::uint8_t
{
    end,           ///< end of text (or of readable text, after an error)
    word,          ///< an unquoted identifier or keyword, lower-cased in `name`
    quoted_ident,  ///< "…" (PostgreSQL) or `…` (MySQL), content lower-cased in `name`
    string,        ///< any string literal, dollar quotes included
    number,
    param,         ///< $1, :name, ?
    user_var,      ///< MySQL @v, @'v', @`v`
    system_var,    ///< MySQL @@v, @@session.v: `name` holds the last part
    assign,        ///< MySQL :=
    punct          ///< any other character, in `punct`
};

constexpr std::size_t max_name = 63;

struct token
{
    token_type type = token_type::end;
    kw keyword = kw::none;   ///< for words only
    char punct = 0;          ///< for punct only
    bool after_identifier = false; ///< an identifier the lexer skipped came right before this token
    bool after_skip = false;       ///< the lexer skipped something (identifier, literal, …) before this token
    std::uint8_t len = 0;    ///< bytes in `name`: words, quoted identifiers, system variables, and '(' (see
                             ///< lexer::skip_identifiers); otherwise meaningless
    char name[max_name + 1];
};

namespace chars
{
enum : std::uint8_t
{
    other = 0,
    space = 1,
    ident_start = 2,
    digit = 4,
    high = 8,
    control = 16,
    number_part = 32,  ///< letters, digits, '_', '.'
    plain = 64         ///< punctuation that no rule and no lexing decision looks at
};

constexpr std::uint8_t classify_byte(unsigned c) noexcept
{
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') return space;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') return ident_start | number_part;
    if (c >= '0' && c <= '9') return digit | number_part;
    if (c == '.') return number_part;
    if (c >= 0x80) return high;
    if (c < 0x20) return control;
    switch (c)
    {
    case ',': case '+': case '%': case '^': case '<': case '>': case '!': case '~': case '&': case '|':
    case '[': case ']': case '{': case '}': return plain;
    default: return other;
    }
}

struct table_type
{
    std::uint8_t v[256];
};

constexpr table_type make_table() noexcept
{
    table_type t{};
    for (unsigned c = 0; c < 256; ++c) t.v[c] = classify_byte(c);
    return t;
}

inline constexpr table_type table = make_table();

inline std::uint8_t of(unsigned char c) noexcept { return table.v[c]; }

constexpr table_type make_lower() noexcept
{
    table_type t{};
    for (unsigned c = 0; c < 256; ++c) t.v[c] = static_cast<std::uint8_t>((c >= 'A' && c <= 'Z') ? c + 32 : c);
    return t;
}

inline constexpr table_type lower_table = make_lower();

inline unsigned char lower(unsigned char c) noexcept { return lower_table.v[c]; }
} // namespace chars

namespace wide
{
#if defined(__SSE2__)
/// 16 bytes at a time (SSE2, part of every x86-64), for long runs of bytes that need no look: an IN list, a
/// VALUES row. run_bytes() needs 16 readable bytes at p and returns a bit per byte (bit i: p[i]) of the bytes
/// in its set. Elsewhere, a loop per byte does the same work.
constexpr bool enabled = true;
constexpr std::ptrdiff_t width = 16;
constexpr std::ptrdiff_t long_run = 32;
constexpr unsigned all = 0xffff;

/// Bytes in [lo, lo + count): a signed comparison after moving lo to -128.
inline __m128i in_range(__m128i v, unsigned char lo, unsigned char count) noexcept
{
    __m128i const shifted = _mm_add_epi8(v, _mm_set1_epi8(static_cast<char>(0x80 - lo)));
    return _mm_cmplt_epi8(shifted, _mm_set1_epi8(static_cast<char>(0x80 + count)));
}

inline __m128i load(unsigned char const* p) noexcept
{
    return _mm_loadu_si128(reinterpret_cast<__m128i const*>(p));
}

/// ' ', '\n', ',' and digits: the common bytes of an IN list, a VALUES row, the blanks between words. `blanks`
/// gets the bits of ' ' and '\n' alone.
inline unsigned run_bytes(unsigned char const* p, unsigned& blanks) noexcept
{
    __m128i const v = load(p);
    __m128i const blank = _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(' ')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\n')));
    __m128i const other = _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(',')), in_range(v, '0', 10));
    blanks = static_cast<unsigned>(_mm_movemask_epi8(blank));
    return static_cast<unsigned>(_mm_movemask_epi8(_mm_or_si128(blank, other)));
}

/// Skips whole blocks of run_bytes() from p (to e); `seen` gets chars::plain when one held anything but blanks.
/// The rest of the run is left to the caller's loop. Out of line: the short runs' loop stays small.
[[gnu::noinline]] inline unsigned char const* skip_run_blocks(unsigned char const* p, unsigned char const* e,
                                                             std::uint8_t& seen) noexcept
{
    // The next block's address never waits for this block's comparison: the loads overlap.
    unsigned blanks;
    while (e - p >= width && run_bytes(p, blanks) == all)
    {
        if (blanks != all) seen |= chars::plain; // something else than blanks
        p += width;
    }
    return p;
}

#else
constexpr bool enabled = false;
constexpr std::ptrdiff_t width = 16;
constexpr std::ptrdiff_t long_run = 32;
constexpr unsigned all = 0xffff;
inline unsigned char const* skip_run_blocks(unsigned char const* p, unsigned char const*, std::uint8_t&) noexcept
{
    return p;
}
#endif
} // namespace wide

/// Length of the valid UTF-8 sequence starting at p (which holds a byte >= 0x80), or 0 when invalid
/// (truncated, overlong, surrogate, above U+10FFFF).
inline std::size_t utf8_sequence(unsigned char const* p, unsigned char const* e) noexcept
{
    unsigned const c = p[0];
    auto cont = [&](std::ptrdiff_t i) { return (p[i] & 0xC0) == 0x80; };
    if (c < 0xC2) return 0;
    if (c < 0xE0) return (e - p >= 2 && cont(1)) ? 2 : 0;
    if (c < 0xF0)
    {
        if (e - p < 3 || !cont(1) || !cont(2)) return 0;
        if (c == 0xE0 && p[1] < 0xA0) return 0;  // overlong
        if (c == 0xED && p[1] >= 0xA0) return 0; // surrogate
        return 3;
    }
    if (c < 0xF5)
    {
        if (e - p < 4 || !cont(1) || !cont(2) || !cont(3)) return 0;
        if (c == 0xF0 && p[1] < 0x90) return 0;  // overlong
        if (c == 0xF4 && p[1] >= 0x90) return 0; // above U+10FFFF
        return 4;
    }
    return 0;
}

class lexer
{
public:
    lexer(std::string_view text, dialect d) noexcept
        : p_(reinterpret_cast<unsigned char const*>(text.data())), e_(p_ + text.size()),
          mysql_(d == dialect::mysql)
    {
    }

    /// True once a `/* soci-routing: primary */` hint comment was skipped.
    bool hint() const noexcept { return hint_; }
    /// True when the text could not be read with certainty; the stream has ended.
    bool error() const noexcept { return error_; }

    /// While on, numbers, literals, parameters and punctuation other than ( ) ; . = are read but not returned:
    /// no classification rule looks at them, and a long IN list or VALUES row costs no token hand-offs.
    void skip_insignificant(bool on) noexcept { skip_ = on; }

    /// While on, unquoted words that are not keywords are read but not returned either; a '(' that follows
    /// one (comments and blanks between) carries its name in `name`/`len`: the name of a called function. With
    /// skip_insignificant() on too, so are a '.' before such a word and a '=', except after a token whose rule
    /// looks at its neighbours (see next_common()).
    void skip_identifiers(bool on) noexcept { skip_identifiers_ = on; }

    /// True when an identifier was skipped right before the token last returned.
    bool after_identifier() const noexcept { return after_identifier_; }
    /// True when anything (an identifier, a literal, punctuation) was skipped before the token last returned.
    bool after_skip() const noexcept { return after_skip_; }

    void next(token& t) noexcept
    {
        t.keyword = kw::none;
        t.punct = 0;  // the token's buffer is reused: a word must not keep the '.' of an earlier token
        t.len = 0;
        after_identifier_ = false;
        after_skip_ = false;
        if (!(skip_ && skip_identifiers_ && next_common(t))) next_any(t);
        dot_and_equals_matter_ = looks_around(t);
    }

    /// True for a token whose rule reads the token after it (write words, INTO, LOCK, NEXT, PREVIOUS peek) or
    /// makes the next token's rule read it as the previous one (FOR, KEY, IN before UPDATE / SHARE; @v before
    /// :=): after it, a '.' or '=' stays a token, as it always was.
    static bool looks_around(token const& t) noexcept
    {
        if (t.type == token_type::user_var) return true;
        if (t.type != token_type::word) return false;
        if (is_write_word(t.keyword)) return true;
        switch (t.keyword)
        {
        case kw::for_:
        case kw::key_:
        case kw::in_:
        case kw::into_:
        case kw::lock_:
        case kw::next_:
        case kw::previous_: return true;
        default: return false;
        }
    }

private:
    /// The bulk of a statement's body, while the lexer skips identifiers and insignificant tokens: blanks,
    /// numbers, plain punctuation, ASCII words, ( ) . = ; *, '…' literals and $1 parameters. The position stays
    /// in a register (a store to p_ would make every byte wait for the previous one: the compiler must assume the
    /// text may alias the lexer). False when it meets anything else (a comment, '$', UTF-8, the end, …), with p_
    /// there and the skip flags up to date: next_any() goes on from there, as if it had read everything before.
    ///
    /// A '.' before an identifier (t.id) and a '=' are read but not returned either (see dot_and_equals_matter_),
    /// when the token before them is not one whose rule looks at the token after it; a rule that looks at the
    /// token before its own (FOR UPDATE, keyword(, @v :=, qualified DELETE) then sees, as it would have seen,
    /// no keyword, no word, no variable right before it, or something skipped in between.
    [[gnu::always_inline]] bool next_common(token& t) noexcept
    {
        unsigned char const* p = p_;
        unsigned char const* const e = e_;
        bool candidate = false; // as in next_any()
        bool skipped = false;
        bool made = false;
        while (p != e)
        {
            unsigned char const c = *p;
            std::uint8_t const cls = chars::of(c);
            if (cls & (chars::space | chars::plain | chars::digit))
            {
                bool any = false;
                p = skip_run(p, any);
                if (any)
                {
                    candidate = false;
                    skipped = true;
                }
                continue;
            }
            if (cls & chars::ident_start)
            {
                unsigned char const* q = p + 1;
                while (q != e && (chars::of(*q) & (chars::ident_start | chars::digit))) ++q;
                if (q != e && (*q == '$' || (chars::of(*q) & chars::high))) break; // not all ASCII: lex_word()
                std::size_t const n = static_cast<std::size_t>(q - p);
                if (n == 1 && !mysql_ && q != e && (*q == '\'' || *q == '&')) break; // E'…', U&'…': lex_word()
                kw const k = lookup_keyword(p, n, e);
                t.len = static_cast<std::uint8_t>(n < max_name ? n : max_name);
                if (k == kw::none)
                {
                    name_pending_ = p; // an identifier: skipped, its name copied only if a '(' follows
                    candidate = true;
                    skipped = true;
                    p = q;
                    continue;
                }
                name_pending_ = nullptr;
                copy_name(t, p);
                t.type = token_type::word;
                t.keyword = k;
                p = q;
                made = true;
                break;
            }
            if (c == '.' && !dot_and_equals_matter_ && e - p > 1 && (chars::of(p[1]) & chars::ident_start))
            {
                // t.id: when id is an identifier, the '.' and id are both skipped (see above)
                unsigned char const* const w = p + 1;
                unsigned char const* q = w + 1;
                while (q != e && (chars::of(*q) & (chars::ident_start | chars::digit))) ++q;
                std::size_t const n = static_cast<std::size_t>(q - w);
                bool const plain_word = (q == e || (*q != '$' && !(chars::of(*q) & chars::high))) &&
                                        !(n == 1 && !mysql_ && q != e && (*q == '\'' || *q == '&'));
                if (plain_word && lookup_keyword(w, n, e) == kw::none)
                {
                    t.len = static_cast<std::uint8_t>(n < max_name ? n : max_name);
                    name_pending_ = w;
                    candidate = true;
                    skipped = true;
                    p = q;
                    continue;
                }
            }
            else if (c == '=' && !dot_and_equals_matter_)
            {
                ++p;
                candidate = false;
                skipped = true;
                continue;
            }
            if (c == '(' || c == ')' || c == '.' || c == '=' || c == ';')
            {
                ++p;
                if (!candidate)
                    t.len = 0;
                else if (name_pending_)
                {
                    copy_name(t, name_pending_); // name( : the name of a called function
                    name_pending_ = nullptr;
                }
                t.type = token_type::punct;
                t.punct = static_cast<char>(c);
                made = true;
                break;
            }
            if (c == '*' && !in_executable_comment_)
            {
                ++p;
                candidate = false;
                skipped = true;
                continue;
            }
            if (c == '\'')
            {
                p_ = p;
                if (!skip_quoted('\'', mysql_)) break; // p stays at the quote: next_any() reads it again, and fails
                p = p_;
                candidate = false;
                skipped = true;
                continue;
            }
            if (c == '$' && !mysql_ && p + 1 != e && (chars::of(p[1]) & chars::digit))
            {
                // $1: a parameter (as in lex_dollar)
                p += 2;
                while (p != e && (chars::of(*p) & chars::digit)) ++p;
                candidate = false;
                skipped = true;
                continue;
            }
            break;
        }
        p_ = p;
        after_identifier_ = candidate;
        after_skip_ = skipped;
        return made;
    }

    /// Every token, from p_ on; the skip flags go on from their current values.
    void next_any(token& t) noexcept
    {
        bool& candidate = after_identifier_; // a skipped identifier was the last thing read
        bool& skipped = after_skip_;         // anything was skipped
        for (;;)
        {
            if (p_ == e_)
            {
                if (in_executable_comment_) fail();
                t.type = token_type::end;
                return;
            }
            unsigned char const c = *p_;
            std::uint8_t const cls = chars::of(c);
            if (cls & (chars::space | chars::plain | chars::digit))
            {
                if (skip_)
                {
                    bool any = false;
                    p_ = skip_run(p_, any);
                    if (any)
                    {
                        candidate = false;
                        skipped = true;
                    }
                    continue;
                }
                if (cls & chars::space)
                {
                    // Hot loops keep the position in a local: a store to p_ per byte would make every iteration
                    // wait for the previous one (the compiler must assume the text may alias the lexer).
                    unsigned char const* p = p_ + 1;
                    while (p != e_ && (chars::of(*p) & chars::space)) ++p;
                    p_ = p;
                    continue;
                }
            }
            if (cls & (chars::ident_start | chars::high))
            {
                if (!lex_word(t)) return stop(t);
                if (skip_ && t.type == token_type::string) // E'…', U&'…'
                {
                    candidate = false;
                    skipped = true;
                    continue;
                }
                if (skip_identifiers_ && t.type == token_type::word && t.keyword == kw::none)
                {
                    candidate = true;
                    skipped = true;
                    continue;
                }
                return;
            }
            if (cls & chars::digit)
            {
                lex_number(t);
                if (skip_)
                {
                    candidate = false;
                    skipped = true;
                    continue;
                }
                return;
            }
            if (cls & chars::control) return stop(t); // includes NUL
            switch (c)
            {
            case '-':
                if (at(1) == '-' && (!mysql_ || p_ + 2 == e_ || p_[2] <= 0x20))
                {
                    if (!skip_line_comment(2)) return stop(t);
                    continue;
                }
                break;
            case '#':
                if (mysql_)
                {
                    if (!skip_line_comment(1)) return stop(t);
                    continue;
                }
                break;
            case '/':
                if (at(1) == '*')
                {
                    if (!skip_block_comment()) return stop(t);
                    continue;
                }
                break;
            case '*':
                if (in_executable_comment_ && at(1) == '/')
                {
                    in_executable_comment_ = false;
                    p_ += 2;
                    continue;
                }
                break;
            case '\'':
                if (!skip_quoted('\'', mysql_)) return stop(t);
                if (skip_)
                {
                    candidate = false;
                    skipped = true;
                    continue;
                }
                t.type = token_type::string;
                return;
            case '"':
                if (mysql_)
                {
                    if (!skip_quoted('"', true)) return stop(t);
                    if (skip_)
                {
                    candidate = false;
                    skipped = true;
                    continue;
                }
                    t.type = token_type::string;
                    return;
                }
                if (!lex_quoted_ident(t, '"')) return stop(t);
                return;
            case '`':
                if (mysql_)
                {
                    if (!lex_quoted_ident(t, '`')) return stop(t);
                    return;
                }
                break;
            case '$':
                if (!mysql_)
                {
                    int const r = lex_dollar(t);
                    if (r < 0) return stop(t);
                    if (r > 0)
                    {
                        if (skip_)
                {
                    candidate = false;
                    skipped = true;
                    continue;
                }
                        return;
                    }
                }
                break;
            case ':':
                if (at(1) == ':')
                {
                    p_ += 2;
                    if (skip_)
                {
                    candidate = false;
                    skipped = true;
                    continue;
                }
                    t.type = token_type::punct;
                    t.punct = ':';
                    return;
                }
                if (at(1) == '=')
                {
                    p_ += 2;
                    t.type = token_type::assign;
                    return;
                }
                if (p_ + 1 < e_ && (chars::of(p_[1]) & (chars::ident_start | chars::high)))
                {
                    ++p_;
                    if (!skip_ident_chars()) return stop(t);
                    if (skip_)
                {
                    candidate = false;
                    skipped = true;
                    continue;
                }
                    t.type = token_type::param;
                    return;
                }
                break;
            case '?':
                ++p_;
                if (skip_)
                {
                    candidate = false;
                    skipped = true;
                    continue;
                }
                t.type = token_type::param;
                return;
            case '@':
                if (mysql_)
                {
                    if (!lex_variable(t)) return stop(t);
                    return;
                }
                break;
            default:
                break;
            }
            ++p_;
            if (skip_ && c != '(' && c != ')' && c != ';' && c != '.' && c != '=')
            {
                candidate = false;
                skipped = true;
                continue;
            }
            if (!candidate)
                t.len = 0;
            else if (name_pending_)
            {
                copy_name(t, name_pending_); // name( : the name of a called function
                name_pending_ = nullptr;
            }
            t.keyword = kw::none;
            t.type = token_type::punct;
            t.punct = static_cast<char>(c);
            return;
        }
    }

    unsigned char at(std::ptrdiff_t i) const noexcept { return (e_ - p_ > i) ? p_[i] : 0; }

    void fail() noexcept
    {
        error_ = true;
        p_ = e_;
        in_executable_comment_ = false;
    }

    void stop(token& t) noexcept
    {
        fail();
        t.type = token_type::end;
    }

    /// While skipping: blanks, numbers and plain punctuation in one loop from `start` (a token's start), the
    /// whole of an IN list or a VALUES row at a time. Returns where the run ends; `any`: when it skipped anything
    /// but blanks.
    unsigned char const* skip_run(unsigned char const* const start, bool& any) const noexcept
    {
        unsigned char const* p = start;
        std::uint8_t seen = 0;
        // Most runs are short (the blank after a word): a byte at a time, and 16 at a time once a run has proved
        // long (an IN list, a VALUES row). Checking blocks from the first byte costs the short runs more.
        unsigned char const* blocks_from = block_start(p);
        while (p != e_)
        {
            std::uint8_t const cls = chars::of(*p);
            if (cls & (chars::space | chars::plain | chars::digit))
            {
                seen |= cls;
                ++p;
                if (p >= blocks_from)
                {
                    p = wide::skip_run_blocks(p, e_, seen);
                    blocks_from = block_start(p);
                }
            }
            else if ((cls & chars::number_part) && p != start && (chars::of(p[-1]) & chars::digit))
            {
                // The run began at a token's start, so a digit in it belongs to a number; and a number goes on
                // with letters, '_' and '.' (1e5, 0x1f, 1.5, MySQL's 1abc), as in lex_number: none is a word.
                while (p != e_ && (chars::of(*p) & chars::number_part)) ++p;
            }
            else
                break;
        }
        any = (seen & (chars::plain | chars::digit)) != 0;
        return p;
    }

    /// Where a run that starts at p has proved long enough for blocks of 16 (the end of text when never).
    unsigned char const* block_start(unsigned char const* p) const noexcept
    {
        return (wide::enabled && e_ - p > wide::long_run) ? p + wide::long_run : e_;
    }

    /// Skips a byte >= 0x80 as a whole UTF-8 sequence; false when invalid.
    bool skip_high() noexcept
    {
        std::size_t const n = utf8_sequence(p_, e_);
        p_ += n;
        return n != 0;
    }

    /// Consumes identifier characters (letters, digits, _, $, UTF-8), copying them lower-cased into t.
    bool copy_ident_chars(token& t) noexcept
    {
        std::size_t n = t.len;
        while (p_ != e_)
        {
            unsigned char c = *p_;
            std::uint8_t const cls = chars::of(c);
            if (cls & (chars::ident_start | chars::digit))
            {
                unsigned char const* p = p_;
                // copy (lower-cased) up to the buffer's end, then only skip
                std::size_t room = max_name - n;
                if (static_cast<std::size_t>(e_ - p) < room) room = static_cast<std::size_t>(e_ - p);
                unsigned char const* const copy_end = p + room;
                char* out = t.name + n;
                while (p != copy_end && (chars::of(*p) & (chars::ident_start | chars::digit)))
                    *out++ = static_cast<char>(chars::lower(*p++));
                n = static_cast<std::size_t>(out - t.name);
                while (p != e_ && (chars::of(*p) & (chars::ident_start | chars::digit))) ++p;
                p_ = p;
            }
            else if (c == '$')
            {
                if (n < max_name) t.name[n++] = '$';
                ++p_;
            }
            else if (cls & chars::high)
            {
                unsigned char const* s = p_;
                if (!skip_high()) return false;
                for (; s != p_; ++s)
                    if (n < max_name) t.name[n++] = static_cast<char>(*s);
            }
            else
                break;
        }
        t.len = static_cast<std::uint8_t>(n);
        return true;
    }

    bool skip_ident_chars() noexcept
    {
        while (p_ != e_)
        {
            unsigned char const c = *p_;
            std::uint8_t const cls = chars::of(c);
            if ((cls & (chars::ident_start | chars::digit)) || c == '$')
                ++p_;
            else if (cls & chars::high)
            {
                if (!skip_high()) return false;
            }
            else
                break;
        }
        return true;
    }

    bool lex_word(token& t) noexcept
    {
        // The common case, a word of ASCII letters, digits and '_': its keyword is looked up in the text itself,
        // and the name of a word the lexer skips is copied only if a '(' follows (see name_pending_).
        unsigned char const* const s = p_;
        unsigned char const* p = s;
        while (p != e_ && (chars::of(*p) & (chars::ident_start | chars::digit))) ++p;
        if (p != s && (p == e_ || (*p != '$' && !(chars::of(*p) & chars::high))))
        {
            std::size_t const n = static_cast<std::size_t>(p - s);
            p_ = p;
            t.len = static_cast<std::uint8_t>(n < max_name ? n : max_name);
            name_pending_ = nullptr;
            if (n == 1 && !mysql_ && p != e_)
            {
                int const r = lex_prefixed_quote(t, chars::lower(*s));
                if (r != 0) return r > 0;
            }
            t.type = token_type::word;
            t.keyword = lookup_keyword(s, n, e_);
            if (t.keyword == kw::none && skip_identifiers_)
                name_pending_ = s;
            else
                copy_name(t, s);
            return true;
        }
        // Anything else ('$', UTF-8): copied and checked byte by byte.
        t.len = 0;
        name_pending_ = nullptr;
        if (!copy_ident_chars(t)) return false;
        t.name[t.len] = 0;
        if (!mysql_ && t.len == 1 && p_ != e_)
        {
            int const r = lex_prefixed_quote(t, static_cast<unsigned char>(t.name[0]));
            if (r != 0) return r > 0;
        }
        t.type = token_type::word;
        auto const* const name = reinterpret_cast<unsigned char const*>(t.name);
        t.keyword = lookup_keyword(name, t.len, name + t.len);
        return true;
    }

    /// Copies `t.len` bytes of an ASCII word from `s`, lower-cased, into the token's name.
    static void copy_name(token& t, unsigned char const* s) noexcept
    {
        for (std::size_t i = 0; i < t.len; ++i) t.name[i] = static_cast<char>(chars::lower(s[i]));
        t.name[t.len] = 0;
    }

    /// After the one-letter word `c` (lower case), at a byte of text: PostgreSQL E'…' (backslash escapes) and
    /// U&'…' / U&"…" (standard rules). 1: a token was made; 0: the word is a word; -1: an error.
    int lex_prefixed_quote(token& t, unsigned char c) noexcept
    {
        if (c == 'e' && *p_ == '\'')
        {
            if (!skip_quoted('\'', true)) return -1;
            t.type = token_type::string;
            return 1;
        }
        if (c == 'u' && *p_ == '&' && (at(1) == '\'' || at(1) == '"'))
        {
            ++p_;
            if (*p_ == '\'')
            {
                if (!skip_quoted('\'', false)) return -1;
                t.type = token_type::string;
                return 1;
            }
            return lex_quoted_ident(t, '"') ? 1 : -1;
        }
        return 0;
    }

    void lex_number(token& t) noexcept
    {
        // Digits, letters (exponents, 0x…, MySQL's 1abc identifiers), '_' and '.': none can be a keyword.
        unsigned char const* p = p_;
        while (p != e_ && (chars::of(*p) & chars::number_part)) ++p;
        p_ = p;
        t.type = token_type::number;
    }

    /// A string literal: '' (or "") doubles the quote; with `backslash`, \ escapes the next character.
    bool skip_quoted(unsigned char quote, bool backslash) noexcept
    {
        ++p_;
        for (;;)
        {
            unsigned char const* p = p_;
            while (p != e_)
            {
                unsigned char const c = *p;
                if (c == quote || c == 0 || c >= 0x80 || (c == '\\' && backslash)) break;
                ++p;
            }
            p_ = p;
            if (p_ == e_) return false;
            unsigned char const c = *p_;
            if (c == quote)
            {
                ++p_;
                if (p_ != e_ && *p_ == quote)
                {
                    ++p_;
                    continue;
                }
                return true;
            }
            if (c == 0) return false;
            if (c >= 0x80)
            {
                if (!skip_high()) return false;
                continue;
            }
            // backslash
            ++p_;
            if (p_ == e_ || *p_ == 0) return false;
            if (*p_ >= 0x80)
            {
                if (!skip_high()) return false;
            }
            else
                ++p_;
        }
    }

    /// "…" or `…`, doubling the quote to include it; the content, lower-cased, becomes the token's name.
    bool lex_quoted_ident(token& t, unsigned char quote) noexcept
    {
        ++p_;
        std::size_t n = 0;
        for (;;)
        {
            if (p_ == e_) return false;
            unsigned char c = *p_;
            if (c == quote)
            {
                if (at(1) != quote)
                {
                    ++p_;
                    break;
                }
                p_ += 2;
            }
            else if (c == 0)
                return false;
            else if (c >= 0x80)
            {
                unsigned char const* s = p_;
                if (!skip_high()) return false;
                for (; s != p_; ++s)
                    if (n < max_name) t.name[n++] = static_cast<char>(*s);
                continue;
            }
            else
                ++p_;
            if (c >= 'A' && c <= 'Z') c = static_cast<unsigned char>(c | 0x20);
            if (n < max_name) t.name[n++] = static_cast<char>(c);
        }
        t.len = static_cast<std::uint8_t>(n);
        t.name[n] = 0;
        t.type = token_type::quoted_ident;
        return true;
    }

    /// PostgreSQL: $1 (parameter) or $tag$…$tag$ (string). Returns 1 when a token was made, 0 when '$' is
    /// a plain character, -1 on an error (unterminated quote, tag longer than 64 bytes).
    int lex_dollar(token& t) noexcept
    {
        unsigned char const* s = p_ + 1;
        if (s != e_ && (chars::of(*s) & chars::digit))
        {
            while (s != e_ && (chars::of(*s) & chars::digit)) ++s;
            p_ = s;
            t.type = token_type::param;
            return 1;
        }
        // tag: identifier characters without '$', not starting with a digit
        while (s != e_ && ((chars::of(*s) & (chars::ident_start | chars::digit | chars::high))))
        {
            if (*s >= 0x80)
            {
                std::size_t const n = utf8_sequence(s, e_);
                if (n == 0) return -1;
                s += n;
            }
            else
                ++s;
        }
        if (s == e_ || *s != '$') return 0;
        std::size_t const tag_len = static_cast<std::size_t>(s + 1 - p_); // "$tag$"
        if (tag_len > 66) return -1; // a tag of more than 64 bytes: not read (keeps the scan linear)
        unsigned char const* const tag = p_;
        p_ = s + 1;
        for (;;)
        {
            unsigned char const* p = p_;
            while (p != e_ && *p != '$' && *p != 0 && *p < 0x80) ++p;
            p_ = p;
            if (p_ == e_ || *p_ == 0) return -1;
            if (*p_ >= 0x80)
            {
                if (!skip_high()) return -1;
                continue;
            }
            if (static_cast<std::size_t>(e_ - p_) >= tag_len && std::memcmp(p_, tag, tag_len) == 0)
            {
                p_ += tag_len;
                t.type = token_type::string;
                return 1;
            }
            ++p_;
        }
    }

    /// MySQL @v, @'v', @"v", @`v`, @@v, @@session.v.
    bool lex_variable(token& t) noexcept
    {
        ++p_;
        if (p_ != e_ && *p_ == '@')
        {
            ++p_;
            // @@[global.|session.|local.]name: keep the last part
            for (;;)
            {
                t.len = 0;
                if (!copy_ident_chars(t)) return false;
                if (p_ != e_ && *p_ == '.' && t.len != 0)
                {
                    ++p_;
                    continue;
                }
                break;
            }
            t.name[t.len] = 0;
            t.type = token_type::system_var;
            return true;
        }
        if (p_ != e_ && (*p_ == '\'' || *p_ == '"'))
        {
            if (!skip_quoted(*p_, true)) return false;
        }
        else if (p_ != e_ && *p_ == '`')
        {
            if (!lex_quoted_ident(t, '`')) return false;
        }
        else
        {
            // @v: letters, digits, '.', '_', '$'
            while (p_ != e_)
            {
                unsigned char const c = *p_;
                std::uint8_t const cls = chars::of(c);
                if ((cls & (chars::ident_start | chars::digit)) || c == '.' || c == '$')
                    ++p_;
                else if (cls & chars::high)
                {
                    if (!skip_high()) return false;
                }
                else
                    break;
            }
        }
        t.len = 0;
        t.type = token_type::user_var;
        return true;
    }

    bool skip_line_comment(std::size_t opener) noexcept
    {
        p_ += opener;
        check_hint(false);
        while (p_ != e_ && *p_ != '\n')
        {
            unsigned char const* p = p_;
            while (p != e_ && *p != '\n' && *p != 0 && *p < 0x80) ++p;
            p_ = p;
            if (p_ == e_ || *p_ == '\n') break;
            unsigned char const c = *p_;
            if (c == 0) return false;
            if (c >= 0x80)
            {
                if (!skip_high()) return false;
            }
            else
                ++p_;
        }
        return true;
    }

    bool skip_block_comment() noexcept
    {
        if (mysql_)
        {
            unsigned char const c2 = at(2);
            bool const executable = c2 == '!' || (c2 == 'M' && at(3) == '!');
            if (in_executable_comment_) return false; // MySQL does not nest comments: not read
            if (executable)
            {
                p_ += (c2 == '!') ? 3 : 4;
                for (int i = 0; i < 6 && p_ != e_ && (chars::of(*p_) & chars::digit); ++i) ++p_; // version
                in_executable_comment_ = true;
                return true;
            }
        }
        p_ += 2;
        check_hint(true);
        std::size_t depth = 1;
        while (p_ != e_)
        {
            unsigned char const* p = p_;
            while (p != e_ && *p != '*' && *p != '/' && *p != 0 && *p < 0x80) ++p;
            p_ = p;
            if (p_ == e_) break;
            unsigned char const c = *p_;
            if (c == '*' && at(1) == '/')
            {
                p_ += 2;
                if (--depth == 0) return true;
            }
            else if (c == '/' && at(1) == '*')
            {
                p_ += 2;
                check_hint(true); // a hint inside a comment still counts: it can only send to the primary
                if (!mysql_)
                    ++depth; // PostgreSQL nests comments
                else
                    --p_; // MySQL does not: the '*' may begin the comment's end ("/*/" closes it)
            }
            else if (c == 0)
                return false;
            else if (c >= 0x80)
            {
                if (!skip_high()) return false;
            }
            else
                ++p_;
        }
        return false;
    }

    /// At the start of a comment's text: does it read "soci-routing: primary" (any case, blanks around)?
    void check_hint(bool block) noexcept
    {
        unsigned char const* s = p_;
        auto blanks = [&] {
            while (s != e_ && (*s == ' ' || *s == '\t')) ++s;
        };
        auto word = [&](char const* w) {
            for (; *w; ++w, ++s)
                if (s == e_ || (*s | 0x20) != static_cast<unsigned char>(*w)) return false;
            return true;
        };
        blanks();
        if (!word("soci-routing")) return;
        blanks();
        if (s == e_ || *s != ':') return;
        ++s;
        blanks();
        if (!word("primary")) return;
        while (s != e_ && (*s == ' ' || *s == '\t' || *s == '\r' || (block && *s == '\n'))) ++s;
        if (block ? (e_ - s >= 2 && s[0] == '*' && s[1] == '/') : (s == e_ || *s == '\n')) hint_ = true;
    }

    unsigned char const* p_;
    unsigned char const* e_;
    bool mysql_;
    bool in_executable_comment_ = false;
    bool hint_ = false;
    bool error_ = false;
    bool skip_ = false;
    bool skip_identifiers_ = false;
    bool after_identifier_ = false;
    bool after_skip_ = false;
    /// The last token returned looks at the token after it, or makes that token look back (looks_around()).
    bool dot_and_equals_matter_ = true;
    /// The start of the last word skipped as an identifier whose name (t.len bytes, ASCII) was not copied yet.
    unsigned char const* name_pending_ = nullptr;
};

} // namespace soci_routing::detail

#endif // SOCI_ROUTING_CLASSIFIER_LEXER_H_INCLUDED
