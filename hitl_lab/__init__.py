"""The laboratory: benchmarks, the soak, simulations, the demo data and calibration, built on the runtime."""
