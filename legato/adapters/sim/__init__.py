"""The simulated continuum's parts, one module per manager. Import it as `legato.adapters.sim_continuum`."""
