// soci-routing: session state without pinning (DESIGN.md, "Session state").
//
// A routing session's settings (SET search_path, SET NAMES, USE db, SET @v = 1, ...) run on the primary, are
// recorded in order, and are replayed on every other connection the session uses before its next statement
// there: a replica for a read, another primary connection after the lease changed. A connection's lease carries
// the tag of the settings it has (lease::carried()); the pool keeps those settings while the connection waits
// for this session (dirt_settings) and resets them for anyone else, so a session that meets its own idle
// connections again replays nothing.
//
// State that cannot be replayed (a temporary table, an advisory lock, LISTEN, a PREPAREd statement, a user
// variable assigned by a query, LOCK TABLES, a cursor WITH HOLD) pins the session to its primary connection,
// object by object, until the statement that provably removes it (session_effect(): DROP TABLE, DISCARD ALL,
// pg_advisory_unlock_all(), UNLISTEN *, DEALLOCATE ALL, UNLOCK TABLES, ...). What cannot be followed pins for
// the session's life.

#include "soci-routing-backend.h"

#include <algorithm>
#include <atomic>
#include <cctype>

namespace soci_routing
{

namespace
{

/// A tag no session's settings ever have (a session id is at least 1, in the high half): a connection whose
/// replay failed half-way.
constexpr std::uint64_t unknown_settings = 1;

/// The most settings a session keeps; past it the session is pinned (a history that long is not settings).
constexpr std::size_t max_settings = 64;

std::uint64_t next_settings_id() noexcept
{
    static std::atomic<std::uint64_t> counter{0};
    return (++counter) & 0xffffffffu;
}

bool has_key(std::vector<std::string> const& keys, std::string_view k) noexcept
{
    return std::find(keys.begin(), keys.end(), k) != keys.end();
}

/// `later` replaces `earlier` when it sets every variable `earlier` set (RESET ALL replaces everything).
bool covers(recorded_setting const& later, recorded_setting const& earlier)
{
    if (has_key(later.keys, "*"))
        return true;
    return std::all_of(earlier.keys.begin(), earlier.keys.end(),
                       [&](std::string const& k) { return has_key(later.keys, k); });
}

} // namespace

namespace
{

bool mentions_serializable(std::string const& text)
{
    std::string lower(text);
    for (char& c : lower)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return lower.find("serializable") != std::string::npos;
}

} // namespace

void session_state::bump_settings() noexcept
{
    // The last entry that sets the default isolation decides (RESET ALL resets it).
    serializable_settings_ = false;
    if (dialect_ == dialect::postgresql)
    {
        for (recorded_setting const& s : settings_)
        {
            if (has_key(s.keys, "*"))
                serializable_settings_ = false;
            else if (has_key(s.keys, "default_transaction_isolation")
                     || has_key(s.keys, "default_transaction_characteristics"))
                serializable_settings_ = !s.restores_default && mentions_serializable(s.text);
        }
    }
    if (settings_id_ == 0)
        settings_id_ = next_settings_id() | 0x1;  // never 0: tags stay above unknown_settings
    ++settings_version_;
    settings_tag_ = (settings_id_ << 32) | settings_version_;
}

void session_state::update_pinned() noexcept
{
    bool any = opaque_pin_;
    for (auto const& objects : pins_)
        any = any || !objects.empty();
    pinned_ = any;
}

std::string session_state::pin_causes() const
{
    std::string out;
    if (opaque_pin_)
        out = "session_state";
    for (std::size_t i = 0; i != pins_.size(); ++i)
    {
        if (pins_[i].empty())
            continue;
        if (!out.empty())
            out += ", ";
        out += to_string(static_cast<pin_cause>(i));
    }
    return out;
}

void session_state::sync_settings(endpoint_handle& h)
{
    std::uint64_t const carried = h.lease_.carried();
    if (carried == settings_tag_)
        return;
    // On a clean connection a setting that only restores a default, of variables no earlier entry set, changes
    // nothing: not sent. Otherwise the whole history runs in order on top of what the connection has (a later
    // setting of a variable wins, a RESET entry undoes an older version's value).
    bool const clean = carried == 0;
    if (serializable_settings_ && !h.is_primary())
        throw soci::soci_error("a hot standby cannot run SERIALIZABLE transactions, and the session made them its "
                               "default (default_transaction_isolation): its reads run on the primary");
    // Until the replay has succeeded, the connection's settings are unknown: a later sync replays everything
    // on top, and the pool resets it for anyone else.
    h.lease_.set_carried(unknown_settings);
    h.lease_.mark_dirty(dirt_settings);
    std::size_t sent = 0;
    for (std::size_t i = 0; i != settings_.size(); ++i)
    {
        recorded_setting const& s = settings_[i];
        if (clean && s.restores_default)
        {
            bool const earlier = std::any_of(settings_.begin(), settings_.begin() + static_cast<std::ptrdiff_t>(i),
                                             [&](recorded_setting const& e) {
                                                 return std::any_of(e.keys.begin(), e.keys.end(),
                                                                    [&](std::string const& k) {
                                                                        return has_key(s.keys, k) || k == "*";
                                                                    });
                                             });
            if (!earlier)
                continue;
        }
        h.session() << s.text;
        ++sent;
    }
    h.lease_.set_carried(settings_tag_);
    if (sent != 0)
        h.pool_->record_replay();
}

std::shared_ptr<endpoint_handle> session_state::synced_primary()
{
    std::shared_ptr<endpoint_handle> h = primary();
    try
    {
        sync_settings(*h);
    }
    catch (std::exception const& e)
    {
        primary_failed(*h, e);
        add_context(e, "replaying the session's settings");
        throw;
    }
    return h;
}

bool session_state::try_sync_replica(endpoint_handle& h) noexcept
{
    try
    {
        sync_settings(h);
        return true;
    }
    catch (std::exception const& e)
    {
        try
        {
            std::string const message = redact(e.what());
            h.pool_->record_replay_failure("replaying the session's settings: " + message);
            if (replay_failed_tag_ != settings_tag_)
            {
                replay_failed_tag_ = settings_tag_;
                replay_failed_ = 0;
            }
            if (h.replica_index_ >= 0)
                replay_failed_ |= std::uint64_t(1) << (h.replica_index_ & 63);
            // A lost connection is the pool's business as for any statement: it must not come back.
            if (classify_failure(e, driver_, &h.session()) == failure_class::connection)
                forget_replica(h);
        }
        catch (...)
        {
        }
        return false;
    }
}

unsigned session_state::note_session_effect(session_effect_info const& e, std::string const& text,
                                            endpoint_handle& where, unsigned dirt) noexcept
{
    try
    {
        bool const pg = dialect_ == dialect::postgresql;
        auto record = [&](std::vector<std::string> keys, std::string stmt, bool restores_default,
                          bool reads_session) {
            recorded_setting s{std::move(keys), std::move(stmt), restores_default};
            if (!reads_session)
                settings_.erase(std::remove_if(settings_.begin(), settings_.end(),
                                               [&](recorded_setting const& old) { return covers(s, old); }),
                                settings_.end());
            settings_.push_back(std::move(s));
        };
        bool settings_changed = false;
        switch (e.kind)
        {
        case effect_kind::none: return dirt;
        case effect_kind::opaque:
            opaque_pin_ = true;
            dirt |= dirt_session;
            break;
        case effect_kind::setting:
        case effect_kind::reset_all:
            // PostgreSQL undoes a SET with the transaction that made it (ROLLBACK, ROLLBACK TO SAVEPOINT): what
            // the connection ends up with is known only there. MySQL's SET is not transactional.
            if (pg && in_transaction_)
            {
                opaque_pin_ = true;
                break;
            }
            if (e.kind == effect_kind::reset_all)
                record({"*"}, "RESET ALL", true, false);
            else
                record(e.keys, text, e.restores_default, e.reads_session);
            // A user variable set to a constant is replayable again.
            for (std::string const& k : e.keys)
            {
                if (!k.empty() && k[0] == '@')
                {
                    auto& vars = pins_[static_cast<std::size_t>(pin_cause::user_variable)];
                    vars.erase(std::remove(vars.begin(), vars.end(), k), vars.end());
                }
            }
            settings_changed = true;
            break;
        case effect_kind::discard:
            if (pg && in_transaction_)
            {
                // DISCARD ALL cannot run in a transaction block; DISCARD TEMP's drops roll back with it.
                opaque_pin_ = opaque_pin_ || e.resets_settings;
                break;
            }
            for (std::size_t i = 0; i != pins_.size(); ++i)
            {
                if (e.releases[i])
                    pins_[i].clear();
            }
            if (e.resets_settings)
            {
                // DISCARD ALL: the connection is as new. Other connections get there with these two (never
                // DISCARD ALL itself, which would drop their statement caches' prepared statements).
                opaque_pin_ = false;
                settings_.clear();
                record({"session_authorization"}, "SET SESSION AUTHORIZATION DEFAULT", true, false);
                record({"*"}, "RESET ALL", true, false);
                settings_changed = true;
            }
            break;
        case effect_kind::pin:
        {
            // State of this connection: reset before it serves another session (MySQL's SET TRANSACTION is
            // no session state to the classifier, and would reach the next borrower's transaction).
            dirt |= dirt_session;
            if (e.cause == pin_cause::next_transaction)
            {
                if (in_transaction_)
                    break;  // refused by the server inside a transaction
                next_transaction_text_ = text;
            }
            auto& objects = pins_[static_cast<std::size_t>(e.cause)];
            if (e.objects.empty())
                objects.emplace_back();
            else
                objects.insert(objects.end(), e.objects.begin(), e.objects.end());
            break;
        }
        case effect_kind::unpin:
        {
            // PostgreSQL: a DROP TABLE, UNLISTEN or CLOSE in a transaction is undone by its rollback; only a
            // session advisory lock's release is immediate.
            if (pg && in_transaction_ && e.cause != pin_cause::advisory_lock)
                break;
            auto& objects = pins_[static_cast<std::size_t>(e.cause)];
            if (e.objects.empty())
            {
                objects.clear();
                break;
            }
            for (std::string const& o : e.objects)
            {
                if (e.cause == pin_cause::advisory_lock)
                {
                    // Advisory locks stack: one release per acquisition.
                    auto it = std::find(objects.begin(), objects.end(), o);
                    if (it != objects.end())
                        objects.erase(it);
                }
                else
                {
                    objects.erase(std::remove(objects.begin(), objects.end(), o), objects.end());
                }
            }
            break;
        }
        }
        if (settings_.size() > max_settings)
            opaque_pin_ = true;
        if (settings_changed)
        {
            bump_settings();
            // The statement ran here: this connection has the new settings.
            where.lease_.set_carried(settings_tag_);
            where.lease_.mark_dirty(dirt_settings);
            // A setting is dirt the pool may keep for this session (dirt_settings), not dirt_session.
            if (e.kind == effect_kind::setting || e.kind == effect_kind::reset_all)
                dirt &= ~static_cast<unsigned>(dirt_session);
        }
        update_pinned();
        return dirt;
    }
    catch (...)
    {
        opaque_pin_ = true;
        update_pinned();
        return dirt | dirt_session;
    }
}

} // namespace soci_routing
