"""Signed webhooks: Standard Webhooks signatures and delivery from the transactional outbox."""
