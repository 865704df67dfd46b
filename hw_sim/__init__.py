"""hw_sim: the simulated checkpoint lane that stands in for the hardware in every test."""
