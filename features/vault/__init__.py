"""The citizens' vault: their career data in a database (SQLite by default, PostgreSQL in production).

See ``docs/vault.md``. The service opens a :class:`Vault`; `loopbaan vault` migrates, imports and exports. The names
below are loaded on first use, so that opening the database alone (`loopbaan vault status`) stays quick.
"""

from importlib import import_module

_WHERE = {"AuditLine": "audit", "pseudonym": "audit", "RecordCatalogue": "catalogue", "Vault": "store",
          "Change": "store", "Entry": "store", "FeedbackItem": "store", "VaultCareerData": "store",
          "AssessmentResult": "store", "CompletedCourse": "store", "DiplomaObtained": "store",
          "LinkSummary": "links", "link_subjects": "links", "read_subjects": "links"}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'features.vault' has no attribute {name!r}")
    return getattr(import_module(f"features.vault.{_WHERE[name]}"), name)
