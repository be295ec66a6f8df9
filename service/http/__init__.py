"""The HTTP layer: app factory, middleware, dependencies, problem responses, routers."""
