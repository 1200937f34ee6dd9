"""The gateway: Concilia's public HTTP API and server-rendered web pages (Flask).

It holds no state and no database: every request becomes gRPC calls to the services, carrying the
caller's access token, and gRPC status codes become HTTP statuses in one place (errors.py).
"""
