"""Partners are told: the tenant's event feed (`Subscribe`) and webhooks, kept by the gateway.

`feed.py` records every integration event of every service in one ordered table (a projection
fed by the shared JetStream consumers); `webhooks.py` keeps the endpoints and delivers to them;
`handler.py` answers `oonledger.partner.v1.PartnerEventsService`. docs/gateway.md explains.
"""
