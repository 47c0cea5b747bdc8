"""A run's report: the facts, figures and self-contained HTML page built from its stored scores.

- :mod:`~facelab.lab.report.facts` — :class:`RunFacts`, what a reader needs to know about a run
  (also the header of ``facelab sweep``);
- :mod:`~facelab.lab.report.text` — short text forms of numbers (:func:`pct`, the one percent
  formatter, also used by ``facelab sweep``);
- :mod:`~facelab.lab.report.rates` — numbers behind the figures (probit axes, FPIR against
  watchlist size, curves on a fine percent grid);
- :mod:`~facelab.lab.report.figures` — matplotlib plot functions, each drawing on an ``Axes``
  it is given;
- :mod:`~facelab.lab.report.sheets` — false matches and their faces, for the contact sheets;
- :mod:`~facelab.lab.report.sections` — the page's HTML sections;
- :mod:`~facelab.lab.report.html` — the page itself, :func:`write_report`.

The package imports nothing itself: ``facelab sweep`` reads the facts and the percent text
without loading matplotlib or the HTML modules.
"""
