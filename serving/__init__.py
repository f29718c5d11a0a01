"""The BentoML suggestion service, explanations, auth, audit and the citizen's site (imports models/, features/)."""
