"""The `loopbaan` command line: thin calls into the packages. Nothing imports it."""
