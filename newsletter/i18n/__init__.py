"""The languages the newsletter speaks: gettext catalogues, Babel dates and numbers, bidi.

Pure and shared by `newsletter.compose` (an issue speaks its record's language) and
`newsletter.web` (a public page speaks its list's language). The catalogues ship in
`locale/` beside this package; README.md ("Translations") says how to add a language.
"""

from newsletter.i18n.languages import N_, Language, language, shipped

__all__ = ["N_", "Language", "language", "shipped"]
