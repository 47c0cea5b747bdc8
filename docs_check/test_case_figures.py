"""README's "Reference cases" table against `facelab case NAME` (the twin of `calibrate`).

Every figure of a case's row is found in the row by the pattern beside its command here and
compared with the command's printed line (:func:`docfig.check`: the README rounds to nearest at
the decimals it prints). Where the README gives a range, the command must fall inside it.
"""

from __future__ import annotations

import re

import pytest
from docfig import NUMBER, check, find, number, table_row

README = "README.md"


def _row(case: str) -> str:
    return table_row(README, f"`{case}`")[-1]


def _lines(result: dict) -> str:
    return "\n".join(result["facelab"])


def test_aclu_congress(case):
    row, out = _row("aclu-congress"), _lines(case("aclu-congress"))
    probes = find(rf"({NUMBER}) probes with a detected face", out, "command")
    k80 = find(r"log-fmr +at 80 %: (\d+) of", out, "command").group(1)
    k95 = find(r"log-fmr +at 95 %: (\d+) of", out, "command").group(1)
    lin80 = find(r"linear +at 80 %: (\d+) of", out, "command").group(1)
    m = find(rf"([\d–]+) of ({NUMBER}) probes falsely matched at \"80 %\"", row, "README")
    check(m.group(2), number(probes.group(1)), "aclu probes with a face")
    check(m.group(1), int(k80), "aclu log-fmr at 80 %")
    check(find(r"\(`log-fmr`\), ([\d–]+) at 95 %", row, "README").group(1), int(k95),
          "aclu log-fmr at 95 %")  # fmt: skip
    check(find(r"(none|\d+) at 80 % under the linear scale", row, "README").group(1),
          int(lin80), "aclu linear at 80 %")  # fmt: skip


def test_cardiff_2017(case):
    row, out = _row("cardiff-2017"), _lines(case("cardiff-2017"))
    faces = find(rf"({NUMBER}) faces searched against a watchlist of ({NUMBER}); (\d+) sightings",
                 out, "command")  # fmt: skip
    m = find(rf"({NUMBER}) faces \((\d+) sightings of wanted people\) against ({NUMBER}) entries",
             row, "README")  # fmt: skip
    check(m.group(1), number(faces.group(1)), "cardiff faces")
    check(m.group(2), number(faces.group(3)), "cardiff sightings of wanted people")
    check(m.group(3), number(faces.group(2)), "cardiff watchlist")
    quoted = re.findall(rf"at (\d+) %, ({NUMBER}) alerts, (?:({NUMBER}) % false|(\d+) false)", row)
    assert len(quoted) >= 3, row
    for p, alerts, share, false in quoted:
        got = find(rf"at {p} %: ({NUMBER}) alerts, false: ({NUMBER}) of ({NUMBER})", out,
                   f"command at {p} %")  # fmt: skip
        check(alerts, number(got.group(1)), f"cardiff alerts at {p} %")
        k, n = number(got.group(2)), number(got.group(3))
        if share:
            check(share, 100 * k / n, f"cardiff false share at {p} %")
        else:
            check(false, k, f"cardiff false alerts at {p} %")


def test_npl_lfr(case):
    row, out = _row("npl-lfr"), _lines(case("npl-lfr"))
    fpir = {
        int(number(w)): (number(c), number(t))
        for w, c, t in re.findall(rf"watchlist +({NUMBER}): FPIR ({NUMBER})/({NUMBER})", out)
    }
    tpir = find(rf"watchlist +10,000: .*?TPIR .*?\(({NUMBER})/({NUMBER})\)", out, "command")
    ratio = find(rf"ratio of FPIRs ({NUMBER})", out, "command").group(1)
    m = find(rf"FPIR ({NUMBER}) % vs ({NUMBER}) % at 60 % \(TPIR ({NUMBER}) %\): ({NUMBER})×",
             row, "README")  # fmt: skip
    big, small = fpir[10_000], fpir[1_000]
    check(m.group(1), 100 * big[0] / big[1], "npl FPIR at 10,000")
    check(m.group(2), 100 * small[0] / small[1], "npl FPIR at 1,000")
    check(m.group(3), 100 * number(tpir.group(1)) / number(tpir.group(2)), "npl TPIR")
    check(m.group(4), (big[0] / big[1]) / (small[0] / small[1]), "npl FPIR ratio")
    check(m.group(4), number(ratio), "npl FPIR ratio as printed")


@pytest.fixture(scope="module")
def metro(case):
    return case("metro")


def test_metro_alerts_a_day(metro):
    row, out = _row("metro"), _lines(metro)
    quoted = re.findall(rf"({NUMBER}) (?:alerts a day )?at (\d+) % \((none|{NUMBER} %) false\)",
                        row)  # fmt: skip
    assert len(quoted) == 4, row
    days = int(find(r"in the (\d+) day\(s\) still held", out, "command").group(1))
    for per_day, p, share in quoted:
        got = find(rf"at {p} %: ({NUMBER}) alerts a day to review, ({NUMBER}) of them false; "
                   rf"false: ({NUMBER}) of ({NUMBER})", out, f"command at {p} %")  # fmt: skip
        # from the counts, not the printed 8.5 (which the README would round again)
        check(per_day, number(got.group(4)) / days, f"metro alerts a day at {p} %")
        k, n = number(got.group(3)), number(got.group(4))
        check(share.removesuffix(" %"), 100 * k / n if share != "none" else k,
              f"metro false share at {p} %")  # fmt: skip
