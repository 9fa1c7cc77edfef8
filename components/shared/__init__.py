"""What does not depend on where MMR runs: the bucket and its keys, the database and its DSN."""
