// soci-routing: session_effect() (session-effect.h). STUB: every session-state statement is opaque.

#include "session-effect.h"

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

session_effect_info session_effect(std::string_view, dialect, classification const& c)
{
    session_effect_info e;
    if (c.pins_session)
        e.kind = effect_kind::opaque;
    return e;
}

} // namespace soci_routing
