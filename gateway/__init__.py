"""The partner gateway: one authenticated gRPC + JSON endpoint in front of the public services."""
