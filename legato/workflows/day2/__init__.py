"""Day-2 operations on a running service, one module per kind (scale, upgrade, move, repair, and
forwarding to the partner that runs a component). Each is a function of the service's
`ServiceContext`, the part of the DeployService entity workflow an operation reads and changes,
so an operation can be read (and tested) without the rest of the workflow. The update that runs
them, its validator and its records are in legato.workflows.operations."""
