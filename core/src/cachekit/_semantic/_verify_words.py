"""The default semantic verifier's vocabulary: word lists, units, number words and
the patterns its analysis uses (see :mod:`cachekit._semantic._verify` for the rules)."""

from __future__ import annotations

import re

__all__ = [
    "CALENDAR",
    "CARDINALS",
    "CONTRACTION",
    "DATA_UNIT",
    "FILLER",
    "FUNCTION",
    "IDENTIFIERS",
    "LANGUAGES",
    "LETTER_UNITS",
    "LISTED",
    "MAX_TYPOS",
    "MAYBE_IDENTIFIER",
    "NEGATIONS",
    "NUMBER_WORDS",
    "OPENERS",
    "OPPOSITES",
    "ORDINALS",
    "PIVOTS",
    "QUOTES",
    "ROMAN",
    "ROMAN_FORM",
    "SCOPE",
    "SENTENCE_BREAKS",
    "SENTENCE_END",
    "SPELT_OUT",
    "THOUSANDS",
    "TOKEN",
    "UNITS",
    "spell_out",
    "unit_names",
    "word_list",
    "word_set",
]


def word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


def word_list(text: str) -> list[str]:
    return text.split()


# -- word lists (lowercase; plural forms are reduced by _stem before lookup) ----------------
NEGATIONS = word_set(
    "not no never none nobody nothing nowhere neither nor without cannot non "
    "nicht kein keine keinen keiner nie pas jamais aucun aucune nunca nada ningún ninguna mai"
)
FUNCTION = word_set(
    "a an the and or but if else so as of in on at for with about is are was were be been "
    "being am do does did doing done have has had having i me my mine myself you your yours "
    "yourself we us our ours they them their theirs it its itself this that these those there "
    "here can could would should will shall may might must let get got any some such own "
    "also too very just only really quite rather each both either whether"
)
FILLER = word_set(
    "please pls kindly thanks thank thx cheers hi hello hey dear quick question basically "
    "honestly actually now then well okay ok briefly quickly simply appreciate appreciated "
    "grateful tell know wondering wonder help lot much mind"
)
#: Words that give the others their direction: "from A to B", "A than B", "A before B".
PIVOTS = word_set(
    "in from to into onto than before after vs versus over under above below by per against "
    "toward towards until till via"
)


def unit_names(names: str, unit: str | None = None) -> dict[str, str | None]:
    """Spellings of one unit, each mapped to its name (``None``: the spelling itself)."""
    return dict.fromkeys(names.split(), unit)


UNITS = {
    **unit_names("km kilometer kilometre", "km"),
    **unit_names("meter metre", "m"),
    **unit_names("cm centimeter centimetre", "cm"),
    **unit_names("mm millimeter millimetre", "mm"),
    **unit_names("mile mi", "mile"),
    **unit_names("yard yd", "yard"),
    **unit_names("foot feet ft", "foot"),
    **unit_names("inch", "inch"),
    **unit_names("mph kph kmh knot"),
    **unit_names("kg kilogram kilo", "kg"),
    **unit_names("gram", "g"),
    **unit_names("mg milligram", "mg"),
    **unit_names("mcg microgram µg", "mcg"),
    **unit_names("lb lbs pound", "pound"),
    **unit_names("oz ounce", "ounce"),
    **unit_names("ton tonne", "ton"),
    **unit_names("liter litre", "l"),
    **unit_names("ml milliliter millilitre", "ml"),
    **unit_names("gallon gal", "gallon"),
    **unit_names("quart pint cup tablespoon tbsp teaspoon tsp"),
    **unit_names("celsius centigrade", "celsius"),
    **unit_names("fahrenheit kelvin"),
    **unit_names("byte bit kbit mbit gbit kilobyte megabyte gigabyte terabyte"),
    **unit_names("hz khz mhz ghz watt kw kwh volt amp mah"),
    **unit_names("percent percentage %", "percent"),
    **unit_names("ms millisecond", "ms"),
    **unit_names("sec second", "second"),
    **unit_names("min minute", "minute"),
    **unit_names("hr hour", "hour"),
    **unit_names("day week month year decade century"),
    **unit_names("usd dollar buck $", "dollar"),
    **unit_names("eur euro €", "euro"),
    **unit_names("gbp sterling £", "pound"),
    **unit_names("jpy yen ¥", "yen"),
    **unit_names("cny rmb yuan", "yuan"),
    **unit_names("inr rupee", "rupee"),
    **unit_names("cad aud chf nzd sek nok dkk franc krona krone cent btc bitcoin"),
}
#: Units spelled with one letter count only right after a number ("5 g", "10 s").
LETTER_UNITS = {"g": "g", "m": "m", "l": "l", "s": "second", "h": "hour", "k": "thousand"}
CALENDAR = word_set(
    "monday tuesday wednesday thursday friday saturday sunday weekday weekend "
    "january february march april june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec spring summer autumn winter"
)
LANGUAGES = word_set(
    "english french german spanish italian portuguese dutch swedish norwegian danish finnish "
    "polish czech russian ukrainian greek turkish arabic hebrew hindi bengali urdu chinese "
    "mandarin cantonese japanese korean vietnamese thai indonesian latin "
    "python java javascript typescript kotlin rust ruby php perl swift scala haskell bash "
    "powershell sql html css lua dart elixir erlang julia matlab fortran cobol golang"
)
OPPOSITES = word_set(
    "good bad better worse best worst safe unsafe dangerous risky danger harmful harmless "
    "legal illegal increase decrease raise lower up down before after last max maximum "
    "minimum largest smallest biggest big small large larger smaller high higher highest "
    "low lowest long longest short shortest more less fewer most least fast faster slow "
    "slower loud louder quiet quieter hot cold warm cool enable disable enabled disabled off "
    "accept reject approve deny allow forbid open close closed buy sell win lose positive "
    "negative pro con advantage disadvantage benefit drawback risk true false dislike love "
    "hate agree disagree include exclude import export add remove start stop begin end push "
    "pull upload download encrypt decrypt encode decode compress decompress ascending "
    "descending north south east west left right inside outside input output old new "
    "young rich poor formal informal heavy light dark wet dry early late cheap expensive "
    "easy hard difficult strong weak happy sad day night morning evening afternoon today "
    "tomorrow yesterday male female man woman men women boy girl he she him her his hers "
    "plus minus subtract multiply divide debit credit asset liability client server sender "
    "receiver recipient buyer seller employer employee landlord tenant parent child teacher "
    "student beginner expert odd horizontal vertical uppercase lowercase sync async "
    "synchronous asynchronous public private static dynamic local remote absolute relative "
    "internal external success failure pass fail valid invalid correct incorrect wrong "
    "possible impossible always sometimes often rarely single double multiple singular "
    "plural past future"
)
LISTED = CALENDAR | LANGUAGES | OPPOSITES
CARDINALS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty"
)
#: "second" is not here: it is read as a unit ("10 seconds") more often than a rank.
ORDINALS = "first _ third fourth fifth sixth seventh eighth ninth tenth"
NUMBER_WORDS = {
    **{word: str(n) for n, word in enumerate(word_list(CARDINALS))},
    **{word: str(n) for n, word in enumerate(word_list(ORDINALS), 1)},
    **{
        word: str(10 * n)
        for n, word in enumerate(word_list("thirty forty fifty sixty seventy eighty ninety"), 3)
    },
    "hundred": "100",
    "thousand": "1000",
    "million": "1000000",
    "billion": "1000000000",
    "trillion": "1000000000000",
    "dozen": "12",
    "twice": "2",
    "half": "0.5",
}
ROMAN = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
ROMAN_FORM = re.compile(r"M{0,3}(?:CM|CD|D?C{0,3})(?:XC|XL|L?X{0,3})(?:IX|IV|V?I{0,3})")
#: Data sizes and rates, where the case of the b says bits or bytes (Mbps is not MBps).
DATA_UNIT = re.compile(r"([kKmMgGtTpP])i?([bB])(ps|/s)?")
#: Contractions of "not", spelt out so that "doesn't" and "does not" read the same.
CONTRACTION = re.compile(
    r"\b(?:(can)'?t|(can)not|(wo)n'?t|(sha)n't|(ai)n't|(\w+)n't"
    r"|(do|does|did|is|are|was|were|has|have|had|should|would|could|must|need)nt)\b",
    re.IGNORECASE,
)
SPELT_OUT = {"wo": "will", "sha": "shall", "ai": "is"}


def spell_out(match: re.Match[str]) -> str:
    base = next(group for group in match.groups() if group is not None)
    return SPELT_OUT.get(base.lower(), base) + " not"


IDENTIFIERS = re.compile(
    r"`[^`\n]+`"  # a code span
    r"|(?<![\w.])[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+"  # os.path.join, df.groupby, Node.js
    r"|(?<!\w)\w*[A-Za-z0-9]_\w+|(?<!\w)_\w+"  # parse_config, __init__
    r"|(?<!\w)[a-z]+[A-Z]\w*"  # useEffect, iPhone
    r"|(?<![\w-])--?[A-Za-z][\w-]*"  # -r, --onto
    r"|(?<![\w/.])(?:~|\.\.?)?/[\w.\-/]+"  # /var/log, ./build
    r"|(?<!\w)[A-Za-z]+(?:\+\+|#)(?![\w#+])"  # C++, C#
)
#: A cheap test for text that may hold an identifier at all (most prose does not).
MAYBE_IDENTIFIER = re.compile(r"[`_/#+]|[a-z][A-Z]|\w\.[A-Za-z_]|(?<!\S)-")
TOKEN = re.compile(
    r"(?P<num>\d+(?:[.,:]\d+)*)"
    r"|(?P<word>[^\W\d_]+(?:'[^\W\d_]+)*)"
    r"|(?P<sym>[$€£¥%°])"
)
THOUSANDS = re.compile(r"\d{1,3}(?:,\d{3})+")
QUOTES = str.maketrans(
    {"\N{RIGHT SINGLE QUOTATION MARK}": "'", "\N{LEFT SINGLE QUOTATION MARK}": "'"}
)
SENTENCE_END = ".!?:;\n"
SENTENCE_BREAKS = ".!?;\n"
#: How many content words after a negation it may govern ("why doesn't my code work").
SCOPE = 2
#: Beyond this many differing words, looking for typos among them is not worth it.
MAX_TYPOS = 8
OPENERS = " \t\"'\N{LEFT DOUBLE QUOTATION MARK}\N{LEFT SINGLE QUOTATION MARK}«([{*#>-"
