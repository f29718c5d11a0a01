"""The citizens' vault: their career data in a database (SQLite by default, PostgreSQL in production).

See ``docs/vault.md``. The service opens a :class:`Vault`; `loopbaan vault` migrates, imports and exports.
"""

from features.vault.audit import AuditLine, pseudonym
from features.vault.catalogue import RecordCatalogue
from features.vault.store import (Change, CompletedCourse, DiplomaObtained, Entry, FeedbackItem, AssessmentResult, Vault,
                                  VaultCareerData)

__all__ = ["AuditLine", "Change", "CompletedCourse", "DiplomaObtained", "Entry", "FeedbackItem", "RecordCatalogue",
           "AssessmentResult", "Vault", "VaultCareerData", "pseudonym"]
