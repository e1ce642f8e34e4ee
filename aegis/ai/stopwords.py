"""Function words for the languages the local provider handles best.

They carry no topic, so the local embedding gives them little weight and the
keyword extractor never proposes them. Words are stored folded (lower case, no
accents) to match :func:`aegis.ai.text.tokenize`. The per-language sets also give a
last-resort language guess when no detector is installed.
"""

from __future__ import annotations

_EN = """
a about above after again against all also am an and any are aren't as at be because been
before being below between both but by can can't cannot could couldn't did didn't do does
doesn't doing don't down during each etc few for from further had hadn't has hasn't have
haven't having he he'd he'll he's her here here's hers herself him himself his how how's i
i'd i'll i'm i've if in into is isn't it it's its itself just let's may me might more most
much must mustn't my myself no nor not now of off on once only or other ought our ours
ourselves out over own per same shall shan't she she'd she'll she's should shouldn't so
some such than that that's the their theirs them themselves then there there's these they
they'd they'll they're they've this those through thus to too under until up upon us very
was wasn't we we'd we'll we're we've were weren't what what's when when's where where's
which while who who's whom whose why why's will with within without won't would wouldn't
yet you you'd you'll you're you've your yours yourself yourselves one two also however
"""
_ES = """
a al algo algunas algunos ante antes como con contra cual cuando de del desde donde durante
e el ella ellas ellos en entre era eran es esa esas ese eso esos esta estaba estan estas
este esto estos fue fueron ha han hasta hay la las le les lo los mas me mi mientras muy nada
ni no nos nosotros o os otra otras otro otros para pero poco por porque que quien se sea
ser si sin sobre son su sus tambien tan te tiene tienen todo todos tu tus un una unas uno
unos y ya
"""
_FR = """
a au aucun aussi autre aux avec avoir c ce ceci cela ces cet cette comme d dans de des donc
dont du elle elles en est et etaient etait etre eu il ils j je l la le les leur leurs lui
m ma mais me meme mes moi mon n ne ni nos notre nous on ont ou par pas peu plus pour qu que
qui s sa sans se ses si son sont sous sur ta te tes toi ton tous tout toute toutes tu un une
vos votre vous y
"""
_DE = """
aber alle allem allen aller alles als also am an auch auf aus bei bin bis bist da damit
dann das dass dein deine dem den der des dich die dir doch dort du durch ein eine einem
einen einer eines er es etwas euch euer fur hat hatte hatten ich ihr ihre im in ist ja jede
jeder jedes kann kein keine mich mir mit muss nach nicht noch nun nur ob oder ohne sehr sein
seine sich sie sind so uber um und uns unser unter vom von vor war waren was weil wenn wer
wie wir wird wo zu zum zur
"""
_IT = """
a ad al alla alle allo anche che chi ci come con da dal dalla dei del della delle dello di
e ed gli ha hanno i il in io la le lei lo loro lui ma mi ne nei nel nella non o per piu
quale quando questa questo se si sono su sua sue suo tra un una uno
"""
_PT = """
a ao aos as com como da das de dela dele do dos e ela ele eles em entre era essa esse esta
este eu foi ha isso isto ja lhe mais mas me mesmo muito na nao nas nem no nos o os ou para
pela pelo por quando que se sem ser seu sua suas tambem te tem um uma voce
"""
_NL = """
aan al als bij dat de den der deze die dit doch door een en er had heb heeft het hij hoe
hun ik in is je kan maar me met mij na naar niet nog nu of om ons ook op over te tot u uit
van veel voor want was wat we wel werd wie wij wordt zal ze zich zijn zo zou
"""

BY_LANGUAGE: dict[str, frozenset[str]] = {
    code: frozenset(words.split())
    for code, words in {
        "en": _EN,
        "es": _ES,
        "fr": _FR,
        "de": _DE,
        "it": _IT,
        "pt": _PT,
        "nl": _NL,
    }.items()
}

ALL: frozenset[str] = frozenset().union(*BY_LANGUAGE.values())


def is_stopword(token: str) -> bool:
    return token in ALL or len(token) == 1


def guess_language(tokens: list[str], min_hits: int = 5) -> str | None:
    """The language whose function words cover the most tokens, if clearly any."""
    if not tokens:
        return None
    counts = {code: sum(1 for t in tokens if t in words) for code, words in BY_LANGUAGE.items()}
    best = max(counts, key=lambda code: counts[code])
    if counts[best] < min_hits or counts[best] < 0.08 * len(tokens):
        return None
    return best
