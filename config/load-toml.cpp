// soci-routing: the TOML loader (toml++, strict: exact types, every unknown key reported).

#include "load-detail.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

namespace soci_routing::detail
{

namespace
{

class toml_loader
{
public:
    toml_loader(draft& d, std::string source) : d_(d), source_(std::move(source)) {}

    void load(std::string_view text)
    {
        toml::table root;
        try
        {
            root = toml::parse(text, source_);
        }
        catch (toml::parse_error const& e)
        {
            auto const& begin = e.source().begin;
            d_.problem(location{source_, static_cast<int>(begin.line), static_cast<int>(begin.column)}, "",
                       fmt::format("TOML syntax error: {}", e.description()));
            d_.unreadable = true;
            return;
        }
        d_.where["primary"] = location{source_, 1, 1};
        for (auto const& [k, node] : root)
        {
            std::string const key(k.str());
            if (key == "routing")
                routing(node);
            else if (key == "primary")
                primary(node);
            else if (key == "replicas")
                replicas(node);
            else if (key == "classifier")
                classifier(node);
            else
                unknown(k, key, {"routing", "primary", "replicas", "classifier"});
        }
    }

private:
    location at(toml::source_region const& r) const
    {
        return location{source_, static_cast<int>(r.begin.line), static_cast<int>(r.begin.column)};
    }
    location at(toml::node const& n) const { return at(n.source()); }

    void unknown(toml::key const& k, std::string const& key, std::vector<std::string> const& known)
    {
        d_.problem(at(k.source()), key,
                   fmt::format("unknown key{}, expected one of: {}", detail::did_you_mean(k.str(), known),
                               fmt::join(known, ", ")));
    }

    static std::string describe(toml::node const& n, bool secret)
    {
        switch (n.type())
        {
        case toml::node_type::string:
            return secret ? "a string" : show(*n.value_exact<std::string>());
        case toml::node_type::integer:
            return secret ? "an integer" : std::to_string(*n.value_exact<int64_t>());
        case toml::node_type::floating_point:
            return secret ? "a float" : fmt::format("{}", *n.value_exact<double>());
        case toml::node_type::boolean:
            return secret ? "a boolean" : (*n.value_exact<bool>() ? "true" : "false");
        case toml::node_type::table: return "a table";
        case toml::node_type::array: return "an array";
        default: return "a date or time";
        }
    }

    toml::table const* table(toml::node const& n, std::string const& key)
    {
        if (auto const* t = n.as_table())
            return t;
        d_.problem(at(n), key, fmt::format("expected a table, got {}", describe(n, false)));
        return nullptr;
    }

    /// The node as a value of the field's kind. Numbers accept integers; a string holding `${...}` is
    /// interpolated and then read as the field's kind (so `port = "${DB_PORT:-5432}"` works, while
    /// `port = "5432"` is a type error).
    std::optional<value> read(toml::node const& n, std::string const& key, field_spec const& f)
    {
        location const where = at(n);
        bool const secret = f.kind == field_kind::secret;
        if (auto const s = n.value_exact<std::string>())
        {
            bool const textual = f.kind == field_kind::string || secret || f.kind == field_kind::driver_name
                || f.kind == field_kind::balance_name || f.kind == field_kind::topology_name
                || f.kind == field_kind::consistency_name;
            if (textual || s->find("${") != std::string::npos)
            {
                auto const text = interpolate(d_, where, key, *s);
                if (!text)
                    return std::nullopt;
                return convert_text(d_, where, key, f, *text);
            }
        }
        else
        {
            value v;
            switch (f.kind)
            {
            case field_kind::integer:
                if (auto const i = n.value_exact<int64_t>();
                    i && *i >= std::numeric_limits<int>::min() && *i <= std::numeric_limits<int>::max())
                {
                    v.integer = *i;
                    return v;
                }
                break;
            case field_kind::number:
                if (auto const x = n.value_exact<double>())
                {
                    v.number = *x;
                    return v;
                }
                if (auto const i = n.value_exact<int64_t>())
                {
                    v.number = static_cast<double>(*i);
                    return v;
                }
                break;
            case field_kind::boolean:
                if (auto const b = n.value_exact<bool>())
                {
                    v.boolean = *b;
                    return v;
                }
                break;
            default: break;
            }
        }
        d_.problem(where, key, fmt::format("expected {}, got {}", f.expect, describe(n, secret)));
        return std::nullopt;
    }

    void routing(toml::node const& n)
    {
        auto const* t = table(n, "routing");
        if (!t)
            return;
        for (auto const& [k, node] : *t)
        {
            std::string const key = "routing." + std::string(k.str());
            auto const* f = find_field(routing_fields, k.str());
            if (!f)
            {
                unknown(k, key, field_names(routing_fields));
                continue;
            }
            if (auto const v = read(node, key, *f))
            {
                set_routing_field(d_.routing, f->name, *v);
                d_.where[key] = at(node);
            }
        }
    }

    void primary(toml::node const& n)
    {
        d_.has_primary = true;
        d_.where["primary"] = at(n);
        if (auto const* t = table(n, "primary"))
            endpoint(*t, "primary", d_.primary, true);
    }

    void replicas(toml::node const& n)
    {
        auto const* a = n.as_array();
        if (!a)
        {
            d_.problem(at(n), "replicas",
                       fmt::format("expected an array of tables ([[replicas]]), got {}", describe(n, false)));
            return;
        }
        d_.replicas.clear();
        for (std::size_t i = 0; i < a->size(); ++i)
        {
            std::string const key = replica_key(i);
            d_.replicas.emplace_back();
            d_.where[key] = at((*a)[i]);
            if (auto const* t = table((*a)[i], key))
                endpoint(*t, key, d_.replicas.back(), false);
        }
    }

    void endpoint(toml::table const& t, std::string const& prefix, endpoint_layer& e, bool is_primary)
    {
        for (auto const& [k, node] : t)
        {
            std::string const name(k.str());
            std::string const key = prefix + "." + name;
            if (name == "pool")
            {
                d_.where[key] = at(node);
                if (auto const* pool = table(node, key))
                    pool_table(*pool, key, e.pool);
                continue;
            }
            if (name == "options")
            {
                d_.where[key] = at(node);
                if (auto const* options = table(node, key))
                    options_table(*options, key, e.options);
                continue;
            }
            auto const* f = find_field(endpoint_fields, name);
            if (!f || (is_primary && name == "name"))
            {
                auto known = field_names(endpoint_fields);
                known.push_back("pool");
                known.push_back("options");
                if (is_primary)
                    known.erase(known.begin());  // the primary is always "primary"
                unknown(k, key, known);
                continue;
            }
            if (auto const v = read(node, key, *f))
            {
                set_endpoint_field(e, name, *v);
                d_.where[key] = at(node);
            }
        }
    }

    void pool_table(toml::table const& t, std::string const& prefix, pool_layer& p)
    {
        for (auto const& [k, node] : t)
        {
            std::string const key = prefix + "." + std::string(k.str());
            auto const* f = find_field(pool_fields, k.str());
            if (!f)
            {
                unknown(k, key, field_names(pool_fields));
                continue;
            }
            if (auto const v = read(node, key, *f))
            {
                set_pool_field(p, f->name, *v);
                d_.where[key] = at(node);
            }
        }
    }

    void options_table(toml::table const& t, std::string const& prefix, std::map<std::string, std::string>& o)
    {
        for (auto const& [k, node] : t)
        {
            std::string const name(k.str());
            std::string const key = prefix + "." + name;
            bool const secret = name.find("password") != std::string::npos;
            std::optional<std::string> text;
            if (auto const s = node.value_exact<std::string>())
                text = interpolate(d_, at(node), key, *s);
            else if (auto const i = node.value_exact<int64_t>())
                text = std::to_string(*i);
            else if (auto const b = node.value_exact<bool>())
                text = *b ? "1" : "0";  // libpq's and SOCI mysql's spelling of booleans
            else
            {
                d_.problem(at(node), key, fmt::format("expected a string, an integer or a boolean, got {}",
                                                      describe(node, secret)));
                continue;
            }
            if (text)
            {
                o[name] = *text;
                d_.where[key] = at(node);
            }
        }
    }

    void classifier(toml::node const& n)
    {
        auto const* t = table(n, "classifier");
        if (!t)
            return;
        for (auto const& [k, node] : *t)
        {
            std::string const key = "classifier." + std::string(k.str());
            if (k.str() != "primary_functions")
            {
                unknown(k, key, {"primary_functions"});
                continue;
            }
            auto const* a = node.as_array();
            if (!a)
            {
                d_.problem(at(node), key, fmt::format("expected an array of strings, got {}", describe(node, false)));
                continue;
            }
            d_.classifier.primary_functions.clear();
            for (std::size_t i = 0; i < a->size(); ++i)
            {
                std::string const item_key = fmt::format("{}[{}]", key, i);
                auto const s = (*a)[i].value_exact<std::string>();
                if (!s)
                {
                    d_.problem(at((*a)[i]), item_key,
                               fmt::format("expected a string, got {}", describe((*a)[i], false)));
                    continue;
                }
                std::string lower = *s;
                for (auto& c : lower)
                    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
                d_.where[item_key] = at((*a)[i]);
                d_.classifier.primary_functions.push_back(std::move(lower));
            }
        }
    }

    draft& d_;
    std::string source_;
};

bool read_file(std::string const& path, std::string& text, std::string& error)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
    {
        error = std::strerror(errno);
        return false;
    }
    std::ostringstream buffer;
    buffer << in.rdbuf();
    if (in.bad())
    {
        error = "read error";
        return false;
    }
    text = buffer.str();
    return true;
}

} // namespace

void load_toml_into(draft& d, std::string_view text, std::string const& source)
{
    toml_loader(d, source).load(text);
}

void load_toml_file_into(draft& d, std::string const& path, location const& requested_at)
{
    std::string text, error;
    if (!read_file(path, text, error))
    {
        d.problem(requested_at, requested_at.source == path ? "" : "config",
                  fmt::format("cannot read configuration file {}: {}", show(path), error));
        d.unreadable = true;
        return;
    }
    toml_loader(d, path).load(text);
}

} // namespace soci_routing::detail
