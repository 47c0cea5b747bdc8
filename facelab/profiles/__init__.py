"""System profiles: score models of deployed face-search systems, fitted to their published figures.

facelab measures one open model (SFace) on synthetic faces; its users ask about deployed
systems. A profile names such a system, its own score / percent scale, a score-level model of
its impostor and genuine scores (:mod:`~facelab.profiles.model`), and the published operating
points it was fitted to and those it was not (:mod:`~facelab.profiles.profile`, files under
``data/``). :mod:`~facelab.profiles.fit` fits the model by binomial likelihood and checks every
point against its Wilson interval; :mod:`~facelab.profiles.compare` sets a reference case's
published points beside a profile's figures and the default profile's (``sface-synthetic``).

The package stands beside the lab: it uses the lab's intervals and case list; the command line
uses it; nothing below the lab imports it.
"""
