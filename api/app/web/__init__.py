"""The HTTP layer: the app factory, dependencies, errors, middleware, schemas and routes. Routes
translate and delegate; serving never imports training (an import-linter contract)."""
