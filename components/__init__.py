"""One ComponentResource per module: the pieces of a matrix-media-repo deployment."""
