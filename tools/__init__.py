"""Developer tools (packaging, demo); kept out of the installable zip."""
