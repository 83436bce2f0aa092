"""What the container image runs: the entrypoint and the gRPC health probe."""
