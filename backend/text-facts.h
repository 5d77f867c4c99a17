// soci-routing: what a statement's text says, once per text and thread.
//
// Applications run the same few texts over and over with new values bound each time. Classifying a text
// (one lexing pass) costs more than looking it up, so each thread keeps the facts of the texts it prepared
// last: the classification and the first word. A text is matched byte for byte, with the dialect and the
// classifier's options, so a cached answer is always the classifier's own.

#ifndef SOCI_ROUTING_TEXT_FACTS_H_INCLUDED
#define SOCI_ROUTING_TEXT_FACTS_H_INCLUDED

#include "classifier.h"

#include <array>
#include <cstdint>
#include <string_view>

namespace soci_routing
{

/// What routing needs of a statement's text.
struct text_facts
{
    classification c;
    /// The first word, lower case, at most 10 letters (empty when the text starts otherwise, as with a comment).
    std::array<char, 11> word{};

    std::string_view first_word() const noexcept { return word.data(); }
};

/// The facts of `sql`, from this thread's cache when it classified the same text with the same dialect and
/// options last. `options_key` names the options: 0 for the default ones (no extra function), otherwise a
/// number that no other options get in this process (a session passes its cluster's serial(): the options
/// come from the cluster's configuration, which never changes).
text_facts facts_of(std::string_view sql, dialect d, classify_options const& options, std::uint64_t options_key);

/// The first word of `sql`, lower case (at most 10 ASCII letters); empty when the text starts otherwise.
std::array<char, 11> first_word_of(std::string_view sql) noexcept;

} // namespace soci_routing

#endif // SOCI_ROUTING_TEXT_FACTS_H_INCLUDED
