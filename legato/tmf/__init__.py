"""TM Forum Open API mapping (TMF633 catalog, TMF638 inventory, TMF641 ordering) onto Legato's own
model: pure functions, no I/O, so the API, the activities and the workflows share them."""
