"""The staff audit log: every state-changing request by a signed-in principal, and reads of personal data."""
