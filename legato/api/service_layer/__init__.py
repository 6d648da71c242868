"""What the routers call: the API's logic, below HTTP. A router parses, authorizes, calls one
function here and maps its outcome to HTTP; a function here reads the inventory through point
lookups, drives workflows through the service client, and says why it will not do something by
raising a `Refusal` (outcomes.py), which the API answers with its status (errors.py).

- services_view.py      one service as the API shows it: inventory rows, workflow progress, what serves
- service_lifecycle.py  start and remove services
- service_operations.py day-2 operations on a service, and their records
- cluster_scaling.py    an operator's growth or shrink of a shared cluster
- continuum_view.py     sites, hosts, clusters and findings as a tenant may see them
- federation_requests.py what a partner operator's Legato asks of this one
- proposal_decisions.py an operator's approval or rejection of a rebalancing proposal
- order_plans.py        a TMF641 order's items resolved into plans before its workflow starts
"""
