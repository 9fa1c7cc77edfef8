"""What runs on Kubernetes: MMR as many processes, Redis, Postgres, Ingress, Jobs."""
