// soci-routing: transaction_mode_of() (transaction-mode.h).

#include "transaction-mode.h"

#include <cctype>
#include <cstddef>

namespace soci_routing
{

namespace
{

/// Words and commas of a statement made of nothing else: no literal, no quoted name, no parameter. A comment is
/// skipped; a `;` may only end the text.
class words
{
public:
    words(std::string_view s, dialect d) noexcept : s_(s), mysql_(d == dialect::mysql) {}

    /// The next word (letters and underscores, at most 31), lower case, valid until the next call; "," for a
    /// comma; empty at the end, or at anything else (then `bad()`).
    std::string_view next() noexcept
    {
        skip();
        if (i_ >= s_.size())
            return {};
        char const c = s_[i_];
        if (c == ',')
        {
            ++i_;
            return ",";
        }
        if (c == ';')
        {
            ++i_;
            skip();
            if (i_ < s_.size())
                bad_ = true;
            return {};
        }
        if (!std::isalpha(static_cast<unsigned char>(c)))
        {
            bad_ = true;
            return {};
        }
        std::size_t n = 0;
        while (i_ < s_.size() && (std::isalpha(static_cast<unsigned char>(s_[i_])) || s_[i_] == '_'))
        {
            if (n == sizeof(word_) - 1)
            {
                bad_ = true;
                return {};
            }
            word_[n++] = static_cast<char>(std::tolower(static_cast<unsigned char>(s_[i_++])));
        }
        return std::string_view(word_, n);
    }

    bool bad() const noexcept { return bad_; }

private:
    void skip() noexcept
    {
        for (;;)
        {
            while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_])))
                ++i_;
            if (s_.substr(i_, 2) == "--" || (mysql_ && i_ < s_.size() && s_[i_] == '#'))
            {
                while (i_ < s_.size() && s_[i_] != '\n')
                    ++i_;
                continue;
            }
            if (s_.substr(i_, 2) == "/*")
            {
                // MySQL executes /*! ... */ and /*M! ... */: not a comment; PostgreSQL nests comments.
                if (mysql_ && s_.substr(i_, 3) == "/*!")
                {
                    bad_ = true;
                    i_ = s_.size();
                    return;
                }
                if (mysql_ && s_.substr(i_, 4) == "/*M!")
                {
                    bad_ = true;
                    i_ = s_.size();
                    return;
                }
                int depth = 0;
                do
                {
                    if (s_.substr(i_, 2) == "/*")
                    {
                        ++depth;
                        i_ += 2;
                    }
                    else if (s_.substr(i_, 2) == "*/")
                    {
                        --depth;
                        i_ += 2;
                        if (mysql_)
                            depth = 0;  // MySQL comments do not nest
                    }
                    else
                    {
                        ++i_;
                    }
                } while (depth > 0 && i_ < s_.size());
                if (depth > 0)
                    bad_ = true;
                continue;
            }
            return;
        }
    }

    std::string_view s_;
    bool mysql_;
    std::size_t i_ = 0;
    bool bad_ = false;
    char word_[32] = {};
};

/// The modes after BEGIN / START TRANSACTION / SET TRANSACTION, from `t` (the first word after them) to the end
/// of the text. `spaces`: modes may be separated by spaces (PostgreSQL), not only commas; `isolation`: ISOLATION
/// LEVEL is allowed.
transaction_mode parse_modes(words& w, transaction_mode m, bool spaces, bool isolation, std::string_view t) noexcept
{
    bool const pg = spaces;
    bool last_was_mode = false;  // a comma needs a mode before it, and one after it
    bool after_comma = false;
    int modes = 0;
    while (!t.empty())
    {
        if (t == ",")
        {
            if (!last_was_mode)
                return {};
            last_was_mode = false;
            after_comma = true;
            t = w.next();
            continue;
        }
        // PostgreSQL separates modes with commas or spaces; MySQL with commas only.
        if (!pg && modes > 0 && !after_comma)
            return {};
        if (t == "read")
        {
            t = w.next();
            if (t == "only")
                m.read_only = true;
            else if (t == "write")
                m.read_only = false;
            else if (!pg && t == "committed")
                return {};
            else
                return {};
        }
        else if (isolation && t == "isolation")
        {
            if (w.next() != "level")
                return {};
            t = w.next();
            if (t == "serializable")
                m.serializable = true;
            else if (t == "repeatable")
            {
                if (w.next() != "read")
                    return {};
            }
            else if (t == "read")
            {
                t = w.next();
                if (t != "committed" && t != "uncommitted")
                    return {};
            }
            else
                return {};
        }
        else if (pg && t == "deferrable")
        {
        }
        else if (pg && t == "not")
        {
            if (w.next() != "deferrable")
                return {};
        }
        else if (!pg && t == "with")
        {
            if (w.next() != "consistent" || w.next() != "snapshot")
                return {};
        }
        else
        {
            return {};
        }
        last_was_mode = true;
        after_comma = false;
        ++modes;
        t = w.next();
    }
    if (w.bad() || after_comma)
        return {};
    m.starts = true;
    return m;
}

} // namespace

transaction_mode transaction_mode_of(std::string_view sql, dialect d) noexcept
{
    bool const pg = d == dialect::postgresql;
    words w(sql, d);
    transaction_mode m;
    std::string_view t = w.next();
    if (t == "begin")
    {
        t = w.next();
        if (t == "work" || (pg && t == "transaction"))
            t = w.next();
        // MySQL's BEGIN takes no modes.
        if (!pg && !t.empty())
            return {};
    }
    else if (t == "start")
    {
        if (w.next() != "transaction")
            return {};
        t = w.next();
    }
    else
    {
        return {};
    }
    return parse_modes(w, m, pg, pg, t);
}

transaction_mode set_transaction_mode_of(std::string_view sql, dialect d) noexcept
{
    words w(sql, d);
    if (w.next() != "set" || w.next() != "transaction")
        return {};
    transaction_mode m;
    // SET TRANSACTION takes ISOLATION LEVEL in both dialects; MySQL separates its modes with commas.
    return parse_modes(w, m, d == dialect::postgresql, true, w.next());
}

} // namespace soci_routing
