"""Portal entities as the importers see them: found through the config, written to the layout."""
