"""TM Forum Open APIs v4.0.0 (TMF633, TMF638, TMF641) mapped onto Legato's workflows.

The package imports nothing itself: its routers are listed in `routes`, so that the service layer
can use one TMF module (say, the catalog's templates) without loading every router, and through
them itself (an import cycle)."""
