"""The sans-IO lane core: types, the lane state machine and the safety monitor.

Nothing in this package does I/O, reads a clock, draws a random number or logs.
"""
