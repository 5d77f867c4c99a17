// soci-routing: the SQL classifier.
//
// One pass: the lexer hands out tokens (comments skipped, literals opaque), and a small per-statement state
// machine decides from the first words what the statement is, then watches the rest for the markers that make
// a read unsafe for a replica. Every decision raises a statement's reason to one of higher rank, so the
// strongest reason found wins whatever the order of the markers in the text.

#include "classifier.h"

#include "functions.h"
#include "keywords.h"
#include "lexer.h"

#include <cstddef>

namespace soci_routing
{

char const* to_string(reason r) noexcept
{
    switch (r)
    {
    case reason::select: return "select";
    case reason::show: return "show";
    case reason::explain: return "explain";
    case reason::cte_read: return "cte_read";
    case reason::write: return "write";
    case reason::locking_read: return "locking_read";
    case reason::select_into: return "select_into";
    case reason::explain_analyze: return "explain_analyze";
    case reason::cte_write: return "cte_write";
    case reason::side_effect_function: return "side_effect_function";
    case reason::multi_statement: return "multi_statement";
    case reason::transaction_control: return "transaction_control";
    case reason::session_state: return "session_state";
    case reason::hint: return "hint";
    case reason::unknown: return "unknown";
    }
    return "unknown";
}

char const* to_string(target t) noexcept
{
    return t == target::replica ? "replica" : "primary";
}

char const* to_string(statement_kind k) noexcept
{
    switch (k)
    {
    case statement_kind::read: return "read";
    case statement_kind::write: return "write";
    case statement_kind::transaction_control: return "transaction_control";
    case statement_kind::session_state: return "session_state";
    case statement_kind::unknown: return "unknown";
    }
    return "unknown";
}

namespace
{

using detail::kw;
using detail::token;
using detail::token_type;

/// The order in which reasons override each other within one statement (higher wins).
int rank(reason r) noexcept
{
    switch (r)
    {
    case reason::select:
    case reason::show:
    case reason::explain:
    case reason::cte_read: return 0;
    case reason::side_effect_function: return 20;
    case reason::locking_read: return 30;
    case reason::select_into: return 35;
    case reason::cte_write: return 40;
    case reason::explain_analyze: return 45;
    case reason::write: return 50;
    case reason::session_state: return 60;
    case reason::transaction_control: return 70;
    case reason::multi_statement: return 80;
    case reason::hint: return 90;
    case reason::unknown: return 100;
    }
    return 100;
}

/// Reasons that mean the statement may change data (or take locks that precede a change): they set is_write.
bool writes(reason r) noexcept
{
    switch (r)
    {
    case reason::write:
    case reason::locking_read:
    case reason::select_into:
    case reason::explain_analyze:
    case reason::cte_write:
    case reason::side_effect_function: return true;
    default: return false;
    }
}

statement_kind kind_of(reason r) noexcept
{
    switch (r)
    {
    case reason::select:
    case reason::show:
    case reason::explain:
    case reason::cte_read: return statement_kind::read;
    case reason::transaction_control: return statement_kind::transaction_control;
    case reason::session_state: return statement_kind::session_state;
    case reason::unknown: return statement_kind::unknown;
    default: return statement_kind::write;
    }
}

/// What one statement (between semicolons) turned out to be.
struct statement_result
{
    reason why = reason::select;
    int rank = -1;
    bool empty = true;
    bool begins = false;
    bool ends = false;
    bool pins = false;
    bool write = false;

    void mark(reason r) noexcept
    {
        int const k = soci_routing::rank(r);
        if (k > rank)
        {
            rank = k;
            why = r;
        }
        if (writes(r)) write = true;
    }
};

/// The token stream with one token of look-ahead, and the previous token still readable: three buffers in a
/// ring (current, previous, peeked), so that no token is ever copied.
class token_stream
{
public:
    token_stream(std::string_view sql, dialect d) noexcept : lexer_(sql, d) { lexer_.skip_insignificant(true); }

    token& next() noexcept
    {
        prev_ = cur_;
        cur_ = following(cur_);
        if (peeked_)
            peeked_ = false;
        else
            lex(buf_[cur_]);
        return buf_[cur_];
    }

    token& peek() noexcept
    {
        token& t = buf_[following(cur_)];
        if (!peeked_)
        {
            lex(t);
            peeked_ = true;
        }
        return t;
    }

    token const& prev() const noexcept { return buf_[prev_]; }
    void skip_identifiers(bool on) noexcept { lexer_.skip_identifiers(on); }
    token_type prev_type() const noexcept { return buf_[prev_].type; }
    kw prev_kw() const noexcept { return buf_[prev_].keyword; }
    char prev_punct() const noexcept { return buf_[prev_].punct; }

    bool hint() const noexcept { return lexer_.hint(); }
    bool error() const noexcept { return lexer_.error(); }
    /// True when a token followed the first ';'.
    bool multi() const noexcept { return multi_; }

private:
    static int following(int i) noexcept { return i == 2 ? 0 : i + 1; }

    /// Out of line, with the lexer's common path inlined into it: one call per token.
    [[gnu::noinline]] void lex(token& t) noexcept
    {
        t.punct = 0;
        lexer_.next(t);
        t.after_identifier = lexer_.after_identifier();
        t.after_skip = lexer_.after_skip();
        if (t.type == token_type::end) return;
        if (seen_semicolon_) multi_ = true;
        if (t.type == token_type::punct && t.punct == ';')
        {
            seen_semicolon_ = true;
            lexer_.skip_insignificant(false); // after a ';', any token at all is a second statement
        }
    }

    detail::lexer lexer_;
    token buf_[3];
    int cur_ = 0;
    int prev_ = 1;
    bool peeked_ = false;
    bool seen_semicolon_ = false;
    bool multi_ = false;
};

bool is_punct(token const& t, char c) noexcept
{
    return t.type == token_type::punct && t.punct == c;
}

bool ends_statement(token const& t) noexcept
{
    return t.type == token_type::end || is_punct(t, ';');
}

bool starts_read(token const& t, dialect d) noexcept
{
    return t.keyword == kw::select_ || t.keyword == kw::values_ || t.keyword == kw::with_ ||
           (t.keyword == kw::table_ && d == dialect::postgresql);
}

/// Classifies the statement that starts at the stream's next token, consuming it and its ';'.
class statement_classifier
{
public:
    statement_classifier(token_stream& ts, dialect d, classify_options const& options) noexcept
        : ts_(ts), d_(d), mysql_(d == dialect::mysql), options_(options)
    {
    }

    /// Returns true when the statement ended with ';' (more text may follow).
    bool run(statement_result& r) noexcept
    {
        r_ = &r;
        token* t = &ts_.next();
        if (t->type == token_type::end) return false;
        if (is_punct(*t, ';')) return true;
        r.empty = false;
        std::ptrdiff_t depth = 0;
        while (is_punct(*t, '('))
        {
            ++depth;
            t = &ts_.next();
        }
        if (ends_statement(*t))
        {
            r.mark(reason::unknown);
            return is_punct(*t, ';');
        }
        if (depth > 0 && !starts_read(*t, d_))
        {
            r.mark(reason::write);
            return body(false, depth);
        }
        switch (t->keyword)
        {
        // Reads.
        case kw::select_:
        case kw::values_: r.mark(reason::select); return body(true, depth);
        case kw::table_:
            if (mysql_) break;
            r.mark(reason::select);
            return body(true, depth);
        case kw::with_: r.mark(reason::cte_read); return body(true, depth);
        case kw::show_: return show();
        case kw::explain_:
        case kw::describe_:
        case kw::desc_: return explain();
        case kw::analyze_:
        case kw::analyse_: return analyze();

        // Transaction control.
        case kw::begin_: return transaction(true, false);
        case kw::start_:
            if (ts_.peek().keyword == kw::transaction_) return transaction(true, false);
            break;
        case kw::commit_:
        case kw::end_:
        case kw::abort_:
        case kw::rollback_: return transaction_end(t->keyword == kw::rollback_);
        case kw::savepoint_:
        case kw::release_: return transaction(false, false);
        case kw::xa_: return xa();

        // Session state.
        case kw::set_: return set();
        case kw::prepare_:
            if (!mysql_ && ts_.peek().keyword == kw::transaction_) return transaction(false, true);
            return session(true);
        case kw::reset_:
            if (mysql_) break; // RESET MASTER, RESET QUERY CACHE, …: administration
            return session(true);
        case kw::execute_:
            r.mark(reason::write); // runs a prepared statement that may write
            return session(true);
        case kw::discard_:
        case kw::deallocate_:
        case kw::listen_:
        case kw::unlisten_:
        case kw::declare_:
        case kw::fetch_:
        case kw::move_:
        case kw::close_:
        case kw::lock_:
        case kw::unlock_:
        case kw::use_: return session(true);
        case kw::load_:
            if (mysql_) break; // LOAD DATA, LOAD XML, LOAD INDEX
            return session(true); // PostgreSQL LOAD 'library' loads into this session
        case kw::create_: return create();
        case kw::drop_:
            if (mysql_)
            {
                kw const k = ts_.peek().keyword;
                if (k == kw::temporary_ || k == kw::prepare_) return session(true);
            }
            break;
        case kw::handler_:
            r.pins = true; // HANDLER … OPEN / READ / CLOSE belong to one connection
            break;
        default: break;
        }
        // Everything else: writes, DDL, maintenance, and any word not known to be a read.
        r.mark(reason::write);
        return body(false, depth);
    }

private:
    /// Reads the rest of the statement, watching for markers; `read` turns on the markers that only make
    /// sense in a statement that is a read so far (INTO, FOR UPDATE, data-modifying CTEs).
    bool body(bool read, std::ptrdiff_t depth) noexcept
    {
        // No rule below looks at a plain identifier except as the name of a called function: let the lexer skip
        // them, and hand the name over with the '(' that follows.
        ts_.skip_identifiers(true);
        bool const more = scan(read, depth);
        ts_.skip_identifiers(false);
        return more;
    }

    bool scan(bool read, std::ptrdiff_t depth) noexcept
    {
        statement_result& r = *r_;
        for (;;)
        {
            token& t = ts_.next();
            switch (t.type)
            {
            case token_type::end: return false;
            case token_type::punct:
                if (t.punct == ';') return true;
                if (t.punct == '(')
                {
                    ++depth;
                    if (t.after_identifier)
                        call(t); // name(
                    else if (!t.after_skip &&
                             (ts_.prev_type() == token_type::word || ts_.prev_type() == token_type::quoted_ident))
                        call(ts_.prev()); // "name"(, or keyword(
                }
                else if (t.punct == ')')
                    --depth;
                break;
            case token_type::assign:
                if (ts_.prev_type() == token_type::user_var) // MySQL @v := … (in SET, it is just SET)
                {
                    if (read) r.mark(reason::select_into);
                    r.pins = true;
                }
                break;
            case token_type::system_var:
                if (session_variable(t)) r.mark(reason::side_effect_function);
                break;
            case token_type::word: word(t, read, depth); break;
            default: break;
            }
        }
    }


    /// A write word inside a read: a data-modifying CTE, or the main statement after WITH. Not when the word
    /// is a column (t.delete), a function (MySQL INSERT(str, …)) or a qualifier (update.x).
    void nested_write(token const& t, bool read, std::ptrdiff_t depth) noexcept
    {
        // Qualified only right after the dot: identifiers the lexer skipped in between (t.a FROM x delete)
        // make it another word.
        bool const qualified = ts_.prev_punct() == '.' && !t.after_skip;
        if (read && !qualified)
        {
            token const& n = ts_.peek();
            bool const call_or_qualifier = (is_punct(n, '(') || is_punct(n, '.')) && !n.after_skip;
            if (!call_or_qualifier) r_->mark(depth > 0 ? reason::cte_write : reason::write);
        }
    }

    void word(token& t, bool read, std::ptrdiff_t depth) noexcept
    {
        statement_result& r = *r_;
        switch (t.keyword)
        {
        case kw::none: return; // a function name: see '(' in scan()
        case kw::update_:
        case kw::share_:
        {
            if (!read) return;
            kw const p = ts_.prev_kw();
            // FOR UPDATE, FOR NO KEY UPDATE, FOR SHARE, FOR KEY SHARE, LOCK IN SHARE MODE
            if (p == kw::for_ || p == kw::key_ || (t.keyword == kw::share_ && p == kw::in_))
            {
                r.mark(reason::locking_read);
                return;
            }
            if (t.keyword == kw::share_) return;
            [[fallthrough]];
        }
        case kw::insert_:
        case kw::delete_:
        case kw::merge_:
            nested_write(t, read, depth);
            return;
        case kw::create_:
        case kw::drop_:
        case kw::alter_:
        case kw::truncate_:
        case kw::grant_:
        case kw::revoke_:
            // DDL words no read contains (a bare column named so is too rare to risk a write); in SHOW CREATE
            // TABLE, SHOW GRANTS they are names.
            if (r.why != reason::show)
                nested_write(t, read, depth);
            return;
        case kw::into_:
        {
            if (!read) return;
            r.mark(reason::select_into);
            token const& n = ts_.peek();
            bool const temporary = n.keyword == kw::temp_ || n.keyword == kw::temporary_ ||
                                   n.keyword == kw::local_ || n.keyword == kw::global_;
            if (mysql_ ? n.type == token_type::user_var : (temporary && !n.after_skip))
                r.pins = true; // assigns @v, or creates a temporary table
            return;
        }
        case kw::lock_:
            if (read && ts_.peek().keyword == kw::in_) r.mark(reason::locking_read);
            return;
        case kw::next_:
        case kw::previous_:
            // MariaDB NEXT VALUE FOR s, PREVIOUS VALUE FOR s
            if (mysql_ && ts_.peek().keyword == kw::value_) r.mark(reason::side_effect_function);
            return;
        case kw::sql_calc_found_rows_:
            // its FOUND_ROWS() must find it on the same connection
            if (mysql_) r.mark(reason::side_effect_function);
            return;
        default: return;
        }
    }

    /// `t` (a word or quoted identifier) is followed by '(': a function call, perhaps of a side-effect function.
    void call(token const& t) noexcept
    {
        detail::function_effect const f = detail::lookup_function(t.name, t.len, d_, options_);
        if (!f.matches) return;
        r_->mark(reason::side_effect_function);
        if (f.pins) r_->pins = true;
    }

    /// MySQL session variables that answer for this connection's previous statements.
    static bool session_variable(token const& t) noexcept
    {
        std::string_view const n(t.name, t.len);
        return n == "identity" || n == "last_insert_id" || n == "insert_id" || n == "warning_count" ||
               n == "error_count";
    }

    bool show() noexcept
    {
        r_->mark(reason::show);
        if (mysql_)
        {
            // SHOW WARNINGS / ERRORS / COUNT(*) WARNINGS / PROFILE(S) report on this connection's past.
            kw const k = ts_.peek().keyword;
            if (k == kw::warnings_ || k == kw::errors_ || k == kw::count_ || k == kw::profile_ ||
                k == kw::profiles_)
                r_->mark(reason::side_effect_function);
        }
        return body(true, 0);
    }

    /// Skips MySQL's `FORMAT = name` after EXPLAIN or ANALYZE; `t` is the current token.
    token* skip_format(token* t) noexcept
    {
        if (t->keyword == kw::format_ && is_punct(ts_.peek(), '='))
        {
            ts_.next();
            ts_.next();
            t = &ts_.next();
        }
        return t;
    }

    bool explain() noexcept
    {
        statement_result& r = *r_;
        bool analyze = false;
        token* t = &ts_.next();
        for (;;)
        {
            if (t->keyword == kw::analyze_ || t->keyword == kw::analyse_)
                analyze = true;
            else if (t->keyword == kw::verbose_ || t->keyword == kw::extended_ || t->keyword == kw::partitions_)
                ;
            else if (t->keyword == kw::format_ && is_punct(ts_.peek(), '='))
            {
                t = skip_format(t);
                continue;
            }
            else if (is_punct(*t, '(') && !mysql_)
            {
                token const& n = ts_.peek();
                if (starts_read(n, d_) || is_punct(n, '(')) break; // EXPLAIN (SELECT …)
                // PostgreSQL option list. ANALYZE in it, even ANALYZE false, counts (conservative).
                std::ptrdiff_t depth = 1;
                while (depth > 0)
                {
                    t = &ts_.next();
                    if (ends_statement(*t))
                    {
                        r.mark(reason::unknown);
                        return is_punct(*t, ';');
                    }
                    if (is_punct(*t, '(')) ++depth;
                    else if (is_punct(*t, ')')) --depth;
                    else if (t->keyword == kw::analyze_ || t->keyword == kw::analyse_) analyze = true;
                    else if (is_write_word(t->keyword)) r.mark(reason::write); // no option is called so
                }
            }
            else
                break;
            t = &ts_.next();
        }
        std::ptrdiff_t depth = 0;
        while (is_punct(*t, '('))
        {
            ++depth;
            t = &ts_.next();
        }
        if (ends_statement(*t))
        {
            r.mark(reason::unknown);
            return is_punct(*t, ';');
        }
        bool const explained_read =
            starts_read(*t, d_) || (t->type == token_type::word && t->keyword == kw::none) ||
            t->type == token_type::quoted_ident; // DESCRIBE t, EXPLAIN t: the table's columns
        if (!explained_read)
        {
            r.mark(reason::explain_analyze); // EXPLAIN of a write (or of anything else)
            return body(false, depth);
        }
        r.mark(analyze ? reason::explain_analyze : reason::explain);
        return body(true, depth);
    }

    /// ANALYZE: PostgreSQL and MySQL maintenance; MariaDB's ANALYZE [FORMAT=…] <statement> runs it.
    bool analyze() noexcept
    {
        statement_result& r = *r_;
        if (!mysql_)
        {
            r.mark(reason::write);
            return body(false, 0);
        }
        token* t = skip_format(&ts_.next());
        if (ends_statement(*t))
        {
            r.mark(reason::write);
            return is_punct(*t, ';');
        }
        kw const k = t->keyword;
        bool const statement = is_punct(*t, '(') || k == kw::select_ || k == kw::with_ || k == kw::values_ ||
                               k == kw::insert_ || k == kw::update_ || k == kw::delete_ || k == kw::replace_;
        r.mark(statement ? reason::explain_analyze : reason::write);
        return body(false, is_punct(*t, '(') ? 1 : 0);
    }

    bool transaction(bool begins, bool ends) noexcept
    {
        r_->mark(reason::transaction_control);
        r_->begins = begins;
        r_->ends = ends;
        return body(false, 0);
    }

    /// COMMIT, END, ABORT, ROLLBACK: end the transaction, except ROLLBACK TO SAVEPOINT, … AND CHAIN (a new
    /// transaction starts at once) and PostgreSQL's COMMIT/ROLLBACK PREPARED (another, prepared transaction).
    bool transaction_end(bool rollback) noexcept
    {
        statement_result& r = *r_;
        r.mark(reason::transaction_control);
        bool ends = true;
        for (;;)
        {
            token& t = ts_.next();
            if (ends_statement(t))
            {
                r.ends = ends;
                return is_punct(t, ';');
            }
            if ((rollback && t.keyword == kw::to_) || t.keyword == kw::prepared_ ||
                (t.keyword == kw::chain_ && ts_.prev_kw() == kw::and_))
                ends = false;
        }
    }

    bool xa() noexcept
    {
        kw const k = ts_.peek().keyword;
        bool const begins = k == kw::start_ || k == kw::begin_;
        bool const ends = k == kw::end_ || k == kw::commit_ || k == kw::rollback_;
        return transaction(begins, ends);
    }

    bool session(bool pins) noexcept
    {
        r_->mark(reason::session_state);
        if (pins) r_->pins = true;
        return body(false, 0);
    }

    bool set() noexcept
    {
        kw const k = ts_.peek().keyword;
        if (k == kw::transaction_) return transaction(false, false); // the next/current transaction only
        if (!mysql_ && (k == kw::local_ || k == kw::constraints_)) return session(false); // this transaction
        if (mysql_ && k == kw::statement_)
        {
            // MariaDB SET STATEMENT var = value FOR <statement>: settings for one statement, which may write
            r_->mark(reason::write);
            return body(false, 0);
        }
        return session(true);
    }

    bool create() noexcept
    {
        // CREATE [OR REPLACE] [GLOBAL | LOCAL] {TEMP | TEMPORARY} …: an object of this session
        token* t = &ts_.peek();
        if (t->keyword == kw::or_)
        {
            ts_.next();
            if (ts_.peek().keyword == kw::replace_) ts_.next();
            t = &ts_.peek();
        }
        if (t->keyword == kw::global_ || t->keyword == kw::local_)
        {
            ts_.next();
            t = &ts_.peek();
        }
        if (t->keyword == kw::temp_ || t->keyword == kw::temporary_) return session(true);
        r_->mark(reason::write);
        return body(false, 0);
    }

    token_stream& ts_;
    dialect d_;
    bool mysql_;
    classify_options const& options_;
    statement_result* r_ = nullptr;
};

} // namespace

classification classify(std::string_view sql, dialect d, classify_options const& options) noexcept
{
    token_stream ts(sql, d);
    statement_classifier sc(ts, d, options);

    statement_result worst;
    bool any = false;
    bool begins = false;
    bool ends = false;
    bool pins = false;
    bool write = false;
    for (;;)
    {
        statement_result r;
        bool const more = sc.run(r);
        if (!r.empty)
        {
            if (!any || r.rank > worst.rank) worst = r;
            any = true;
            // In order: the last transaction boundary in the text decides.
            if (r.begins)
            {
                begins = true;
                ends = false;
            }
            if (r.ends)
            {
                ends = true;
                begins = false;
            }
            pins = pins || r.pins;
            write = write || r.write;
        }
        if (!more) break;
    }

    classification c;
    c.where = target::primary;
    if (ts.error())
    {
        // Text we cannot read with certainty may have been meant to change anything.
        c.kind = statement_kind::unknown;
        c.why = reason::unknown;
        c.is_write = true;
        return c;
    }
    if (!any)
    {
        c.kind = statement_kind::unknown;
        c.why = reason::unknown;
        return c;
    }
    c.kind = kind_of(worst.why);
    c.why = worst.why;
    c.begins_transaction = begins;
    c.ends_transaction = ends;
    c.pins_session = pins;
    c.is_write = write || worst.why == reason::unknown;
    // A hint outranks a second statement, which outranks anything one statement can be; nothing outranks
    // `unknown` (a statement that is only parentheses, say).
    if (ts.multi() && rank(reason::multi_statement) > rank(c.why)) c.why = reason::multi_statement;
    if (ts.hint() && rank(reason::hint) > rank(c.why)) c.why = reason::hint;
    if (c.why == reason::select || c.why == reason::show || c.why == reason::explain || c.why == reason::cte_read)
        c.where = target::replica;
    return c;
}

} // namespace soci_routing
