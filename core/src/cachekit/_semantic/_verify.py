"""Semantic-hit verification: what a verifier sees, and the built-in default verifier.

A semantic match is only a *candidate*: its prompt embedded close to the request's.
Close is not the same. Under the default ``hash`` embedder and threshold, "What is
1234 times 5678?" finds "What is 1234 times 5679?", and "Is it safe to…" finds "Is it
not safe to…" (model embedders are blind to numbers and negations too): every candidate
goes through the ``cachekit_semantic_verify`` hook; this module is the core's own
implementation (plugin ``"cachekit._semantic._verify"``, ``trylast``: asked last).

The default verifier rejects a match when the two prompts, compared turn by turn
(the same roles in the same order, or it rejects), differ in:

* **numbers** — every numeric token in order: digits (``1234``, ``3.11``,
  ``2024-01-05``, ``14:05``, ``6:45pm``, the ``3`` of ``Q3``), number words (``three``,
  ``third``), Roman numerals (``II``, ``VIII``);
* **negations** — per turn, every negation cue (``not``, ``no``, ``never``, ``n't``,
  ``without``, ``none``, ``cannot``, ``nobody``, ``nothing``, ``neither``, ``nor``,
  ``non``, and a few in other languages) with the content words it governs (the next
  two in its sentence); each negation of one prompt needs a counterpart in the other
  governing a common word. So "why doesn't my code work" and "why does my code not
  work" agree; "is it safe" / "is it not safe" and "with eggs" / "without eggs" do not;
* **key words** — names (words capitalised where a sentence does not start, or with
  several capitals: ``Paris``, ``GitHub``, ``SQL``; compared without case, so a
  lowercased rewording still agrees, and up to a typo unless written in capitals),
  code identifiers (``os.path.join``, ``parse_config``, ``useEffect``, ``--onto``,
  ``/var/log``, ``C++``, ``C#``, backticked spans), data units with the case of their
  b (``Mbps`` is not ``MBps``), and a word list: units and currencies, days and
  months, languages, and opposites (good/bad, before/after, enable/disable, buy/sell…);
* **word order** — the words both prompts share, read in order, may differ by one
  moved block (a clause moved to the front or the end) but not by words trading
  places: "from Paris to Rome" / "from Rome to Paris", "a cat bigger than a dog" /
  "a dog bigger than a cat";
* **content words, for lexical embedders only** (the built-in ``hash``): every word
  that is not a function word, filler or courtesy ("please", "thanks", "could you")
  must appear on both sides, up to a typo (one edit, two for words of eight letters or
  more, same first letter). A lexical embedder measures shared spelling and cannot
  tell a synonym from a substitute, so a changed content word ("guitar" / "piano")
  means another question. Under a model embedder this rule is off: its similarity
  is trusted with rewordings.

A candidate whose prompt text is unknown (an entry written without it, e.g. by an
older cachekit) is rejected: it cannot be verified.

Overriding: register a plugin with a ``cachekit_semantic_verify`` implementation
(``cache.plugins.register(obj)`` or an entry point); it runs before this one, and
its ``True``/``False`` is final, ``None`` defers. To drop the default altogether:
``cache.plugins.unregister(name="cachekit._semantic._verify")``.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cachekit._semantic._verify_words import (
    CALENDAR,
    CONTRACTION,
    DATA_UNIT,
    FILLER,
    FUNCTION,
    IDENTIFIERS,
    LANGUAGES,
    LETTER_UNITS,
    LISTED,
    MAX_TYPOS,
    MAYBE_IDENTIFIER,
    NEGATIONS,
    NUMBER_WORDS,
    OPENERS,
    OPPOSITES,
    PIVOTS,
    QUOTES,
    ROMAN,
    ROMAN_FORM,
    SCOPE,
    SENTENCE_BREAKS,
    SENTENCE_END,
    THOUSANDS,
    TOKEN,
    UNITS,
    spell_out,
)
from cachekit.hookspecs import hookimpl

__all__ = ["LEXICAL_EMBEDDERS", "SemanticPrompt", "cachekit_semantic_verify", "differences"]


@dataclass(frozen=True, slots=True)
class SemanticPrompt:
    """One side of a semantic match, as ``cachekit_semantic_verify`` sees it.

    ``turns`` are the prompt's text per message, ``(role, text)`` in order (only
    messages with text; ``("prompt", text)`` for a completion's ``prompt``); ``text``
    is what was embedded: one ``<role>: <text>`` line per turn for chat messages, the
    prompt itself otherwise. For the candidate both come from the entry's metadata,
    where semantic caches store them; ``text`` is ``None`` (and ``turns`` empty) for an
    entry stored without them. ``params`` are the canonical request parameters other
    than the conversation (``model``, ``temperature``, ``tools``…; no ``messages``,
    ``prompt`` or ``input``): the same on both sides, since a candidate is only
    searched within the request's partition, which is a digest of exactly these.
    ``key`` is the storage key, ``embedder`` the embedder's id (a registered name such
    as ``"hash"``, ``"model:<name>"``, or a callable's dotted path).
    """

    text: str | None
    turns: tuple[tuple[str, str], ...]
    params: Mapping[str, Any]
    key: str
    embedder: str


#: Embedders that compare spelling, not meaning (see the module docstring).
LEXICAL_EMBEDDERS = frozenset({"hash", "cachekit._semantic._embedders.HashEmbedder"})


def _stem(word: str) -> str:
    """A crude plural reduction of a lowercased word, enough to match "experts" with
    "expert" (acronyms are left alone by the caller: HTTPS is not the plural of HTTP)."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("ches", "shes", "xes", "sses")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _roman(word: str) -> int | None:
    """The value of an upper-case Roman numeral of two letters or more (II, XIV, LVIII)."""
    if len(word) < 2 or word[0] not in ROMAN or not ROMAN_FORM.fullmatch(word):
        return None
    total = 0
    for i, c in enumerate(word):
        value = ROMAN[c]
        total += -value if i + 1 < len(word) and ROMAN[word[i + 1]] > value else value
    return total


@dataclass(slots=True)
class _Turn:
    """What the rules compare in one turn's text."""

    numbers: list[str]
    negations: list[frozenset[str]]  # per negation, the content words it may govern
    names: set[str]  # lowercased words written as names
    acronyms: set[str]  # lowercased words written in capitals (SQL, HTTPS): spelt exactly
    keys: Counter[str]  # identifiers and word-list hits
    words: list[str]  # every word, lowercased and stemmed, in order
    content: list[str]  # content words and pivots, in order


def _analyse(text: str) -> _Turn:
    text = unicodedata.normalize("NFKC", text).translate(QUOTES)
    keys: Counter[str] = Counter()
    if MAYBE_IDENTIFIER.search(text):
        keys.update("id:" + m.group().lower() for m in IDENTIFIERS.finditer(text))
    text = CONTRACTION.sub(spell_out, text)
    numbers: list[str] = []
    names: set[str] = set()
    words: list[str] = []
    content: list[str] = []
    acronyms: set[str] = set()
    # All in capitals ("WHAT IS SQL"): then capitals mark no acronym.
    shouting = sum(map(str.isupper, text)) > 0.6 * sum(map(str.isalpha, text))
    negations: list[list[str]] = []
    governed: list[list[str]] = []  # negations still collecting words in this sentence
    previous_number = False
    end = 0
    for match in TOKEN.finditer(text):
        kind, token = match.lastgroup, match.group()
        if governed and any(c in SENTENCE_BREAKS for c in text[end : match.start()]):
            governed = []
        end = match.end()
        if kind == "num":
            if THOUSANDS.fullmatch(token):
                token = token.replace(",", "")
            numbers.append(str(int(token)) if token.isdigit() else token)
            previous_number = True
            continue
        if kind == "sym":
            unit = UNITS.get(token)
            if unit is not None:
                keys["unit:" + unit] += 1
                content.append(unit)
            continue
        base = token.split("'", 1)[0] if "'" in token else token
        lower = base.lower()
        roman = None if shouting else _roman(base)
        if roman is not None:
            numbers.append(str(roman))
            previous_number = True
            continue
        data_unit = DATA_UNIT.fullmatch(base)
        if data_unit is not None:
            prefix, b, rate = data_unit.groups()
            unit = prefix.lower() + b + ("ps" if rate else "")
            keys["unit:" + unit] += 1
            content.append(unit)
            previous_number = False
            continue
        if base.isupper() and not shouting and len(base) > 1:
            acronyms.add(lower)
            stem = lower
        else:
            stem = _stem(lower)
        after_number, previous_number = previous_number, False
        if after_number and lower in ("am", "pm"):
            numbers[-1] += lower
            continue
        if after_number and lower in ("st", "nd", "rd", "th"):  # 3rd is third
            continue
        if after_number and lower in LETTER_UNITS:
            keys["unit:" + LETTER_UNITS[lower]] += 1
            content.append(LETTER_UNITS[lower])
            continue
        if lower in NUMBER_WORDS:
            numbers.append(NUMBER_WORDS[lower])
            previous_number = True
            continue
        words.append(stem)
        if _is_name(text, match.start(), base):
            names.add(stem)
        if lower in NEGATIONS:
            negations.append([])
            governed.append(negations[-1])
            continue
        if stem in UNITS or lower in UNITS:
            stem = UNITS.get(stem, UNITS.get(lower)) or stem
            keys["unit:" + stem] += 1
        elif stem in CALENDAR or stem in LANGUAGES or stem in OPPOSITES:
            keys["word:" + stem] += 1
        elif (lower in FUNCTION or lower in FILLER) and lower not in PIVOTS:
            continue
        for scope in governed:
            scope.append(stem)
        governed = [scope for scope in governed if len(scope) < SCOPE]
        content.append(stem)
    return _Turn(numbers, [frozenset(s) for s in negations], names, acronyms, keys, words, content)


def _is_name(text: str, start: int, word: str) -> bool:
    """Written as a name: several capitals, or one where no sentence starts."""
    if word.islower() or word == "I":
        return False
    if not word[0].isupper() or sum(map(str.isupper, word)) > 1:
        return True
    i = start - 1
    while i >= 0 and text[i] in OPENERS:
        i -= 1
    return i >= 0 and text[i] not in SENTENCE_END


def _typo(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` are one slip apart (a transposition counts as one)."""
    if a[:1] != b[:1] or min(len(a), len(b)) < 4:
        return False
    limit = 2 if min(len(a), len(b)) >= 8 else 1
    if abs(len(a) - len(b)) > limit:
        return False
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = ca != cb
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                row[j] = min(row[j], previous2[j - 2] + 1)
        previous2, previous = previous, row
    return previous[-1] <= limit


def _unmatched(
    left: Counter[str], right: Counter[str], exact: set[str]
) -> tuple[list[str], list[str]]:
    """Words of each side the other lacks, after pairing off typos (never for ``exact``)."""
    only_left = list((left - right).elements())
    only_right = list((right - left).elements())
    if len(only_left) != len(only_right) or len(only_left) > MAX_TYPOS:
        return only_left, only_right  # some stay unmatched whatever typos pair off
    for word in [w for w in only_left if w not in exact]:
        twin = next((w for w in only_right if w not in exact and _typo(word, w)), None)
        if twin is not None:
            only_left.remove(word)
            only_right.remove(twin)
    return only_left, only_right


def _same_negations(a: list[frozenset[str]], b: list[frozenset[str]]) -> bool:
    """Whether each negation of one side has a counterpart governing a common word."""
    if len(a) != len(b):
        return False
    unpaired = list(b)
    for scope in a:
        twin = next((s for s in unpaired if s & scope or s == scope), None)
        if twin is None:
            return False
        unpaired.remove(twin)
    return True


def _misspelt(listed: Counter[str], other: list[str]) -> Counter[str]:
    """``listed`` keys less the listed words the other side only misspelt: a typo of a
    listed word that is not itself listed ("beter" stands for "better", "worse" does
    not). Many differences are differences: then no typo is looked for."""
    if not listed or listed.total() > MAX_TYPOS:
        return listed
    candidates = {w for w in other if w not in LISTED}
    left = Counter(listed)
    for key in list(left.elements()):
        kind, _, word = key.partition(":")
        if kind == "word" and any(_typo(word, w) for w in candidates):
            left[key] -= 1
    return +left


def _one_block_apart(a: list[str], b: list[str]) -> bool:
    """Whether the words both share are in the same order, up to one moved block."""
    if a == b:
        return True
    shared = Counter(a) & Counter(b)
    kept_a, kept_b = _first(a, shared), _first(b, shared)
    start, end = 0, len(kept_a)  # both keep the same words, so the same number of them
    while start < end and kept_a[start] == kept_b[start]:
        start += 1
    while end > start and kept_a[end - 1] == kept_b[end - 1]:
        end -= 1
    if start == end:
        return True
    ids: dict[str, str] = {}  # one character per distinct word, for a fast rotation test
    sa = "".join(ids.setdefault(w, chr(0x10000 + len(ids))) for w in kept_a[start:end])
    sb = "".join(ids.setdefault(w, chr(0x10000 + len(ids))) for w in kept_b[start:end])
    return sb in sa + sa


def _first(words: list[str], counts: Counter[str]) -> list[str]:
    left = Counter(counts)
    kept = []
    for word in words:
        if left[word] > 0:
            left[word] -= 1
            kept.append(word)
    return kept


def differences(request: SemanticPrompt, candidate: SemanticPrompt) -> list[str]:
    """Why the default verifier rejects the match: one line per difference found
    (empty when it accepts). Exposed for diagnostics and tests."""
    if candidate.text is None:
        return ["the candidate's prompt text is unknown (stored without it)"]
    if [r for r, _ in request.turns] != [r for r, _ in candidate.turns]:
        return ["the conversations have different turns"]
    lexical = request.embedder in LEXICAL_EMBEDDERS
    found: list[str] = []
    for (role, text_a), (_, text_b) in zip(request.turns, candidate.turns, strict=True):
        if text_a == text_b:
            continue
        a, b = _analyse(text_a), _analyse(text_b)
        if a.numbers != b.numbers:
            found.append(f"{role}: numbers {a.numbers} vs {b.numbers}")
        if not _same_negations(a.negations, b.negations):
            found.append(f"{role}: negations {_show(a.negations)} vs {_show(b.negations)}")
        missing_keys = _misspelt(a.keys - b.keys, b.content)
        extra_keys = _misspelt(b.keys - a.keys, a.content)
        if missing_keys or extra_keys:
            found.append(f"{role}: key words {sorted(missing_keys)} vs {sorted(extra_keys)}")
        names, exact = a.names | b.names, a.acronyms | b.acronyms
        missing, extra = _unmatched(
            Counter(w for w in a.words if w in names),
            Counter(w for w in b.words if w in names),
            exact,
        )
        if missing or extra:
            found.append(f"{role}: names {sorted(missing)} vs {sorted(extra)}")
        if not _one_block_apart(a.content, b.content):
            found.append(f"{role}: shared words in another order")
        if lexical:
            missing, extra = _unmatched(
                Counter(w for w in a.content if w not in PIVOTS),
                Counter(w for w in b.content if w not in PIVOTS),
                exact,
            )
            if missing or extra:
                found.append(f"{role}: content words {sorted(missing)} vs {sorted(extra)}")
    return found


def _show(negations: list[frozenset[str]]) -> list[list[str]]:
    return [sorted(s) for s in negations]


@hookimpl(trylast=True)
def cachekit_semantic_verify(
    call_type: str, request: SemanticPrompt, candidate: SemanticPrompt, similarity: float
) -> bool | None:
    """The default verifier (see the module docstring): reject on any difference."""
    return not differences(request, candidate)
