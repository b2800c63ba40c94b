"""Backups and restores: dumps, manifests and their signatures, sealed secrets, the restore role."""
