// Fuzz target: the classifier, both dialects. Beyond crashes and reads past the input (AddressSanitizer; the
// input buffer is exactly its size), two invariants: time per byte stays bounded, and a statement with a write
// keyword outside comments, string literals and quoted identifiers is never a replica read. The lexer below is
// written from the servers' rules, independently of the classifier's, and deliberately simple.

#include "classifier.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>

namespace
{

using soci_routing::dialect;

bool word_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '$'
        || c >= 0x80;
}

bool is_write_keyword(std::string const& w)
{
    static char const* const keywords[] = {"insert", "update", "delete", "create", "drop",
                                           "alter",  "truncate", "grant", "revoke"};
    for (char const* k : keywords)
        if (w == k)
            return true;
    return false;
}

/// Skips a quoted run starting at text[i] == quote; `backslash`: a backslash escapes the next byte.
std::size_t skip_quoted(std::string_view text, std::size_t i, char quote, bool backslash)
{
    for (++i; i < text.size(); ++i)
    {
        if (backslash && text[i] == '\\')
        {
            ++i;
            continue;
        }
        if (text[i] == quote)
        {
            if (i + 1 < text.size() && text[i + 1] == quote)
            {
                ++i;  // doubled quote
                continue;
            }
            return i + 1;
        }
    }
    return text.size();
}

/// White space between tokens, as both servers' lexers have it (form feed and vertical tab included).
bool space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/// The first write keyword outside comments, strings and quoted identifiers; empty when none.
std::string write_keyword(std::string_view text, dialect d)
{
    bool const pg = d == dialect::postgresql;
    std::size_t i = 0;
    std::size_t word_end = std::string_view::npos;  // where the last word ended (a '$' there continues it)
    while (i < text.size())
    {
        char const c = text[i];
        char const next = i + 1 < text.size() ? text[i + 1] : '\0';
        bool const after_word = i == word_end;
        if (c == '-' && next == '-'
            && (pg || i + 2 >= text.size() || static_cast<unsigned char>(text[i + 2]) <= ' '))
        {
            while (i < text.size() && text[i] != '\n')
                ++i;
            continue;
        }
        if (!pg && c == '#')
        {
            while (i < text.size() && text[i] != '\n')
                ++i;
            continue;
        }
        if (c == '/' && next == '*')
        {
            if (!pg && i + 2 < text.size() && text[i + 2] == '!')
            {
                i += 3;  // MySQL's executable comment /*! ... */: its text runs
                continue;
            }
            if (!pg && i + 3 < text.size() && text[i + 2] == 'M' && text[i + 3] == '!')
            {
                i += 4;  // MariaDB's /*M! ... */
                continue;
            }
            int depth = 1;
            i += 2;
            while (i < text.size() && depth > 0)
            {
                if (pg && text[i] == '/' && i + 1 < text.size() && text[i + 1] == '*')
                {
                    ++depth;
                    i += 2;
                }
                else if (text[i] == '*' && i + 1 < text.size() && text[i + 1] == '/')
                {
                    --depth;
                    i += 2;
                }
                else
                    ++i;
            }
            continue;
        }
        if (c == '\'')
        {
            // PostgreSQL: backslash escapes only in E'...'; MySQL: always (the default sql_mode).
            bool const escape_string = pg && i > 0 && (text[i - 1] == 'e' || text[i - 1] == 'E')
                && (i < 2 || !word_char(static_cast<unsigned char>(text[i - 2])));
            i = skip_quoted(text, i, '\'', !pg || escape_string);
            continue;
        }
        if (c == '"')
        {
            i = skip_quoted(text, i, '"', !pg);
            continue;
        }
        if (!pg && c == '`')
        {
            i = skip_quoted(text, i, '`', false);
            continue;
        }
        if (pg && c == '$' && !after_word && next >= '0' && next <= '9')
        {
            // A parameter ($1): not a word, so a '$' right after it may open a dollar quote.
            ++i;
            while (i < text.size() && text[i] >= '0' && text[i] <= '9')
                ++i;
            continue;
        }
        if (pg && c == '$' && !after_word)
        {
            // A dollar quote: $$ or $tag$ (tag: an identifier not starting with a digit).
            std::size_t j = i + 1;
            if (j < text.size() && !(text[j] >= '0' && text[j] <= '9'))
            {
                while (j < text.size() && word_char(static_cast<unsigned char>(text[j])) && text[j] != '$')
                    ++j;
                if (j < text.size() && text[j] == '$')
                {
                    std::string_view const tag = text.substr(i, j - i + 1);
                    std::size_t const end = text.find(tag, j + 1);
                    i = end == std::string_view::npos ? text.size() : end + tag.size();
                    continue;
                }
            }
        }
        if (pg && c >= '0' && c <= '9')
        {
            // A number: PostgreSQL ends it at the first character no number has, so a '$' right after it
            // opens a dollar quote (1$q$...$q$), as after a parameter.
            auto at = [&](std::size_t k) { return k < text.size() ? text[k] : '\0'; };
            auto digit = [&](std::size_t k) { return at(k) >= '0' && at(k) <= '9'; };
            while (i < text.size() && (digit(i) || text[i] == '.'))
                ++i;
            // An exponent: 1e5, 2.5E-3.
            if ((at(i) == 'e' || at(i) == 'E') && (digit(i + 1) || ((at(i + 1) == '+' || at(i + 1) == '-') && digit(i + 2))))
            {
                i += digit(i + 1) ? 1 : 2;
                while (digit(i))
                    ++i;
            }
            // Letters right after a number (1delete, 1x$q$): PostgreSQL 15 rejects the whole statement
            // ("trailing junk after numeric literal"), so nothing in it can write.
            if (i < text.size() && word_char(static_cast<unsigned char>(text[i])) && text[i] != '$')
                return std::string();
            continue;
        }
        if (word_char(static_cast<unsigned char>(c)))
        {
            std::size_t j = i;
            std::string w;
            while (j < text.size() && word_char(static_cast<unsigned char>(text[j])))
            {
                char ch = text[j++];
                w += (ch >= 'A' && ch <= 'Z') ? static_cast<char>(ch - 'A' + 'a') : ch;
            }
            // After a dot a keyword is a name (t.update is a column): the servers agree. After a colon it is a
            // SOCI placeholder (:update) or, after two, a type name; after an @ a MySQL variable (@insert).
            std::size_t before = i;
            while (before > 0 && space(text[before - 1]))
                --before;
            bool const qualified
                = before > 0 && (text[before - 1] == '.' || text[before - 1] == ':' || text[before - 1] == '@');
            // Followed by a parenthesis it is a function call (MySQL's INSERT(str, pos, len, new)).
            std::size_t after = j;
            while (after < text.size() && space(text[after]))
                ++after;
            // Followed by a dot it is a qualifier (update.x: a schema or table of that name).
            bool const call = after < text.size() && (text[after] == '(' || text[after] == '.');
            if (!qualified && !call && is_write_keyword(w))
                return w;
            i = j;
            word_end = j;
            continue;
        }
        ++i;
    }
    return std::string();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size)
{
    std::string_view const sql(reinterpret_cast<char const*>(data), size);
    for (dialect d : {dialect::postgresql, dialect::mysql})
    {
        auto timed = [&] {
            auto const start = std::chrono::steady_clock::now();
            soci_routing::classification r = soci_routing::classify(sql, d);
            return std::make_pair(r, std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start)
                                         .count());
        };
        auto [c, ns] = timed();
        // Time per byte stays bounded: the classifier runs at a few ns per byte (tens under the sanitizers).
        // A long input that takes more than 2 µs per byte is superlinear somewhere (a rescan, a backtrack);
        // the best of three runs, so that the process being descheduled once is no finding.
        for (int again = 0; again < 2 && size >= 16384 && ns / static_cast<double>(size) > 2000.0; ++again)
            ns = std::min(ns, timed().second);
        // Short inputs are also timed repeated to 16 KB (one in 32 of them, to keep the fuzzer fast): a pattern
        // that makes the classifier superlinear shows once it is long.
        if (size > 0 && size < 16384 && data[0] % 32 == 0)
        {
            std::string longer;
            while (longer.size() < 16384)
                longer.append(sql);
            double best = 1e300;
            for (int i = 0; i < 3 && best / static_cast<double>(longer.size()) > 2000.0; ++i)
            {
                auto const start = std::chrono::steady_clock::now();
                (void)soci_routing::classify(longer, d);
                best = std::min(best, std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start)
                                          .count());
            }
            if (best / static_cast<double>(longer.size()) > 2000.0)
            {
                std::fprintf(stderr, "invariant broken (%s): %.0f ns per byte over the input repeated to %zu bytes\n",
                             d == dialect::postgresql ? "postgresql" : "mysql",
                             best / static_cast<double>(longer.size()), longer.size());
                std::abort();
            }
        }
        if (size >= 16384 && ns / static_cast<double>(size) > 2000.0)
        {
            std::fprintf(stderr, "invariant broken (%s): %.0f ns per byte over %zu bytes\n",
                         d == dialect::postgresql ? "postgresql" : "mysql", ns / static_cast<double>(size), size);
            std::abort();
        }
        if (c.where != soci_routing::target::replica)
            continue;
        if (c.why == soci_routing::reason::show)
            continue;  // SHOW CREATE TABLE, SHOW GRANTS: SHOW never writes
        std::string const keyword = write_keyword(sql, d);
        if (!keyword.empty())
        {
            std::fprintf(stderr, "invariant broken (%s): \"%s\" outside comments and strings, classified as a "
                                 "replica read (%s)\n",
                         d == dialect::postgresql ? "postgresql" : "mysql", keyword.c_str(),
                         soci_routing::to_string(c.why));
            std::abort();
        }
    }
    return 0;
}
