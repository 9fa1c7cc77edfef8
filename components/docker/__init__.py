"""What runs on a Docker host: MMR, its Postgres, Redis, backups and one-shot helpers."""
