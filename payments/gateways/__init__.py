"""Payment gateways: one module per way of paying.

The purchase lifecycle (payments/services.py) is the same for all of them: it
creates pending payments, records a typed Charge exactly once and books
refunds. A gateway adds what is particular to its way of paying: how the buyer
pays (a Telegram invoice, an invoice link that renews, the internal balance,
nothing at all), the checks Telegram asks for before it charges, and how money
goes back on a refund. `registry.gateway_for(payment)` names the one a payment
went through; adding a way of paying is one module here plus its tests.
"""
