"""Domain operations, authorization and the service's plumbing."""
