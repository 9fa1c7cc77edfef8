"""The real Pulumi CLI and matrix-media-repo, built from Go modules at the pins of versions.env (build.sh)."""
