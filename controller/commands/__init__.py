"""Sub-commands of ``lanectl``; each module exposes ``register(subparsers)``."""
