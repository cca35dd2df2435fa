"""The Kafka transport: producer side (`producer.KafkaTransport`), topics, the fast decoder
and the consumer side (`subscription.KafkaSubscription`) that ingest reads from.

Nothing here imports a concrete store: ingest hands deliveries to `storage.base.Store`.
"""
