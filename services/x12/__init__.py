"""X12 in one place for 837 and 835: the envelope and tokenizer, neutral values, readers and
writers. A shared package, not a service: it imports nothing from services.<svc>, only
services.common. See docs/x12.md."""
