"""Pure compliance domain: policy packs, candidate zones, rules, decisions, DNC index.

Entry points: :func:`~compliance.domain.rules.screen` and
:func:`~compliance.domain.rules.evaluate`; see ``docs/compliance.md``.
"""
