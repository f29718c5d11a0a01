"""What the vault refuses, as named messages and one exception class per answer a caller gives.

A service maps each class to one HTTP status: :class:`VaultNotReady` 503, :class:`UnknownCitizen` 404,
:class:`RevisionConflict` 409, :class:`DuplicateEntry` 409, :class:`EntryTooLarge` 413, :class:`InvalidEntry` 422,
:class:`NotRemovable` 403, :class:`UnknownGrant` 403 (to a partner, exactly as a refused share);
:class:`InvalidSubjects` is for ``loopbaan vault link-subjects``. All are :class:`~features.errors.LoopbaanError`,
so the CLI prints them as one line.
"""

from __future__ import annotations

from features.errors import LoopbaanError

ERR_NO_VAULT = ("there is no vault at {url} yet: create it with `loopbaan vault upgrade`, then fill it with "
                "`loopbaan vault import`")
ERR_OLD_VAULT = ("the vault at {url} is at migration {found}, this version of loopbaan needs {needed}: run "
                 "`loopbaan vault upgrade` (the service never migrates by itself)")
ERR_NEWER_VAULT = ("the vault at {url} is at migration {found}, which this version of loopbaan does not know "
                   "(written by a newer version?): upgrade loopbaan, or point LOOPBAAN_DATABASE_URL at another vault")
ERR_UNREACHABLE = "the vault at {url} cannot be reached ({reason}): check LOOPBAAN_DATABASE_URL and the database"
ERR_UNKNOWN_CITIZEN = "citizen {citizen_id} is not in the vault: check the id (or run `loopbaan vault import`)"
ERR_REVISION = ("your career data changed elsewhere (another window or device) since you opened it: it is now at "
                "revision {current}, you edited revision {expected}. Reload the page and make your change again; "
                "nothing was saved")
ERR_UNKNOWN_COMPETENCY = ("unknown competency id {uri!r}: choose one with the competency search "
                          "(`loopbaan competencies search`)")
ERR_DUPLICATE_COMPETENCY = "you already added the competency {uri!r} yourself; nothing was changed"
ERR_DUPLICATE_RECORD = "this {what} on {on} is already in your career data; nothing was changed"
ERR_DUPLICATE_FEEDBACK = ("you already said why {kind} item {item!r} is not for you; remove that feedback first to "
                          "give another reason")
ERR_TOO_MANY = ("your career data already holds {limit} entries you added yourself, the most the vault keeps; "
                "remove one first")
ERR_TOO_LONG = "{field} is {length} characters long, at most {limit} are kept; shorten it"
ERR_FUTURE = "the date {on} is after today ({today}): give the date it happened"
ERR_TOO_OLD = "the date {on} is before {earliest}: give the date it happened"
ERR_PROFICIENCY = "a test result's proficiency is 0 to 4, not {value}"
ERR_UNKNOWN_TRAINING = "training {training_id} is not in the training catalogue: choose one from the catalogue"
ERR_UNKNOWN_DIPLOMA = "diploma {diploma_id} is not in the diploma catalogue: choose one from the catalogue"
ERR_NO_CATALOGUE = "this vault was opened without the catalogues, so it cannot record a {what}: pass catalogue="
ERR_UNKNOWN_ENTRY = "entry {entry_id} is not in your career data: reload the page"
ERR_NOT_REMOVABLE = ("entry {entry_id} came from {provided_by}, not from you: only what you added yourself can be "
                     "removed here (ask the source to correct it)")
ERR_FEEDBACK_REASON = "unknown reason {reason!r}: choose one of {reasons}"
ERR_UNKNOWN_FEEDBACK = "there is no feedback of yours on {kind} item {item!r}"
ERR_OTHER_POPULATION = ("the vault at {url} already holds citizens imported from another population ({found}); "
                        "import into a new vault (another LOOPBAAN_DATABASE_URL or file) instead")

ERR_SUBJECTS_UNREADABLE = ("{path} cannot be read as JSON ({reason}): give the subjects file the sign-in provider "
                           "wrote (`node oidc/provider.js init --dir DIR` writes DIR/subjects.json); nothing was "
                           "linked")
ERR_SUBJECTS_FORMAT = ("{path} is not a subjects file of the sign-in provider (its format is {found}, not "
                       "'loopbaan-oidc-subjects'): give the subjects.json that `node oidc/provider.js init` wrote; "
                       "nothing was linked")
ERR_SUBJECTS_VERSION = ("{path} is a subjects file of version {found}, this version of loopbaan reads version "
                        "{supported}: upgrade loopbaan to read it; nothing was linked")
ERR_SUBJECTS_ENTRY = ("{path}: entry {index} of 'subjects' is not a link ({reason}); each is "
                      "{{\"subject\": <1 to {limit} characters>, \"citizen_id\": <a whole number>}}; nothing was "
                      "linked")
ERR_SUBJECT_TWICE = ("{path}: entries {first} and {index} give the same subject; each subject links to one citizen: "
                     "correct the file; nothing was linked")
ERR_SUBJECTS_UNKNOWN_CITIZENS = ("{count} subject(s) of {path} name citizens that are not in the vault (citizen "
                                 "{ids}): import those citizens first (`loopbaan vault import`), or give the "
                                 "subjects file made for this vault's citizens; nothing was linked")
ERR_SUBJECT_RELINKED = ("{count} subject(s) of {path} are already linked to another citizen for the issuer {issuer} "
                        "(the first at entry {index}): a subject belongs to one citizen for good; give the right file "
                        "or issuer; nothing was linked")
ERR_SUBJECTS_RACE = ("another import linked some of these subjects at the same moment: run `loopbaan vault "
                     "link-subjects` again; nothing was linked by this one")
ERR_ISSUER = ("the issuer {issuer!r} is not usable: give the provider's issuer URL exactly as in its tokens "
              "(1 to {limit} characters, LOOPBAAN_OIDC_ISSUER or --issuer)")
ERR_UNKNOWN_GRANT = "share {grant_id!r} is not one of yours: reload the page"
ERR_TOO_MANY_GRANTS = ("you already have {limit} shares that are active or not yet valid, the most the vault keeps: "
                       "revoke one first")
ERR_REQUESTED_PARTS = ("ask for at most {count} parts, each a part name of at most {length} characters (or none, for "
                       "every granted part)")


class VaultNotReady(LoopbaanError):
    """The vault is missing, at another migration, or unreachable."""


class UnknownCitizen(LoopbaanError):
    pass


class RevisionConflict(LoopbaanError):
    """The citizen's data changed since the caller read it (two tabs): nothing was written."""

    def __init__(self, message: str, *, current: int) -> None:
        super().__init__(message)
        self.current = current


class InvalidEntry(LoopbaanError):
    pass


class DuplicateEntry(LoopbaanError):
    pass


class EntryTooLarge(LoopbaanError):
    pass


class NotRemovable(LoopbaanError):
    pass


class UnknownGrant(LoopbaanError):
    """A partner named a share the vault does not hold; answered as a refused share (403, the same message)."""


class InvalidSubjects(LoopbaanError):
    """A subjects file that cannot be linked as it is: nothing of it was linked."""
