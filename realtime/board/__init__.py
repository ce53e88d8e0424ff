"""The live order board at `/`: a page and plain JavaScript modules, no build step."""
