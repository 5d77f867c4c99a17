// soci-routing: the inline connect string loader (`primary='postgresql://...' replica='...' sticky=5`).

#include "load-detail.h"

#include <fmt/format.h>

#include <cctype>

namespace soci_routing::detail
{

namespace
{

// `key=value` pairs, values bare or single-quoted with backslash escapes, as libpq and SOCI's mysql backend
// read them.

struct token
{
    std::string key;
    std::size_t key_pos = 0;  ///< 1-based position in the whole connect string
    std::string value;
    std::vector<std::size_t> value_pos;  ///< the position of each character of `value`
    std::size_t value_start = 0;
};

/// Splits `text` (whose characters sit at `pos` in the whole connect string) into tokens.
/// `context` names the key in messages ("" at the top, "primary" inside primary='...'): a word without "=" is
/// not shown, as it may be the second half of an unquoted password.
bool tokenize(draft& d, std::string_view text, std::vector<std::size_t> const& pos, std::vector<token>& out,
              std::string const& source, std::string const& context)
{
    auto at = [&](std::size_t i) {
        return location{source, 1, static_cast<int>(i < pos.size() ? pos[i] : (pos.empty() ? 1 : pos.back() + 1))};
    };
    std::size_t i = 0;
    auto const n = text.size();
    auto blank = [&](std::size_t j) { return std::isspace(static_cast<unsigned char>(text[j])) != 0; };
    while (true)
    {
        while (i < n && blank(i))
            ++i;
        if (i == n)
            return true;
        token t;
        std::size_t const key_index = i;
        t.key_pos = at(i).column;
        while (i < n && !blank(i) && text[i] != '=')
            t.key += text[i++];
        while (i < n && blank(i))
            ++i;
        if (t.key.empty() || i == n || text[i] != '=')
        {
            d.problem(at(t.key.empty() ? i : key_index), context,
                      t.key.empty() ? "expected key=value, got \"=\" without a key"
                                    : "expected key=value, got a word without \"=\" (a value with spaces is "
                                      "quoted: key='a b')");
            return false;
        }
        ++i;  // '='
        while (i < n && blank(i))
            ++i;
        std::size_t const value_index = i;
        t.value_start = at(i).column;
        bool const quoted = i < n && text[i] == '\'';
        if (quoted)
            ++i;
        bool closed = !quoted;
        while (i < n)
        {
            char c = text[i];
            if (quoted && c == '\'')
            {
                ++i;
                closed = true;
                break;
            }
            if (!quoted && blank(i))
                break;
            if (c == '\\' && i + 1 < n)
                c = text[++i];
            else if (c == '\\')
            {
                d.problem(at(i), t.key, "expected a character after \"\\\", got the end of the string");
                return false;
            }
            else if (!quoted && c == '\'')
            {
                d.problem(at(i), t.key, "unexpected \"'\" inside a bare value, expected the value quoted: "
                                        "key='...' with \\' for a quote");
                return false;
            }
            t.value += c;
            t.value_pos.push_back(pos[i]);
            ++i;
        }
        if (!closed)
        {
            d.problem(at(value_index), t.key,
                      fmt::format("unterminated quoted value starting at position {}, expected a closing \"'\"",
                                  t.value_start));
            return false;
        }
        out.push_back(std::move(t));
    }
}

class inline_loader
{
public:
    inline_loader(draft& d, std::string source) : d_(d), source_(std::move(source)) {}

    void load(std::string_view text, std::size_t offset)
    {
        std::vector<std::size_t> pos(text.size());
        for (std::size_t i = 0; i < text.size(); ++i)
            pos[i] = offset + i + 1;
        std::vector<token> tokens;
        // A connect string that does not split into key=value pairs says nothing more worth reporting.
        if (!tokenize(d_, text, pos, tokens, source_, ""))
        {
            d_.unreadable = true;
            return;
        }
        if (tokens.empty())
        {
            d_.problem(at(offset + 1), "", "empty connect string, expected config=FILE or primary='...'");
            d_.unreadable = true;
            return;
        }

        // The file first, so that every other key overrides it.
        token const* config = nullptr;
        for (auto const& t : tokens)
        {
            if (t.key != "config")
                continue;
            if (config)
            {
                d_.problem(at(t.key_pos), "config", "given twice, expected one configuration file");
                continue;
            }
            config = &t;
            if (auto const path = interpolate(d_, at(t.value_start), "config", t.value))
            {
                if (path->empty())
                    d_.problem(at(t.value_start), "config", "expected a file name, got an empty string");
                else
                    load_toml_file_into(d_, *path, at(t.value_start));
            }
        }

        token const* primary = nullptr;
        std::vector<token const*> replicas;
        for (auto const& t : tokens)
        {
            if (t.key == "config")
                continue;
            if (t.key == "primary")
            {
                if (primary)
                    d_.problem(at(t.key_pos), "primary", "given twice, expected one primary");
                primary = &t;
                continue;
            }
            if (t.key == "replica")
            {
                replicas.push_back(&t);
                continue;
            }
            if (t.key == "primary_functions")
            {
                primary_functions(t);
                continue;
            }
            std::string const key = "routing." + t.key;
            auto const* f = find_field(routing_fields, t.key);
            if (!f)
            {
                auto known = field_names(routing_fields);
                for (char const* k : {"config", "primary", "replica", "primary_functions"})
                    known.emplace_back(k);
                d_.problem(at(t.key_pos), t.key,
                           fmt::format("unknown key{}, expected one of: {}", detail::did_you_mean(t.key, known),
                                       fmt::join(known, ", ")));
                continue;
            }
            if (auto const text_value = interpolate(d_, at(t.value_start), key, t.value))
                if (auto const v = convert_text(d_, at(t.value_start), key, *f, *text_value))
                {
                    set_routing_field(d_.routing, f->name, *v);
                    d_.where[key] = at(t.value_start);
                }
        }

        if (primary)
        {
            d_.has_primary = true;
            d_.where["primary"] = at(primary->key_pos);
            endpoint(*primary, "primary", d_.primary, true);
        }
        if (!replicas.empty())
        {
            // Inline replicas replace the file's list: an override names the replicas it wants.
            d_.replicas.clear();
            for (auto const* t : replicas)
            {
                std::string const key = replica_key(d_.replicas.size());
                d_.replicas.emplace_back();
                d_.where[key] = at(t->key_pos);
                endpoint(*t, key, d_.replicas.back(), false);
            }
        }
    }

private:
    location at(std::size_t column) const { return location{source_, 1, static_cast<int>(column)}; }

    std::size_t pos_of(token const& t, std::size_t i) const
    {
        return i < t.value_pos.size() ? t.value_pos[i] : t.value_start;
    }

    void primary_functions(token const& t)
    {
        d_.classifier.primary_functions.clear();
        std::string item;
        std::size_t index = 0;
        for (std::size_t i = 0; i <= t.value.size(); ++i)
        {
            if (i < t.value.size() && t.value[i] != ',')
            {
                item += static_cast<char>(std::tolower(static_cast<unsigned char>(t.value[i])));
                continue;
            }
            auto const begin = item.find_first_not_of(" \t");
            auto const end = item.find_last_not_of(" \t");
            std::string const name = begin == std::string::npos ? std::string() : item.substr(begin, end - begin + 1);
            d_.where[fmt::format("classifier.primary_functions[{}]", index++)] = at(pos_of(t, i - item.size()));
            d_.classifier.primary_functions.push_back(name);
            item.clear();
        }
    }

    /// `[driver://]key=value ...`: endpoint fields from the driver's own keys; routing keys (name, weight,
    /// statements, pool_*) too; anything else goes to `options`.
    void endpoint(token const& t, std::string const& prefix, endpoint_layer& e, bool is_primary)
    {
        std::string_view body = t.value;
        std::size_t skip = 0;
        if (auto const scheme = body.find("://"); scheme != std::string_view::npos
            && body.substr(0, scheme).find_first_of(" ='") == std::string_view::npos)
        {
            std::string const name(body.substr(0, scheme));
            if (auto const drv = detail::driver_from_string(name))
            {
                e.drv = drv;
                d_.where[prefix + ".driver"] = at(pos_of(t, 0));
            }
            else
            {
                d_.problem(at(pos_of(t, 0)), prefix + ".driver",
                           fmt::format("unknown driver {}, expected {}{}", show(name), detail::expect_driver,
                                       detail::did_you_mean(name, {"postgresql", "mysql"})));
                return;
            }
            skip = scheme + 3;
            body.remove_prefix(skip);
        }
        std::vector<std::size_t> pos(t.value_pos.begin() + static_cast<std::ptrdiff_t>(skip), t.value_pos.end());
        std::vector<token> inner;
        if (!tokenize(d_, body, pos, inner, source_, prefix))
            return;
        if (inner.empty())
        {
            d_.problem(at(t.value_start), prefix, "expected host=... and other key=value settings, got nothing");
            return;
        }
        // The driver's key names are mapped to fields once the driver is known; mysql's `db`/`service`/`pass`
        // are mysql-only, so they are mapped for mysql and otherwise left to options (where validate() names
        // them as unknown libpq options).
        driver const drv = e.drv ? *e.drv : d_.primary.drv.value_or(driver::postgresql);
        for (auto const& kv : inner)
        {
            std::string field = kv.key;
            if (kv.key == "dbname") field = "database";
            else if (kv.key == "user") field = "username";
            else if (kv.key == "connect_timeout") field = "timeout";
            else if (drv == driver::mysql && (kv.key == "db" || kv.key == "service")) field = "database";
            else if (drv == driver::mysql && kv.key == "pass") field = "password";

            location const value_at = at(kv.value_start);
            if (kv.key.rfind("pool_", 0) == 0)
            {
                std::string const name = kv.key.substr(5);
                std::string const key = prefix + ".pool." + name;
                auto const* f = find_field(pool_fields, name);
                if (!f)
                {
                    d_.problem(at(kv.key_pos), prefix + "." + kv.key,
                               "unknown pool setting, expected pool_min, pool_max, pool_wait_timeout, "
                               "pool_idle_timeout or pool_idle_check");
                    continue;
                }
                if (auto const text = interpolate(d_, value_at, key, kv.value))
                    if (auto const v = convert_text(d_, value_at, key, *f, *text))
                    {
                        set_pool_field(e.pool, name, *v);
                        d_.where[key] = value_at;
                    }
                continue;
            }
            std::string const key = prefix + "." + field;
            auto const* f = find_field(endpoint_fields, field);
            if (f && field == "driver")
            {
                d_.problem(at(kv.key_pos), key, "set the driver as a prefix, expected postgresql://... or mysql://...");
                continue;
            }
            if (f && is_primary && field == "name")
            {
                d_.problem(at(kv.key_pos), key, "the primary is always named \"primary\", expected no name");
                continue;
            }
            if (!f)
            {
                std::string const option_key = prefix + ".options." + kv.key;
                if (auto const text = interpolate(d_, value_at, option_key, kv.value))
                {
                    e.options[kv.key] = *text;
                    d_.where[option_key] = value_at;
                }
                continue;
            }
            if (auto const text = interpolate(d_, value_at, key, kv.value))
                if (auto const v = convert_text(d_, value_at, key, *f, *text))
                {
                    set_endpoint_field(e, field, *v);
                    d_.where[key] = value_at;
                }
        }
    }

    draft& d_;
    std::string source_;
};

} // namespace

void load_inline_into(draft& d, std::string_view text, std::size_t offset)
{
    inline_loader(d, d.source).load(text, offset);
}

} // namespace soci_routing::detail
