"""The service chassis: the small library every Concilia service builds on.

Modules that import grpc (grpc_server, grpc_client) are only for api and gateway processes; modules
that import nameko/eventlet (worker, batch_events, run_worker) only for worker processes. The rest is neutral.
"""
