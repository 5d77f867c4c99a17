// soci-routing: session_effect() (session-effect.h).
//
// A tokenizer of its own (classify() has a one-pass lexer that allocates nothing and keeps only what routing
// needs; here names, values and positions are kept), then one function per statement family. Every path that
// does not recognise a statement with certainty answers opaque: a wrong `setting` replays something that is
// not a setting, a wrong `unpin` lets a session leave the connection that holds its state, while a wrong
// `opaque` only keeps a session on the primary. Where a statement embeds a query or an expression (a lock call's
// arguments, the query of CREATE TEMP TABLE ... AS, a PREPAREd statement), classify() decides whether that
// part changes the session too: then the statement does two things and is opaque.

#include "session-effect.h"

#include <algorithm>
#include <cstddef>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

namespace soci_routing
{

char const* to_string(pin_cause c) noexcept
{
    switch (c)
    {
    case pin_cause::none: return "none";
    case pin_cause::temp_table: return "temp_table";
    case pin_cause::advisory_lock: return "advisory_lock";
    case pin_cause::listen: return "listen";
    case pin_cause::prepared: return "prepared";
    case pin_cause::user_variable: return "user_variable";
    case pin_cause::table_lock: return "table_lock";
    case pin_cause::cursor: return "cursor";
    case pin_cause::next_transaction: return "next_transaction";
    case pin_cause::count_: break;
    }
    return "none";
}

char const* to_string(effect_kind k) noexcept
{
    switch (k)
    {
    case effect_kind::none: return "none";
    case effect_kind::setting: return "setting";
    case effect_kind::reset_all: return "reset_all";
    case effect_kind::discard: return "discard";
    case effect_kind::pin: return "pin";
    case effect_kind::unpin: return "unpin";
    case effect_kind::opaque: return "opaque";
    }
    return "none";
}

namespace
{

// ---- Characters ----

bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

bool is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/// Letters, '_', and any byte of a UTF-8 sequence; MySQL identifiers may also begin with '$'.
bool is_ident_start(unsigned char c, bool mysql)
{
    return is_alpha(c) || c == '_' || c >= 0x80 || (mysql && c == '$');
}

bool is_ident_char(unsigned char c)
{
    return is_alpha(c) || is_digit(c) || c == '_' || c == '$' || c >= 0x80;
}

std::string lowered(std::string_view s)
{
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

bool one_of(std::string_view s, std::initializer_list<std::string_view> list)
{
    return std::find(list.begin(), list.end(), s) != list.end();
}

// ---- Tokens ----

enum class tok : std::uint8_t
{
    end,         ///< past the last token
    word,        ///< an unquoted identifier or keyword; `text` lower-cased
    quoted,      ///< "ident" (PostgreSQL) or `ident` (MySQL); `text` the name as written, quotes undone
    string,      ///< any string literal; `text` its value (escapes undone), `prefixed` for E'', X'', N'', U&''
    number,
    param,       ///< $1, ?, :name
    user_var,    ///< MySQL @v, @'v', @`v`; `text` "@v", lower-cased (user variable names ignore case)
    system_var,  ///< MySQL @@v, @@session.v; `text` the name lower-cased, `scope` the scope written or empty
    assign,      ///< :=
    cast,        ///< ::
    punct        ///< any other character, in `punct`
};

struct token
{
    tok type = tok::end;
    char punct = 0;
    bool prefixed = false;
    std::string text;
    std::string scope;
    std::size_t begin = 0;  ///< byte offsets in the statement text
    std::size_t end = 0;
};

/// Splits SQL text into tokens. Comments and blanks are dropped.
class tokenizer
{
public:
    tokenizer(std::string_view sql, dialect d) : s_(sql), mysql_(d == dialect::mysql) {}

    /// False when the text cannot be read with certainty (an unterminated literal, identifier or comment, a
    /// control character) or holds a MySQL executable comment (`/*! ... */`, `/*M! ... */`), whose content is
    /// SQL that the server may or may not run depending on its version.
    bool run(std::vector<token>& out)
    {
        for (;;)
        {
            if (!skip_blanks()) return false;
            if (p_ >= s_.size()) return true;
            token t;
            t.begin = p_;
            if (!next(t)) return false;
            t.end = p_;
            out.push_back(std::move(t));
        }
    }

private:
    /// The byte i places ahead, or -1 past the end.
    int at(std::size_t i) const
    {
        return p_ + i < s_.size() ? static_cast<unsigned char>(s_[p_ + i]) : -1;
    }

    bool skip_blanks()
    {
        while (p_ < s_.size())
        {
            auto const c = static_cast<unsigned char>(s_[p_]);
            if (is_space(c))
                ++p_;
            else if (c < 0x20)
                return false; // NUL or another control character: classify() refuses such text too
            else if (c == '-' && at(1) == '-' && (!mysql_ || at(2) < 0 || at(2) <= 0x20))
                skip_line();  // MySQL needs a blank after "--": 1--1 is an expression
            else if (c == '#' && mysql_)
                skip_line();
            else if (c == '/' && at(1) == '*')
            {
                if (!skip_block_comment()) return false;
            }
            else
                return true;
        }
        return true;
    }

    void skip_line()
    {
        std::size_t const nl = s_.find('\n', p_);
        p_ = nl == std::string_view::npos ? s_.size() : nl + 1;
    }

    bool skip_block_comment()
    {
        p_ += 2;
        if (mysql_ && (at(0) == '!' || (at(0) == 'M' && at(1) == '!'))) return false;
        std::size_t depth = 1;
        while (p_ < s_.size())
        {
            if (at(0) == '*' && at(1) == '/')
            {
                p_ += 2;
                if (--depth == 0) return true;
            }
            else if (!mysql_ && at(0) == '/' && at(1) == '*')
            {
                p_ += 2;
                ++depth; // PostgreSQL nests comments
            }
            else
                ++p_;
        }
        return false;
    }

    /// A literal or identifier quoted by `quote` (doubling it includes it); with `backslash`, a backslash
    /// escapes the next character (MySQL's rules: \n, \t, \0, ... are decoded; \% and \_ keep the backslash).
    bool quoted(char quote, bool backslash, std::string& out)
    {
        ++p_;
        for (;;)
        {
            if (p_ >= s_.size()) return false;
            char const c = s_[p_];
            if (c == quote)
            {
                if (at(1) == static_cast<unsigned char>(quote))
                {
                    out += quote;
                    p_ += 2;
                    continue;
                }
                ++p_;
                return true;
            }
            if (c == '\\' && backslash)
            {
                if (p_ + 1 >= s_.size()) return false;
                char const e = s_[p_ + 1];
                switch (e)
                {
                case '0': out += '\0'; break;
                case 'b': out += '\b'; break;
                case 'n': out += '\n'; break;
                case 'r': out += '\r'; break;
                case 't': out += '\t'; break;
                case 'Z': out += '\x1a'; break;
                case '%':
                case '_':
                    out += '\\';
                    out += e;
                    break;
                default: out += e; break;
                }
                p_ += 2;
                continue;
            }
            out += c;
            ++p_;
        }
    }

    std::string_view ident_chars()
    {
        std::size_t const b = p_;
        while (p_ < s_.size() && is_ident_char(static_cast<unsigned char>(s_[p_]))) ++p_;
        return s_.substr(b, p_ - b);
    }

    bool next(token& t)
    {
        auto const c = static_cast<unsigned char>(s_[p_]);
        switch (c)
        {
        case '\'':
            t.type = tok::string;
            return quoted('\'', mysql_, t.text);
        case '"':
            t.type = mysql_ ? tok::string : tok::quoted;
            return quoted('"', mysql_, t.text);
        case '`':
            if (!mysql_) break;
            t.type = tok::quoted;
            return quoted('`', false, t.text);
        case '$':
            if (!mysql_) return dollar(t);
            break;
        case ':':
            if (at(1) == ':' || at(1) == '=')
            {
                t.type = at(1) == ':' ? tok::cast : tok::assign;
                p_ += 2;
                return true;
            }
            if (at(1) >= 0 && is_ident_start(static_cast<unsigned char>(at(1)), mysql_))
            {
                ++p_;
                ident_chars();
                t.type = tok::param;
                return true;
            }
            break;
        case '?':
            ++p_;
            t.type = tok::param;
            return true;
        case '@':
            if (mysql_) return variable(t);
            break;
        default: break;
        }
        if (is_digit(c) || (c == '.' && at(1) >= 0 && is_digit(static_cast<unsigned char>(at(1)))))
        {
            number();
            t.type = tok::number;
            return true;
        }
        if (is_ident_start(c, mysql_)) return word(t);
        ++p_;
        t.type = tok::punct;
        t.punct = static_cast<char>(c);
        return true;
    }

    void number()
    {
        bool const hex = at(0) == '0' && (at(1) == 'x' || at(1) == 'X' || at(1) == 'b' || at(1) == 'B');
        while (p_ < s_.size())
        {
            auto const c = static_cast<unsigned char>(s_[p_]);
            if (is_ident_char(c) || c == '.')
            {
                ++p_;
                if (!hex && (c == 'e' || c == 'E') && (at(0) == '+' || at(0) == '-') && at(1) >= 0 &&
                    is_digit(static_cast<unsigned char>(at(1))))
                    ++p_; // 1e-5
            }
            else
                break;
        }
    }

    bool word(token& t)
    {
        t.text = lowered(ident_chars());
        t.type = tok::word;
        if (at(0) == '\'')
        {
            // E'...' (backslash escapes), X'...', B'...', N'...'
            bool const e = !mysql_ && t.text == "e";
            if (e || t.text == "x" || t.text == "b" || t.text == "n")
            {
                bool const backslash = e || (mysql_ && t.text == "n"); // MySQL N'...' is an ordinary string
                t.text.clear();
                t.type = tok::string;
                t.prefixed = true;
                return quoted('\'', backslash, t.text);
            }
        }
        if (!mysql_ && t.text == "u" && at(0) == '&' && (at(1) == '\'' || at(1) == '"'))
        {
            // U&'...', U&"...": escapes left as written (a name so spelled matches nothing else: harmless)
            ++p_;
            char const q = s_[p_];
            t.text.clear();
            t.type = q == '\'' ? tok::string : tok::quoted;
            t.prefixed = true;
            return quoted(q, false, t.text);
        }
        return true;
    }

    /// PostgreSQL: $1 (a parameter), $tag$...$tag$ (a string), or a lone '$'.
    bool dollar(token& t)
    {
        if (at(1) >= 0 && is_digit(static_cast<unsigned char>(at(1))))
        {
            ++p_;
            while (p_ < s_.size() && is_digit(static_cast<unsigned char>(s_[p_]))) ++p_;
            t.type = tok::param;
            return true;
        }
        std::size_t q = p_ + 1;
        while (q < s_.size() && s_[q] != '$' && is_ident_char(static_cast<unsigned char>(s_[q]))) ++q;
        if (q >= s_.size() || s_[q] != '$')
        {
            ++p_;
            t.type = tok::punct;
            t.punct = '$';
            return true;
        }
        std::string_view const tag = s_.substr(p_, q + 1 - p_);
        std::size_t const close = s_.find(tag, q + 1);
        if (close == std::string_view::npos) return false;
        t.type = tok::string;
        t.text = std::string(s_.substr(q + 1, close - q - 1));
        p_ = close + tag.size();
        return true;
    }

    /// MySQL @v, @'v', @"v", @`v`, @@v, @@session.v, @@global.v, ...
    bool variable(token& t)
    {
        ++p_;
        if (at(0) == '@')
        {
            ++p_;
            std::vector<std::string> parts;
            for (;;)
            {
                std::string part;
                if (at(0) == '`')
                {
                    if (!quoted('`', false, part)) return false;
                }
                else
                    part = std::string(ident_chars());
                if (part.empty()) return false;
                parts.push_back(lowered(part));
                if (at(0) != '.') break;
                ++p_;
            }
            std::size_t first = 0;
            if (parts.size() > 1 && one_of(parts[0], {"global", "session", "local", "persist", "persist_only"}))
            {
                t.scope = parts[0];
                first = 1;
            }
            for (std::size_t i = first; i < parts.size(); ++i)
            {
                if (i > first) t.text += '.';
                t.text += parts[i];
            }
            t.type = tok::system_var;
            return true;
        }
        std::string name;
        if (at(0) == '\'' || at(0) == '"')
        {
            if (!quoted(s_[p_], true, name)) return false;
        }
        else if (at(0) == '`')
        {
            if (!quoted('`', false, name)) return false;
        }
        else
        {
            std::size_t const b = p_;
            while (p_ < s_.size() && (is_ident_char(static_cast<unsigned char>(s_[p_])) || s_[p_] == '.')) ++p_;
            name = std::string(s_.substr(b, p_ - b));
            if (name.empty())
            {
                t.type = tok::punct;
                t.punct = '@';
                return true;
            }
        }
        t.type = tok::user_var;
        t.text = "@" + lowered(name);
        return true;
    }

    std::string_view s_;
    std::size_t p_ = 0;
    bool mysql_;
};

// ---- One statement ----

constexpr std::size_t npos = static_cast<std::size_t>(-1);

/// The tokens of one statement, with bounds-safe access (past the end: a token of type `end`) and the
/// parentheses matched.
class statement
{
public:
    statement(std::string_view sql, dialect d, std::vector<token> tokens, classification const& c)
        : sql_(sql), d_(d), c_(c), t_(std::move(tokens)), close_(t_.size(), npos), depth_(t_.size(), 0)
    {
        std::vector<std::size_t> open;
        for (std::size_t i = 0; i < t_.size(); ++i)
        {
            depth_[i] = open.size();
            if (punct(i, '('))
                open.push_back(i);
            else if (punct(i, ')') && !open.empty())
            {
                close_[open.back()] = i;
                open.pop_back();
                depth_[i] = open.size();
            }
        }
    }

    std::size_t size() const { return t_.size(); }
    token const& operator[](std::size_t i) const { return i < t_.size() ? t_[i] : end_; }
    bool mysql() const { return d_ == dialect::mysql; }
    dialect dialect_of() const { return d_; }
    classification const& classified() const { return c_; }
    std::string_view sql() const { return sql_; }

    bool word(std::size_t i, std::string_view w) const { return (*this)[i].type == tok::word && (*this)[i].text == w; }
    bool punct(std::size_t i, char c) const { return (*this)[i].type == tok::punct && (*this)[i].punct == c; }
    /// An identifier: an unquoted word or a quoted name. Not `""` or ``` `` ```: both servers refuse a zero-length
    /// quoted name, and no setting, table or statement has an empty one.
    bool name(std::size_t i) const
    {
        token const& t = (*this)[i];
        return t.type == tok::word || (t.type == tok::quoted && !t.text.empty());
    }
    bool assignment(std::size_t i) const { return punct(i, '=') || (*this)[i].type == tok::assign; }

    /// The matching ')' of the '(' at i, or npos.
    std::size_t close(std::size_t i) const { return i < t_.size() ? close_[i] : npos; }
    /// Parentheses open around token i.
    std::size_t depth(std::size_t i) const { return i < t_.size() ? depth_[i] : 0; }

    /// The text of tokens [from, to), as written (comments between them included).
    std::string_view text(std::size_t from, std::size_t to) const
    {
        if (from >= to || from >= t_.size()) return {};
        to = std::min(to, t_.size());
        return sql_.substr(t_[from].begin, t_[to - 1].end - t_[from].begin);
    }

    /// The token as written.
    std::string_view source(std::size_t i) const { return text(i, i + 1); }

    /// The end of the list element that starts at `from`: the next ',' at the same depth, or `to`.
    std::size_t element_end(std::size_t from, std::size_t to) const
    {
        std::size_t const d = depth(from);
        for (std::size_t i = from; i < to; ++i)
            if (punct(i, ',') && depth(i) == d) return i;
        return to;
    }

private:
    std::string_view sql_;
    dialect d_;
    classification const& c_;
    std::vector<token> t_;
    std::vector<std::size_t> close_;
    std::vector<std::size_t> depth_;
    token end_;
};

// ---- Results ----

session_effect_info no_effect()
{
    return {};
}

session_effect_info opaque()
{
    session_effect_info e;
    e.kind = effect_kind::opaque;
    return e;
}

/// `names` without repetitions, in their first order (a set, so that a statement of 100,000 assignments
/// does not take quadratic time).
std::vector<std::string> unique(std::vector<std::string> names)
{
    std::unordered_set<std::string> seen;
    std::vector<std::string> out;
    for (auto& n : names)
        if (seen.insert(n).second) out.push_back(std::move(n));
    return out;
}

session_effect_info setting(std::vector<std::string> keys, bool restores_default = false,
                            bool reads_session = false)
{
    session_effect_info e;
    e.kind = effect_kind::setting;
    e.keys = unique(std::move(keys));
    e.restores_default = restores_default;
    e.reads_session = reads_session;
    return e;
}

/// A pin or an unpin of `objects` of `cause`.
session_effect_info of_cause(effect_kind kind, pin_cause cause, std::vector<std::string> objects)
{
    session_effect_info e;
    e.kind = kind;
    e.cause = cause;
    e.objects = std::move(objects);
    return e;
}

session_effect_info pin(pin_cause cause, std::vector<std::string> objects = {})
{
    return of_cause(effect_kind::pin, cause, std::move(objects));
}

/// Removes `objects` of `cause`; no objects: every object of the cause. Callers that name objects must make
/// sure the list is not empty.
session_effect_info unpin(pin_cause cause, std::vector<std::string> objects = {})
{
    return of_cause(effect_kind::unpin, cause, std::move(objects));
}

session_effect_info discard(std::initializer_list<pin_cause> released, bool resets_settings)
{
    session_effect_info e;
    e.kind = effect_kind::discard;
    e.resets_settings = resets_settings;
    for (pin_cause c : released) e.releases[static_cast<int>(c)] = true;
    return e;
}

// ---- Shared helpers ----

/// True when classify() says `sql` changes session state itself (or cannot read it): a statement that embeds
/// it does more than the rule at hand accounts for.
bool touches_session(std::string_view sql, dialect d)
{
    classification const c = classify(sql, d);
    return c.pins_session || c.why == reason::unknown;
}

/// The same for an expression or clause: classify() watches a SELECT's body for calls of session functions,
/// `@v :=` and `INTO @v` / `INTO TEMP`, wherever they are.
bool expression_touches_session(std::string_view text, dialect d)
{
    return touches_session("SELECT " + std::string(text), d);
}

struct edit
{
    std::size_t begin;
    std::size_t end;
    std::string_view replacement;
};

/// `sql` with the byte ranges of `edits` (in order, not overlapping) replaced.
std::string edited(std::string_view sql, std::vector<edit> const& edits)
{
    std::string out;
    std::size_t p = 0;
    for (edit const& e : edits)
    {
        out += sql.substr(p, e.begin - p);
        out += e.replacement;
        p = e.end;
    }
    out += sql.substr(p);
    return out;
}

/// A PostgreSQL name: lower-cased unless quoted.
std::string pg_name(token const& t)
{
    return t.text; // words are lower-cased already, quoted names keep their case
}

/// A qualified name [a.[b.]]c starting at i; returns the index after it and fills `parts` (token indexes).
std::size_t qualified_name(statement const& s, std::size_t i, std::vector<std::size_t>& parts)
{
    parts.clear();
    if (!s.name(i)) return npos;
    parts.push_back(i);
    ++i;
    while (s.punct(i, '.') && s.name(i + 1) && parts.size() < 3)
    {
        parts.push_back(i + 1);
        i += 2;
    }
    return i;
}

// ---- Session-level locks in a SELECT (PostgreSQL advisory locks, MySQL user locks) ----

enum class lock_role : std::uint8_t { not_lock, lock, unlock, unlock_all, harmless, unknown };

lock_role pg_lock_role(std::string_view n)
{
    if (one_of(n, {"pg_advisory_lock", "pg_advisory_lock_shared", "pg_try_advisory_lock",
                   "pg_try_advisory_lock_shared"}))
        return lock_role::lock;
    if (one_of(n, {"pg_advisory_unlock", "pg_advisory_unlock_shared"})) return lock_role::unlock;
    if (n == "pg_advisory_unlock_all") return lock_role::unlock_all;
    if (one_of(n, {"pg_advisory_xact_lock", "pg_advisory_xact_lock_shared", "pg_try_advisory_xact_lock",
                   "pg_try_advisory_xact_lock_shared"}))
        return lock_role::harmless; // released at the end of the transaction
    if (n.substr(0, 12) == "pg_advisory_" || n.substr(0, 16) == "pg_try_advisory_") return lock_role::unknown;
    return lock_role::not_lock;
}

lock_role my_lock_role(std::string_view n)
{
    if (n == "get_lock") return lock_role::lock;
    if (n == "release_lock") return lock_role::unlock;
    if (n == "release_all_locks") return lock_role::unlock_all;
    if (n == "is_free_lock" || n == "is_used_lock") return lock_role::harmless;
    return lock_role::not_lock;
}

struct lock_call
{
    std::size_t first;  ///< the first token of the call (the schema of pg_catalog.f)
    std::size_t name;   ///< the function name
    std::size_t open;   ///< its '('
    std::size_t close;  ///< its ')'
    lock_role role;
};

/// The calls of lock functions in `s`. False when one cannot be judged: a quoted or schema-qualified name
/// (another function, perhaps), unbalanced parentheses, an advisory-lock function this code does not know.
bool find_lock_calls(statement const& s, std::vector<lock_call>& calls)
{
    for (std::size_t i = 0; i < s.size(); ++i)
    {
        token const& t = s[i];
        if (!s.name(i) || !s.punct(i + 1, '(')) continue;
        std::string const n = lowered(t.text);
        lock_role const role = s.mysql() ? my_lock_role(n) : pg_lock_role(n);
        if (role == lock_role::not_lock) continue;
        if (role == lock_role::unknown || t.type == tok::quoted) return false;
        std::size_t first = i;
        if (i > 0 && s.punct(i - 1, '.'))
        {
            if (s.mysql() || i < 2 || !s.word(i - 2, "pg_catalog") || (i >= 3 && s.punct(i - 3, '.'))) return false;
            first = i - 2;
        }
        std::size_t const close = s.close(i + 1);
        if (close == npos) return false;
        calls.push_back({first, i, i + 1, close, role});
    }
    return true;
}

/// Words that end a select list: after them a call may run once per row, or not at all.
bool ends_select_list(token const& t)
{
    return t.type == tok::word &&
           one_of(t.text, {"from", "where", "into", "union", "intersect", "except", "limit", "offset", "order",
                           "group", "having", "window", "fetch", "for", "lock", "procedure", "returning"});
}

/// The argument ranges [b, e) of the call whose parentheses are at open and close.
std::vector<std::pair<std::size_t, std::size_t>> arguments(statement const& s, std::size_t open, std::size_t close)
{
    std::vector<std::pair<std::size_t, std::size_t>> args;
    if (open + 1 == close) return args;
    for (std::size_t b = open + 1; b <= close;)
    {
        std::size_t const e = s.element_end(b, close);
        args.emplace_back(b, e);
        b = e + 1;
    }
    return args;
}

/// A PostgreSQL advisory lock key as the backend records it: the argument text without blanks or comments,
/// words lower-cased ("1", "1,2", "hashtext('x')").
std::string pg_lock_key(statement const& s, std::size_t open, std::size_t close)
{
    std::string key;
    for (std::size_t i = open + 1; i < close; ++i)
        key += s[i].type == tok::word ? std::string_view(s[i].text) : s.source(i);
    return key;
}

/// True when the key of an unlock call is made of constants only, so that the same text means the same key
/// whenever it runs: numbers, strings, signs, casts to integer or text types and the hash functions. A
/// parameter ($1, :k) or a column could stand for another key each time.
bool pg_constant_key(statement const& s, std::size_t open, std::size_t close)
{
    for (std::size_t i = open + 1; i < close; ++i)
    {
        token const& t = s[i];
        switch (t.type)
        {
        case tok::number:
        case tok::string: break;
        case tok::punct:
            if (!one_of(std::string_view(&t.punct, 1), {",", "(", ")", "+", "-"})) return false;
            break;
        case tok::cast:
            if (!one_of(s[i + 1].text, {"int", "int2", "int4", "int8", "integer", "bigint", "smallint", "text"}) ||
                s[i + 1].type != tok::word)
                return false;
            ++i;
            break;
        case tok::word:
            if (!one_of(t.text, {"hashtext", "hashtextextended", "hashint4", "hashint8"}) || !s.punct(i + 1, '('))
                return false;
            break;
        default: return false;
        }
    }
    return true;
}

/// A MySQL lock name: the call's argument `arg` must be one plain string literal; lower-cased, as lock names
/// ignore case. Empty when it is anything else.
std::string my_lock_name(statement const& s, std::pair<std::size_t, std::size_t> arg)
{
    if (arg.second != arg.first + 1) return {};
    token const& t = s[arg.first];
    if (t.type != tok::string || t.prefixed) return {};
    return lowered(t.text);
}

/// A statement that calls session-level lock functions: `SELECT f(...) [[AS] alias], ...` or MySQL's `DO`,
/// where every item that calls one is exactly that call. Nothing when it calls none.
std::optional<session_effect_info> lock_statement(statement const& s)
{
    std::vector<lock_call> calls;
    if (!find_lock_calls(s, calls)) return opaque();
    if (calls.empty()) return std::nullopt;
    if (!(s.word(0, "select") || (s.mysql() && s.word(0, "do")))) return opaque();

    std::vector<std::string> locked;
    std::vector<std::string> unlocked;
    bool unlock_all = false;
    bool harmless = false;
    bool others = false;
    std::size_t next_call = 0;
    for (std::size_t i = 1; i < s.size();)
    {
        std::size_t const e = s.element_end(i, s.size());
        if (e == i) return opaque(); // an empty item
        for (std::size_t j = i; j < e; ++j)
            if (s.depth(j) == 0 && ends_select_list(s[j])) return opaque();
        std::size_t calls_here = 0;
        while (next_call + calls_here < calls.size() && calls[next_call + calls_here].name < e) ++calls_here;
        if (calls_here == 0)
            others = true;
        else
        {
            lock_call const& c = calls[next_call];
            std::size_t const after = c.close + 1;
            bool const exact = calls_here == 1 && c.first == i &&
                               (after == e || (s.word(after, "as") && after + 2 == e &&
                                               (s.name(after + 1) || s[after + 1].type == tok::string)) ||
                                (after + 1 == e && (s.name(after) || s[after].type == tok::string)));
            if (!exact) return opaque(); // a conditional call, a call in an expression, ...
            auto const args = arguments(s, c.open, c.close);
            switch (c.role)
            {
            case lock_role::lock:
                if (s.mysql())
                {
                    std::string n = args.size() == 2 ? my_lock_name(s, args[0]) : std::string();
                    if (n.empty()) return opaque();
                    locked.push_back(std::move(n));
                }
                else
                {
                    if (args.empty() || args.size() > 2) return opaque();
                    locked.push_back(pg_lock_key(s, c.open, c.close));
                }
                break;
            case lock_role::unlock:
                if (s.mysql())
                {
                    std::string n = args.size() == 1 ? my_lock_name(s, args[0]) : std::string();
                    if (n.empty()) return opaque();
                    unlocked.push_back(std::move(n));
                }
                else
                {
                    if (args.empty() || args.size() > 2 || !pg_constant_key(s, c.open, c.close)) return opaque();
                    unlocked.push_back(pg_lock_key(s, c.open, c.close));
                }
                break;
            case lock_role::unlock_all:
                if (!args.empty()) return opaque();
                unlock_all = true;
                break;
            default: harmless = true; break;
            }
            next_call += calls_here;
        }
        if (e == s.size()) break;
        i = e + 1;
        if (i == s.size()) return opaque(); // a trailing comma
    }
    if (next_call != calls.size()) return opaque();

    bool const releases = unlock_all || !unlocked.empty();
    if (!locked.empty() && releases) return opaque();
    // An unlock counts only when it surely ran: alone in its statement, nothing else that could fail first.
    if (releases && (others || harmless || (unlock_all && !unlocked.empty()))) return opaque();

    // Whatever else the statement does (the lock calls made harmless, their arguments kept) must not touch the
    // session: SELECT pg_advisory_lock(1), set_config(...) does two things.
    std::vector<edit> edits;
    for (lock_call const& c : calls) edits.push_back({s[c.name].begin, s[c.name].end, "coalesce"});
    if (touches_session(edited(s.sql(), edits), s.dialect_of())) return opaque();

    if (!locked.empty()) return pin(pin_cause::advisory_lock, std::move(locked));
    if (unlock_all) return unpin(pin_cause::advisory_lock);
    if (!unlocked.empty()) return unpin(pin_cause::advisory_lock, std::move(unlocked));
    return no_effect(); // transaction-level locks, IS_FREE_LOCK(), ...
}

// ---- Temporary tables ----

/// The name a temporary object is recorded under. PostgreSQL: lower-cased unless quoted, pg_temp.x is x.
/// MySQL: as written (table names are case-sensitive on Linux), the database qualifier dropped.
std::string temp_name(statement const& s, std::vector<std::size_t> const& parts, bool creating)
{
    std::size_t const last = parts.back();
    if (s.mysql()) return s[last].type == tok::quoted ? s[last].text : std::string(s.source(last));
    if (parts.size() == 1) return pg_name(s[last]);
    std::string const schema = pg_name(s[parts[parts.size() - 2]]);
    if (creating || schema == "pg_temp" || schema.rfind("pg_temp_", 0) == 0) return pg_name(s[last]);
    // DROP TABLE public.t leaves a temporary t in place: a name no temporary object is recorded under
    return schema + "." + pg_name(s[last]);
}

/// CREATE [OR REPLACE] [GLOBAL | LOCAL] TEMP[ORARY] {TABLE | VIEW | SEQUENCE} [IF NOT EXISTS] name ...
session_effect_info create_temporary(statement const& s)
{
    std::size_t i = 1;
    if (s.word(i, "or") && s.word(i + 1, "replace")) i += 2;
    if (!s.mysql() && (s.word(i, "global") || s.word(i, "local"))) ++i;
    if (!(s.word(i, "temporary") || (!s.mysql() && s.word(i, "temp")))) return opaque();
    ++i;
    if (!s.mysql() && s.word(i, "recursive")) ++i;
    bool const table = s.word(i, "table");
    if (!table && !s.word(i, "sequence") && (s.mysql() || !s.word(i, "view"))) return opaque();
    ++i;
    if (s.word(i, "if") && s.word(i + 1, "not") && s.word(i + 2, "exists")) i += 3;
    std::vector<std::size_t> parts;
    std::size_t const after = qualified_name(s, i, parts);
    if (after == npos) return opaque();
    // CREATE TEMP TABLE t AS SELECT pg_advisory_lock(1): the query runs, and may touch the session itself
    if (after < s.size() && expression_touches_session(s.text(after, s.size()), s.dialect_of())) return opaque();
    if (table && !s.mysql())
    {
        // ON COMMIT DROP: gone with the transaction. Only before AS: after it comes the query.
        for (std::size_t j = after; j < s.size() && !(s.depth(j) == 0 && s.word(j, "as")); ++j)
            if (s.depth(j) == 0 && s.word(j, "on") && s.word(j + 1, "commit") && s.word(j + 2, "drop"))
                return no_effect();
    }
    return pin(pin_cause::temp_table, {temp_name(s, parts, true)});
}

/// DROP [TEMPORARY] {TABLE | VIEW | SEQUENCE} [IF EXISTS] a, b [CASCADE | RESTRICT]; MySQL DROP PREPARE s.
session_effect_info drop(statement const& s)
{
    std::size_t i = 1;
    if (s.mysql())
    {
        if (s.word(1, "prepare"))
            return s.size() == 3 && s.name(2) ? unpin(pin_cause::prepared, {lowered(s[2].text)}) : opaque();
        if (s.word(i, "temporary")) ++i;
        if (!s.word(i, "table") && !s.word(i, "tables") && !s.word(i, "sequence")) return opaque();
    }
    else if (!s.word(i, "table") && !s.word(i, "view") && !s.word(i, "sequence"))
        return opaque();
    ++i;
    if (s.word(i, "if") && s.word(i + 1, "exists")) i += 2;
    std::vector<std::string> names;
    for (;;)
    {
        std::vector<std::size_t> parts;
        std::size_t const after = qualified_name(s, i, parts);
        if (after == npos) return opaque();
        names.push_back(temp_name(s, parts, false));
        i = after;
        if (!s.punct(i, ',')) break;
        ++i;
    }
    if (s.word(i, "cascade") || s.word(i, "restrict")) ++i;
    if (i != s.size() || names.empty()) return opaque();
    return unpin(pin_cause::temp_table, std::move(names));
}

// ---- PostgreSQL ----

/// Tokens a SET value may consist of: names, literals, numbers, commas and signs (no expressions exist there;
/// anything else, a parameter say, is not something to replay).
bool pg_plain_values(statement const& s, std::size_t from)
{
    if (from >= s.size()) return false;
    for (std::size_t i = from; i < s.size(); ++i)
    {
        token const& t = s[i];
        bool const ok = t.type == tok::word || t.type == tok::quoted || t.type == tok::string ||
                        t.type == tok::number || s.punct(i, ',') || s.punct(i, '+') || s.punct(i, '-');
        if (!ok) return false;
    }
    return true;
}

/// A setting of `key` whose value is the tokens from `from`; a value that is exactly one of `defaults`
/// restores the default.
session_effect_info pg_value_setting(statement const& s, std::size_t from, std::string key,
                                     std::initializer_list<std::string_view> defaults)
{
    if (!pg_plain_values(s, from)) return opaque();
    bool const restores = from + 1 == s.size() && s[from].type == tok::word && one_of(s[from].text, defaults);
    return setting({std::move(key)}, restores);
}

/// Variables of this transaction only, whatever the SET.
bool pg_transaction_variable(std::string_view key)
{
    return one_of(key, {"transaction_isolation", "transaction_read_only", "transaction_deferrable"});
}

/// A dotted configuration parameter name at i, lower-cased (parameter names ignore case, quoted or not).
std::size_t pg_parameter(statement const& s, std::size_t i, std::string& key)
{
    if (!s.name(i)) return npos;
    key = lowered(s[i].text);
    ++i;
    while (s.punct(i, '.') && s.name(i + 1))
    {
        key += '.' + lowered(s[i + 1].text);
        i += 2;
    }
    return i;
}

session_effect_info pg_set(statement const& s)
{
    // SET LOCAL, SET TRANSACTION (and TRANSACTION SNAPSHOT), SET CONSTRAINTS: this transaction only.
    if (s.word(1, "local") || s.word(1, "transaction") || s.word(1, "constraints")) return no_effect();
    std::size_t i = 1;
    if (s.word(1, "session"))
    {
        if (s.word(2, "characteristics"))
            return s.word(3, "as") && s.word(4, "transaction") && pg_plain_values(s, 5)
                       ? setting({"default_transaction_characteristics"})
                       : opaque();
        if (s.word(2, "authorization")) return pg_value_setting(s, 3, "session_authorization", {"default"});
        i = 2;
    }
    if (s.word(i, "time") && s.word(i + 1, "zone")) return pg_value_setting(s, i + 2, "timezone", {"local", "default"});
    if (s.word(i, "names"))
    {
        if (i + 1 == s.size()) return setting({"client_encoding"}, true); // SET NAMES: the default encoding
        return pg_value_setting(s, i + 1, "client_encoding", {"default"});
    }
    if (s.word(i, "schema"))
        return i + 2 == s.size() && s[i + 1].type == tok::string ? setting({"search_path"}) : opaque();
    if (s.word(i, "role") && !s.word(i + 1, "to") && !s.punct(i + 1, '='))
        return i + 2 == s.size() ? pg_value_setting(s, i + 1, "role", {"none"}) : opaque();
    if (s.word(i, "xml") && s.word(i + 1, "option")) return pg_value_setting(s, i + 2, "xmloption", {});
    if (s.word(i, "catalog") || s.word(i, "transaction")) return opaque();

    std::string key;
    std::size_t const j = pg_parameter(s, i, key);
    if (j == npos || !(s.word(j, "to") || s.punct(j, '='))) return opaque(); // also SET x FROM CURRENT
    if (pg_transaction_variable(key)) return no_effect();
    if (key == "seed") return opaque(); // seeds random() once: not a state to carry over
    if (key == "role") return pg_value_setting(s, j + 1, key, {"default", "none"});
    return pg_value_setting(s, j + 1, key, {"default"});
}

session_effect_info pg_reset(statement const& s)
{
    std::size_t const n = s.size();
    if (n == 2 && s.word(1, "all"))
    {
        session_effect_info e;
        e.kind = effect_kind::reset_all;
        return e;
    }
    if (n == 3 && s.word(1, "time") && s.word(2, "zone")) return setting({"timezone"}, true);
    if (n == 3 && s.word(1, "session") && s.word(2, "authorization")) return setting({"session_authorization"}, true);
    if (n == 4 && s.word(1, "transaction") && s.word(2, "isolation") && s.word(3, "level")) return no_effect();
    std::string key;
    if (pg_parameter(s, 1, key) != n) return opaque();
    if (pg_transaction_variable(key)) return no_effect();
    if (key == "seed") return opaque();
    return setting({std::move(key)}, true);
}

session_effect_info pg_discard(statement const& s)
{
    if (s.size() != 2) return opaque();
    if (s.word(1, "all"))
        return discard({pin_cause::temp_table, pin_cause::advisory_lock, pin_cause::listen, pin_cause::prepared,
                        pin_cause::user_variable, pin_cause::table_lock, pin_cause::cursor,
                        pin_cause::next_transaction},
                       true);
    if (s.word(1, "temp") || s.word(1, "temporary")) return discard({pin_cause::temp_table}, false);
    if (s.word(1, "plans") || s.word(1, "sequences")) return discard({}, false);
    return opaque();
}

/// SELECT ... INTO [GLOBAL | LOCAL] TEMP[ORARY] [TABLE] name ...
std::optional<session_effect_info> pg_select_into_temporary(statement const& s)
{
    for (std::size_t i = 0; i < s.size(); ++i)
    {
        if (!s.word(i, "into") || s.depth(i) != 0) continue;
        std::size_t j = i + 1;
        if (s.word(j, "global") || s.word(j, "local")) ++j;
        if (!s.word(j, "temp") && !s.word(j, "temporary")) return std::nullopt;
        ++j;
        if (s.word(j, "table")) ++j;
        std::vector<std::size_t> parts;
        std::size_t const after = qualified_name(s, j, parts);
        if (after == npos) return opaque();
        // The rest of the query runs too: it must not touch the session itself.
        std::string const rest = edited(s.sql(), {{s[i].begin, s[after - 1].end, " "}});
        if (touches_session(rest, dialect::postgresql)) return opaque();
        return pin(pin_cause::temp_table, {temp_name(s, parts, true)});
    }
    return std::nullopt;
}

/// PREPARE name [(types)] AS statement
session_effect_info pg_prepare(statement const& s)
{
    if (s.word(1, "transaction")) return no_effect(); // two-phase commit: transaction control
    if (!s.name(1)) return opaque();
    std::size_t i = 2;
    if (s.punct(i, '('))
    {
        i = s.close(i);
        if (i == npos) return opaque();
        ++i;
    }
    if (!s.word(i, "as") || i + 1 >= s.size()) return opaque();
    // EXECUTE runs the statement later without being looked at: a statement that touches the session would
    // outlive DEALLOCATE.
    if (touches_session(s.text(i + 1, s.size()), dialect::postgresql)) return opaque();
    return pin(pin_cause::prepared, {pg_name(s[1])});
}

session_effect_info pg_deallocate(statement const& s)
{
    std::size_t i = 1;
    if (s.word(i, "prepare")) ++i;
    if (i + 1 != s.size() || !s.name(i)) return opaque();
    if (s.word(i, "all")) return unpin(pin_cause::prepared);
    return unpin(pin_cause::prepared, {pg_name(s[i])});
}

/// DECLARE name [BINARY] [ASENSITIVE | INSENSITIVE] [[NO] SCROLL] CURSOR [{WITH | WITHOUT} HOLD] FOR query
session_effect_info pg_declare(statement const& s)
{
    if (!s.name(1)) return opaque();
    std::size_t i = 2;
    while (s.word(i, "binary") || s.word(i, "asensitive") || s.word(i, "insensitive") || s.word(i, "no") ||
           s.word(i, "scroll"))
        ++i;
    if (!s.word(i, "cursor")) return opaque();
    ++i;
    bool hold = false;
    if ((s.word(i, "with") || s.word(i, "without")) && s.word(i + 1, "hold"))
    {
        hold = s.word(i, "with");
        i += 2;
    }
    if (!s.word(i, "for") || i + 1 >= s.size()) return opaque();
    // The query runs as the cursor is read, and may take a session lock or set a variable.
    if (touches_session(s.text(i + 1, s.size()), dialect::postgresql)) return opaque();
    if (!hold) return no_effect(); // closed at the end of the transaction
    return pin(pin_cause::cursor, {pg_name(s[1])});
}

session_effect_info pg_statement(statement const& s)
{
    std::string_view const first = s[0].type == tok::word ? std::string_view(s[0].text) : std::string_view();
    if (first == "set") return pg_set(s);
    if (first == "reset") return pg_reset(s);
    if (first == "discard") return pg_discard(s);
    if (first == "create") return create_temporary(s);
    if (first == "drop") return drop(s);
    if (first == "listen") return s.size() == 2 && s.name(1) ? pin(pin_cause::listen, {pg_name(s[1])}) : opaque();
    if (first == "unlisten")
    {
        if (s.size() == 2 && s.punct(1, '*')) return unpin(pin_cause::listen);
        return s.size() == 2 && s.name(1) ? unpin(pin_cause::listen, {pg_name(s[1])}) : opaque();
    }
    if (first == "prepare") return pg_prepare(s);
    if (first == "deallocate") return pg_deallocate(s);
    if (first == "declare") return pg_declare(s);
    if (first == "close")
    {
        if (s.size() != 2 || !s.name(1)) return opaque();
        return s.word(1, "all") ? unpin(pin_cause::cursor) : unpin(pin_cause::cursor, {pg_name(s[1])});
    }
    if (first == "fetch" || first == "move" || first == "lock") return no_effect(); // cursor reads, table locks
    if (first == "execute")
    {
        // PREPARE only pins statements that leave the session alone; EXECUTE's arguments are expressions.
        return expression_touches_session(s.text(1, s.size()), dialect::postgresql) ? opaque() : no_effect();
    }
    if (auto e = lock_statement(s)) return *e;
    if (first == "select" || first == "with")
        if (auto e = pg_select_into_temporary(s)) return *e;
    return opaque(); // LOAD, set_config(), dblink_connect(), anything not recognised
}

// ---- MySQL / MariaDB ----

/// One assignment of a MySQL SET.
struct my_assignment
{
    enum class kind : std::uint8_t { user, system, names, charset } what = kind::system;
    bool global = false;
    bool bare_at = false;  ///< @@name: for transaction variables, the next transaction only
    std::string key;
    std::size_t value_begin = 0;
    std::size_t value_end = 0;
};

/// A single literal: [sign] number, [_charset] string, NULL, TRUE, FALSE.
bool my_constant(statement const& s, std::size_t b, std::size_t e)
{
    while (b < e && (s.punct(b, '-') || s.punct(b, '+')) && s[b + 1].type == tok::number) ++b;
    if (e - b == 1)
    {
        token const& t = s[b];
        return t.type == tok::number || t.type == tok::string ||
               (t.type == tok::word && one_of(t.text, {"null", "true", "false"}));
    }
    return e - b == 2 && s[b].type == tok::word && s[b].text[0] == '_' && s[b + 1].type == tok::string;
}

/// Functions a replayed value may call: they give the same result on any connection with the same settings.
bool my_replayable_function(std::string_view n)
{
    return one_of(n, {"concat", "concat_ws", "replace", "if", "ifnull", "coalesce", "nullif", "lower", "upper",
                      "lcase", "ucase", "trim", "ltrim", "rtrim", "substring", "substr", "substring_index", "left",
                      "right", "lpad", "rpad", "greatest", "least", "cast", "convert", "reverse", "repeat"});
}

/// Variables a SET must never be replayed for: autocommit changes what a transaction is; the others act on
/// the next statement only or on replication.
bool my_unreplayable_variable(std::string_view key)
{
    return one_of(key, {"autocommit", "insert_id", "last_insert_id", "identity", "rand_seed1", "rand_seed2",
                        "gtid_next", "gtid_next_list", "gtid_seq_no"});
}

bool my_transaction_variable(std::string_view key)
{
    return one_of(key, {"transaction_isolation", "tx_isolation", "transaction_read_only", "tx_read_only"});
}

bool my_scope_keyword(statement const& s, std::size_t i)
{
    return s[i].type == tok::word && one_of(s[i].text, {"global", "session", "local", "persist", "persist_only"}) &&
           !s.assignment(i + 1) && !s.punct(i + 1, '.');
}

/// SET [scope] var = value [, [scope] var = value] ..., SET NAMES, SET CHARACTER SET, SET [scope] TRANSACTION.
session_effect_info my_set(statement const& s)
{
    if (s.word(1, "statement"))
    {
        // MariaDB SET STATEMENT ... FOR statement: the settings last one statement, which classify() has seen.
        return s.classified().pins_session ? opaque() : no_effect();
    }
    if (s.word(1, "role") && !s.assignment(2))
        return s.size() > 2 ? setting({"role"}, s.size() == 3 && s.word(2, "default")) : opaque();
    if (s.word(1, "password") || ((s.word(1, "default") || s.word(1, "resource")) && !s.assignment(2)))
        return opaque(); // accounts, default roles, resource groups

    std::vector<my_assignment> items;
    bool global = false;   // the last scope keyword carries over to the assignments that follow
    bool explicit_scope = false;
    std::size_t i = 1;
    for (;;)
    {
        if (my_scope_keyword(s, i))
        {
            global = s[i].text == "global" || s[i].text == "persist" || s[i].text == "persist_only";
            explicit_scope = true;
            ++i;
        }
        if (s.word(i, "transaction") && !s.assignment(i + 1))
        {
            // SET [GLOBAL | SESSION] TRANSACTION characteristics: alone in its statement
            if (!items.empty()) return opaque();
            if (!explicit_scope) return pin(pin_cause::next_transaction);
            return global ? no_effect() : setting({"session_transaction"});
        }
        my_assignment a;
        a.global = global;
        std::size_t v = npos;  // the value's first token
        if (s.word(i, "names") && !s.assignment(i + 1))
        {
            a.what = my_assignment::kind::names;
            a.key = "names";
            v = i + 1;
        }
        else if ((s.word(i, "character") && s.word(i + 1, "set")) || (s.word(i, "charset") && !s.assignment(i + 1)))
        {
            a.what = my_assignment::kind::charset;
            a.key = "character set";
            v = s.word(i, "charset") ? i + 1 : i + 2;
        }
        else if (s[i].type == tok::user_var)
        {
            a.what = my_assignment::kind::user;
            a.global = false;
            a.key = s[i].text;
            if (!s.assignment(i + 1)) return opaque();
            v = i + 2;
        }
        else if (s[i].type == tok::system_var)
        {
            std::string const& scope = s[i].scope;
            a.global = scope == "global" || scope == "persist" || scope == "persist_only";
            a.bare_at = scope.empty();
            a.key = s[i].text;
            if (!s.assignment(i + 1)) return opaque();
            v = i + 2;
        }
        else if (s.name(i))
        {
            std::string key;
            std::size_t const after = pg_parameter(s, i, key); // structured names: default.key_buffer_size
            if (after == npos || !s.assignment(after)) return opaque();
            a.key = std::move(key);
            v = after + 1;
        }
        else
            return opaque();
        if (a.global && a.what != my_assignment::kind::system) return opaque();
        a.value_begin = v;
        a.value_end = s.element_end(v, s.size());
        if (a.value_end <= a.value_begin) return opaque();
        i = a.value_end;
        items.push_back(std::move(a));
        if (i == s.size()) break;
        ++i; // ','
        if (i == s.size()) return opaque();
    }

    bool any_global = false;
    bool any_session = false;
    bool user_expression = false;  // a user variable assigned anything but a literal
    bool any_system = false;       // session system variables, NAMES, CHARACTER SET
    bool all_default = true;
    bool reads_session = false;
    std::vector<std::string> keys;
    for (my_assignment const& a : items)
    {
        std::size_t const b = a.value_begin;
        std::size_t const e = a.value_end;
        // The value is evaluated now: GET_LOCK(), @w := ..., (SELECT ... INTO @w) would do more than set.
        if (expression_touches_session(s.text(b, e), dialect::mysql)) return opaque();
        bool const is_default = e == b + 1 && s.word(b, "default");
        bool mentions_variable = false;
        bool replayable = true;
        for (std::size_t j = b; j < e; ++j)
        {
            token const& t = s[j];
            if (t.type == tok::user_var || t.type == tok::system_var || s.punct(j, '@')) mentions_variable = true;
            if (t.type == tok::param) replayable = false; // a value bound now, not in the text
            if (s.word(j, "select") || (s.punct(j, '(') && (s.word(j + 1, "with") || s.word(j + 1, "values") ||
                                                             s.word(j + 1, "table"))))
                replayable = false; // a subquery reads tables now: replayed later, it reads other rows
            if (s.name(j) && s.punct(j + 1, '(') && !my_replayable_function(lowered(t.text)))
                replayable = false; // NOW(), UUID(), CONNECTION_ID(), ...
        }
        if (a.global)
        {
            any_global = true;
            continue;
        }
        any_session = true;
        if (!is_default) all_default = false;
        keys.push_back(a.key);
        if (a.what == my_assignment::kind::user)
        {
            if (!my_constant(s, b, e)) user_expression = true;
            continue;
        }
        any_system = true;
        if (my_unreplayable_variable(a.key) || (a.bare_at && my_transaction_variable(a.key)) || !replayable)
            return opaque();
        if (mentions_variable) reads_session = true;
    }
    if (any_global) return any_session ? opaque() : no_effect(); // the server's settings, not this session's
    if (user_expression)
    {
        // @v = (SELECT ...), @v = NOW(): its value exists on this connection only.
        if (any_system) return opaque();
        return pin(pin_cause::user_variable, unique(std::move(keys)));
    }
    return setting(std::move(keys), all_default, reads_session);
}

/// Statements that assign user variables outside SET: SELECT ... INTO @a, @b; @v := expr anywhere.
std::optional<session_effect_info> my_user_variables(statement const& s)
{
    std::vector<std::string> names;
    std::vector<edit> edits;
    for (std::size_t i = 0; i < s.size(); ++i)
    {
        if (s[i].type == tok::user_var && s[i + 1].type == tok::assign)
        {
            names.push_back(s[i].text);
            edits.push_back({s[i].begin, s[i + 1].end, " "});
            ++i;
        }
        else if (s.word(i, "into") && s[i + 1].type == tok::user_var)
        {
            std::size_t j = i + 1;
            names.push_back(s[j].text);
            while (s.punct(j + 1, ',') && s[j + 2].type == tok::user_var)
            {
                j += 2;
                names.push_back(s[j].text);
            }
            edits.push_back({s[i].begin, s[j].end, " "});
            i = j;
        }
    }
    if (names.empty()) return std::nullopt;
    // Without its assignments, the statement must leave the session alone.
    if (touches_session(edited(s.sql(), edits), dialect::mysql)) return opaque();
    return pin(pin_cause::user_variable, unique(std::move(names)));
}

/// PREPARE name FROM 'statement'
session_effect_info my_prepare(statement const& s)
{
    if (s.size() != 4 || !s.name(1) || !s.word(2, "from") || s[3].type != tok::string) return opaque();
    // FROM @v hides the statement; a statement that touches the session would outlive DEALLOCATE, and EXECUTE
    // of a COMMIT would move a transaction boundary where the backend does not look.
    classification const body = classify(s[3].text, dialect::mysql);
    if (body.pins_session || body.why == reason::unknown || body.why == reason::multi_statement ||
        body.kind == statement_kind::transaction_control)
        return opaque();
    return pin(pin_cause::prepared, {lowered(s[1].text)}); // statement names ignore case
}

session_effect_info my_statement(statement const& s)
{
    std::string_view const first = s[0].type == tok::word ? std::string_view(s[0].text) : std::string_view();
    if (first == "set") return my_set(s);
    if (first == "use") return s.size() == 2 && s.name(1) ? setting({"use"}) : opaque();
    if (first == "lock")
        return s.word(1, "tables") || s.word(1, "table") ? pin(pin_cause::table_lock) : opaque();
    if (first == "unlock")
        return s.size() == 2 && (s.word(1, "tables") || s.word(1, "table")) ? unpin(pin_cause::table_lock)
                                                                              : opaque();
    if (first == "create") return create_temporary(s);
    if (first == "drop") return drop(s);
    if (first == "prepare") return my_prepare(s);
    if (first == "deallocate")
        return s.size() == 3 && s.word(1, "prepare") && s.name(2) ? unpin(pin_cause::prepared, {lowered(s[2].text)})
                                                                  : opaque();
    if (first == "execute") return no_effect(); // PREPARE only pins statements that leave the session alone
    if (first == "handler") return opaque();
    if (auto e = lock_statement(s)) return *e;
    if (auto e = my_user_variables(s)) return *e;
    return opaque();
}

session_effect_info analyse(std::string_view sql, dialect d, classification const& c)
{
    std::vector<token> tokens;
    if (!tokenizer(sql, d).run(tokens)) return opaque();
    for (std::size_t i = 0; i < tokens.size(); ++i)
    {
        if (tokens[i].type != tok::punct || tokens[i].punct != ';') continue;
        if (i + 1 != tokens.size()) return opaque(); // a second statement
        tokens.pop_back();
    }
    if (tokens.empty()) return no_effect();
    statement const s(sql, d, std::move(tokens), c);
    return d == dialect::mysql ? my_statement(s) : pg_statement(s);
}

} // namespace

session_effect_info session_effect(std::string_view sql, dialect d, classification const& c)
{
    session_effect_info e;
    try
    {
        e = analyse(sql, d, c);
    }
    catch (...)
    {
        e = opaque(); // out of memory: the safe answer
    }
    // classify() decides *whether* a statement touches the session; this analysis only says how. A statement
    // it did not mark counts only when it releases state (DROP TABLE of a temporary table, ...) or is MySQL's
    // SET TRANSACTION, which classify() files under transaction control.
    if (!c.pins_session)
    {
        bool const releases = e.kind == effect_kind::unpin || e.kind == effect_kind::discard;
        bool const next_transaction = e.kind == effect_kind::pin && e.cause == pin_cause::next_transaction;
        if (!releases && !next_transaction) return {};
    }
    return e;
}

} // namespace soci_routing
