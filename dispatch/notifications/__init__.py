"""Replies to residents: notification rows written with the change, sent by RQ jobs through a backend."""
