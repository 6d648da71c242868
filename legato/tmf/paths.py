"""Where each TMF API lives. Hrefs are absolute (the specs type several as `uri`), built on the
public base URL (`LEGATO_PUBLIC_URL`)."""

CATALOG = "/tmf-api/serviceCatalogManagement/v4"
ORDERING = "/tmf-api/serviceOrdering/v4"
INVENTORY = "/tmf-api/serviceInventory/v4"


def order_href(base: str, order_id: str) -> str:
    return f"{base}{ORDERING}/serviceOrder/{order_id}"


def cancel_href(base: str, cancel_id: str) -> str:
    return f"{base}{ORDERING}/cancelServiceOrder/{cancel_id}"


def service_href(base: str, service_id: str) -> str:
    return f"{base}{INVENTORY}/service/{service_id}"


def spec_href(base: str, spec_id: str) -> str:
    return f"{base}{CATALOG}/serviceSpecification/{spec_id}"
