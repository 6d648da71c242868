"""Federation with partner operators' Legatos: partners and their keys (`partners`), signed
requests and responses (`signing`), the HTTP client to a partner (`client`), and the pure
local-or-partner decision per component (`decide`). The workflow is `FederateRequest`, the
receiving routes `legato.api.federation`."""
