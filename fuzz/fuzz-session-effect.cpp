// Fuzz target: what the backend runs on a session-state statement — session_effect() (the settings to replay,
// the state that pins and unpins) and transaction_mode_of() / set_transaction_mode_of() (read-only
// transactions) — on both dialects. Beyond crashes and reads past the input (AddressSanitizer; the input buffer is
// exactly its size), the answers must be consistent: a setting names what it sets, a pin or an unpin names its
// cause, a read-only mode was understood, and session_effect() never throws.

#include "classifier.h"
#include "session-effect.h"
#include "transaction-mode.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace
{

using namespace soci_routing;

[[noreturn]] void invariant(char const* what, dialect d)
{
    std::fprintf(stderr, "invariant broken (%s): %s\n", d == dialect::mysql ? "mysql" : "postgresql", what);
    std::abort();
}

void check(std::string_view sql, dialect d)
{
    classification const c = classify(sql, d);
    session_effect_info e;
    try
    {
        e = session_effect(sql, d, c);
    }
    catch (...)
    {
        invariant("session_effect() threw", d);
    }
    switch (e.kind)
    {
    case effect_kind::setting:
        if (e.keys.empty())
            invariant("a setting without keys", d);
        for (auto const& k : e.keys)
            if (k.empty())
                invariant("an empty key", d);
        break;
    case effect_kind::pin:
    case effect_kind::unpin:
        if (e.cause == pin_cause::none || e.cause == pin_cause::count_)
            invariant("a pin or unpin without a cause", d);
        break;
    default: break;
    }
    transaction_mode const m = transaction_mode_of(sql, d);
    if ((m.read_only || m.serializable) && !m.starts)
        invariant("a transaction mode of a statement not understood", d);
    transaction_mode const s = set_transaction_mode_of(sql, d);
    if ((s.read_only || s.serializable) && !s.starts)
        invariant("a SET TRANSACTION mode of a statement not understood", d);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size)
{
    std::string_view const sql(reinterpret_cast<char const*>(data), size);
    check(sql, dialect::postgresql);
    check(sql, dialect::mysql);
    return 0;
}
