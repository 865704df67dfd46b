"""The operator's web console: users and roles, sessions, the live event stream, static page.

``controller.console.server.start_console(runtime, config)`` serves it from the
controller's event loop on its own address (cookie sessions and CSRF here; the
bearer-token API in ``controller.api`` stays as it is for machines).
"""
