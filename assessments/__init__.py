"""Fairness assessment of rankings, the promotion gate and the ethics-board reports (imports models/, features/).

The only package that may read sensitive attributes.
"""
