"""The autopilot: reads telemetry, forecasts the next horizon, detects breaches of the services'
intents now and ahead, and plans the day-2 actions that answer them (docs/design.md, "The
autopilot"). The pure parts live here, one module each (forecast, plan); activities and the
workflow that run them on a schedule are in legato/activities and legato/workflows."""
